// Finite-difference gradient checks for every layer and loss: L = sum(y * r) for a fixed random
// r, central differences on sampled coordinates of the input and of every parameter tensor.

import Kernels
import Layers
import Testing
import TestSupport

func randomArray(_ count: Int, seed: UInt64, scale: Float = 1, offset: Float = 0) -> [Float] {
    var rng = SplitMix64(key: seed, 99)
    return (0..<count).map { _ in offset + scale * (2 * rng.nextUniform() - 1) }
}

/// Runs forward/backward of `layer` on B rows and checks dx and every parameter gradient.
func checkLayer(_ layer: any Layer, layout: ParameterLayout, rows: Int = 3, inputScale: Float = 1,
                inputOffset: Float = 0, drawKeys: Bool = false,
                sourceLocation: SourceLocation = #_sourceLocation) {
    let params = FloatBuffer(count: layout.count)
    var rng = SplitMix64(seed: 7)
    layer.initialize(params: Arena(params), rng: &rng)
    let x = FloatBuffer(randomArray(rows * layer.inputWidth, seed: 3, scale: inputScale, offset: inputOffset))
    let y = FloatBuffer(count: rows * layer.outputWidth)
    let cache = FloatBuffer(count: rows * layer.cacheWidth)
    let r = randomArray(rows * layer.outputWidth, seed: 5)
    let xm = x.matrix(rows: rows, cols: layer.inputWidth)
    let ym = y.matrix(rows: rows, cols: layer.outputWidth)
    let cm = cache.matrix(rows: rows, cols: layer.cacheWidth)
    if let stochastic = layer as? any StochasticLayer {
        let keys = (0..<rows).map { UInt64($0 * 31 + 5) }
        keys.withUnsafeBufferPointer { stochastic.draw(cache: cm, rowKeys: $0.baseAddress!) }
    }
    func loss() -> Double {
        layer.forward(x: xm, y: ym, cache: cm, params: Arena(params))
        var s = 0.0
        for i in 0..<r.count { s += Double(y[i]) * Double(r[i]) }
        return s
    }
    _ = loss()
    let dy = FloatBuffer(r)
    let dx = FloatBuffer(count: rows * layer.inputWidth)
    let grads = FloatBuffer(count: layout.count)
    // Matrices are raw views: keep every buffer alive until the checks end.
    defer { withExtendedLifetime((params, x, y, cache, dy, dx, grads)) {} }
    withExtendedLifetime((dy, x, y, cache)) {
        layer.backward(dy: dy.matrix(rows: rows, cols: layer.outputWidth), x: xm, y: ym, cache: cm,
                       dx: dx.matrix(rows: rows, cols: layer.inputWidth), params: Arena(params),
                       grads: Arena(grads))
    }
    checkGradient("dx", values: x.pointer, count: x.count, analytic: dx.array, epsilon: 1e-3,
                  loss: loss, sourceLocation: sourceLocation)
    for slot in layout.slots {
        let analytic = Array(grads.array[slot.range])
        checkGradient(slot.name, values: params.pointer + slot.offset, count: slot.count, analytic: analytic,
                      epsilon: 1e-3, loss: loss, sourceLocation: sourceLocation)
    }
}

@Suite struct LayerGradientTests {
    @Test(arguments: [(5, 4), (1, 7), (9, 1)])
    func dense(inputs: Int, outputs: Int) {
        var layout = ParameterLayout()
        let layer = Dense(inputs, outputs, name: "fc", layout: &layout)
        checkLayer(layer, layout: layout)
    }

    @Test func tiedDense() {
        var layout = ParameterLayout()
        let encoder = Dense(6, 3, name: "enc", layout: &layout)
        let decoder = Dense(tiedTo: encoder, name: "dec", layout: &layout)
        #expect(decoder.inputWidth == 3 && decoder.outputWidth == 6)
        var rng = SplitMix64(seed: 1)
        let params = FloatBuffer(count: layout.count)
        encoder.initialize(params: Arena(params), rng: &rng)
        checkLayer(decoder, layout: layout)
    }

    @Test(arguments: ActivationKind.allCases)
    func activation(kind: ActivationKind) {
        // Inputs in +-[0.1, 1.1] keep ReLU-type kinks away from the +-1e-3 differences.
        let layer = Activation(kind, width: 6)
        let layout = ParameterLayout()
        let params = FloatBuffer(count: 0)
        let rows = 2
        var values = randomArray(rows * 6, seed: 11)
        values = values.map { $0 >= 0 ? $0 + 0.1 : $0 - 0.1 }
        let x = FloatBuffer(values)
        let y = FloatBuffer(count: rows * 6)
        defer { withExtendedLifetime((x, y, params)) {} }
        let r = randomArray(rows * 6, seed: 12)
        let empty = Matrix(y.pointer, rows: rows, cols: 0)
        func loss() -> Double {
            layer.forward(x: x.matrix(rows: rows, cols: 6), y: y.matrix(rows: rows, cols: 6), cache: empty,
                          params: Arena(params))
            return (0..<r.count).reduce(0.0) { $0 + Double(y[$1]) * Double(r[$1]) }
        }
        _ = loss()
        let dx = FloatBuffer(count: rows * 6)
        let dy = FloatBuffer(r)
        withExtendedLifetime((dy, params, layout)) {
            layer.backward(dy: dy.matrix(rows: rows, cols: 6), x: x.matrix(rows: rows, cols: 6),
                           y: y.matrix(rows: rows, cols: 6), cache: empty, dx: dx.matrix(rows: rows, cols: 6),
                           params: Arena(params), grads: Arena(params))
        }
        checkGradient("\(kind)", values: x.pointer, count: x.count, analytic: dx.array, epsilon: 1e-3, loss: loss)
    }

