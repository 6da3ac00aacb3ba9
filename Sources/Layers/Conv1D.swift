// 1-D convolution over time, PyTorch nn.Conv1d semantics and layout: weight (outC, inC, k), bias
// (outC), stride 1, 'same' zero padding (odd k); rows are (channels, length), channel-major.
// Forward is im2col + one GEMM per sample; the im2col matrix stays in the cache for the weight
// gradient and then holds the column gradient.

import Kernels

public struct Conv1D: Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let length: Int
    public let kernel: Int
    public let weight: ParameterSlot
    public let bias: ParameterSlot
    public let initializer: Initializer

    public init(inChannels: Int, outChannels: Int, length: Int, kernel: Int, name: String,
                layout: inout ParameterLayout, initializer: Initializer = .pytorchDefault) {
        precondition(inChannels > 0 && outChannels > 0 && length > 0, "a convolution needs a non-empty input")
        precondition(kernel > 0 && kernel % 2 == 1, "'same' padding needs an odd kernel, got \(kernel)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.length = length
        self.kernel = kernel
        self.initializer = initializer
        weight = layout.reserve(name + ".weight", shape: [outChannels, inChannels, kernel])
        bias = layout.reserve(name + ".bias", shape: [outChannels])
    }

    public var inputWidth: Int { inChannels * length }
    public var outputWidth: Int { outChannels * length }
    var patchSize: Int { inChannels * kernel }
    public var cacheWidth: Int { patchSize * length }
    var padding: Int { (kernel - 1) / 2 }

    public func initialize(params: Arena, rng: inout SplitMix64) {
        initializer.fillWeight(params[weight], count: weight.count, fanIn: patchSize, fanOut: outChannels * kernel, rng: &rng)
        initializer.fillBias(params[bias], count: bias.count, fanIn: patchSize, rng: &rng)
    }

    /// col[(c, j), t] = x[c, t - padding + j], 0 outside the sequence.
    func im2col(_ x: UnsafeMutablePointer<Float>, into col: UnsafeMutablePointer<Float>) {
        for c in 0..<inChannels {
            let xs = x + c * length
            for j in 0..<kernel {
                let out = col + (c * kernel + j) * length, shift = j - padding
                for t in 0..<length {
                    let s = t + shift
                    out[t] = s >= 0 && s < length ? xs[s] : 0
                }
            }
        }
    }

    public func forward(x: Matrix, y: Matrix, cache: Matrix, params: Arena) {
        let w = Matrix(params[weight], rows: outChannels, cols: patchSize), b = params[bias]
        for r in 0..<x.rows {
            let col = cache.row(r)
            im2col(x.row(r), into: col)
            let out = Matrix(y.row(r), rows: outChannels, cols: length)
            for o in 0..<outChannels { out.row(o).update(repeating: b[o], count: length) }
            gemm(w, Matrix(col, rows: patchSize, cols: length), into: out, beta: 1)
        }
    }

    public func backward(dy: Matrix, x: Matrix, y: Matrix, cache: Matrix, dx: Matrix?, params: Arena,
                         grads: Arena) {
        let w = Matrix(params[weight], rows: outChannels, cols: patchSize)
        let dw = Matrix(grads[weight], rows: outChannels, cols: patchSize), db = grads[bias]
        for r in 0..<dy.rows {
            let g = Matrix(dy.row(r), rows: outChannels, cols: length)
            let col = Matrix(cache.row(r), rows: patchSize, cols: length)
            // y = W col + b: dW += dy col^T, db += row sums of dy, dcol = W^T dy.
            gemm(g, col, transposeB: true, into: dw, beta: 1)
            addChannelSums(g.base, channels: outChannels, length: length, into: db)
            guard let dx else { continue }
            gemm(w, transposeA: true, g, into: col)
            let d = dx.row(r)
            for c in 0..<inChannels {
                for j in 0..<kernel {
                    let from = col.row(c * kernel + j), shift = j - padding, ds = d + c * length
                    for t in max(0, -shift)..<min(length, length - shift) { ds[t + shift] += from[t] }
                }
            }
        }
    }
}
