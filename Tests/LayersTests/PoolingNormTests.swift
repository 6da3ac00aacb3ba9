// MaxPool2D, AvgPool2D, Upsample2D and InstanceNorm2D against naive references, finite
// differences and PyTorch fixtures (tools/make_pool_norm_fixtures.py); the Skip helpers against
// their adjoint identities.

import Kernels
import Layers
import Testing
import TestSupport

private let poolNormFixtures = repositoryRoot + "/Tests/LayersTests/Fixtures/pool-norm-layers.bin.gz"

/// Runs `layer` forward on `x` (rows samples) and returns y.
private func forwardRows(_ layer: any Layer, x: [Float], rows: Int, params: FloatBuffer = FloatBuffer(count: 0))
    -> [Float] {
    let xb = FloatBuffer(x)
    let y = FloatBuffer(count: rows * layer.outputWidth)
    let cache = FloatBuffer(count: rows * layer.cacheWidth)
    defer { withExtendedLifetime((xb, y, cache, params)) {} }
    layer.forward(x: xb.matrix(rows: rows, cols: layer.inputWidth), y: y.matrix(rows: rows, cols: layer.outputWidth),
                  cache: cache.matrix(rows: rows, cols: layer.cacheWidth), params: Arena(params))
    return y.array
}

/// Forward then backward with upstream gradient `dy`; returns (y, dx, parameter gradients).
private func forwardBackward(_ layer: any Layer, x: [Float], dy: [Float], rows: Int,
                     params: FloatBuffer = FloatBuffer(count: 0)) -> (y: [Float], dx: [Float], grads: [Float]) {
    let xb = FloatBuffer(x), dyb = FloatBuffer(dy)
    let y = FloatBuffer(count: rows * layer.outputWidth)
    let cache = FloatBuffer(count: rows * layer.cacheWidth)
    let dx = FloatBuffer(count: rows * layer.inputWidth)
    let grads = FloatBuffer(count: params.count)
    defer { withExtendedLifetime((xb, dyb, y, cache, dx, grads, params)) {} }
    let xm = xb.matrix(rows: rows, cols: layer.inputWidth), ym = y.matrix(rows: rows, cols: layer.outputWidth)
    let cm = cache.matrix(rows: rows, cols: layer.cacheWidth)
    layer.forward(x: xm, y: ym, cache: cm, params: Arena(params))
    layer.backward(dy: dyb.matrix(rows: rows, cols: layer.outputWidth), x: xm, y: ym, cache: cm,
                   dx: dx.matrix(rows: rows, cols: layer.inputWidth), params: Arena(params), grads: Arena(grads))
    return (y.array, dx.array, grads.array)
}

private func dot(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
}

struct PoolCase: Sendable, CustomStringConvertible {
    let c: Int, h: Int, w: Int, k: Int, s: Int
    var description: String { "C\(c) \(h)x\(w) k\(k) s\(s)" }
}

let poolCases = [
    PoolCase(c: 2, h: 4, w: 6, k: 2, s: 2),
    PoolCase(c: 1, h: 7, w: 5, k: 3, s: 2),
    PoolCase(c: 3, h: 7, w: 9, k: 2, s: 3),
    PoolCase(c: 2, h: 5, w: 5, k: 3, s: 1),
]

