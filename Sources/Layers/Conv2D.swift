// 2-D convolution, PyTorch nn.Conv2d semantics and layout: weight (outC, inC, kH, kW), bias (outC),
// zero or reflect padding (padding_mode='zeros'/'reflect'), stride, dilation; NCHW rows. Forward is
// im2col + the one GEMM per sample; the im2col matrix is kept in the cache for the weight
// gradient, then reused for the column gradient. 3x3 'same' convolutions with few channels use a
// direct kernel instead (CKernels conv3x3.c), where im2col and GEMM packing would dominate; with
// more channels they run Winograd F(4x4, 3x3) (CKernels winograd.c): 36 GEMMs per group of rows
// over all their tiles, a quarter of im2col's multiplies. Its cache is laid out over the call's
// rows together, so backward must get the same rows as the forward before it (as the networks do).

import CKernels
import Kernels

/// How a convolution reads positions outside the image (PyTorch's `padding_mode`).
public enum PaddingMode: String, Sendable, Codable {
    /// Outside positions read 0.
    case zeros
    /// Outside positions mirror the image without repeating the edge: index -1 reads 1, and
    /// index n reads n - 2 (needs padding < size in that dimension).
    case reflect
}

public struct Conv2D: Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let height: Int
    public let width: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let dilation: Int
    public let paddingMode: PaddingMode
    public let weight: ParameterSlot
    public let bias: ParameterSlot
    public let initializer: Initializer
    /// Runs the direct 3x3 kernel; `im2col` + GEMM stays the reference (and the path for the rest).
    public let direct: Bool
    /// Runs Winograd F(4x4, 3x3) (3x3 'same' convolutions that do not run the direct kernel).
    public let winograd: Bool
    /// Applies ReLU to the output (saves a layer's pass, region and zeroing in small networks).
    public let fusedReLU: Bool
    /// The direct kernel runs its portable C loops even where AVX2 is available, and Winograd's
    /// products run on BLAS even where our own GEMMs could (tests of the fallbacks; a
    /// parameter rather than a process-wide switch).
    public let portableKernel: Bool

    /// Channel products up to which 3x3 'same' convolutions run the direct kernel (measured with
    /// `autoencoder bench`: M2's 1-16 channels gain ~4x; 32x32 channels are faster with GEMM).
    public static let directChannelProduct = 256

    public init(inChannels: Int, outChannels: Int, height: Int, width: Int, kernel: Int, stride: Int = 1,
                padding: Int = 0, dilation: Int = 1, paddingMode: PaddingMode = .zeros, name: String,
                layout: inout ParameterLayout, initializer: Initializer = .pytorchDefault, direct: Bool? = nil,
                winograd: Bool? = nil, fusedReLU: Bool = false, portableKernel: Bool = false) {
        precondition(kernel > 0 && stride > 0 && dilation > 0 && padding >= 0, "bad convolution geometry")
        // One reflection must land inside the image, as in PyTorch's reflect pad.
        precondition(paddingMode == .zeros || (padding < height && padding < width),
                     "reflect padding \(padding) needs padding < height (\(height)) and < width (\(width))")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.height = height
        self.width = width
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.paddingMode = paddingMode
        self.initializer = initializer
        let eligible = kernel == 3 && stride == 1 && padding == 1 && dilation == 1 && paddingMode == .zeros
        self.direct = eligible && (direct ?? (inChannels * outChannels <= Conv2D.directChannelProduct))
        self.winograd = eligible && !self.direct && (winograd ?? true)
        self.fusedReLU = fusedReLU
        self.portableKernel = portableKernel
        weight = layout.reserve(name + ".weight", shape: [outChannels, inChannels, kernel, kernel])
        bias = layout.reserve(name + ".bias", shape: [outChannels])
        precondition(outHeight > 0 && outWidth > 0, "convolution output would be empty")
    }

    /// The padding that keeps the size at stride 1 (PyTorch's padding='same'): `d * (k - 1) / 2`.
    /// Odd kernels only; an even kernel would need more padding on one side than the other.
    public static func samePadding(kernel: Int, dilation: Int = 1) -> Int {
        precondition(kernel > 0 && kernel % 2 == 1, "same padding needs an odd kernel, got \(kernel)")
        return dilation * (kernel - 1) / 2
    }

    public var outHeight: Int { (height + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1 }
    public var inputWidth: Int { inChannels * height * width }
    public var outputWidth: Int { outChannels * outHeight * outWidth }
    /// Rows of the im2col matrix (inC * kH * kW) times its columns (outH * outW).
    var patchSize: Int { inChannels * kernel * kernel }
    public var cacheWidth: Int {
        // Winograd: transformed inputs, products (then their gradient) and the input gradient's
        // transform per tile of a part, plus once per call the transformed weights, their gradient
        // and scratch. A part holds a strip of one image or whole images, never more per row.
        if winograd {
            return 36 * winogradStripRows * ((width + 3) / 4) * (2 * inChannels + outChannels)
                + 72 * inChannels * outChannels + Int(ae_wino_scratch(1, Int32(inChannels), Int32(height), Int32(width)))
        }
        // The GEMM path: im2col, the flipped weights (row 0 only) for the transposed gradient, and
        // room for dy masked by a fused ReLU's output.
        guard direct else {
            return patchSize * outHeight * outWidth + (transposedGradient ? patchSize * outChannels : 0)
                + (fusedReLU ? outputWidth : 0)
        }
        // Padded input (kept for the weight gradient), padded dy, and the flipped weights.
        return paddedPlane * (inChannels + outChannels) + 9 * inChannels * outChannels
    }

    /// Winograd's backward pass transforms its input again: its cache is scratch (Network).
    public var cacheIsScratch: Bool { winograd }

    /// The GEMM path computes dx as a convolution of dy with the flipped kernel, channels swapped:
    /// one GEMM with K = outC*k*k per sample (instead of K = outC) and no col2im scatter. That
    /// needs stride 1 and 'same' zero padding, and im2col(dy) must fit the im2col buffer.
    var transposedGradient: Bool {
        !direct && stride == 1 && paddingMode == .zeros && kernel % 2 == 1
            && padding == dilation * (kernel - 1) / 2 && outChannels <= inChannels
    }

    /// dy of the convolution itself: `dy` where the fused ReLU's output is positive.
    func preActivationGradient(_ dy: Matrix, _ y: Matrix, _ cache: Matrix, row r: Int) -> UnsafeMutablePointer<Float> {
        guard fusedReLU else { return dy.row(r) }
        let g = cache.row(r) + cacheWidth - outputWidth
        ae_relu_mask(dy.row(r), y.row(r), g, outputWidth)
        return g
    }

    /// The kernels of Winograd's products on this CPU (CKernels gemm_products.c): 512 (AVX-512),
    /// 256 (AVX2 + FMA) or 0 (BLAS).
    public static let productsKernel = Int(ae_gemm_products_kernel())
    static let ownProducts = productsKernel != 0

    /// The 36 Winograd products of a part: out[xi] (m x n) = a[xi] (m x k) b[xi] (k x n), a[xi] at
    /// a + xi m k, b[xi] and out[xi] `bStride` and `cStride` floats apart. On our kernels the shard's
    /// team splits them by product; on OpenBLAS each GEMM splits over the team.
    func products(m: Int, n: Int, k: Int, _ a: UnsafeMutablePointer<Float>, transposeA: Bool,
                  _ b: UnsafeMutablePointer<Float>, bStride: Int, ldb: Int, into out: UnsafeMutablePointer<Float>,
                  cStride: Int, ldc: Int) {
        if Conv2D.ownProducts && !portableKernel {
            ae_wino_products(Int32(m), Int32(n), Int32(k), a, transposeA ? 1 : 0, b, bStride, ldb, out, cStride, ldc)
            return
        }
        for xi in 0..<36 {
            product(m: m, n: n, k: k, a + xi * m * k, transposeA: transposeA, b + xi * bStride, ldb: ldb,
                    into: out + xi * cStride, ldc: ldc)
        }
    }

    /// out (m x n) = a (m x k) b (k x n); a is stored row-major as m x k, or as k x m when
    /// `transposeA`; b and out row-major, rows ldb and ldc apart.
    func product(m: Int, n: Int, k: Int, _ a: UnsafeMutablePointer<Float>, transposeA: Bool,
                 _ b: UnsafeMutablePointer<Float>, ldb: Int, into out: UnsafeMutablePointer<Float>, ldc: Int) {
        if Conv2D.ownProducts && !portableKernel {
            ae_gemm_nn(Int32(m), Int32(n), Int32(k), a, transposeA ? 1 : k, transposeA ? m : 1, b, ldb, out, ldc, 0)
        } else {
            gemm(Matrix(a, rows: transposeA ? k : m, cols: transposeA ? m : k), transposeA: transposeA,
                 Matrix(b, rows: k, cols: n, stride: ldb), into: Matrix(out, rows: m, cols: n, stride: ldc))
        }
    }

    /// Winograd tiles (4x4 outputs) of one sample.
    var tiles: Int { Int(ae_wino_tiles(Int32(height), Int32(width))) }

    /// Rows transformed and multiplied together: about 2 MB of transformed tiles, so each group's
    /// transforms and products run in cache.
    public var winogradGroupRows: Int { max(1, 524_288 / (36 * tiles * (inChannels + outChannels))) }

    /// Rows of tiles transformed and multiplied together: all of an image's unless one image alone
    /// is more than a group, then strips of about 2 MB of transformed tiles.
    public var winogradStripRows: Int {
        let rowsOfTiles = (height + 3) / 4, perRow = 36 * ((width + 3) / 4) * (inChannels + outChannels)
        return min(rowsOfTiles, max(1, 524_288 / perRow))
    }

    /// Regions of a Winograd call whose parts (groups of rows, or strips of one image) hold up to
    /// `partTiles` tiles, from the start of its cache rows. The tiles' regions serve one part at a
    /// time and are overwritten by the next, so they stay in cache instead of streaming through
    /// memory: the backward pass transforms its part's input again instead of keeping every tile's
    /// transform.
    func winogradBuffers(_ cache: Matrix, partTiles all: Int, groupRows: Int)
        -> (v: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
            u: UnsafeMutablePointer<Float>, du: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let needed = 36 * all * (2 * inChannels + outChannels) + 72 * inChannels * outChannels
            + Int(ae_wino_scratch(Int32(groupRows), Int32(inChannels), Int32(height), Int32(width)))
        precondition(cache.isContiguous && needed <= cache.rows * cache.cols, "Winograd cache too small")
        let v = cache.base, m = v + 36 * inChannels * all, dv = m + 36 * outChannels * all
        let u = dv + 36 * inChannels * all, du = u + 36 * inChannels * outChannels
        return (v, m, dv, u, du, du + 36 * inChannels * outChannels)
    }

    func winogradForward(x: Matrix, y: Matrix, cache: Matrix, params: Arena) {
        let rows = x.rows, groupRows = min(rows, winogradGroupRows), stripRows = winogradStripRows
        let tilesPerRow = (width + 3) / 4, rowsOfTiles = (height + 3) / 4, all = groupRows * stripRows * tilesPerRow
        guard rows > 0 else { return }
        let (v, m, _, u, _, scratch) = winogradBuffers(cache, partTiles: all, groupRows: groupRows)
        let inC = Int32(inChannels), outC = Int32(outChannels), h = Int32(height), w = Int32(width)
        ae_wino_weights(params[weight], outC, inC, u, scratch)
        for r0 in Swift.stride(from: 0, to: rows, by: groupRows) {
            let group = min(groupRows, rows - r0)
            for ty0 in Swift.stride(from: 0, to: rowsOfTiles, by: stripRows) {
                let ty1 = min(rowsOfTiles, ty0 + stripRows), n = group * (ty1 - ty0) * tilesPerRow
                ae_wino_input(x.row(r0), x.stride, Int32(group), inC, h, w, Int32(ty0), Int32(ty1), v, all, 0,
                              scratch)
                products(m: outChannels, n: n, k: inChannels, u, transposeA: false, v, bStride: inChannels * all,
                         ldb: all, into: m, cStride: outChannels * all, ldc: all)
                ae_wino_output(m, all, 0, Int32(group), outC, h, w, Int32(ty0), Int32(ty1), params[bias],
                               fusedReLU ? 1 : 0, y.row(r0), y.stride, scratch)
            }
        }
    }

    func winogradBackward(dy: Matrix, x: Matrix, y: Matrix, cache: Matrix, dx: Matrix?, params: Arena,
                          grads: Arena) {
        let rows = dy.rows, groupRows = min(rows, winogradGroupRows), stripRows = winogradStripRows
        let tilesPerRow = (width + 3) / 4, rowsOfTiles = (height + 3) / 4, all = groupRows * stripRows * tilesPerRow
        guard rows > 0 else { return }
        let (v, dm, dv, u, du, scratch) = winogradBuffers(cache, partTiles: all, groupRows: groupRows)
        let inC = Int32(inChannels), outC = Int32(outChannels), h = Int32(height), w = Int32(width)
        let pairs = outChannels * inChannels
        ae_wino_weights(params[weight], outC, inC, u, scratch)
        for r0 in Swift.stride(from: 0, to: rows, by: groupRows) {
            let group = min(groupRows, rows - r0)
            for ty0 in Swift.stride(from: 0, to: rowsOfTiles, by: stripRows) {
                let ty1 = min(rowsOfTiles, ty0 + stripRows), n = group * (ty1 - ty0) * tilesPerRow
                let (t0, t1) = (Int32(ty0), Int32(ty1))
                ae_wino_input(x.row(r0), x.stride, Int32(group), inC, h, w, t0, t1, v, all, 0, scratch)
                ae_wino_output_grad(dy.row(r0), dy.stride, fusedReLU ? UnsafePointer(y.row(r0)) : nil, y.stride,
                                    Int32(group), outC, h, w, t0, t1, dm, all, 0, grads[bias], scratch)
                // du += dm v^T and dv = u^T dm, while the part's tiles are in cache. With AVX-512, du
                // on our kernel with v's part transposed into dv's region (free until dv is made);
                // else on OpenBLAS, faster than our AVX2 kernels on a part's short reduction.
                let first = r0 == 0 && ty0 == 0
                if Conv2D.productsKernel == 512 && !portableKernel {
                    ae_wino_weight_products(outC, inC, Int32(n), dm, v, all, du, first ? 0 : 1, dv)
                } else {
                    for xi in 0..<36 {
                        gemm(Matrix(dm + xi * outChannels * all, rows: outChannels, cols: n, stride: all),
                             Matrix(v + xi * inChannels * all, rows: inChannels, cols: n, stride: all),
                             transposeB: true, into: Matrix(du + xi * pairs, rows: outChannels, cols: inChannels),
                             beta: first ? 0 : 1)
                    }
                }
                guard let dx else { continue }
                products(m: inChannels, n: n, k: outChannels, u, transposeA: true, dm, bStride: outChannels * all,
                         ldb: all, into: dv, cStride: inChannels * all, ldc: all)
                ae_wino_input_grad(dv, all, 0, Int32(group), inC, h, w, t0, t1, dx.row(r0), dx.stride, scratch)
            }
        }
        ae_wino_weight_grad(du, outC, inC, grads[weight], scratch)
    }

    /// Floats of one plane padded for the direct kernel.
    var paddedPlane: Int { (height + 2) * Int(ae_conv3x3_row_stride(Int32(width))) }

    public func initialize(params: Arena, rng: inout SplitMix64) {
        let fanIn = patchSize
        initializer.fillWeight(params[weight], count: weight.count, fanIn: fanIn,
                               fanOut: outChannels * kernel * kernel, rng: &rng)
        initializer.fillBias(params[bias], count: bias.count, fanIn: fanIn, rng: &rng)
    }

    /// The image index that padded index `i` (in -p ..< n + p) reads, or -1 for a zero.
    @inline(__always)
    func source(_ i: Int, _ n: Int) -> Int {
        if i >= 0 && i < n { return i }
        switch paddingMode {
        case .zeros: return -1
        case .reflect: return i < 0 ? -i : 2 * (n - 1) - i
        }
    }

    /// col[(c, ky, kx), (oy, ox)] = x[c, source(oy*s - p + ky*d), source(ox*s - p + kx*d)]
    /// (0 where `source` gives -1).
    func im2col(_ x: UnsafeMutablePointer<Float>, into col: UnsafeMutablePointer<Float>) {
        let oh = outHeight, ow = outWidth
        if paddingMode == .zeros {
            ae_im2col(x, col, Int32(inChannels), Int32(height), Int32(width), Int32(kernel), Int32(stride),
                      Int32(padding), Int32(dilation), Int32(oh), Int32(ow))
            return
        }
        var row = 0
        for c in 0..<inChannels {
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let out = col + row * oh * ow
                    for oy in 0..<oh {
                        let iy = source(oy * stride - padding + ky * dilation, height)
                        for ox in 0..<ow {
                            let ix = source(ox * stride - padding + kx * dilation, width)
                            out[oy * ow + ox] = iy >= 0 && ix >= 0 ? x[(c * height + iy) * width + ix] : 0
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// The adjoint of `im2col`: adds each column entry back into the input position it read,
    /// so a reflected read sends its gradient to the mirrored pixel.
    func col2im(_ col: UnsafeMutablePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
        let oh = outHeight, ow = outWidth
        if paddingMode == .zeros {
            ae_col2im(col, dx, Int32(inChannels), Int32(height), Int32(width), Int32(kernel), Int32(stride),
                      Int32(padding), Int32(dilation), Int32(oh), Int32(ow))
            return
        }
        var row = 0
        for c in 0..<inChannels {
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let from = col + row * oh * ow
                    for oy in 0..<oh {
                        let iy = source(oy * stride - padding + ky * dilation, height)
                        guard iy >= 0 else { continue }
                        for ox in 0..<ow {
                            let ix = source(ox * stride - padding + kx * dilation, width)
                            if ix >= 0 { dx[(c * height + iy) * width + ix] += from[oy * ow + ox] }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    public func forward(x: Matrix, y: Matrix, cache: Matrix, params: Arena) {
        if winograd { return winogradForward(x: x, y: y, cache: cache, params: params) }
        if direct {
            guard x.rows > 0 else { return }
            ae_conv3x3_forward_rows(x.base, x.stride, cache.base, cache.stride, Int32(x.rows), Int32(inChannels),
                                    Int32(height), Int32(width), params[weight], params[bias], Int32(outChannels),
                                    y.base, y.stride, fusedReLU ? 1 : 0, portableKernel ? 1 : 0)
            return
        }
        let spatial = outHeight * outWidth
        let w = Matrix(params[weight], rows: outChannels, cols: patchSize)
        let b = params[bias]
        for r in 0..<x.rows {
            let col = cache.row(r)
            im2col(x.row(r), into: col)
            let out = Matrix(y.row(r), rows: outChannels, cols: spatial)
            for o in 0..<outChannels { out.row(o).update(repeating: b[o], count: spatial) }
            // y (O, HoWo) += W (O, CkHkW) * col (CkHkW, HoWo)
            gemm(w, Matrix(col, rows: patchSize, cols: spatial), into: out, beta: 1)
            if fusedReLU { ae_relu_inplace(out.base, outputWidth) }
        }
    }

    public func backward(dy: Matrix, x: Matrix, y: Matrix, cache: Matrix, dx: Matrix?, params: Arena,
                         grads: Arena) {
        if winograd { return winogradBackward(dy: dy, x: x, y: y, cache: cache, dx: dx, params: params, grads: grads) }
        if direct {
            guard dy.rows > 0 else { return }
            let flipped = cache.row(0) + paddedPlane * (inChannels + outChannels)
            if dx != nil { ae_conv3x3_flip(params[weight], flipped, Int32(outChannels), Int32(inChannels)) }
            // A fused ReLU's mask is applied while reading dy (no separate pass); dx = dy convolved
            // with the flipped kernel: a forward pass with channels swapped.
            ae_conv3x3_backward_rows(dy.base, dy.stride, fusedReLU ? UnsafePointer(y.base) : nil, y.stride, cache.base,
                                     cache.stride, Int32(dy.rows), Int32(inChannels), Int32(height), Int32(width),
                                     flipped, Int32(outChannels), grads[weight], grads[bias], dx?.base,
                                     dx?.stride ?? 0, portableKernel ? 1 : 0)
            return
        }
        let spatial = outHeight * outWidth
        let w = Matrix(params[weight], rows: outChannels, cols: patchSize)
        let dw = Matrix(grads[weight], rows: outChannels, cols: patchSize)
        let db = grads[bias]
        let k2 = kernel * kernel
        let flipped = cache.row(0) + patchSize * spatial
        if transposedGradient && dx != nil {
            // flipped (inC, outC, k, k)[c, o, ky, kx] = weight[o, c, k-1-ky, k-1-kx]
            let wp = params[weight]
            for o in 0..<outChannels {
                for c in 0..<inChannels {
                    let from = wp + (o * inChannels + c) * k2, to = flipped + (c * outChannels + o) * k2
                    for i in 0..<k2 { to[k2 - 1 - i] = from[i] }
                }
            }
        }
        for r in 0..<dy.rows {
            let g = Matrix(preActivationGradient(dy, y, cache, row: r), rows: outChannels, cols: spatial)
            let col = Matrix(cache.row(r), rows: patchSize, cols: spatial)
            // y = W col + b: dW += dy col^T, db += row sums of dy, dcol = W^T dy.
            gemm(g, col, transposeB: true, into: dw, beta: 1)
            addChannelSums(g.base, channels: outChannels, length: spatial, into: db)
            guard let dx else { continue }
            // The cache's im2col is no longer needed for this row: it holds im2col(dy) or dcol now.
            if transposedGradient {
                ae_im2col(g.base, col.base, Int32(outChannels), Int32(height), Int32(width), Int32(kernel), 1,
                          Int32(padding), Int32(dilation), Int32(height), Int32(width))
                gemm(Matrix(flipped, rows: inChannels, cols: outChannels * k2),
                     Matrix(col.base, rows: outChannels * k2, cols: spatial),
                     into: Matrix(dx.row(r), rows: inChannels, cols: spatial), beta: 1)
            } else {
                gemm(w, transposeA: true, g, into: col)
                col2im(col.base, into: dx.row(r))
            }
        }
    }
}
