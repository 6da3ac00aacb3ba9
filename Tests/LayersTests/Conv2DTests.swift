// Conv2D against a direct (naive) convolution and against finite differences, for strides,
// padding, dilation and odd sizes.

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
