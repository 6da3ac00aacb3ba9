// The adversarial autoencoder: each phase's gradient against central differences of that
// phase's loss (Gaussian, label-conditioned mixture, clustering with its softmax head, MSE,
// clustering with shifted inputs and the balance term), the consistency term's gradient with its
// target held fixed, the shift itself, the priors' draws against their definitions, and
// evaluation reporting every loss part.

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
        return phase == 0 ? sums.objective / Double(rows * model.inputWidth) + sums.penalty
            : sums.parts[phase] / Double(rows)
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
        AAEVariant(name: "clusters shift balance", config: make {
            $0.clusters = 4; $0.widths = [10, 6, 2]; $0.shift = 1; $0.balance = 0.3
            ($0.imageChannels, $0.imageHeight, $0.imageWidth) = (1, 2, 5)
        }),
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

    /// The consistency term's encoder gradient against central differences of the term with the
    /// first view's probabilities held where the forward left them (the target takes no gradient).
    @Test func consistencyGradientMatchesFiniteDifferences() {
        var config = aaeVariants[4].config
        config.consistency = 0.7
        let harness = AAEHarness(config, rows: 4)
        let model = harness.model, ws = harness.ws, params = Arena(harness.params)
        model.forward(StepContext(phase: 0, training: true), ws, rows: 4, params: params, statistic: nil)
        let first = ws.matrix(model.firstView!, rows: 4), code = model.codeMatrix(ws, rows: 4)
        for r in 0..<4 { first.row(r).update(from: code.row(r), count: model.clusters) }
        let held = first.array
        ws.gradients.zero()
        let value = model.consistencyTerm(ws, rows: 4, params: params, grads: ws.gradientArena, perRow: 0.25)
        #expect(value > 0)
        let analytic = ws.gradients.array
        var checked = 0
        for slot in model.layout.slots where slot.name.hasPrefix("encoder.") {
            checkGradient("consistency \(slot.name)", values: harness.params.pointer + slot.offset, count: slot.count,
                          analytic: Array(analytic[slot.range]), samples: 8, epsilon: 3e-3, tolerance: 2e-2,
                          floor: 1e-3) {
                model.consistencyTerm(ws, rows: 4, params: params, grads: nil, perRow: 0.25)
            }
            checked += 1
        }
        #expect(checked >= 2)
        #expect(first.array == held)
        // Only the encoder learns from it.
        #expect(model.layout.slots.filter { !$0.name.hasPrefix("encoder.") }.allSatisfy { slot in
            analytic[slot.range].allSatisfy { $0 == 0 }
        })
    }

    /// Training moves each row by its own offset within --shift, the same in every phase of a step;
    /// evaluation reads the rows as they are.
    @Test func shiftMovesTrainingRowsOnly() {
        var config = AdversarialAutoencoderConfig(widths: [30, 6, 2])
        config.discriminator = [5]
        (config.shift, config.imageChannels, config.imageHeight, config.imageWidth) = (2, 1, 5, 6)
        let rows = 24
        let harness = AAEHarness(config, rows: rows)
        let model = harness.model, ws = harness.ws, params = Arena(harness.params)
        let data = model.input(ws, rows: rows)
        for r in 0..<rows {
            for i in 0..<30 { data.row(r)[i] = Float(1 + i + 100 * r) }
        }
        func encoderInput(_ context: StepContext) -> [Float] {
            model.forward(context, ws, rows: rows, params: params, statistic: nil)
            return model.encoder.input(ws, rows: rows).array
        }
        #expect(encoderInput(.evaluation) == data.array)
        let moved = encoderInput(StepContext(phase: 0, training: true))
        #expect(encoderInput(StepContext(phase: 1, training: true)) == moved)
        var offsets = Set<[Int]>()
        for r in 0..<rows {
            let row = Array(moved[(r * 30)..<(r * 30 + 30)])
            // The offset that explains the row: every pixel is the source's moved pixel or a zero from outside.
            let fits = (-2...2).flatMap { dy in (-2...2).map { dx in [dy, dx] } }.filter { o in
                (0..<5).allSatisfy { y in
                    (0..<6).allSatisfy { x in
                        let sy = y + o[0], sx = x + o[1]
                        let expected = sy >= 0 && sy < 5 && sx >= 0 && sx < 6 ? Float(1 + sy * 6 + sx + 100 * r) : 0
                        return row[y * 6 + x] == expected
                    }
                }
            }
            #expect(fits.count == 1, "row \(r)")
            if let o = fits.first { offsets.insert(o) }
        }
        #expect(offsets.count >= 8)
    }

    /// --rotate turns each row by its own angle within the limit: an image linear in its
    /// coordinates comes out as that linear function at the turned and moved coordinates (exact
    /// under bilinear sampling) wherever those lie inside the image.
    @Test func rotateTurnsRowsAboutTheCentre() {
        var config = AdversarialAutoencoderConfig(widths: [63, 6, 2])
        config.discriminator = [5]
        (config.shift, config.rotate, config.imageChannels, config.imageHeight, config.imageWidth) = (1, 30, 1, 7, 9)
        let rows = 16
        let harness = AAEHarness(config, rows: rows)
        let model = harness.model, ws = harness.ws
        let data = model.input(ws, rows: rows)
        func value(_ y: Float, _ x: Float) -> Float { 0.5 + 0.25 * y - 0.125 * x }
        for r in 0..<rows {
            for y in 0..<7 { for x in 0..<9 { data.row(r)[y * 9 + x] = value(Float(y), Float(x)) } }
        }
        model.forward(StepContext(phase: 0, training: true), ws, rows: rows, params: Arena(harness.params),
                      statistic: nil)
        let out = model.encoder.input(ws, rows: rows)
        var angles: [Float] = [], inside = 0
        for r in 0..<rows {
            let (dy, dx, angle) = model.move(key: ws.rowKeys[r], salt: AdversarialAutoencoder.firstViewSalt)
            angles.append(angle)
            #expect(abs(dy) <= 1 && abs(dx) <= 1 && abs(angle) <= 30 * .pi / 180)
            for y in 0..<7 {
                for x in 0..<9 {
                    let u = Float(y) - 3, v = Float(x) - 4
                    let sy = cos(angle) * u - sin(angle) * v + 3 + Float(dy)
                    let sx = sin(angle) * u + cos(angle) * v + 4 + Float(dx)
                    guard sy >= 0 && sy <= 6 && sx >= 0 && sx <= 8 else { continue }
                    inside += 1
                    #expect(abs(out.row(r)[y * 9 + x] - value(sy, sx)) < 1e-4, "row \(r) (\(y), \(x))")
                }
            }
        }
        #expect(inside > rows * 20)
        #expect(angles.contains { $0 > 0.1 } && angles.contains { $0 < -0.1 })
    }

    @Test func clusteringTermsAreValidated() {
        var config = AdversarialAutoencoderConfig(widths: [784, 16, 2])
        config.consistency = 0.1
        #expect(config.validationError()?.contains("--clusters") == true)
        config.clusters = 4
        #expect(config.validationError()?.contains("--shift") == true)
        config.shift = 2
        #expect(config.validationError() == nil)
        (config.imageChannels, config.imageHeight, config.imageWidth) = (1, 28, 28)
        #expect(config.validationError() == nil)
        config.shift = 28
        #expect(config.validationError()?.contains("out of the frame") == true)
        config.shift = -1
        #expect(config.validationError() != nil)
        config.shift = 2
        config.balance = -1
        #expect(config.validationError() != nil)
        (config.balance, config.shift, config.rotate) = (0, 0, 15)
        #expect(config.validationError() == nil)
        config.rotate = 200
        #expect(config.validationError()?.contains("--rotate") == true)
    }

    /// A config stored before shift, consistency and balance existed loads with them off; a
    /// config with them round-trips.
    @Test func configsDecodeWithAndWithoutTheClusteringTerms() throws {
        let old = #"{"widths":[784,1000,1000,5],"discriminator":[1000,1000],"activation":"relu","#
            + #""prior":{"gaussian":{}},"conditional":false,"clusters":16,"loss":"bce","initializer":"default"}"#
        var expected = AdversarialAutoencoderConfig(widths: [784, 1000, 1000, 5])
        expected.discriminator = [1000, 1000]
        expected.clusters = 16
        let decoded = try JSONDecoder().decode(AdversarialAutoencoderConfig.self, from: Data(old.utf8))
        #expect(decoded == expected)
        expected.shift = 2
        expected.rotate = 15
        expected.consistency = 0.1
        expected.balance = 0.02
        (expected.imageChannels, expected.imageHeight, expected.imageWidth) = (1, 28, 28)
        let again = try JSONDecoder().decode(AdversarialAutoencoderConfig.self, from: JSONEncoder().encode(expected))
        #expect(again == expected)
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
