// Fully connected layer, PyTorch nn.Linear layout: `y = x W^T + b`, W of shape (out, in).
// Optionally tied to another Dense's weight, transposed (decoder = encoder^T).

import Kernels

public struct Dense: Layer {
    public let inputWidth: Int
    public let outputWidth: Int
    /// (out, in); for a tied layer, the other layer's (in, out) weight used transposed.
    public let weight: ParameterSlot
    public let bias: ParameterSlot
    public let tied: Bool
    public let initializer: Initializer

    public init(_ inputWidth: Int, _ outputWidth: Int, name: String, layout: inout ParameterLayout,
                initializer: Initializer = .pytorchDefault) {
        self.inputWidth = inputWidth
        self.outputWidth = outputWidth
        weight = layout.reserve(name + ".weight", shape: [outputWidth, inputWidth])
        bias = layout.reserve(name + ".bias", shape: [outputWidth])
        tied = false
        self.initializer = initializer
    }

    /// A layer using `transposeOf`'s weight (shape (in, out) from its view) and its own bias.
    public init(tiedTo other: Dense, name: String, layout: inout ParameterLayout) {
        inputWidth = other.outputWidth
        outputWidth = other.inputWidth
        weight = other.weight
        bias = layout.reserve(name + ".bias", shape: [outputWidth])
        tied = true
        initializer = other.initializer
    }

    public func initialize(params: Arena, rng: inout SplitMix64) {
        if !tied {
            initializer.fillWeight(params[weight], count: weight.count, fanIn: inputWidth,
                                   fanOut: outputWidth, rng: &rng)
        }
        initializer.fillBias(params[bias], count: bias.count, fanIn: inputWidth, rng: &rng)
    }

    public func forward(x: Matrix, y: Matrix, cache: Matrix, params: Arena) {
        // y = b (broadcast), then y += x W^T in the GEMM (beta = 1).
        let b = params[bias]
        for r in 0..<y.rows { y.row(r).update(from: b, count: outputWidth) }
        gemm(x, params.matrix(weight), transposeB: !tied, into: y, beta: 1)
    }

    public func backward(dy: Matrix, x: Matrix, y: Matrix, cache: Matrix, dx: Matrix?, params: Arena,
                         grads: Arena) {
        // y = x W^T + b:  dW += dy^T x,  db += sum_rows dy,  dx += dy W.
        if tied {
            // y = x V with V = W (in, out) stored as the other layer's (out', in'): dV += x^T dy.
            gemm(x, transposeA: true, dy, into: grads.matrix(weight), beta: 1)
        } else {
            gemm(dy, transposeA: true, x, into: grads.matrix(weight), beta: 1)
        }
        let db = grads[bias]
        for r in 0..<dy.rows {
            let row = dy.row(r)
            for j in 0..<outputWidth { db[j] += row[j] }
        }
        if let dx {
            gemm(dy, params.matrix(weight), transposeB: tied, into: dx, beta: 1)
        }
    }
}
