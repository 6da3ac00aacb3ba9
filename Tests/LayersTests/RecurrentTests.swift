// RecurrentLayer (LSTM, GRU): finite differences for inputs, initial states and every parameter
// over the layer's options, masking of padded steps, the repeated-input shortcut against a tiled
// sequence, the C activations against libm, and PyTorch's nn.LSTM / nn.GRU through
// Fixtures/rnn-layers.bin.gz (tools/make_rnn_fixtures.py).

import CKernels
import Foundation
import Kernels
import Layers
import Testing
import TestSupport

struct RecurrentCase: Sendable, CustomStringConvertible {
    let cell: RecurrentCell
    var layers = 1
    var bidirectional = false
    var repeated = false
    var lengths: [Int32]? = nil
    /// Pass h0 (and c0) and check their gradients.
    var initialState = false
    /// false: only h_n (and c_n) enter the loss and dy is nil, as for an encoder.
    var usesOutput = true
    var steps = 4

    var description: String {
        var parts = ["\(cell)", "L\(layers)"]
        if bidirectional { parts.append("bi") }
        if repeated { parts.append("repeated") }
        if let lengths { parts.append("lengths \(lengths)") }
        if initialState { parts.append("h0") }
        if !usesOutput { parts.append("final state only") }
        if steps != 4 { parts.append("T\(steps)") }
        return parts.joined(separator: " ")
    }
}

/// One layer with all its buffers, for B = 3 samples of `spec.steps` steps, D = 3, H = 4. The
/// loss is L = sum(y * ry) + sum(h_n * rh) (+ sum(c_n * rc)), so dy = ry, dh_n = rh, dc_n = rc.
final class RecurrentHarness {
    let spec: RecurrentCase
    let layer: RecurrentLayer
    let layout: ParameterLayout
    let rows = 3
    let params, x, y, cache, finalHidden, finalCell, h0, c0, ry, rh, rc, dx, dh0, dc0, grads: FloatBuffer
    let lengths: UnsafeMutablePointer<Int32>?

    init(_ spec: RecurrentCase, inputSize: Int = 3, hiddenSize: Int = 4) {
        self.spec = spec
        var layout = ParameterLayout()
        layer = RecurrentLayer(cell: spec.cell, inputSize: inputSize, hiddenSize: hiddenSize, steps: spec.steps,
                               layers: spec.layers, bidirectional: spec.bidirectional, repeatedInput: spec.repeated,
                               name: "rnn", layout: &layout)
        self.layout = layout
        params = FloatBuffer(count: layout.count)
        var rng = SplitMix64(seed: 7)
        layer.initialize(params: Arena(params), rng: &rng)
        let (B, S) = (rows, layer.stateWidth)
        x = FloatBuffer(randomArray(B * layer.inputWidth, seed: 3))
        y = FloatBuffer(count: B * layer.outputWidth)
        cache = FloatBuffer(count: B * layer.cacheWidth)
        finalHidden = FloatBuffer(count: B * S)
        finalCell = FloatBuffer(count: B * S)
        h0 = FloatBuffer(randomArray(B * S, seed: 4))
        c0 = FloatBuffer(randomArray(B * S, seed: 5))
        ry = FloatBuffer(randomArray(B * layer.outputWidth, seed: 6))
        rh = FloatBuffer(randomArray(B * S, seed: 8))
        rc = FloatBuffer(randomArray(B * S, seed: 9))
        // Gradients start non-zero: backward must add into them.
        dx = FloatBuffer(randomArray(B * layer.inputWidth, seed: 10))
        dh0 = FloatBuffer(randomArray(B * S, seed: 11))
        dc0 = FloatBuffer(randomArray(B * S, seed: 12))
        grads = FloatBuffer(randomArray(layout.count, seed: 13))
        if let values = spec.lengths {
            precondition(values.count == rows, "one length per sample")
            lengths = .allocate(capacity: rows)
            lengths!.initialize(from: values, count: rows)
        } else {
            lengths = nil
        }
    }

    deinit { lengths?.deallocate() }

    var isLSTM: Bool { spec.cell == .lstm }
    func m(_ buffer: FloatBuffer, _ cols: Int) -> Matrix { buffer.matrix(rows: rows, cols: cols) }
    var states: Int { layer.stateWidth }

