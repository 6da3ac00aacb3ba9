// The restricted Boltzmann machine against exact computations on a 3x2 machine: the free energy
// against the sum over all hidden states (and the Gaussian integral for linear hidden units), the
// CD-1 statistics against the sampled states they came from, and their average over many samples
// against the expectation enumerated over every hidden state.

import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport

final class RBMHarness {
    let model: RestrictedBoltzmannMachine
    let params: FloatBuffer
    let ws: Workspace
    let rows: Int

    init(_ units: HiddenUnits, rows: Int, visible: [Float] = [0.9, 0.2, 1]) {
        var config = RBMConfig(visible: 3, hidden: 2)
        config.hiddenUnits = units
        config.weightCost = 0
        model = RestrictedBoltzmannMachine(config)
        self.rows = rows
        params = FloatBuffer(count: model.layout.count)
        // Weights (hidden, visible), visible biases, hidden biases.
        let values: [Float] = [0.8, -1.1, 0.4, -0.5, 0.9, 1.2, 0.1, -0.3, 0.2, -0.4, 0.6]
        for (i, v) in values.enumerated() { params[i] = v }
        ws = model.makeWorkspace(maxRows: rows)
        for r in 0..<rows {
            model.input(ws, rows: rows).row(r).update(from: visible, count: 3)
            model.target(ws, rows: rows).row(r).update(from: visible, count: 3)
            ws.rowKeys[r] = UInt64(1000 + r)
        }
    }

    var w: [Double] { (0..<6).map { Double(params[$0]) } }
    var b: [Double] { (6..<9).map { Double(params[$0]) } }
    var c: [Double] { (9..<11).map { Double(params[$0]) } }

    /// The hidden units' input W v + c.
    func x(_ v: [Double]) -> [Double] {
        let w = self.w, c = self.c
        var out = c
        for j in 0..<2 { for i in 0..<3 { out[j] += w[j * 3 + i] * v[i] } }
        return out
    }
    func sigmoid(_ a: Double) -> Double { 1 / (1 + exp(-a)) }
    /// Visible probabilities given hidden states h.
    func down(_ h: [Double]) -> [Double] {
        let w = self.w
        var a = self.b
        for i in 0..<3 { for j in 0..<2 { a[i] += w[j * 3 + i] * h[j] } }
        return a.map(sigmoid)
    }

    /// Gradients of a training step (CD statistics) into the workspace slab.
    func statistics() -> [Float] {
        ws.gradients.zero()
        let context = StepContext(training: true)
        model.forward(context, ws, rows: rows, params: Arena(params), statistic: nil)
        _ = model.backward(context, ws, rows: rows, globalRows: rows, params: Arena(params), grads: ws.gradientArena,
                           statistic: nil)
        return ws.gradients.array
    }
}

@Suite struct RBMTests {
    /// F(v) = -log sum over h of exp(-E(v, h)), E = -b.v - c.h - h.W v, over the 4 hidden states.
    @Test func freeEnergyMatchesTheSumOverHiddenStates() {
        let harness = RBMHarness(.binary, rows: 1)
        harness.model.forward(.evaluation, harness.ws, rows: 1, params: Arena(harness.params), statistic: nil)
        let v: [Double] = [0.9, 0.2, 1]
        var total = 0.0
        for state in 0..<4 {
            let h = [Double(state & 1), Double(state >> 1)]
            var negativeEnergy = (0..<3).reduce(0.0) { $0 + harness.b[$1] * v[$1] }
            for j in 0..<2 {
                negativeEnergy += h[j] * harness.c[j]
                for i in 0..<3 { negativeEnergy += h[j] * harness.w[j * 3 + i] * v[i] }
            }
            total += exp(negativeEnergy)
        }
        let f = harness.model.freeEnergy(harness.ws, row: 0, params: Arena(harness.params))
        #expect(abs(f - -log(total)) < 1e-6, "\(f) vs \(-log(total))")
    }