    @Test func dropout() {
        let layer = Dropout(rate: 0.4, width: 10, streamID: 1)
        checkLayer(layer, layout: ParameterLayout(), rows: 4)
    }

    @Test func dropoutMaskDependsOnKeyAndKeepsExpectation() {
        let layer = Dropout(rate: 0.25, width: 10_000, streamID: 3)
        let cache = FloatBuffer(count: 2 * 10_000)
        let keys: [UInt64] = [42, 42]
        keys.withUnsafeBufferPointer { layer.draw(cache: cache.matrix(rows: 2, cols: 10_000), rowKeys: $0.baseAddress!) }
        let row0 = Array(cache.array[0..<10_000]), row1 = Array(cache.array[10_000...])
        #expect(row0 == row1)
        let kept = row0.filter { $0 != 0 }
        #expect(kept.allSatisfy { $0 == 1 / 0.75 })
        let mean = row0.reduce(0, +) / 10_000
        #expect(abs(mean - 1) < 0.03)
    }
}

@Suite struct LossGradientTests {
    @Test(arguments: LossKind.allCases)
    func lossGradient(kind: LossKind) {
        let rows = 3, d = 5
        let k = Loss.outputsPerTarget(kind)
        let output = FloatBuffer(randomArray(rows * d * k, seed: 21, scale: 1.5))
        if kind == .mse { for i in 0..<output.count { output[i] = 0.5 + 0.4 * output[i] / 1.5 } }
        let target = FloatBuffer(randomArray(rows * d, seed: 22, scale: 0.5, offset: 0.5))
        let scale: Float = 0.37
        let om = output.matrix(rows: rows, cols: d * k), tm = target.matrix(rows: rows, cols: d)
        let grad = FloatBuffer(count: rows * d * k)
        defer { withExtendedLifetime((output, target, grad)) {} }
        let sums = Loss.evaluate(kind, output: om, target: tm, dOutput: grad.matrix(rows: rows, cols: d * k),
                                 scale: scale)
        #expect(sums.objective.isFinite && sums.squaredError >= 0)
        checkGradient("\(kind)", values: output.pointer, count: output.count, analytic: grad.array,
                      epsilon: 1e-3) {
            Double(scale) * Loss.evaluate(kind, output: om, target: tm, dOutput: nil, scale: 0).objective
        }
    }

    @Test func bceIsStableForLargeLogits() {
        let output = FloatBuffer([80, -80, 0])
        let target = FloatBuffer([1, 0, 0.5])
        let sums = withExtendedLifetime((output, target)) {
            Loss.evaluate(.bce, output: output.matrix(rows: 1, cols: 3), target: target.matrix(rows: 1, cols: 3),
                          dOutput: nil, scale: 1)
        }
        // Only the middle logit 0 with target 0.5 contributes: log 2.
        expectClose(Float(sums.objective), Float(0.6931472), relative: 1e-5)
    }

    @Test func gemmMatchesNaiveReference() {
        let m = 7, k = 5, n = 3
        let a = randomArray(m * k, seed: 1), b = randomArray(k * n, seed: 2)
        let c = FloatBuffer(count: m * n)
        let ab = FloatBuffer(a), bb = FloatBuffer(b)
        gemm(ab.matrix(rows: m, cols: k), bb.matrix(rows: k, cols: n), into: c.matrix(rows: m, cols: n))
        expectClose(c.array, naiveMatmul(a, b, m: m, k: k, n: n), relative: 1e-5, absolute: 1e-6)
        // Transposed operands: (A^T)^T (B^T)^T through the flags.
        let at = FloatBuffer((0..<(k * m)).map { a[($0 % m) * k + $0 / m] })
        let bt = FloatBuffer((0..<(n * k)).map { b[($0 % k) * n + $0 / k] })
        let c2 = FloatBuffer(count: m * n)
        gemm(at.matrix(rows: k, cols: m), transposeA: true, bt.matrix(rows: n, cols: k), transposeB: true,
             into: c2.matrix(rows: m, cols: n))
        expectClose(c2.array, c.array, relative: 1e-6, absolute: 1e-6)
    }
}
