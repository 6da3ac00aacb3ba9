// Max and average pooling over k x k windows, PyTorch nn.MaxPool2d / nn.AvgPool2d semantics:
// NCHW rows, no padding, floor mode, output floor((H - k) / s) + 1. Max pooling keeps the argmax
// of each window in the cache so backward routes dy there without searching again.

import CKernels
import Kernels

/// The window geometry both pooling layers share: `k x k` windows every `stride` positions over
/// NCHW rows, no padding, floor mode.
public protocol PoolingGeometry: Layer {
    var channels: Int { get }
    var height: Int { get }
    var width: Int { get }
    var kernel: Int { get }
    var stride: Int { get }
}

extension PoolingGeometry {
    /// `floor((H - k) / s) + 1`.
    public var outHeight: Int { (height - kernel) / stride + 1 }
    public var outWidth: Int { (width - kernel) / stride + 1 }
    public var inputWidth: Int { channels * height * width }
    public var outputWidth: Int { channels * outHeight * outWidth }

    /// The checks of a pooling layer's `init` (`stride` nil: the kernel's).
    static func checkGeometry(channels: Int, height: Int, width: Int, kernel: Int, stride: Int?) {
        precondition(channels > 0 && kernel > 0 && (stride ?? kernel) > 0, "bad pooling geometry")
        precondition(height >= kernel && width >= kernel, "pooling window larger than the \(height)x\(width) input")
    }
}

public struct MaxPool2D: PoolingGeometry {
    public let channels: Int
    public let height: Int
    public let width: Int
    public let kernel: Int
    public let stride: Int

    /// `stride` defaults to `kernel` (non-overlapping windows), as in PyTorch.
    public init(channels: Int, height: Int, width: Int, kernel: Int, stride: Int? = nil) {
        Self.checkGeometry(channels: channels, height: height, width: width, kernel: kernel, stride: stride)
        // The argmax is an Int32 stored in a Float slot's bits (any image up to 2^31 values).
        precondition(channels * height * width <= Int(Int32.max), "input too large for an Int32 argmax index")
        self.channels = channels
        self.height = height
        self.width = width
        self.kernel = kernel
        self.stride = stride ?? kernel
    }

    /// The flat input index (within the sample) of each output's maximum, as Int32 bits.
    public var cacheWidth: Int { outputWidth }

    /// `y[c, oy, ox] = max over the window at (oy*s, ox*s)`; ties go to the first maximum in
    /// row-major window order, and a NaN wins (it propagates, like PyTorch).
    public func forward(x: Matrix, y: Matrix, cache: Matrix, params: Arena) {
        let oh = outHeight, ow = outWidth
        if kernel == 2 && stride == 2 {
            guard x.rows > 0 else { return }
            ae_maxpool2x2_rows(x.base, x.stride, y.base, y.stride, cache.base, cache.stride, Int32(x.rows),
                               Int32(channels), Int32(height), Int32(width))
            return
        }
        for r in 0..<x.rows {
            let xs = x.row(r), ys = y.row(r), argmax = cache.row(r)
            var o = 0
            for c in 0..<channels {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let start = (c * height + oy * stride) * width + ox * stride
                        var best = xs[start], bestIndex = start
                        for ky in 0..<kernel {
                            let line = start + ky * width
                            for kx in 0..<kernel {
                                let v = xs[line + kx]
                                if v > best || v.isNaN {
                                    best = v
                                    bestIndex = line + kx
                                }
                            }
                        }
                        ys[o] = best
                        argmax[o] = Float(bitPattern: UInt32(truncatingIfNeeded: Int32(bestIndex)))
                        o += 1
                    }
                }
            }
        }
    }

    public func backward(dy: Matrix, x: Matrix, y: Matrix, cache: Matrix, dx: Matrix?, params: Arena,
                         grads: Arena) {
        guard let dx, dy.rows > 0 else { return }
        // y[o] = x[argmax[o]]: overlapping windows may share an argmax, hence +=.
        ae_maxpool_backward_rows(dy.base, dy.stride, dx.base, dx.stride, cache.base, cache.stride, Int32(dy.rows),
                                 Int32(channels), Int32(outHeight), Int32(outWidth))
    }
}

public struct AvgPool2D: PoolingGeometry {
    public let channels: Int
    public let height: Int
    public let width: Int
    public let kernel: Int
    public let stride: Int

    /// `stride` defaults to `kernel` (non-overlapping windows), as in PyTorch.
    public init(channels: Int, height: Int, width: Int, kernel: Int, stride: Int? = nil) {
        Self.checkGeometry(channels: channels, height: height, width: width, kernel: kernel, stride: stride)
        self.channels = channels
        self.height = height
        self.width = width
        self.kernel = kernel
        self.stride = stride ?? kernel
    }

    /// `y[c, oy, ox] = (1/k^2) * sum over the window at (oy*s, ox*s)`.
    public func forward(x: Matrix, y: Matrix, cache: Matrix, params: Arena) {
        let oh = outHeight, ow = outWidth
        let scale = 1 / Float(kernel * kernel)
        for r in 0..<x.rows {
            let xs = x.row(r), ys = y.row(r)
            var o = 0
            for c in 0..<channels {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let start = (c * height + oy * stride) * width + ox * stride
                        var s: Float = 0
                        for ky in 0..<kernel {
                            let line = xs + start + ky * width
                            for kx in 0..<kernel { s += line[kx] }
                        }
                        ys[o] = s * scale
                        o += 1
                    }
                }
            }
        }
    }

    public func backward(dy: Matrix, x: Matrix, y: Matrix, cache: Matrix, dx: Matrix?, params: Arena,
                         grads: Arena) {
        guard let dx else { return }
        let oh = outHeight, ow = outWidth
        let scale = 1 / Float(kernel * kernel)
        for r in 0..<dy.rows {
            let g = dy.row(r), d = dx.row(r)
            var o = 0
            for c in 0..<channels {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        // y[o] = scale * sum(window): every window element gets scale * dy[o].
                        let share = g[o] * scale
                        let start = (c * height + oy * stride) * width + ox * stride
                        for ky in 0..<kernel {
                            let line = d + start + ky * width
                            for kx in 0..<kernel { line[kx] += share }
                        }
                        o += 1
                    }
                }
            }
        }
    }
}
