// Conv2D against a direct (naive) convolution and against finite differences, for strides,
// padding, dilation and odd sizes.

import CKernels
import Kernels
import Layers
import Testing
import TestSupport

struct ConvCase: Sendable, CustomStringConvertible {
    let c: Int, o: Int, h: Int, w: Int, k: Int, s: Int, p: Int, d: Int
    var description: String { "C\(c) O\(o) \(h)x\(w) k\(k) s\(s) p\(p) d\(d)" }
}

let convCases = [
    ConvCase(c: 1, o: 2, h: 5, w: 7, k: 3, s: 1, p: 1, d: 1),
    ConvCase(c: 2, o: 3, h: 7, w: 5, k: 3, s: 2, p: 1, d: 1),
    ConvCase(c: 3, o: 2, h: 9, w: 8, k: 3, s: 1, p: 2, d: 2),
    ConvCase(c: 2, o: 1, h: 6, w: 6, k: 2, s: 2, p: 0, d: 1),
]

@Suite struct Conv2DTests {
    func make(_ t: ConvCase) -> (Conv2D, ParameterLayout) {
        var layout = ParameterLayout()
        let conv = Conv2D(inChannels: t.c, outChannels: t.o, height: t.h, width: t.w, kernel: t.k, stride: t.s,
                          padding: t.p, dilation: t.d, name: "conv", layout: &layout)
        return (conv, layout)
    }

    @Test(arguments: convCases)
    func matchesDirectConvolution(t: ConvCase) {
        let (conv, layout) = make(t)
        let params = FloatBuffer(count: layout.count)
        var rng = SplitMix64(seed: 4)
        conv.initialize(params: Arena(params), rng: &rng)
        let rows = 2
        let x = FloatBuffer(randomArray(rows * conv.inputWidth, seed: 8))
        let y = FloatBuffer(count: rows * conv.outputWidth)
        let cache = FloatBuffer(count: rows * conv.cacheWidth)
        defer { withExtendedLifetime((params, x, y, cache)) {} }
        conv.forward(x: x.matrix(rows: rows, cols: conv.inputWidth), y: y.matrix(rows: rows, cols: conv.outputWidth),
                     cache: cache.matrix(rows: rows, cols: conv.cacheWidth), params: Arena(params))
        var expected = [Float]()
        let weight = params.array, bias = Array(params.array[conv.bias.range])
        for r in 0..<rows {
            for o in 0..<t.o {
                for oy in 0..<conv.outHeight {
                    for ox in 0..<conv.outWidth {
                        var s = Double(bias[o])
                        for c in 0..<t.c {
                            for ky in 0..<t.k {
                                for kx in 0..<t.k {
                                    let iy = oy * t.s - t.p + ky * t.d, ix = ox * t.s - t.p + kx * t.d
                                    guard iy >= 0, iy < t.h, ix >= 0, ix < t.w else { continue }
                                    s += Double(weight[((o * t.c + c) * t.k + ky) * t.k + kx])
                                        * Double(x[r * conv.inputWidth + (c * t.h + iy) * t.w + ix])
                                }
                            }
                        }
                        expected.append(Float(s))
                    }
                }
            }
        }
        expectClose(y.array, expected, relative: 1e-5, absolute: 1e-6)
    }

    @Test(arguments: convCases)
    func gradientsMatchFiniteDifferences(t: ConvCase) {
        let (conv, layout) = make(t)
        checkLayer(conv, layout: layout, rows: 2)
    }
}

/// The direct 3x3 kernel against the im2col + GEMM path: widths around the 8-pixel vector
/// (tails), channel counts around the 4-channel block, forward and both gradients.
@Suite(.serialized) struct DirectConvolutionTests {
    static let shapes = [(1, 1, 1, 1), (1, 16, 28, 28), (16, 8, 14, 14), (8, 8, 7, 7), (16, 1, 28, 28), (2, 3, 5, 40),
                         (3, 5, 9, 17), (6, 7, 4, 8),
                         (5, 1, 3, 16), (2, 9, 11, 2)]

    @Test(arguments: shapes)
    func matchesTheGEMMPath(c: Int, o: Int, h: Int, w: Int) {
        compare(c: c, o: o, h: h, w: w)
    }

    /// The portable loops (machines without AVX2) on the same shapes.
    @Test func portableLoopsMatchTheGEMMPath() {
        for (c, o, h, w) in Self.shapes { compare(c: c, o: o, h: h, w: w, portable: true) }
    }