    func forward() {
        layer.forward(x: m(x, layer.inputWidth), y: m(y, layer.outputWidth), finalHidden: m(finalHidden, states),
                      initialHidden: spec.initialState ? m(h0, states) : nil,
                      initialCell: spec.initialState && isLSTM ? m(c0, states) : nil,
                      finalCell: isLSTM ? m(finalCell, states) : nil, lengths: lengths,
                      cache: m(cache, layer.cacheWidth), params: Arena(params))
    }

    func loss() -> Double {
        forward()
        var s = 0.0
        if spec.usesOutput {
            for i in 0..<y.count { s += Double(y[i]) * Double(ry[i]) }
        }
        for i in 0..<finalHidden.count { s += Double(finalHidden[i]) * Double(rh[i]) }
        if isLSTM {
            for i in 0..<finalCell.count { s += Double(finalCell[i]) * Double(rc[i]) }
        }
        return s
    }

    func backward() {
        layer.backward(dy: spec.usesOutput ? m(ry, layer.outputWidth) : nil, dFinalHidden: m(rh, states),
                       dFinalCell: isLSTM ? m(rc, states) : nil, x: m(x, layer.inputWidth),
                       y: m(y, layer.outputWidth), cache: m(cache, layer.cacheWidth), dx: m(dx, layer.inputWidth),
                       dInitialHidden: spec.initialState ? m(dh0, states) : nil,
                       dInitialCell: spec.initialState && isLSTM ? m(dc0, states) : nil, lengths: lengths,
                       params: Arena(params), grads: Arena(grads))
    }

    /// Input position (b, t) is padding.
    func isPadding(_ b: Int, _ t: Int) -> Bool { spec.lengths.map { t >= Int($0[b]) } ?? false }
}

private func minus(_ a: [Float], _ b: [Float]) -> [Float] { zip(a, b).map { $0 - $1 } }

let recurrentGradientCases: [RecurrentCase] = [RecurrentCell.lstm, .gru].flatMap { cell in
    [
        RecurrentCase(cell: cell),
        RecurrentCase(cell: cell, layers: 2),
        RecurrentCase(cell: cell, bidirectional: true),
        RecurrentCase(cell: cell, lengths: [4, 2, 1]),
        RecurrentCase(cell: cell, layers: 2, bidirectional: true, lengths: [2, 4, 3], initialState: true),
        RecurrentCase(cell: cell, repeated: true),
        RecurrentCase(cell: cell, repeated: true, lengths: [1, 4, 3]),
        RecurrentCase(cell: cell, initialState: true),
        RecurrentCase(cell: cell, bidirectional: true, usesOutput: false),
        RecurrentCase(cell: cell, layers: 2, lengths: [3, 1, 4], initialState: true, usesOutput: false),
        // One step: a sample's initial-state row is its neighbour's output row (see Buffers.hidden).
        RecurrentCase(cell: cell, layers: 2, bidirectional: true, initialState: true, steps: 1),
    ]
}

@Suite struct RecurrentTests {
    @Test(arguments: recurrentGradientCases)
    func gradientsMatchFiniteDifferences(_ spec: RecurrentCase) {
        let h = RecurrentHarness(spec)
        let dx0 = h.dx.array, dh00 = h.dh0.array, dc00 = h.dc0.array, grads0 = h.grads.array
        h.forward()
        h.backward()
        // The float32 forward puts ~1e-7 of noise on the loss (/ 2 eps) and eps^2 truncation ~1e-5
        // on each numeric derivative: gradients below `floor` are held to 1e-4 absolute instead.
        func check(_ name: String, _ values: UnsafeMutablePointer<Float>, _ count: Int, _ analytic: [Float]) {
            checkGradient(name, values: values, count: count, analytic: analytic, floor: 1e-2, loss: h.loss)
        }
        check("x", h.x.pointer, h.x.count, minus(h.dx.array, dx0))
        if spec.initialState {
            check("h0", h.h0.pointer, h.h0.count, minus(h.dh0.array, dh00))
            if spec.cell == .lstm { check("c0", h.c0.pointer, h.c0.count, minus(h.dc0.array, dc00)) }
        } else {
            #expect(h.dh0.array == dh00 && h.dc0.array == dc00, "no initial state: its gradients stay untouched")
        }
        let grads = minus(h.grads.array, grads0)
        for slot in h.layout.slots {
            check(slot.name, h.params.pointer + slot.offset, slot.count, Array(grads[slot.range]))
        }
        withExtendedLifetime(h) {}
    }