@Suite struct PoolingTests {
    /// Direct pooling in Double: the max (or mean) of each window.
    func naivePool(_ t: PoolCase, _ x: [Float], rows: Int, max isMax: Bool) -> [Float] {
        let oh = (t.h - t.k) / t.s + 1, ow = (t.w - t.k) / t.s + 1
        var out = [Float]()
        for r in 0..<rows {
            for c in 0..<t.c {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var window = [Double]()
                        for ky in 0..<t.k {
                            for kx in 0..<t.k {
                                window.append(Double(x[((r * t.c + c) * t.h + oy * t.s + ky) * t.w + ox * t.s + kx]))
                            }
                        }
                        out.append(Float(isMax ? window.max()! : window.reduce(0, +) / Double(window.count)))
                    }
                }
            }
        }
        return out
    }

    @Test(arguments: poolCases)
    func maxPoolMatchesNaive(t: PoolCase) {
        let layer = MaxPool2D(channels: t.c, height: t.h, width: t.w, kernel: t.k, stride: t.s)
        #expect(layer.outHeight == (t.h - t.k) / t.s + 1 && layer.outWidth == (t.w - t.k) / t.s + 1)
        let x = randomArray(2 * layer.inputWidth, seed: 31)
        #expect(forwardRows(layer, x: x, rows: 2) == naivePool(t, x, rows: 2, max: true))
    }

    @Test(arguments: poolCases)
    func avgPoolMatchesNaive(t: PoolCase) {
        let layer = AvgPool2D(channels: t.c, height: t.h, width: t.w, kernel: t.k, stride: t.s)
        let x = randomArray(2 * layer.inputWidth, seed: 32)
        expectClose(forwardRows(layer, x: x, rows: 2), naivePool(t, x, rows: 2, max: false), relative: 1e-5,
                    absolute: 1e-6)
    }

    @Test func strideDefaultsToKernel() {
        #expect(MaxPool2D(channels: 1, height: 7, width: 5, kernel: 2).stride == 2)
        #expect(AvgPool2D(channels: 1, height: 7, width: 5, kernel: 3).outHeight == 2)
    }

    @Test func maxPoolTiesGoToFirstMaximum() {
        // Overlapping 3x3 windows, stride 2, over a constant 5x5 plane: every value ties, so each
        // window's gradient goes to its top-left element, as in PyTorch.
        let layer = MaxPool2D(channels: 1, height: 5, width: 5, kernel: 3, stride: 2)
        let (y, dx, _) = forwardBackward(layer, x: [Float](repeating: 0.5, count: 25), dy: [1, 2, 3, 4], rows: 1)
        #expect(y == [0.5, 0.5, 0.5, 0.5])
        var expected = [Float](repeating: 0, count: 25)
        expected[0] = 1; expected[2] = 2; expected[10] = 3; expected[12] = 4
        #expect(dx == expected)
        // An equal value later in the window does not win: 7 (row 1) beats 11 (row 2) in the
        // first window; the last window holds neither and ties at 0 from its corner, 12.
        var x = [Float](repeating: 0, count: 25)
        x[7] = 1; x[11] = 1
        #expect(forwardBackward(layer, x: x, dy: [1, 2, 3, 4], rows: 1).dx[7] == 3)
        #expect(forwardBackward(layer, x: x, dy: [1, 2, 3, 4], rows: 1).dx[11] == 3)
        #expect(forwardBackward(layer, x: x, dy: [1, 2, 3, 4], rows: 1).dx[12] == 4)
        // A later strictly larger value wins: 12 lies in all four windows.
        x[12] = 2
        #expect(forwardBackward(layer, x: x, dy: [1, 2, 3, 4], rows: 1).dx[12] == 10)
    }

    @Test(arguments: poolCases)
    func maxPoolGradient(t: PoolCase) {
        let layer = MaxPool2D(channels: t.c, height: t.h, width: t.w, kernel: t.k, stride: t.s)
        let rows = 2
        // A shuffled ramp: all values distinct by 0.01, far above the 1e-3 differences, so no
        // perturbation changes an argmax.
        var rng = SplitMix64(seed: 17)
        var x = (0..<(rows * layer.inputWidth)).map { Float($0) * 0.01 - 1 }
        for i in stride(from: x.count - 1, to: 0, by: -1) { x.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let r = randomArray(rows * layer.outputWidth, seed: 5)
        let xb = FloatBuffer(x)
        defer { withExtendedLifetime(xb) {} }
        let (_, dx, _) = forwardBackward(layer, x: x, dy: r, rows: rows)
        checkGradient("dx", values: xb.pointer, count: xb.count, analytic: dx, samples: 40, epsilon: 1e-3) {
            dot(forwardRows(layer, x: xb.array, rows: rows), r)
        }
    }

    @Test(arguments: poolCases)
    func avgPoolGradient(t: PoolCase) {
        checkLayer(AvgPool2D(channels: t.c, height: t.h, width: t.w, kernel: t.k, stride: t.s),
                   layout: ParameterLayout(), rows: 2)
    }
}