    func compare(c: Int, o: Int, h: Int, w: Int, portable: Bool = false) {
        var layoutA = ParameterLayout(), layoutB = ParameterLayout()
        let direct = Conv2D(inChannels: c, outChannels: o, height: h, width: w, kernel: 3, padding: 1, name: "conv",
                            layout: &layoutA, direct: true, portableKernel: portable)
        let reference = Conv2D(inChannels: c, outChannels: o, height: h, width: w, kernel: 3, padding: 1,
                               name: "conv", layout: &layoutB, direct: false, winograd: false)
        #expect(direct.direct && !reference.direct && !reference.winograd)
        compareConvolutions(direct, reference, parameterCount: layoutA.count, rows: 3, relative: 1e-5,
                            absolute: (1e-5, 1e-5, 1e-4))
    }
}

/// Runs `a` and `b` (the same convolution by two paths) forward and backward on the same data and
/// compares y, dx (which starts non-zero: backward must add into it) and the parameter gradients.
/// With `scaled`, each absolute tolerance is a fraction of the largest value compared (sums over
/// many pixels round in proportion to their size).
func compareConvolutions(_ a: Conv2D, _ b: Conv2D, parameterCount: Int, rows: Int, relative: Float,
                         absolute: (y: Float, dx: Float, grads: Float), scaled: Bool = false,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    let params = FloatBuffer(count: parameterCount)
    var rng = SplitMix64(seed: 12)
    a.initialize(params: Arena(params), rng: &rng)
    let x = FloatBuffer(randomArray(rows * a.inputWidth, seed: 5))
    let dy = FloatBuffer(randomArray(rows * a.outputWidth, seed: 6))
    var outputs: [[Float]] = [], inputGrads: [[Float]] = [], paramGrads: [[Float]] = []
    for layer in [a, b] {
        let y = FloatBuffer(count: rows * layer.outputWidth), cache = FloatBuffer(count: rows * layer.cacheWidth)
        let dx = FloatBuffer(randomArray(rows * layer.inputWidth, seed: 7)), grads = FloatBuffer(count: parameterCount)
        defer { withExtendedLifetime((y, cache, dx, grads)) {} }
        let xm = x.matrix(rows: rows, cols: layer.inputWidth), ym = y.matrix(rows: rows, cols: layer.outputWidth)
        let cm = cache.matrix(rows: rows, cols: layer.cacheWidth)
        layer.forward(x: xm, y: ym, cache: cm, params: Arena(params))
        layer.backward(dy: dy.matrix(rows: rows, cols: layer.outputWidth), x: xm, y: ym, cache: cm,
                       dx: dx.matrix(rows: rows, cols: layer.inputWidth), params: Arena(params),
                       grads: Arena(grads))
        outputs.append(y.array)
        inputGrads.append(dx.array)
        paramGrads.append(grads.array)
    }
    withExtendedLifetime((params, x, dy)) {}
    func scale(_ values: [Float]) -> Float { scaled ? values.map(abs).max() ?? 0 : 1 }
    expectClose(outputs[0], outputs[1], relative: relative, absolute: absolute.y * scale(outputs[1]), "y",
                sourceLocation: sourceLocation)
    expectClose(inputGrads[0], inputGrads[1], relative: relative, absolute: absolute.dx * scale(inputGrads[1]), "dx",
                sourceLocation: sourceLocation)
    expectClose(paramGrads[0], paramGrads[1], relative: relative, absolute: absolute.grads * scale(paramGrads[1]),
                "dw, db", sourceLocation: sourceLocation)
}

/// Winograd F(4x4, 3x3) against the im2col + GEMM path: sizes that are not multiples of the 4x4
/// tile (tails in both directions, images smaller than a tile), the U-Net's channel counts, one and
/// several rows (60x62 has 240 tiles: one row per transform block), rows of 2-18 tiles (whole and
/// shifted vectors of 4 and 8 in the input transform; with AVX-512 one or two vectors of 16, the
/// last masked), with and without a fused ReLU; forward and both gradients.
@Suite struct WinogradConvolutionTests {
    static let shapes = [(17, 16, 1, 1), (16, 17, 3, 2), (32, 32, 12, 12), (3, 5, 9, 17), (20, 13, 6, 7),
                         (33, 9, 5, 13), (64, 128, 12, 12), (96, 32, 8, 8), (32, 64, 13, 10),
                         (17, 16, 60, 62), (32, 32, 9, 45), (32, 32, 40, 40), (64, 64, 58, 33), (20, 16, 7, 70)]