    @Test func parameterNamesAndShapesFollowPyTorch() {
        var layout = ParameterLayout()
        let lstm = RecurrentLayer(cell: .lstm, inputSize: 5, hiddenSize: 7, steps: 3, layers: 2, bidirectional: true,
                                  name: "enc", layout: &layout)
        var expected: [(String, [Int])] = []
        for (k, width) in [(0, 5), (1, 14)] {
            for suffix in ["", "_reverse"] {
                expected += [("enc.weight_ih_l\(k)\(suffix)", [28, width]), ("enc.weight_hh_l\(k)\(suffix)", [28, 7]),
                             ("enc.bias_ih_l\(k)\(suffix)", [28]), ("enc.bias_hh_l\(k)\(suffix)", [28])]
            }
        }
        #expect(layout.slots.map(\.name) == expected.map(\.0))
        #expect(layout.slots.map(\.shape) == expected.map(\.1))
        #expect(lstm.directions == 2 && lstm.inputWidth == 15 && lstm.outputWidth == 42 && lstm.stateWidth == 28)
        var gruLayout = ParameterLayout()
        let gru = RecurrentLayer(cell: .gru, inputSize: 5, hiddenSize: 7, steps: 3, repeatedInput: true, name: "dec",
                                 layout: &gruLayout)
        #expect(gruLayout.slots.map(\.shape) == [[21, 5], [21, 7], [21], [21]])
        #expect(gru.inputWidth == 5 && gru.outputWidth == 21 && gru.stateWidth == 7)
        // PyTorch's default init: every value within 1/sqrt(H), and not all equal.
        let params = FloatBuffer(count: layout.count)
        var rng = SplitMix64(seed: 1)
        lstm.initialize(params: Arena(params), rng: &rng)
        let bound = 1 / Float(7).squareRoot()
        #expect(params.array.allSatisfy { abs($0) <= bound } && Set(params.array).count > layout.count / 2)
    }

    /// Padded steps: y is 0, changing x there changes nothing, and dx there receives nothing.
    @Test(arguments: [RecurrentCell.lstm, .gru])
    func paddingIsMasked(cell: RecurrentCell) {
        let spec = RecurrentCase(cell: cell, layers: 2, bidirectional: true, lengths: [4, 2, 1], initialState: true)
        let h = RecurrentHarness(spec)
        let (T, D, W) = (h.layer.steps, h.layer.inputSize, h.layer.directions * h.layer.hiddenSize)
        h.forward()
        let y = h.y.array, hn = h.finalHidden.array, cn = h.finalCell.array
        for b in 0..<h.rows {
            for t in 0..<T where h.isPadding(b, t) {
                #expect(y[(b * T + t) * W..<(b * T + t + 1) * W].allSatisfy { $0 == 0 }, "y at padded (\(b), \(t))")
                for i in 0..<D { h.x[(b * T + t) * D + i] = 5 * h.x[(b * T + t) * D + i] + 1 }
            }
        }
        h.forward()
        #expect(h.y.array == y && h.finalHidden.array == hn && h.finalCell.array == cn)
        #expect(y.contains { $0 != 0 } && hn.contains { $0 != 0 })
        let dx0 = h.dx.array
        h.backward()
        let dx = h.dx.array
        for b in 0..<h.rows {
            for t in 0..<T {
                let range = (b * T + t) * D..<(b * T + t + 1) * D
                if h.isPadding(b, t) {
                    #expect(dx[range] == dx0[range], "dx at padded (\(b), \(t))")
                } else {
                    #expect(dx[range] != dx0[range], "dx at valid (\(b), \(t))")
                }
            }
        }
    }

    /// Lengths equal to T everywhere take the same path as no lengths.
    @Test(arguments: [RecurrentCell.lstm, .gru])
    func fullLengthsEqualNoLengths(cell: RecurrentCell) {
        let full = RecurrentHarness(RecurrentCase(cell: cell, bidirectional: true, lengths: [4, 4, 4]))
        let none = RecurrentHarness(RecurrentCase(cell: cell, bidirectional: true))
        for h in [full, none] {
            h.forward()
            h.backward()
        }
        #expect(full.y.array == none.y.array && full.finalHidden.array == none.finalHidden.array)
        #expect(full.dx.array == none.dx.array && full.grads.array == none.grads.array)
    }