    /// Linear hidden units with unit-variance noise: F(v) - (H/2) log 2 pi = -log of the integral
    /// over h of exp(b.v + c.h + h.W v - |h|^2 / 2), by quadrature per hidden unit.
    @Test func gaussianFreeEnergyMatchesTheIntegral() {
        let harness = RBMHarness(.gaussian, rows: 1)
        harness.model.forward(.evaluation, harness.ws, rows: 1, params: Arena(harness.params), statistic: nil)
        let v: [Double] = [0.9, 0.2, 1], x = harness.x(v)
        var logIntegral = (0..<3).reduce(0.0) { $0 + harness.b[$1] * v[$1] }
        for j in 0..<2 {
            var sum = 0.0
            for k in -20000...20000 {
                let h = Double(k) * 1e-3
                sum += exp(x[j] * h - h * h / 2) * 1e-3
            }
            logIntegral += log(sum)
        }
        let f = harness.model.freeEnergy(harness.ws, row: 0, params: Arena(harness.params))
        #expect(abs(f - log(2 * Double.pi) - -logIntegral) < 1e-6, "\(f - log(2 * Double.pi)) vs \(-logIntegral)")
    }

    /// Each row's statistic is -(p0 v0^T - p1 v1^T) for the hidden sample it drew, v1 the visible
    /// probabilities given that sample and p1 the hidden probabilities (means) given v1.
    @Test(arguments: [HiddenUnits.binary, .gaussian])
    func cdStatisticsUseTheirOwnSamples(units: HiddenUnits) {
        let harness = RBMHarness(units, rows: 3)
        let grads = harness.statistics()
        let v0: [Double] = [0.9, 0.2, 1]
        let p0 = harness.x(v0).map { units == .binary ? harness.sigmoid($0) : $0 }
        var expected = [Double](repeating: 0, count: 11)
        for r in 0..<3 {
            let sample = harness.model.hiddenSample(harness.ws, rows: 3).row(r)
            let h = [Double(sample[0]), Double(sample[1])]
            if units == .binary { #expect(h.allSatisfy { $0 == 0 || $0 == 1 }) }
            let v1 = harness.down(h), p1 = harness.x(v1).map { units == .binary ? harness.sigmoid($0) : $0 }
            for j in 0..<2 {
                for i in 0..<3 { expected[j * 3 + i] -= (p0[j] * v0[i] - p1[j] * v1[i]) / 3 }
                expected[9 + j] -= (p0[j] - p1[j]) / 3
            }
            for i in 0..<3 { expected[6 + i] -= (v0[i] - v1[i]) / 3 }
        }
        expectClose(grads, expected.map(Float.init), relative: 1e-4, absolute: 1e-6)
    }

    /// Over 20,000 draws the average binary CD-1 statistic approaches its expectation, summed
    /// exactly over the 4 hidden states weighted by their probability given v0.
    @Test func cdStatisticAveragesToItsExpectation() {
        let harness = RBMHarness(.binary, rows: 20000)
        let grads = harness.statistics()
        let v0: [Double] = [0.9, 0.2, 1], p0 = harness.x(v0).map(harness.sigmoid)
        var expected = [Double](repeating: 0, count: 11)
        for state in 0..<4 {
            let h = [Double(state & 1), Double(state >> 1)]
            let probability = (0..<2).reduce(1.0) { $0 * (h[$1] == 1 ? p0[$1] : 1 - p0[$1]) }
            let v1 = harness.down(h), p1 = harness.x(v1).map(harness.sigmoid)
            for j in 0..<2 {
                for i in 0..<3 { expected[j * 3 + i] -= probability * (p0[j] * v0[i] - p1[j] * v1[i]) }
                expected[9 + j] -= probability * (p0[j] - p1[j])
            }
            for i in 0..<3 { expected[6 + i] -= probability * (v0[i] - v1[i]) }
        }
        // Each statistic is bounded by 1, so its mean over 20,000 draws is within ~0.01 (about 3 sigma).
        for (i, (a, e)) in zip(grads, expected).enumerated() {
            #expect(abs(Double(a) - e) < 0.01, "statistic \(i): \(a) vs expected \(e)")
        }
    }

    /// The weight cost adds cost x W to the weights' statistic only, shared out by rows so that
    /// two shards of 2 rows each add it once.
    @Test func weightCostReachesTheWeightsOnlyOnce() {
        func halves(cost: Float) -> [Float] {
            let harness = RBMHarness(.binary, rows: 4)
            var config = RBMConfig(visible: 3, hidden: 2)
            config.weightCost = cost
            let model = RestrictedBoltzmannMachine(config)
            let context = StepContext(training: true)
            harness.ws.gradients.zero()
            model.forward(context, harness.ws, rows: 4, params: Arena(harness.params), statistic: nil)
            for _ in 0..<2 {
                _ = model.backward(context, harness.ws, rows: 2, globalRows: 4, params: Arena(harness.params),
                                   grads: harness.ws.gradientArena, statistic: nil)
            }
            return harness.ws.gradients.array + harness.params.array
        }
        let plain = halves(cost: 0), costed = halves(cost: 0.5)
        for i in 0..<6 { #expect(abs(costed[i] - plain[i] - 0.5 * plain[11 + i]) < 1e-6, "weight \(i)") }
        for i in 6..<11 { #expect(costed[i] == plain[i], "bias \(i)") }
    }

    /// A stack of RBMs (6-4 binary, then 4-2 with Gaussian hidden units) unrolled into a deep
    /// autoencoder: its code is the stack's deterministic up pass (probabilities, then the linear
    /// top's means) and its reconstruction the down pass through the transposed weights.
    @Test func unrolledNetworkEqualsTheStacksUpDownPass() {
        var top = RBMConfig(visible: 4, hidden: 2)
        top.hiddenUnits = .gaussian
        let stack = [RestrictedBoltzmannMachine(RBMConfig(visible: 6, hidden: 4)), RestrictedBoltzmannMachine(top)]
        var rng = SplitMix64(seed: 9)
        let buffers = stack.map { rbm -> FloatBuffer in
            let p = FloatBuffer(count: rbm.layout.count)
            for i in 0..<rbm.layout.count { p[i] = rng.nextUniform() * 2 - 1 }
            return p
        }
        let autoencoder = DenseAutoencoder(RestrictedBoltzmannMachine.unrolledConfig(stack.map(\.config)))
        #expect(autoencoder.config.widths == [6, 4, 2] && autoencoder.config.codeActivation == .identity)
        let params = FloatBuffer(count: autoencoder.layout.count)
        RestrictedBoltzmannMachine.unroll(zip(stack, buffers).map { ($0, Arena($1)) }, into: autoencoder, params: Arena(params))
        let rows = 3, ws = autoencoder.makeWorkspace(maxRows: rows)
        var data: [[Double]] = []
        for r in 0..<rows {
            let v = (0..<6).map { _ in Double(rng.nextUniform()) }
            data.append(v)
            for i in 0..<6 { autoencoder.input(ws, rows: rows).row(r)[i] = Float(v[i]) }
        }
        autoencoder.forward(.evaluation, ws, rows: rows, params: Arena(params), statistic: nil)
        _ = autoencoder.backward(.evaluation, ws, rows: rows, globalRows: rows, params: Arena(params), grads: nil, statistic: nil)
        func sigmoid(_ a: Double) -> Double { 1 / (1 + exp(-a)) }
        // Parameters of machine k: weight (hidden, visible), visible bias, hidden bias.
        func layer(_ k: Int, _ x: [Double], up: Bool) -> [Double] {
            let rbm = stack[k], p = buffers[k], v = rbm.config.visible, h = rbm.config.hidden
            let w = { (j: Int, i: Int) in Double(p[rbm.weight.offset + j * v + i]) }
            if up {
                return (0..<h).map { j in (0..<v).reduce(Double(p[rbm.hiddenBias.offset + j])) { $0 + w(j, $1) * x[$1] } }
            }
            return (0..<v).map { i in sigmoid((0..<h).reduce(Double(p[rbm.visibleBias.offset + i])) { $0 + w($1, i) * x[$1] }) }
        }
        let code = autoencoder.code(ws, rows: rows), reconstruction = autoencoder.reconstruction(ws, rows: rows)
        for r in 0..<rows {
            let hidden = layer(0, data[r], up: true).map(sigmoid), means = layer(1, hidden, up: true)
            let back = layer(0, layer(1, means, up: false), up: false)
            for j in 0..<2 { #expect(abs(Double(code.row(r)[j]) - means[j]) < 1e-5, "code \(r), \(j)") }
            for i in 0..<6 { #expect(abs(Double(reconstruction.row(r)[i]) - back[i]) < 1e-5, "reconstruction \(r), \(i)") }
        }
    }
}
