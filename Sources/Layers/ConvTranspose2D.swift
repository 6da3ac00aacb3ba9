// 2-D transposed convolution, PyTorch nn.ConvTranspose2d semantics and layout: weight
// (inC, outC, kH, kW), bias (outC), zero padding, stride, dilation, output padding; NCHW rows.
// It is the adjoint of a Conv2D's im2col geometry with input and output swapped: forward is one
// GEMM into columns then col2im, backward is im2col of dy then two GEMMs.

import Kernels

public struct ConvTranspose2D: Layer {
    public let inChannels: Int
    public let outChannels: Int
    /// Input size.
    public let height: Int
    public let width: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    /// Output padding of the height, and of the width (PyTorch's output_padding tuple).
    public let outputPadding: Int
    public let outputPaddingWidth: Int
    public let dilation: Int
    public let weight: ParameterSlot
    public let bias: ParameterSlot
    public let initializer: Initializer

    public init(inChannels: Int, outChannels: Int, height: Int, width: Int, kernel: Int, stride: Int = 1,
                padding: Int = 0, outputPadding: Int = 0, outputPaddingWidth: Int? = nil, dilation: Int = 1, name: String,
                layout: inout ParameterLayout, initializer: Initializer = .pytorchDefault) {
        precondition(kernel > 0 && stride > 0 && dilation > 0 && padding >= 0 && outputPadding >= 0,
                     "bad transposed convolution geometry")
        // PyTorch's rule: a larger output padding would add rows no input position reaches.
        precondition(outputPadding < stride || outputPadding < dilation,
                     "output padding \(outputPadding) must be smaller than stride \(stride) or dilation \(dilation)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.height = height
        self.width = width
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        self.outputPaddingWidth = outputPaddingWidth ?? outputPadding
        precondition(self.outputPaddingWidth >= 0 && (self.outputPaddingWidth < stride || self.outputPaddingWidth < dilation),
                     "output padding \(self.outputPaddingWidth) must be smaller than stride \(stride) or dilation \(dilation)")
        self.dilation = dilation
        self.initializer = initializer
        weight = layout.reserve(name + ".weight", shape: [inChannels, outChannels, kernel, kernel])
        bias = layout.reserve(name + ".bias", shape: [outChannels])
        precondition(outHeight > 0 && outWidth > 0, "transposed convolution output would be empty")
    }

    /// `(H - 1) * s - 2p + d * (k - 1) + outputPadding + 1`.
    public var outHeight: Int { (height - 1) * stride - 2 * padding + dilation * (kernel - 1) + outputPadding + 1 }
    public var outWidth: Int { (width - 1) * stride - 2 * padding + dilation * (kernel - 1) + outputPaddingWidth + 1 }
    public var inputWidth: Int { inChannels * height * width }
    public var outputWidth: Int { outChannels * outHeight * outWidth }
    /// Rows of the column matrix (outC * kH * kW); its columns are the input positions (H * W).
    var patchSize: Int { outChannels * kernel * kernel }
    /// Scratch for the column matrix: forward fills it with W^T x, backward with im2col(dy).
    /// Nothing in it survives from forward to backward; it lives here because layers own no memory.
    public var cacheWidth: Int { patchSize * height * width }

    public func initialize(params: Arena, rng: inout SplitMix64) {
        // PyTorch computes fan-in from the weight's dim 1 (outC here) times the kernel area.
        let fanIn = patchSize
        initializer.fillWeight(params[weight], count: weight.count, fanIn: fanIn,
                               fanOut: inChannels * kernel * kernel, rng: &rng)
        initializer.fillBias(params[bias], count: bias.count, fanIn: fanIn, rng: &rng)
    }

    /// col[(o, ky, kx), (iy, ix)] = y[o, iy*s - p + ky*d, ix*s - p + kx*d] (0 outside): Conv2D's
    /// im2col with the output image `y` as its input.
    func im2col(_ y: UnsafeMutablePointer<Float>, into col: UnsafeMutablePointer<Float>) {
        let oh = outHeight, ow = outWidth
        var row = 0
        for o in 0..<outChannels {
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let out = col + row * height * width
                    for iy in 0..<height {
                        let oy = iy * stride - padding + ky * dilation
                        for ix in 0..<width {
                            let ox = ix * stride - padding + kx * dilation
                            out[iy * width + ix] = oy >= 0 && oy < oh && ox >= 0 && ox < ow
                                ? y[(o * oh + oy) * ow + ox] : 0
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// The adjoint of `im2col`: adds each column entry into the output position it maps to;
    /// entries that land in the padding are dropped.
    func col2im(_ col: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let oh = outHeight, ow = outWidth
        var row = 0
        for o in 0..<outChannels {
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let from = col + row * height * width
                    for iy in 0..<height {
                        let oy = iy * stride - padding + ky * dilation
                        guard oy >= 0 && oy < oh else { continue }
                        for ix in 0..<width {
                            let ox = ix * stride - padding + kx * dilation
                            if ox >= 0 && ox < ow { y[(o * oh + oy) * ow + ox] += from[iy * width + ix] }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    public func forward(x: Matrix, y: Matrix, cache: Matrix, params: Arena) {
        let spatial = height * width, outSpatial = outHeight * outWidth
        let w = Matrix(params[weight], rows: inChannels, cols: patchSize)
        let b = params[bias]
        for r in 0..<x.rows {
            let col = Matrix(cache.row(r), rows: patchSize, cols: spatial)
            // col (OkHkW, HW) = W^T (OkHkW, C) * x (C, HW)
            gemm(w, transposeA: true, Matrix(x.row(r), rows: inChannels, cols: spatial), into: col)
            let out = y.row(r)
            for o in 0..<outChannels { (out + o * outSpatial).update(repeating: b[o], count: outSpatial) }
            col2im(col.base, into: out)
        }
    }

    public func backward(dy: Matrix, x: Matrix, y: Matrix, cache: Matrix, dx: Matrix?, params: Arena,
                         grads: Arena) {
        let spatial = height * width, outSpatial = outHeight * outWidth
        let w = Matrix(params[weight], rows: inChannels, cols: patchSize)
        let dw = Matrix(grads[weight], rows: inChannels, cols: patchSize)
        let db = grads[bias]
        for r in 0..<dy.rows {
            let g = dy.row(r)
            // y = col2im(W^T x) + b, and im2col is col2im's adjoint: dcol = im2col(dy).
            let dcol = Matrix(cache.row(r), rows: patchSize, cols: spatial)
            im2col(g, into: dcol.base)
            // col = W^T x: dW (C, OkHkW) += x (C, HW) * dcol^T, dx (C, HW) += W * dcol.
            gemm(Matrix(x.row(r), rows: inChannels, cols: spatial), dcol, transposeB: true, into: dw, beta: 1)
            if let dx {
                gemm(w, dcol, into: Matrix(dx.row(r), rows: inChannels, cols: spatial), beta: 1)
            }
            addChannelSums(g, channels: outChannels, length: outSpatial, into: db)
        }
    }
}
