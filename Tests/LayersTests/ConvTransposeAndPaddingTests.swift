// ConvTranspose2D and Conv2D's reflect padding: against direct references summed in Double, finite
// differences, the adjoint identity <conv(x), v> == <x, convT(v)>, and PyTorch's nn.Conv2d /
// nn.ConvTranspose2d via Fixtures/conv-layers.bin.gz (tools/make_conv_fixtures.py).

import Kernels
import Layers
import Testing
import TestSupport

struct TransposeCase: Sendable, CustomStringConvertible {
    let c: Int, o: Int, h: Int, w: Int, k: Int, s: Int, p: Int, op: Int, d: Int
    var description: String { "C\(c) O\(o) \(h)x\(w) k\(k) s\(s) p\(p) op\(op) d\(d)" }
}

let transposeCases = [
    TransposeCase(c: 1, o: 2, h: 5, w: 7, k: 3, s: 1, p: 1, op: 0, d: 1),
    TransposeCase(c: 2, o: 3, h: 5, w: 7, k: 3, s: 2, p: 1, op: 1, d: 1),
    TransposeCase(c: 2, o: 2, h: 4, w: 3, k: 3, s: 3, p: 0, op: 2, d: 1),
    TransposeCase(c: 3, o: 2, h: 5, w: 7, k: 3, s: 2, p: 2, op: 0, d: 2),
    TransposeCase(c: 2, o: 1, h: 3, w: 4, k: 4, s: 2, p: 1, op: 0, d: 1),
    // Output padding 1 allowed by dilation 2 with stride 1, as in PyTorch.
    TransposeCase(c: 1, o: 2, h: 4, w: 5, k: 2, s: 1, p: 0, op: 1, d: 2),
]

let reflectCases = [
    ConvCase(c: 1, o: 2, h: 5, w: 7, k: 3, s: 1, p: 1, d: 1),
    ConvCase(c: 2, o: 3, h: 7, w: 5, k: 3, s: 2, p: 2, d: 1),
    ConvCase(c: 2, o: 2, h: 6, w: 7, k: 3, s: 1, p: 2, d: 2),
    // Padding 3 of 4 rows: the reflection reaches the far edge.
    ConvCase(c: 3, o: 1, h: 4, w: 5, k: 5, s: 2, p: 3, d: 1),
    // Two rows: padded index -1 reads row 1 and index 2 reads row 0.
    ConvCase(c: 1, o: 1, h: 2, w: 3, k: 3, s: 1, p: 1, d: 1),
]

/// Runs `layer.forward` on `rows` samples of `x` and returns y.
func runForward(_ layer: any Layer, params: FloatBuffer, x: [Float], rows: Int) -> [Float] {
    let xb = FloatBuffer(x)
    let y = FloatBuffer(count: rows * layer.outputWidth)
    let cache = FloatBuffer(count: rows * layer.cacheWidth)
    defer { withExtendedLifetime((params, xb, y, cache)) {} }
    layer.forward(x: xb.matrix(rows: rows, cols: layer.inputWidth), y: y.matrix(rows: rows, cols: layer.outputWidth),
                  cache: cache.matrix(rows: rows, cols: layer.cacheWidth), params: Arena(params))
    return y.array
}

/// `x` (C, H, W) padded by `p` on each side as PyTorch's reflect pad does, built by concatenation:
/// x[p], ..., x[1], x[0], ..., x[n-1], x[n-2], ..., x[n-1-p] along each axis.
func reflectPadded(_ x: [Double], c: Int, h: Int, w: Int, p: Int) -> [Double] {
    func mirror<T>(_ line: [T]) -> [T] {
        let n = line.count
        return Array(line[1..<(p + 1)].reversed()) + line + Array(line[(n - 1 - p)..<(n - 1)].reversed())
    }
    var out: [Double] = []
    for ch in 0..<c {
        // Pad each row left and right, then mirror whole padded rows top and bottom.
        let rows = (0..<h).map { mirror(Array(x[((ch * h + $0) * w)..<((ch * h + $0 + 1) * w)])) }
        for row in mirror(rows) { out += row }
    }
    return out
}

