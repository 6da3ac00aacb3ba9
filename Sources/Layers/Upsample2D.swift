// Upsampling by an integer factor, matching PyTorch's F.interpolate(scale_factor=s) with
// mode='nearest' or mode='bilinear', align_corners=False (UpSampleKernel.cpp: source coordinate
// (dst + 0.5)/s - 0.5 clamped at 0, the far neighbour clamped to the last row/column). NCHW rows.

import CKernels
import Kernels

public enum UpsampleMode: String, Sendable, Codable {
    case nearest, bilinear
}

public struct Upsample2D: Layer {
    public let channels: Int
    public let height: Int
    public let width: Int
    public let scale: Int
    public let mode: UpsampleMode

    public init(channels: Int, height: Int, width: Int, scale: Int, mode: UpsampleMode) {
        precondition(channels > 0 && height > 0 && width > 0, "upsampling needs a non-empty input")
        precondition(scale > 0, "upsampling scale must be positive, got \(scale)")
        self.channels = channels
        self.height = height
        self.width = width
        self.scale = scale
        self.mode = mode
    }

    public var outHeight: Int { height * scale }
    public var outWidth: Int { width * scale }
    public var inputWidth: Int { channels * height * width }
    public var outputWidth: Int { channels * outHeight * outWidth }

    /// The two source indices and the weight of the second for output index `dst` along an axis
    /// of `size` inputs: PyTorch's compute_source_index_and_lambda (align_corners=False).
    @inline(__always)
    func source(_ dst: Int, size: Int) -> (i0: Int, i1: Int, lambda1: Float) {
        // PyTorch uses the float ratio 1/scale (not size/outSize) when a scale factor is given.
        let ratio = Float(1 / Double(scale))
        let real = max(ratio * (Float(dst) + 0.5) - 0.5, 0)
        let i0 = min(Int(real), size - 1)
        let lambda1 = min(max(real - Float(i0), 0), 1)
        return (i0, i0 < size - 1 ? i0 + 1 : i0, lambda1)
    }

    public func forward(x: Matrix, y: Matrix, cache: Matrix, params: Arena) {
        let oh = outHeight, ow = outWidth
        if mode == .nearest {
            guard x.rows > 0 else { return }
            ae_upsample_nearest_rows(x.base, x.stride, y.base, y.stride, Int32(x.rows), Int32(channels),
                                     Int32(height), Int32(width), Int32(scale))
            return
        }
        for r in 0..<x.rows {
            let xs = x.row(r), ys = y.row(r)
            for c in 0..<channels {
                let plane = xs + c * height * width, out = ys + c * oh * ow
                switch mode {
                case .nearest:
                    // Integer scale: floor(dst / s) exactly, the same as PyTorch's nearest_idx.
                    for oy in 0..<oh {
                        let line = plane + (oy / scale) * width, o = out + oy * ow
                        for ox in 0..<ow { o[ox] = line[ox / scale] }
                    }
                case .bilinear:
                    for oy in 0..<oh {
                        let (y0, y1, ly1) = source(oy, size: height)
                        let ly0 = 1 - ly1
                        let top = plane + y0 * width, bottom = plane + y1 * width, o = out + oy * ow
                        for ox in 0..<ow {
                            let (x0, x1, lx1) = source(ox, size: width)
                            let lx0 = 1 - lx1
                            o[ox] = ly0 * (lx0 * top[x0] + lx1 * top[x1])
                                + ly1 * (lx0 * bottom[x0] + lx1 * bottom[x1])
                        }
                    }
                }
            }
        }
    }

    public func backward(dy: Matrix, x: Matrix, y: Matrix, cache: Matrix, dx: Matrix?, params: Arena,
                         grads: Arena) {
        guard let dx else { return }
        let oh = outHeight, ow = outWidth
        if mode == .nearest {
            guard dy.rows > 0 else { return }
            ae_upsample_nearest_backward_rows(dy.base, dy.stride, dx.base, dx.stride, Int32(dy.rows), Int32(channels),
                                              Int32(height), Int32(width), Int32(scale))
            return
        }
        for r in 0..<dy.rows {
            let g = dy.row(r), d = dx.row(r)
            for c in 0..<channels {
                let plane = d + c * height * width, gradOut = g + c * oh * ow
                switch mode {
                case .nearest:
                    // y[oy, ox] = x[oy/s, ox/s]: each input collects its s x s block of dy.
                    for oy in 0..<oh {
                        let line = plane + (oy / scale) * width, go = gradOut + oy * ow
                        for ox in 0..<ow { line[ox / scale] += go[ox] }
                    }
                case .bilinear:
                    // y = ly0 (lx0 x[y0,x0] + lx1 x[y0,x1]) + ly1 (lx0 x[y1,x0] + lx1 x[y1,x1]):
                    // each of the four inputs gets dy times its weight (clamped indices may coincide).
                    for oy in 0..<oh {
                        let (y0, y1, ly1) = source(oy, size: height)
                        let ly0 = 1 - ly1
                        let top = plane + y0 * width, bottom = plane + y1 * width, go = gradOut + oy * ow
                        for ox in 0..<ow {
                            let (x0, x1, lx1) = source(ox, size: width)
                            let lx0 = 1 - lx1
                            let gt = ly0 * go[ox], gb = ly1 * go[ox]
                            top[x0] += lx0 * gt
                            top[x1] += lx1 * gt
                            bottom[x0] += lx0 * gb
                            bottom[x1] += lx1 * gb
                        }
                    }
                }
            }
        }
    }
}