    /// A repeated input (projected once per sample) against the same input tiled over all steps.
    @Test(arguments: [RecurrentCell.lstm, .gru])
    func repeatedInputMatchesTiledSequence(cell: RecurrentCell) {
        let repeated = RecurrentHarness(RecurrentCase(cell: cell, repeated: true, initialState: true))
        let tiled = RecurrentHarness(RecurrentCase(cell: cell, initialState: true))
        let (B, T, D) = (repeated.rows, repeated.layer.steps, repeated.layer.inputSize)
        for b in 0..<B {
            for t in 0..<T {
                for i in 0..<D { tiled.x[(b * T + t) * D + i] = repeated.x[b * D + i] }
            }
        }
        tiled.dx.zero()
        repeated.dx.zero()
        for h in [repeated, tiled] {
            h.forward()
            h.backward()
        }
        expectClose(repeated.y.array, tiled.y.array, relative: 1e-5, absolute: 1e-6, "y")
        expectClose(repeated.finalCell.array, tiled.finalCell.array, relative: 1e-5, absolute: 1e-6, "c_n")
        var summed = [Float](repeating: 0, count: B * D)
        for b in 0..<B {
            for t in 0..<T {
                for i in 0..<D { summed[b * D + i] += tiled.dx[(b * T + t) * D + i] }
            }
        }
        expectClose(repeated.dx.array, summed, relative: 1e-5, absolute: 1e-6, "dx")
        expectClose(repeated.dh0.array, tiled.dh0.array, relative: 1e-5, absolute: 1e-6, "dh0")
        expectClose(repeated.grads.array, tiled.grads.array, relative: 1e-5, absolute: 1e-5, "grads")
    }

    /// The `Layer` conformance (for `Network` chains) is the full call without states or lengths.
    @Test(arguments: [RecurrentCell.lstm, .gru])
    func layerConformanceRunsWithoutStates(cell: RecurrentCell) {
        let h = RecurrentHarness(RecurrentCase(cell: cell, layers: 2))
        // No h_n or c_n terms in the loss: only dy drives backward, as through `Layer`.
        h.rh.zero()
        h.rc.zero()
        h.dx.zero()
        h.grads.zero()
        h.forward()
        h.backward()
        let (B, layer) = (h.rows, h.layer)
        let generic: any Layer = layer
        let y = FloatBuffer(count: B * layer.outputWidth), cache = FloatBuffer(count: B * layer.cacheWidth)
        let dx = FloatBuffer(count: B * layer.inputWidth), grads = FloatBuffer(count: h.layout.count)
        let xm = h.m(h.x, layer.inputWidth), ym = h.m(y, layer.outputWidth), cm = h.m(cache, layer.cacheWidth)
        generic.forward(x: xm, y: ym, cache: cm, params: Arena(h.params))
        generic.backward(dy: h.m(h.ry, layer.outputWidth), x: xm, y: ym, cache: cm, dx: h.m(dx, layer.inputWidth),
                         params: Arena(h.params), grads: Arena(grads))
        withExtendedLifetime((y, cache, dx, grads)) {}
        #expect(y.array == h.y.array && dx.array == h.dx.array && grads.array == h.grads.array)
        #expect(dx.array.contains { $0 != 0 } && grads.array.contains { $0 != 0 })
    }

    /// The kernels' polynomial activations against Double libm over the range the gates see.
    @Test func activationsMatchLibm() {
        var worstSigmoid = 0.0, worstTanh = 0.0
        for i in -20_000...20_000 {
            let x = Float(i) * 1e-3
            let s = 1 / (1 + Foundation.exp(-Double(x))), t = Foundation.tanh(Double(x))
            worstSigmoid = max(worstSigmoid, abs(Double(ae_sigmoid_scalar(x)) - s) / s)
            worstTanh = max(worstTanh, abs(Double(ae_tanh_scalar(x)) - t) / max(abs(t), 1e-30))
        }
        #expect(worstSigmoid < 3e-7, "sigmoid relative error \(worstSigmoid)")
        #expect(worstTanh < 5e-7, "tanh relative error \(worstTanh)")
        #expect(ae_sigmoid_scalar(-200) == 0 || ae_sigmoid_scalar(-200) < 1e-30)
        #expect(ae_sigmoid_scalar(200) == 1 && ae_tanh_scalar(200) == 1 && ae_tanh_scalar(-200) == -1)
    }

    // MARK: PyTorch fixtures

    static let fixturePath = repositoryRoot + "/Tests/LayersTests/Fixtures/rnn-layers.bin.gz"

