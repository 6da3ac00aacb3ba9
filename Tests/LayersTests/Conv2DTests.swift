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
                               name: "conv", layout: &layoutB, direct: false)
        #expect(direct.direct && !reference.direct)
        let rows = 3
        let params = FloatBuffer(count: layoutA.count)
        var rng = SplitMix64(seed: 12)
        direct.initialize(params: Arena(params), rng: &rng)
        let x = FloatBuffer(randomArray(rows * direct.inputWidth, seed: 5))
        let dy = FloatBuffer(randomArray(rows * direct.outputWidth, seed: 6))
        var outputs: [[Float]] = [], inputGrads: [[Float]] = [], paramGrads: [[Float]] = []
        for layer in [direct, reference] {
            let y = FloatBuffer(count: rows * layer.outputWidth), cache = FloatBuffer(count: rows * layer.cacheWidth)
            let dx = FloatBuffer(randomArray(rows * layer.inputWidth, seed: 7)), grads = FloatBuffer(count: layoutA.count)
            defer { withExtendedLifetime((y, cache, dx, grads)) {} }
            let xm = x.matrix(rows: rows, cols: layer.inputWidth), ym = y.matrix(rows: rows, cols: layer.outputWidth)
            let cm = cache.matrix(rows: rows, cols: layer.cacheWidth)
            layer.forward(x: xm, y: ym, cache: cm, params: Arena(params))
            // dx starts non-zero: backward must add into it.
            layer.backward(dy: dy.matrix(rows: rows, cols: layer.outputWidth), x: xm, y: ym, cache: cm,
                           dx: dx.matrix(rows: rows, cols: layer.inputWidth), params: Arena(params),
                           grads: Arena(grads))
            outputs.append(y.array)
            inputGrads.append(dx.array)
            paramGrads.append(grads.array)
        }
        withExtendedLifetime((params, x, dy)) {}
        expectClose(outputs[0], outputs[1], relative: 1e-5, absolute: 1e-5, "y")
        expectClose(inputGrads[0], inputGrads[1], relative: 1e-5, absolute: 1e-5, "dx")
        expectClose(paramGrads[0], paramGrads[1], relative: 1e-5, absolute: 1e-4, "dw, db")
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