struct UpsampleCase: Sendable, CustomStringConvertible {
    let c: Int, h: Int, w: Int, s: Int, mode: UpsampleMode
    var description: String { "C\(c) \(h)x\(w) x\(s) \(mode)" }
}

let upsampleCases = [UpsampleMode.nearest, .bilinear].flatMap { mode in
    [UpsampleCase(c: 2, h: 3, w: 4, s: 2, mode: mode), UpsampleCase(c: 1, h: 7, w: 5, s: 3, mode: mode),
     UpsampleCase(c: 2, h: 1, w: 2, s: 2, mode: mode)]
}

@Suite struct UpsampleTests {
    @Test(arguments: upsampleCases)
    func gradient(t: UpsampleCase) {
        let layer = Upsample2D(channels: t.c, height: t.h, width: t.w, scale: t.s, mode: t.mode)
        #expect(layer.outHeight == t.h * t.s && layer.outWidth == t.w * t.s)
        checkLayer(layer, layout: ParameterLayout(), rows: 2)
    }

    /// Backward is the exact adjoint of forward: <U x, g> == <x, U^T g>.
    @Test(arguments: upsampleCases)
    func backwardIsAdjoint(t: UpsampleCase) {
        let layer = Upsample2D(channels: t.c, height: t.h, width: t.w, scale: t.s, mode: t.mode)
        let x = randomArray(2 * layer.inputWidth, seed: 41), g = randomArray(2 * layer.outputWidth, seed: 42)
        let (y, dx, _) = forwardBackward(layer, x: x, dy: g, rows: 2)
        let lhs = dot(y, g), rhs = dot(x, dx)
        #expect(abs(lhs - rhs) <= 1e-5 * max(abs(lhs), 1))
    }

    @Test func nearestRepeatsEachPixel() {
        let layer = Upsample2D(channels: 1, height: 2, width: 2, scale: 2, mode: .nearest)
        #expect(forwardRows(layer, x: [1, 2, 3, 4], rows: 1)
            == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    }

    @Test func bilinearSmallCase() {
        // F.interpolate(torch.tensor([[[[1., 2.]]]]), scale_factor=2, mode='bilinear',
        // align_corners=False) -> [[1, 1.25, 1.75, 2], [1, 1.25, 1.75, 2]]
        let layer = Upsample2D(channels: 1, height: 1, width: 2, scale: 2, mode: .bilinear)
        #expect(forwardRows(layer, x: [1, 2], rows: 1) == [1, 1.25, 1.75, 2, 1, 1.25, 1.75, 2])
    }
}

@Suite struct InstanceNormTests {
    @Test(arguments: [(2, 7, 5, true), (3, 4, 4, false), (1, 1, 3, true), (2, 3, 5, false)])
    func gradient(channels: Int, height: Int, width: Int, affine: Bool) {
        var layout = ParameterLayout()
        let layer = InstanceNorm2D(channels: channels, height: height, width: width, affine: affine, name: "norm",
                                   layout: &layout)
        #expect(layout.slots.map(\.name) == (affine ? ["norm.weight", "norm.bias"] : []))
        // Random affine parameters, so dWeight and dx see a weight other than 1.
        if affine {
            checkAffine(layer, layout: layout)
        } else {
            checkLayer(layer, layout: layout, rows: 2, inputScale: 2, inputOffset: 0.3)
        }
    }

    func checkAffine(_ layer: InstanceNorm2D, layout: ParameterLayout) {
        let rows = 2
        let params = FloatBuffer(randomArray(layout.count, seed: 51, scale: 0.5, offset: 1))
        let x = FloatBuffer(randomArray(rows * layer.inputWidth, seed: 52, scale: 2, offset: -0.4))
        let r = randomArray(rows * layer.outputWidth, seed: 53)
        defer { withExtendedLifetime((params, x)) {} }
        let (_, dx, grads) = forwardBackward(layer, x: x.array, dy: r, rows: rows, params: params)
        func loss() -> Double { dot(forwardRows(layer, x: x.array, rows: rows, params: params), r) }
        // Normalisation makes many dx entries small differences of O(1) terms; the float32 loss
        // noise (~1e-7 / 2e-3 = 5e-5 in the quotient) needs a 1e-2 floor, not 1e-3, on those.
        checkGradient("dx", values: x.pointer, count: x.count, analytic: dx, epsilon: 1e-3, floor: 1e-2,
                      loss: loss)
        for slot in layout.slots {
            checkGradient(slot.name, values: params.pointer + slot.offset, count: slot.count,
                          analytic: Array(grads[slot.range]), epsilon: 1e-3, floor: 1e-2, loss: loss)
        }
    }