    @Test(arguments: ["lstm_single", "gru_single", "lstm_2layer_bi", "gru_2layer_bi", "lstm_lengths", "gru_lengths",
                      "lstm_repeated", "gru_repeated"])
    func matchesPyTorch(name: String) throws {
        let fixture = try Fixture(path: Self.fixturePath)
        func tensor(_ suffix: String) throws -> [Float] {
            try #require(fixture[name + "." + suffix], "fixture lacks \(name).\(suffix)").values
        }
        let config = try tensor("config").map { Int($0) }
        try #require(config.count == 8)
        let cell: RecurrentCell = config[0] == 0 ? .lstm : .gru
        var layout = ParameterLayout()
        let layer = RecurrentLayer(cell: cell, inputSize: config[1], hiddenSize: config[2], steps: config[3],
                                   layers: config[4], bidirectional: config[5] == 1, repeatedInput: config[6] == 1,
                                   name: name + ".rnn", layout: &layout)
        let rows = config[7], S = layer.stateWidth, lstm = cell == .lstm
        let params = FloatBuffer(count: layout.count)
        for slot in layout.slots {
            let values = try #require(fixture[slot.name], "fixture lacks \(slot.name)")
            #expect(values.shape == slot.shape, "\(slot.name)")
            for i in 0..<slot.count { params[slot.offset + i] = values.values[i] }
        }
        let lengths = try tensor("lengths").map { Int32($0) }
        let x = FloatBuffer(try tensor("x")), h0 = FloatBuffer(try tensor("h0"))
        let c0 = FloatBuffer(lstm ? try tensor("c0") : []), dcN = FloatBuffer(lstm ? try tensor("dc_n") : [])
        let dy = FloatBuffer(try tensor("dy")), dhN = FloatBuffer(try tensor("dh_n"))
        let y = FloatBuffer(count: rows * layer.outputWidth), cache = FloatBuffer(count: rows * layer.cacheWidth)
        let hN = FloatBuffer(count: rows * S), cN = FloatBuffer(count: rows * S)
        let dx = FloatBuffer(count: rows * layer.inputWidth), dh0 = FloatBuffer(count: rows * S)
        let dc0 = FloatBuffer(count: rows * S), grads = FloatBuffer(count: layout.count)
        defer { withExtendedLifetime((params, x, h0, c0, dcN, dy, dhN, y, cache, hN, cN, dx, dh0, dc0, grads)) {} }
        #expect(x.count == rows * layer.inputWidth && dy.count == rows * layer.outputWidth && h0.count == rows * S)
        func m(_ b: FloatBuffer, _ cols: Int) -> Matrix { b.matrix(rows: rows, cols: cols) }
        let xm = m(x, layer.inputWidth), ym = m(y, layer.outputWidth), cm = m(cache, layer.cacheWidth)
        lengths.withUnsafeBufferPointer { lengths in
            layer.forward(x: xm, y: ym, finalHidden: m(hN, S), initialHidden: m(h0, S),
                          initialCell: lstm ? m(c0, S) : nil, finalCell: lstm ? m(cN, S) : nil,
                          lengths: lengths.baseAddress, cache: cm, params: Arena(params))
            layer.backward(dy: m(dy, layer.outputWidth), dFinalHidden: m(dhN, S), dFinalCell: lstm ? m(dcN, S) : nil,
                           x: xm, y: ym, cache: cm, dx: m(dx, layer.inputWidth), dInitialHidden: m(dh0, S),
                           dInitialCell: lstm ? m(dc0, S) : nil, lengths: lengths.baseAddress,
                           params: Arena(params), grads: Arena(grads))
        }
        // The reference is float64 on these float32 values: what differs is our float32 sums
        // and activations (a few ulp), through at most 10 recurrent steps.
        expectClose(y.array, try tensor("y"), relative: 1e-5, absolute: 1e-6, "y")
        expectClose(hN.array, try tensor("h_n"), relative: 1e-5, absolute: 1e-6, "h_n")
        expectClose(dx.array, try tensor("dx"), relative: 1e-5, absolute: 1e-6, "dx")
        expectClose(dh0.array, try tensor("dh0"), relative: 1e-5, absolute: 1e-6, "dh0")
        if lstm {
            expectClose(cN.array, try tensor("c_n"), relative: 1e-5, absolute: 1e-6, "c_n")
            expectClose(dc0.array, try tensor("dc0"), relative: 1e-5, absolute: 1e-6, "dc0")
        }
        for slot in layout.slots {
            let reference = try #require(fixture[slot.name.replacingOccurrences(of: ".rnn.", with: ".grad.rnn.")])
            expectClose(Array(grads.array[slot.range]), reference.values, relative: 1e-5, absolute: 1e-5,
                        "grad \(slot.name)")
        }
    }
}