    // Rows 3 run (32, 32, 40, 40) in groups of 2 and 1, (17, 16, 60, 62) in groups of 1; (64, 64, 58, 33)
    // runs each image in strips of 12 and 3 rows of tiles.
    @Test(arguments: shapes, [1, 3])
    func matchesTheGEMMPath(shape: (Int, Int, Int, Int), rows: Int) {
        // portable: the products on BLAS instead of our own kernels (where the CPU has them).
        for (relu, portable) in [(false, false), (true, false), (false, true)] {
            let (c, o, h, w) = shape
            var layoutA = ParameterLayout(), layoutB = ParameterLayout()
            let winograd = Conv2D(inChannels: c, outChannels: o, height: h, width: w, kernel: 3, padding: 1,
                                  name: "conv", layout: &layoutA, direct: false, fusedReLU: relu,
                                  portableKernel: portable)
            let reference = Conv2D(inChannels: c, outChannels: o, height: h, width: w, kernel: 3, padding: 1,
                                   name: "conv", layout: &layoutB, direct: false, winograd: false, fusedReLU: relu)
            #expect(winograd.winograd && !reference.winograd)
            // Errors relative to the largest value: the transforms round in proportion to the
            // tile's sums, and the weight gradient sums over all pixels.
            compareConvolutions(winograd, reference, parameterCount: layoutA.count, rows: rows, relative: 1e-4,
                                absolute: (1e-5, 1e-5, 1e-5), scaled: true)
        }
    }

    /// The shapes above that claim groups and strips have them.
    @Test func testShapesRunInGroupsAndStrips() {
        let conv = { (c: Int, o: Int, h: Int, w: Int) in
            var layout = ParameterLayout()
            return Conv2D(inChannels: c, outChannels: o, height: h, width: w, kernel: 3, padding: 1, name: "c",
                          layout: &layout)
        }
        #expect(conv(32, 32, 40, 40).winogradGroupRows == 2 && conv(32, 32, 40, 40).winogradStripRows == 10)
        #expect(conv(17, 16, 60, 62).winogradGroupRows == 1 && conv(17, 16, 60, 62).winogradStripRows == 15)
        #expect(conv(64, 64, 58, 33).winogradGroupRows == 1 && conv(64, 64, 58, 33).winogradStripRows == 12)
    }

    /// Large enough channel products choose Winograd by default; other geometries never do.
    @Test func isChosenFor3x3SameConvolutionsWithManyChannels() {
        var layout = ParameterLayout()
        #expect(Conv2D(inChannels: 32, outChannels: 32, height: 8, width: 8, kernel: 3, padding: 1, name: "a",
                       layout: &layout).winograd)
        #expect(!Conv2D(inChannels: 4, outChannels: 4, height: 8, width: 8, kernel: 3, padding: 1, name: "b",
                        layout: &layout).winograd)
        #expect(!Conv2D(inChannels: 32, outChannels: 32, height: 8, width: 8, kernel: 3, stride: 2, padding: 1,
                        name: "c", layout: &layout).winograd)
        #expect(!Conv2D(inChannels: 32, outChannels: 32, height: 8, width: 8, kernel: 3, padding: 1,
                        paddingMode: .reflect, name: "d", layout: &layout).winograd)
        #expect(!Conv2D(inChannels: 32, outChannels: 32, height: 8, width: 8, kernel: 5, padding: 2, name: "e",
                        layout: &layout).winograd)
    }
}

