// The adversarial autoencoder: each phase's gradient against central differences of that
// phase's loss (Gaussian, label-conditioned mixture, clustering with its softmax head, MSE),
// the priors' draws against their definitions, and evaluation reporting every loss part.

import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport

/// An AAE with fixed inputs in (0.1, 0.9), fixed row keys (so prior draws repeat) and labels.
final class AAEHarness {
    let model: AdversarialAutoencoder
    let rows: Int
    let params: FloatBuffer
    let ws: Workspace

    init(_ config: AdversarialAutoencoderConfig, rows: Int) {
        model = AdversarialAutoencoder(config)
        self.rows = rows
        params = FloatBuffer(count: model.layout.count)
        ws = model.makeWorkspace(maxRows: rows)
        model.initialize(params: Arena(params), seed: 5)
        var rng = SplitMix64(seed: 11)
        fillSameRows(model.input(ws, rows: rows), model.target(ws, rows: rows), rows: rows, rng: &rng)
        for r in 0..<rows {
            ws.rowKeys[r] = UInt64(300 + r)
            ws.labels[r] = Int32(r % 3)
        }
    }

    /// The loss phase `phase` minimises, per sample (per value for reconstruction); fills
    /// `ws.gradients` when `gradients` is set.
    /// The generator phase reuses the discriminator phase's encoding: run that forward first.
    func loss(phase: Int, gradients: Bool) -> Double {
        let context = StepContext(phase: phase, training: true)
        if phase == 2 { model.forward(StepContext(phase: 1, training: true), ws, rows: rows, params: Arena(params), statistic: nil) }
        model.forward(context, ws, rows: rows, params: Arena(params), statistic: nil)
        let sums = model.backward(context, ws, rows: rows, globalRows: rows, params: Arena(params),
                                  grads: gradients ? ws.gradientArena : nil, statistic: nil)
        return phase == 0 ? sums.objective / Double(rows * model.inputWidth) : sums.parts[phase] / Double(rows)
    }
}

struct AAEVariant: CustomStringConvertible, Sendable {
    let name: String
    let config: AdversarialAutoencoderConfig
    var description: String { name }
}

let aaeVariants: [AAEVariant] = {
    func make(_ edit: (inout AdversarialAutoencoderConfig) -> Void) -> AdversarialAutoencoderConfig {
        var config = AdversarialAutoencoderConfig(widths: [10, 6, 3])
        config.discriminator = [5]
        config.activation = .tanh  // smooth: no kinks under the finite differences
        edit(&config)
        return config
    }
    return [
        AAEVariant(name: "gaussian", config: make { _ in }),
        AAEVariant(name: "conditional mixture", config: make { $0.prior = .mixture(components: 3); $0.conditional = true }),
        AAEVariant(name: "clusters", config: make { $0.clusters = 4; $0.widths = [10, 6, 2] }),
        AAEVariant(name: "mse uniform", config: make { $0.loss = .mse; $0.prior = .uniform; $0.discriminator = [4, 3] }),
    ]
}()

@Suite struct AdversarialAutoencoderTests {
    @Test(arguments: aaeVariants, [0, 1, 2])
    func eachPhaseGradientMatchesFiniteDifferences(variant: AAEVariant, phase: Int) {
        let harness = AAEHarness(variant.config, rows: 4)
        harness.ws.gradients.zero()
        _ = harness.loss(phase: phase, gradients: true)
        let analytic = harness.ws.gradients.array
        let group = harness.model.phases[phase].group
        var checked = 0
        for slot in harness.model.layout.slots where group.contains(slot.offset) {
            checkGradient("\(variant.name) phase \(phase) \(slot.name)", values: harness.params.pointer + slot.offset,
                          count: slot.count, analytic: Array(analytic[slot.range]), samples: 8,
                          epsilon: 3e-3, tolerance: 2e-2, floor: 1e-3) {
                harness.loss(phase: phase, gradients: false)
            }
            checked += 1
        }
        #expect(checked >= 2)
    }