/// Finite-difference check of dx and every parameter gradient, as `checkLayer` does but with
/// epsilon 1e-2: these layers are linear in x and in the weights, so central differences carry
/// no truncation error at any epsilon, and at 1e-3 float32 rounding of the loss swamps gradients
/// near the 1e-3 floor (seen on the reflect k5 p3 case).
func checkLinearLayer(_ layer: any Layer, layout: ParameterLayout, rows: Int,
                      sourceLocation: SourceLocation = #_sourceLocation) {
    let params = FloatBuffer(count: layout.count)
    var rng = SplitMix64(seed: 7)
    layer.initialize(params: Arena(params), rng: &rng)
    let x = FloatBuffer(randomArray(rows * layer.inputWidth, seed: 3))
    let y = FloatBuffer(count: rows * layer.outputWidth)
    let cache = FloatBuffer(count: rows * layer.cacheWidth)
    let dy = FloatBuffer(randomArray(rows * layer.outputWidth, seed: 5))
    let dx = FloatBuffer(count: rows * layer.inputWidth)
    let grads = FloatBuffer(count: layout.count)
    defer { withExtendedLifetime((params, x, y, cache, dy, dx, grads)) {} }
    let xm = x.matrix(rows: rows, cols: layer.inputWidth), ym = y.matrix(rows: rows, cols: layer.outputWidth)
    let cm = cache.matrix(rows: rows, cols: layer.cacheWidth)
    // L = sum(y * dy), so dL/dy = dy.
    func loss() -> Double {
        layer.forward(x: xm, y: ym, cache: cm, params: Arena(params))
        return (0..<dy.count).reduce(0.0) { $0 + Double(y[$1]) * Double(dy[$1]) }
    }
    _ = loss()
    layer.backward(dy: dy.matrix(rows: rows, cols: layer.outputWidth), x: xm, y: ym, cache: cm,
                   dx: dx.matrix(rows: rows, cols: layer.inputWidth), params: Arena(params), grads: Arena(grads))
    checkGradient("dx", values: x.pointer, count: x.count, analytic: dx.array, epsilon: 1e-2, loss: loss,
                  sourceLocation: sourceLocation)
    for slot in layout.slots {
        checkGradient(slot.name, values: params.pointer + slot.offset, count: slot.count,
                      analytic: Array(grads.array[slot.range]), epsilon: 1e-2, loss: loss,
                      sourceLocation: sourceLocation)
    }
}

@Suite struct ConvTransposeAndPaddingTests {
    // MARK: Transposed convolution

    func makeTranspose(_ t: TransposeCase) -> (ConvTranspose2D, ParameterLayout) {
        var layout = ParameterLayout()
        let layer = ConvTranspose2D(inChannels: t.c, outChannels: t.o, height: t.h, width: t.w, kernel: t.k,
                                    stride: t.s, padding: t.p, outputPadding: t.op, dilation: t.d,
                                    name: "deconv", layout: &layout)
        return (layer, layout)
    }