/// A fused ReLU equals the convolution followed by an Activation layer, on both paths.
@Suite struct FusedReLUTests {
    @Test(arguments: [true, false])
    func matchesASeparateActivation(direct: Bool) {
        let (c, o, h, w, rows) = (3, 5, 9, 11, 2)
        var layoutA = ParameterLayout(), layoutB = ParameterLayout()
        let fused = Conv2D(inChannels: c, outChannels: o, height: h, width: w, kernel: 3, padding: 1, name: "conv",
                           layout: &layoutA, direct: direct, fusedReLU: true)
        let plain = Conv2D(inChannels: c, outChannels: o, height: h, width: w, kernel: 3, padding: 1, name: "conv",
                           layout: &layoutB, direct: direct)
        let relu = Activation(.relu, width: plain.outputWidth)
        let params = FloatBuffer(count: layoutA.count)
        var rng = SplitMix64(seed: 3)
        fused.initialize(params: Arena(params), rng: &rng)
        let x = FloatBuffer(randomArray(rows * c * h * w, seed: 1)), dy = FloatBuffer(randomArray(rows * fused.outputWidth, seed: 2))
        let n = fused.outputWidth
        // Fused.
        let y1 = FloatBuffer(count: rows * n), cache1 = FloatBuffer(count: rows * fused.cacheWidth)
        let dx1 = FloatBuffer(count: rows * c * h * w), g1 = FloatBuffer(count: layoutA.count)
        // Separate.
        let z = FloatBuffer(count: rows * n), y2 = FloatBuffer(count: rows * n), dz = FloatBuffer(count: rows * n)
        let cache2 = FloatBuffer(count: rows * plain.cacheWidth), dx2 = FloatBuffer(count: rows * c * h * w)
        let g2 = FloatBuffer(count: layoutA.count), empty = FloatBuffer(count: 1)
        defer { withExtendedLifetime((params, x, dy, y1, cache1, dx1, g1, z, y2, dz, cache2, dx2, g2, empty)) {} }
        let xm = x.matrix(rows: rows, cols: c * h * w), dym = dy.matrix(rows: rows, cols: n)
        fused.forward(x: xm, y: y1.matrix(rows: rows, cols: n), cache: cache1.matrix(rows: rows, cols: fused.cacheWidth),
                      params: Arena(params))
        fused.backward(dy: dym, x: xm, y: y1.matrix(rows: rows, cols: n),
                       cache: cache1.matrix(rows: rows, cols: fused.cacheWidth),
                       dx: dx1.matrix(rows: rows, cols: c * h * w), params: Arena(params), grads: Arena(g1))
        let zm = z.matrix(rows: rows, cols: n), y2m = y2.matrix(rows: rows, cols: n)
        let c2 = cache2.matrix(rows: rows, cols: plain.cacheWidth), none = empty.matrix(rows: rows, cols: 0)
        plain.forward(x: xm, y: zm, cache: c2, params: Arena(params))
        relu.forward(x: zm, y: y2m, cache: none, params: Arena(params))
        relu.backward(dy: dym, x: zm, y: y2m, cache: none, dx: dz.matrix(rows: rows, cols: n), params: Arena(params),
                      grads: Arena(g2))
        plain.backward(dy: dz.matrix(rows: rows, cols: n), x: xm, y: zm, cache: c2,
                       dx: dx2.matrix(rows: rows, cols: c * h * w), params: Arena(params), grads: Arena(g2))
        #expect(y1.array == y2.array)
        #expect(y1.array.contains(0) && y1.array.contains { $0 > 0 })
        expectClose(dx1.array, dx2.array, relative: 1e-6, absolute: 1e-7, "dx")
        expectClose(g1.array, g2.array, relative: 1e-6, absolute: 1e-7, "grads")
    }
}