    /// The phases' groups: reconstruction = encoder + decoder, discriminator = the rest,
    /// generator = the encoder; the discriminator phase writes nothing into the encoder's slab.
    @Test func phasesOwnTheirSubNetworks() {
        let harness = AAEHarness(aaeVariants[2].config, rows: 4)
        let model = harness.model, names = model.layout.slots.map(\.name)
        func slots(_ phase: Int) -> [String] {
            model.layout.slots.filter { model.phases[phase].group.contains($0.offset) }.map(\.name)
        }
        #expect(slots(0) == names.filter { $0.hasPrefix("encoder.") || $0.hasPrefix("decoder.") })
        #expect(slots(1) == names.filter { $0.contains("discriminator.") })
        #expect(slots(2) == names.filter { $0.hasPrefix("encoder.") })
        harness.ws.gradients.zero()
        _ = harness.loss(phase: 1, gradients: true)
        let g = harness.ws.gradients.array
        #expect(model.phases[0].group.allSatisfy { g[$0] == 0 })
        #expect(model.phases[1].group.contains { g[$0] != 0 })
    }

    /// Evaluation reports reconstruction, discriminator and generator losses of the same codes.
    @Test func evaluationReportsEveryPart() {
        let harness = AAEHarness(aaeVariants[0].config, rows: 4)
        let model = harness.model
        model.forward(.evaluation, harness.ws, rows: 4, params: Arena(harness.params), statistic: nil)
        let sums = model.backward(.evaluation, harness.ws, rows: 4, globalRows: 4, params: Arena(harness.params),
                                  grads: nil, statistic: nil)
        #expect(sums.parts[0] == sums.objective && sums.objective > 0)
        // Each discriminator loss is at least 0; log 2 per term at an undecided discriminator.
        #expect(sums.parts[1] > 0 && sums.parts[2] > 0)
        let training = harness.loss(phase: 2, gradients: false) * 4
        #expect(abs(training - sums.parts[2]) < 1e-9)
    }

    @Test func mixtureDrawsSitOnTheirArms() {
        let prior = LatentPrior.mixture(components: 8)
        var rng = SplitMix64(seed: 3)
        var z = [Float](repeating: 0, count: 3)
        for component in [0, 3, 6] {
            let angle = 2 * Double.pi * Double(component) / 8
            var radial = 0.0, radial2 = 0.0, across = 0.0, across2 = 0.0, third = 0.0
            let n = 20_000
            for _ in 0..<n {
                prior.draw(into: &z, width: 3, rng: &rng, component: component)
                let r = Double(z[0]) * cos(angle) + Double(z[1]) * sin(angle)
                let a = -Double(z[0]) * sin(angle) + Double(z[1]) * cos(angle)
                radial += r; radial2 += r * r; across += a; across2 += a * a; third += Double(z[2] * z[2])
            }
            let m = radial / Double(n), s = (radial2 / Double(n) - m * m).squareRoot()
            #expect(abs(m - Double(LatentPrior.mixtureRadius)) < 0.02)
            #expect(abs(s - Double(LatentPrior.mixtureRadialSD)) < 0.02)
            #expect(abs(across / Double(n)) < 0.01)
            #expect(abs((across2 / Double(n)).squareRoot() - Double(LatentPrior.mixtureTangentialSD)) < 0.005)
            #expect(abs(third / Double(n) - 1) < 0.05)
        }
        // Unconditioned draws visit every component about equally.
        var counts = [Int](repeating: 0, count: 8)
        for _ in 0..<8_000 {
            prior.draw(into: &z, width: 2, rng: &rng)
            let angle = atan2(Double(z[1]), Double(z[0]))
            counts[(Int((angle / (2 * Double.pi) * 8).rounded()) + 8) % 8] += 1
        }
        #expect(counts.allSatisfy { abs($0 - 1000) < 150 }, "\(counts)")
    }

    @Test func uniformAndParsing() {
        var rng = SplitMix64(seed: 9)
        var z = [Float](repeating: 0, count: 1000)
        LatentPrior.uniform.draw(into: &z, width: 1000, rng: &rng)
        #expect(z.allSatisfy { $0 >= -1 && $0 < 1 })
        #expect(abs(z.reduce(0, +) / 1000) < 0.08)
        #expect(LatentPrior(parsing: "mixture") == .mixture(components: 10))
        #expect(LatentPrior(parsing: "mixture:16") == .mixture(components: 16))
        #expect(LatentPrior(parsing: "gaussian") == .gaussian)
        #expect(LatentPrior(parsing: "mixture:1") == nil)
        #expect(LatentPrior(parsing: "laplace") == nil)
    }
}