    @Test(arguments: transposeCases)
    func transposeMatchesDirectReference(t: TransposeCase) {
        let (layer, layout) = makeTranspose(t)
        let oh = layer.outHeight, ow = layer.outWidth
        #expect(oh == (t.h - 1) * t.s - 2 * t.p + t.d * (t.k - 1) + t.op + 1)
        #expect(layer.weight.shape == [t.c, t.o, t.k, t.k] && layer.bias.shape == [t.o])
        let params = FloatBuffer(count: layout.count)
        var rng = SplitMix64(seed: 4)
        layer.initialize(params: Arena(params), rng: &rng)
        let rows = 2
        let x = randomArray(rows * layer.inputWidth, seed: 8)
        let y = runForward(layer, params: params, x: x, rows: rows)
        // Gather form: output (oy, ox) collects input (iy, ix) through tap (ky, kx) when
        // oy = iy*s - p + ky*d, i.e. iy = (oy + p - ky*d) / s where that divides exactly.
        let weight = Array(params.array[layer.weight.range]), bias = Array(params.array[layer.bias.range])
        var expected = [Float]()
        for r in 0..<rows {
            for o in 0..<t.o {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var s = Double(bias[o])
                        for c in 0..<t.c {
                            for ky in 0..<t.k {
                                let ty = oy + t.p - ky * t.d
                                guard ty >= 0, ty % t.s == 0, ty / t.s < t.h else { continue }
                                for kx in 0..<t.k {
                                    let tx = ox + t.p - kx * t.d
                                    guard tx >= 0, tx % t.s == 0, tx / t.s < t.w else { continue }
                                    s += Double(weight[((c * t.o + o) * t.k + ky) * t.k + kx])
                                        * Double(x[r * layer.inputWidth + (c * t.h + ty / t.s) * t.w + tx / t.s])
                                }
                            }
                        }
                        expected.append(Float(s))
                    }
                }
            }
        }
        expectClose(y, expected, relative: 1e-5, absolute: 1e-6)
    }

    @Test(arguments: transposeCases)
    func transposeGradientsMatchFiniteDifferences(t: TransposeCase) {
        let (layer, layout) = makeTranspose(t)
        checkLinearLayer(layer, layout: layout, rows: 2)
    }

    @Test func transposeDefaultInitUsesPyTorchFanIn() {
        // PyTorch: fan_in of a (inC, outC, k, k) weight is outC * k * k; bound 1/sqrt(fan_in).
        var layout = ParameterLayout()
        let layer = ConvTranspose2D(inChannels: 8, outChannels: 2, height: 3, width: 3, kernel: 3,
                                    name: "deconv", layout: &layout)
        let params = FloatBuffer(count: layout.count)
        var rng = SplitMix64(seed: 2)
        layer.initialize(params: Arena(params), rng: &rng)
        let bound = 1 / Float(2 * 9).squareRoot()
        let values = params.array
        #expect(values.allSatisfy { abs($0) <= bound })
        // 144 weights and 2 biases: the largest should come near the bound (not a 1/sqrt(72) one).
        #expect(values.map(abs).max()! > 0.8 * bound)
    }

    // MARK: Reflect padding

    func makeReflect(_ t: ConvCase) -> (Conv2D, ParameterLayout) {
        var layout = ParameterLayout()
        let conv = Conv2D(inChannels: t.c, outChannels: t.o, height: t.h, width: t.w, kernel: t.k, stride: t.s,
                          padding: t.p, dilation: t.d, paddingMode: .reflect, name: "conv", layout: &layout)
        return (conv, layout)
    }

    @Test(arguments: reflectCases)
    func reflectMatchesPaddedDirectConvolution(t: ConvCase) {
        let (conv, layout) = makeReflect(t)
        #expect(conv.paddingMode == .reflect)
        let params = FloatBuffer(count: layout.count)
        var rng = SplitMix64(seed: 4)
        conv.initialize(params: Arena(params), rng: &rng)
        let rows = 2
        let x = randomArray(rows * conv.inputWidth, seed: 8)
        let y = runForward(conv, params: params, x: x, rows: rows)
        // Pad explicitly, then convolve with no padding at all.
        let weight = Array(params.array[conv.weight.range]), bias = Array(params.array[conv.bias.range])
        let ph = t.h + 2 * t.p, pw = t.w + 2 * t.p
        var expected = [Float]()
        for r in 0..<rows {
            let sample = x[(r * conv.inputWidth)..<((r + 1) * conv.inputWidth)].map(Double.init)
            let padded = reflectPadded(sample, c: t.c, h: t.h, w: t.w, p: t.p)
            for o in 0..<t.o {
                for oy in 0..<conv.outHeight {
                    for ox in 0..<conv.outWidth {
                        var s = Double(bias[o])
                        for c in 0..<t.c {
                            for ky in 0..<t.k {
                                for kx in 0..<t.k {
                                    s += Double(weight[((o * t.c + c) * t.k + ky) * t.k + kx])
                                        * padded[(c * ph + oy * t.s + ky * t.d) * pw + ox * t.s + kx * t.d]
                                }
                            }
                        }
                        expected.append(Float(s))
                    }
                }
            }
        }
        expectClose(y, expected, relative: 1e-5, absolute: 1e-6)
    }

    @Test(arguments: reflectCases)
    func reflectGradientsMatchFiniteDifferences(t: ConvCase) {
        let (conv, layout) = makeReflect(t)
        checkLinearLayer(conv, layout: layout, rows: 2)
    }

    @Test func samePaddingKeepsTheSize() {
        #expect(Conv2D.samePadding(kernel: 1) == 0)
        #expect(Conv2D.samePadding(kernel: 3) == 1)
        #expect(Conv2D.samePadding(kernel: 5, dilation: 2) == 4)
        for (k, d) in [(3, 1), (5, 1), (3, 2), (5, 3)] {
            var layout = ParameterLayout()
            let conv = Conv2D(inChannels: 1, outChannels: 1, height: 9, width: 11, kernel: k,
                              padding: Conv2D.samePadding(kernel: k, dilation: d), dilation: d,
                              paddingMode: .reflect, name: "conv", layout: &layout)
            #expect(conv.outHeight == 9 && conv.outWidth == 11, "k\(k) d\(d)")
        }
    }

    // MARK: Adjoint identity

    /// Conv2D (A -> B, H x W) and the ConvTranspose2D (B -> A) that maps its output size back to
    /// H x W share one weight (B, A, k, k); with zero biases, <conv(x), v> == <x, convT(v)>.
    @Test(arguments: [
        ConvCase(c: 2, o: 3, h: 7, w: 9, k: 3, s: 2, p: 1, d: 1),
        ConvCase(c: 3, o: 2, h: 8, w: 6, k: 3, s: 2, p: 1, d: 1),
        ConvCase(c: 1, o: 2, h: 9, w: 12, k: 3, s: 3, p: 2, d: 2),
        ConvCase(c: 2, o: 2, h: 5, w: 7, k: 4, s: 1, p: 0, d: 1),
    ])
    func transposeIsTheAdjointOfConvolution(t: ConvCase) throws {
        var layout = ParameterLayout()
        let conv = Conv2D(inChannels: t.c, outChannels: t.o, height: t.h, width: t.w, kernel: t.k, stride: t.s,
                          padding: t.p, dilation: t.d, name: "conv", layout: &layout)
        let oh = conv.outHeight, ow = conv.outWidth
        let opH = t.h - ((oh - 1) * t.s - 2 * t.p + t.d * (t.k - 1) + 1)
        let opW = t.w - ((ow - 1) * t.s - 2 * t.p + t.d * (t.k - 1) + 1)
        try #require(opH == opW, "the case needs the same output padding in both dimensions")
        let deconv = ConvTranspose2D(inChannels: t.o, outChannels: t.c, height: oh, width: ow, kernel: t.k,
                                     stride: t.s, padding: t.p, outputPadding: opH, dilation: t.d,
                                     name: "deconv", layout: &layout)
        #expect(deconv.outHeight == t.h && deconv.outWidth == t.w && deconv.outputWidth == conv.inputWidth)
        let params = FloatBuffer(count: layout.count)
        let weight = randomArray(conv.weight.count, seed: 21)
        for i in 0..<weight.count {
            params[conv.weight.offset + i] = weight[i]
            params[deconv.weight.offset + i] = weight[i]  // same flat (B, A, k, k) layout
        }
        let rows = 2
        let x = randomArray(rows * conv.inputWidth, seed: 22)
        let v = randomArray(rows * conv.outputWidth, seed: 23)
        let convX = runForward(conv, params: params, x: x, rows: rows)
        let deconvV = runForward(deconv, params: params, x: v, rows: rows)
        let left = zip(convX, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let right = zip(x, deconvV).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        expectClose(Float(left), Float(right), relative: 1e-5, absolute: 1e-5)
    }

    // MARK: PyTorch fixtures

    static let fixturePath = repositoryRoot + "/Tests/LayersTests/Fixtures/conv-layers.bin.gz"

    /// Loads the case's weights into `layer`'s slots (named `<case>.weight`, `<case>.bias`), runs
    /// forward and backward with the fixture's x and dy, and compares with PyTorch.
    func matchFixture(_ layer: any Layer, layout: ParameterLayout, case name: String, _ fixture: Fixture) throws {
        let params = FloatBuffer(count: layout.count)
        for slot in layout.slots {
            let tensor = try #require(fixture[slot.name], "fixture lacks \(slot.name)")
            #expect(tensor.shape == slot.shape, "\(slot.name)")
            for i in 0..<slot.count { params[slot.offset + i] = tensor.values[i] }
        }
        let x = try #require(fixture[name + ".x"]), dy = try #require(fixture[name + ".dy"])
        let rows = x.shape[0]
        #expect(x.values.count == rows * layer.inputWidth && dy.values.count == rows * layer.outputWidth)
        let xb = FloatBuffer(x.values), dyb = FloatBuffer(dy.values)
        let y = FloatBuffer(count: rows * layer.outputWidth)
        let cache = FloatBuffer(count: rows * layer.cacheWidth)
        let dx = FloatBuffer(count: rows * layer.inputWidth)
        let grads = FloatBuffer(count: layout.count)
        defer { withExtendedLifetime((params, xb, dyb, y, cache, dx, grads)) {} }
        let xm = xb.matrix(rows: rows, cols: layer.inputWidth), ym = y.matrix(rows: rows, cols: layer.outputWidth)
        let cm = cache.matrix(rows: rows, cols: layer.cacheWidth)
        layer.forward(x: xm, y: ym, cache: cm, params: Arena(params))
        layer.backward(dy: dyb.matrix(rows: rows, cols: layer.outputWidth), x: xm, y: ym, cache: cm,
                       dx: dx.matrix(rows: rows, cols: layer.inputWidth), params: Arena(params),
                       grads: Arena(grads))
        // The reference is float64 on these float32 values, so only our float32 sums err: each
        // y and dx value sums at most 18 products of magnitude < 1, a weight gradient up to ~140
        // (batch 2 times the positions), so n * 2^-24 * sum|terms| stays below 1e-6 and 1e-5.
        expectClose(y.array, try #require(fixture[name + ".y"]).values, relative: 1e-5, absolute: 1e-6, "y")
        expectClose(dx.array, try #require(fixture[name + ".dx"]).values, relative: 1e-5, absolute: 1e-6, "dx")
        let slots = layout.slots
        expectClose(Array(grads.array[slots[0].range]), try #require(fixture[name + ".dweight"]).values,
                    relative: 1e-5, absolute: 1e-5, "dweight")
        expectClose(Array(grads.array[slots[1].range]), try #require(fixture[name + ".dbias"]).values,
                    relative: 1e-5, absolute: 1e-5, "dbias")
    }

    /// inC, outC, H, W, kernel, stride, padding, dilation, output padding, reflect.
    func geometry(_ fixture: Fixture, _ name: String) throws -> [Int] {
        let g = try #require(fixture[name + ".geometry"], "fixture lacks \(name)").values.map { Int($0) }
        try #require(g.count == 10)
        return g
    }

    @Test(arguments: ["conv_zeros_s2", "conv_reflect", "conv_reflect_s2_d2"])
    func conv2DMatchesPyTorch(name: String) throws {
        let fixture = try Fixture(path: Self.fixturePath)
        let g = try geometry(fixture, name)
        var layout = ParameterLayout()
        let conv = Conv2D(inChannels: g[0], outChannels: g[1], height: g[2], width: g[3], kernel: g[4], stride: g[5],
                          padding: g[6], dilation: g[7], paddingMode: g[9] == 1 ? .reflect : .zeros, name: name,
                          layout: &layout)
        try matchFixture(conv, layout: layout, case: name, fixture)
    }

    @Test(arguments: ["convt_s2_p1_op1", "convt_s3_p1_op2_d2"])
    func convTranspose2DMatchesPyTorch(name: String) throws {
        let fixture = try Fixture(path: Self.fixturePath)
        let g = try geometry(fixture, name)
        var layout = ParameterLayout()
        let deconv = ConvTranspose2D(inChannels: g[0], outChannels: g[1], height: g[2], width: g[3], kernel: g[4],
                                     stride: g[5], padding: g[6], outputPadding: g[8], dilation: g[7], name: name,
                                     layout: &layout)
        try matchFixture(deconv, layout: layout, case: name, fixture)
    }
}