/// Our GEMMs of the Winograd products (AVX-512 and AVX2, each where the CPU has it) against a
/// double-precision reference: row counts around the 8-, 6-, 4- and 2-row blocks, columns around the
/// 48-, 32- and 16-column blocks, reductions past one packed panel (256 values), a transposed operand
/// by strides, and adding to c.
/// Skipped (and reported so) on CPUs without AVX2, where the kernels never run.
@Suite(.enabled(if: ae_gemm_products_kernel() != 0, "the CPU has neither AVX-512 nor AVX2")) struct WinogradProductTests {
    /// The kernels this CPU can run.
    static let kernels: [Int32] = ae_gemm_products_kernel() == 512 ? [512, 256] : [256]

    @Test(arguments: [(1, 1, 1), (8, 48, 32), (13, 50, 7), (3, 97, 64), (17, 16, 33), (4, 24, 5), (7, 23, 9),
                      (5, 25, 3), (6, 16, 7), (13, 37, 300), (9, 64, 20), (8, 32, 5), (11, 128, 40)])
    func nnMatchesAReference(m: Int, n: Int, k: Int) {
        let a = randomArray(m * k, seed: 1), b = randomArray(k * n, seed: 2), c0 = randomArray(m * n, seed: 3)
        for kernel in Self.kernels {
            for (transposed, accumulate) in [(false, false), (true, false), (false, true)] {
                // transposed: a is stored k x m and read as its transpose; accumulate: c += a b.
                var c = accumulate ? c0 : [Float](repeating: .nan, count: m * n)
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            ae_gemm_nn_using(kernel, Int32(m), Int32(n), Int32(k), pa.baseAddress, transposed ? 1 : k,
                                             transposed ? m : 1, pb.baseAddress, n, pc.baseAddress, n,
                                             accumulate ? 1 : 0)
                        }
                    }
                }
                var expected = [Float](repeating: 0, count: m * n)
                for i in 0..<m {
                    for j in 0..<n {
                        var s = accumulate ? Double(c0[i * n + j]) : 0
                        for p in 0..<k { s += Double(transposed ? a[p * m + i] : a[i * k + p]) * Double(b[p * n + j]) }
                        expected[i * n + j] = Float(s)
                    }
                }
                expectClose(c, expected, relative: 1e-5, absolute: 1e-5,
                            "kernel \(kernel), transposed \(transposed), accumulate \(accumulate)")
            }
        }
    }

    /// The transpose (16 x 16 register blocks with AVX-512) is exact, edges included, and writes
    /// nothing outside the destination's rows and columns.
    @Test(arguments: [(1, 1), (16, 16), (17, 33), (32, 144), (5, 40), (64, 7)])
    func transposeIsExact(rows: Int, cols: Int) {
        let src = randomArray(rows * (cols + 3), seed: 4), ldd = rows + 2
        var dst = [Float](repeating: .nan, count: cols * ldd)
        src.withUnsafeBufferPointer { ps in
            dst.withUnsafeMutableBufferPointer { pd in
                ae_transpose(Int32(rows), Int32(cols), ps.baseAddress, cols + 3, pd.baseAddress, ldd)
            }
        }
        for j in 0..<cols {
            for i in 0..<ldd {
                if i < rows { #expect(dst[j * ldd + i] == src[i * (cols + 3) + j], "(\(i), \(j))") }
                else { #expect(dst[j * ldd + i].isNaN, "padding (\(i), \(j)) written") }
            }
        }
    }

}

/// Winograd layers' caches are scratch, so a network gives them one region: a chain of two such
/// layers (strips and groups of rows included) trains exactly like its copy on the GEMM path with
/// caches of their own, and the caches really are shared (or not).
@Suite struct SharedScratchTests {
    @Test(arguments: [(16, 24, 12, 12, 3), (8, 40, 58, 33, 2)])
    func chainOfWinogradLayersMatchesTheGEMMPath(shape: (Int, Int, Int, Int, Int)) {
        let (c, o, h, w, rows) = shape
        var results: [[[Float]]] = []
        for winograd in [true, false] {
            var layout = ParameterLayout(), allocator = RegionAllocator()
            let layers: [any Layer] = [
                Conv2D(inChannels: c, outChannels: o, height: h, width: w, kernel: 3, padding: 1, name: "a",
                       layout: &layout, direct: false, winograd: winograd, fusedReLU: true),
                Conv2D(inChannels: o, outChannels: c, height: h, width: w, kernel: 3, padding: 1, name: "b",
                       layout: &layout, direct: false, winograd: winograd),
            ]
            let network = Network(layers, allocator: &allocator, inputGradient: true)
            #expect((network.caches[0].start == network.caches[1].start) == winograd)
            let ws = Workspace(columns: allocator.columns, maxRows: rows, parameterCount: layout.count)
            let params = FloatBuffer(count: layout.count)
            var rng = SplitMix64(seed: 3)
            network.initialize(params: Arena(params), rng: &rng)
            let x = randomArray(rows * network.inputWidth, seed: 8), dy = randomArray(rows * network.outputWidth, seed: 9)
            network.input(ws, rows: rows).base.update(from: x, count: x.count)
            network.forward(ws, rows: rows, params: Arena(params), training: true)
            network.outputGradient(ws, rows: rows).base.update(from: dy, count: dy.count)
            ws.gradientArena.base.update(repeating: 0, count: layout.count)
            network.backward(ws, rows: rows, params: Arena(params), grads: ws.gradientArena)
            let y = network.output(ws, rows: rows), dx = network.gradient(0, ws, rows: rows)!
            results.append([Array(UnsafeBufferPointer(start: y.base, count: rows * y.cols)),
                            Array(UnsafeBufferPointer(start: dx.base, count: rows * dx.cols)),
                            Array(UnsafeBufferPointer(start: ws.gradientArena.base, count: layout.count))])
            withExtendedLifetime((ws, params)) {}
        }
        for (i, name) in ["y", "dx", "grads"].enumerated() {
            let scale = results[1][i].map(abs).max() ?? 0
            expectClose(results[0][i], results[1][i], relative: 1e-4, absolute: 1e-5 * scale, name)
        }
    }
}