    @Test func normalisesEachChannelOfEachSample() {
        var layout = ParameterLayout()
        let layer = InstanceNorm2D(channels: 3, height: 4, width: 5, affine: true, name: "n", layout: &layout)
        let params = FloatBuffer(count: layout.count)
        var rng = SplitMix64(seed: 1)
        layer.initialize(params: Arena(params), rng: &rng)
        #expect(params.array == [1, 1, 1, 0, 0, 0])
        let y = forwardRows(layer, x: randomArray(2 * 60, seed: 54, scale: 3, offset: 2), rows: 2, params: params)
        for plane in 0..<6 {
            let values = y[(plane * 20)..<(plane * 20 + 20)].map(Double.init)
            let mean = values.reduce(0, +) / 20
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 20
            #expect(abs(mean) < 1e-5)
            // Biased variance 1 less the eps share: var / (var + 1e-5).
            #expect(abs(variance - 1) < 1e-4)
        }
    }
}

@Suite struct PoolNormFixtureTests {
    let fixture: Fixture

    init() throws {
        fixture = try Fixture(path: poolNormFixtures)
    }

    func tensor(_ name: String) throws -> Fixture.Tensor {
        try #require(fixture[name], "fixture has no \(name)")
    }

    /// Checks y, dx (and parameter gradients) of `layer` against fixture case `name`.
    func check(_ name: String, _ layer: any Layer, params: FloatBuffer = FloatBuffer(count: 0),
               paramNames: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let x = try tensor(name + ".x")
        let rows = x.shape[0]
        #expect(x.values.count == rows * layer.inputWidth, sourceLocation: sourceLocation)
        let dy = try tensor(name + ".dy").values
        let (y, dx, grads) = forwardBackward(layer, x: x.values, dy: dy, rows: rows, params: params)
        expectClose(y, try tensor(name + ".y").values, relative: 1e-5, absolute: 1e-6, "\(name).y",
                    sourceLocation: sourceLocation)
        expectClose(dx, try tensor(name + ".dx").values, relative: 1e-5, absolute: 1e-5, "\(name).dx",
                    sourceLocation: sourceLocation)
        var offset = 0
        for p in paramNames {
            let expected = try tensor("\(name).grad.\(p)").values
            expectClose(Array(grads[offset..<(offset + expected.count)]), expected, relative: 1e-5, absolute: 1e-5,
                        "\(name).grad.\(p)", sourceLocation: sourceLocation)
            offset += expected.count
        }
    }

    func shape(_ name: String) throws -> (c: Int, h: Int, w: Int) {
        let s = try tensor(name + ".x").shape
        return (s[1], s[2], s[3])
    }

    @Test func pooling() throws {
        for (name, k, s) in [("maxpool_k2", 2, 2), ("maxpool_k3s2", 3, 2)] {
            let (c, h, w) = try shape(name)
            try check(name, MaxPool2D(channels: c, height: h, width: w, kernel: k, stride: s))
        }
        let (c, h, w) = try shape("avgpool_k2")
        try check("avgpool_k2", AvgPool2D(channels: c, height: h, width: w, kernel: 2))
    }

    @Test func upsampling() throws {
        for (name, scale, mode) in [("upsample_nearest2", 2, UpsampleMode.nearest),
                                    ("upsample_bilinear2", 2, .bilinear), ("upsample_bilinear3", 3, .bilinear)] {
            let (c, h, w) = try shape(name)
            try check(name, Upsample2D(channels: c, height: h, width: w, scale: scale, mode: mode))
        }
    }

    @Test func instanceNorm() throws {
        var layout = ParameterLayout()
        var (c, h, w) = try shape("instnorm_affine")
        let affine = InstanceNorm2D(channels: c, height: h, width: w, affine: true, name: "norm", layout: &layout)
        let params = FloatBuffer(try tensor("instnorm_affine.weight").values + tensor("instnorm_affine.bias").values)
        #expect(params.count == layout.count)
        try check("instnorm_affine", affine, params: params, paramNames: ["weight", "bias"])

        var unused = ParameterLayout()
        (c, h, w) = try shape("instnorm_plain")
        try check("instnorm_plain", InstanceNorm2D(channels: c, height: h, width: w, affine: false, name: "norm",
                                                   layout: &unused))
        #expect(unused.count == 0)
    }
}

@Suite struct SkipTests {
    @Test func splitIsTheAdjointOfConcat() {
        let rows = 3, ca = 8, cb = 5
        let a = FloatBuffer(randomArray(rows * ca, seed: 61)), b = FloatBuffer(randomArray(rows * cb, seed: 62))
        let y = FloatBuffer(count: rows * (ca + cb))
        let g = FloatBuffer(randomArray(rows * (ca + cb), seed: 63))
        // Non-zero starting gradients: split must add, not overwrite.
        let ga = FloatBuffer(randomArray(rows * ca, seed: 64)), gb = FloatBuffer(randomArray(rows * cb, seed: 65))
        let ga0 = ga.array, gb0 = gb.array
        defer { withExtendedLifetime((a, b, y, g, ga, gb)) {} }
        Skip.concatChannels(a.matrix(rows: rows, cols: ca), b.matrix(rows: rows, cols: cb),
                            into: y.matrix(rows: rows, cols: ca + cb))
        #expect(Array(y.array[0..<ca]) == Array(a.array[0..<ca]))
        #expect(Array(y.array[ca..<(ca + cb)]) == Array(b.array[0..<cb]))
        Skip.splitChannels(g.matrix(rows: rows, cols: ca + cb), addingInto: ga.matrix(rows: rows, cols: ca),
                           gb.matrix(rows: rows, cols: cb))
        let da = zip(ga.array, ga0).map { $0 - $1 }, db = zip(gb.array, gb0).map { $0 - $1 }
        let lhs = dot(y.array, g.array), rhs = dot(a.array, da) + dot(b.array, db)
        #expect(abs(lhs - rhs) < 1e-5 * max(abs(lhs), 1))
        // Each row of g is exactly [ga part, gb part].
        for r in 0..<rows {
            #expect(ga.array[r * ca] == ga0[r * ca] + g.array[r * (ca + cb)])
            #expect(gb.array[r * cb + cb - 1] == gb0[r * cb + cb - 1] + g.array[r * (ca + cb) + ca + cb - 1])
        }
    }

    @Test func addAndAccumulate() {
        let a = FloatBuffer([1, 2, 3, 4, 5, 6]), b = FloatBuffer([10, 20, 30, 40, 50, 60])
        let y = FloatBuffer(count: 6), d = FloatBuffer([1, 1, 1, 1, 1, 1])
        defer { withExtendedLifetime((a, b, y, d)) {} }
        Skip.add(a.matrix(rows: 2, cols: 3), b.matrix(rows: 2, cols: 3), into: y.matrix(rows: 2, cols: 3))
        #expect(y.array == [11, 22, 33, 44, 55, 66])
        Skip.accumulate(a.matrix(rows: 2, cols: 3), into: d.matrix(rows: 2, cols: 3))
        Skip.accumulate(a.matrix(rows: 2, cols: 3), into: d.matrix(rows: 2, cols: 3))
        #expect(d.array == [3, 5, 7, 9, 11, 13])
    }

    @Test func concatWorksOnStridedViews() {
        // Rows 1..<3 of wider buffers, so row strides differ from column counts.
        let a = FloatBuffer((0..<12).map(Float.init)), b = FloatBuffer((100..<114).map(Float.init))
        let y = FloatBuffer(count: 2 * 5)
        defer { withExtendedLifetime((a, b, y)) {} }
        let av = Matrix(a.pointer + 4, rows: 2, cols: 3, stride: 4)
        let bv = Matrix(b.pointer + 6, rows: 2, cols: 2, stride: 6)
        Skip.concatChannels(av, bv, into: y.matrix(rows: 2, cols: 5))
        #expect(y.array == [4, 5, 6, 106, 107, 8, 9, 10, 112, 113])
    }
}
