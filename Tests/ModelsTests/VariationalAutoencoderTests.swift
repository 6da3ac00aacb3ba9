// The variational autoencoder: the closed-form KL against a Monte Carlo estimate, gradients
// through the reparameterisation and each decoder against central differences (beta, warm-up
// and free bits included), and a tiny VAE against PyTorch for fixed weights and epsilon.

import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport

/// A VAE with fixed inputs in (0.1, 0.9) and fixed row keys, so epsilon is the same every call.
final class VAEHarness {
    let model: VariationalAutoencoder
    let rows: Int
    let params: FloatBuffer
    let statistic: FloatBuffer
    let ws: Workspace
    var context = StepContext(step: 0, training: true)

    init(_ config: VariationalAutoencoderConfig, rows: Int) {
        model = VariationalAutoencoder(config)
        self.rows = rows
        params = FloatBuffer(count: model.layout.count)
        statistic = FloatBuffer(count: model.statisticWidth)
        ws = model.makeWorkspace(maxRows: rows)
        model.initialize(params: Arena(params), seed: 5)
        var rng = SplitMix64(seed: 11)
        fillSameRows(model.input(ws, rows: rows), model.target(ws, rows: rows), rows: rows, rng: &rng)
        for r in 0..<rows { ws.rowKeys[r] = UInt64(200 + r) }
    }

    /// The training objective per sample; fills `ws.gradients` when `gradients` is set.
    func objective(gradients: Bool) -> Double {
        let coupled = model.statisticWidth > 0
        statistic.zero()
        model.forward(context, ws, rows: rows, params: Arena(params), statistic: coupled ? statistic.pointer : nil)
        if coupled {
            model.finishStatistic(statistic.pointer, globalRows: rows, state: statistic.pointer, training: true)
        }
        let sums = model.backward(context, ws, rows: rows, globalRows: rows, params: Arena(params),
                                  grads: gradients ? ws.gradientArena : nil,
                                  statistic: coupled ? UnsafePointer(statistic.pointer) : nil)
        return sums.objective / Double(rows)
    }
}

struct VAEVariant: CustomStringConvertible, Sendable {
    let name: String
    let config: VariationalAutoencoderConfig
    var step = 0
    var description: String { name }
}

let vaeVariants: [VAEVariant] = {
    func make(_ edit: (inout VariationalAutoencoderConfig) -> Void) -> VariationalAutoencoderConfig {
        var config = VariationalAutoencoderConfig(widths: [12, 7, 3])
        edit(&config)
        return config
    }
    return [
        VAEVariant(name: "bernoulli", config: make { _ in }),
        VAEVariant(name: "gaussian fixed", config: make { $0.decoder = .gaussian(variance: 0.3) }),
        VAEVariant(name: "gaussian learned tanh", config: make { $0.decoder = .gaussianLearned; $0.activation = .tanh }),
        VAEVariant(name: "beta warm-up", config: make { $0.beta = 4; $0.warmupSteps = 10 }, step: 3),
        VAEVariant(name: "free bits", config: make { $0.freeBits = 0.05; $0.widths = [12, 7, 4] }),
        // Odd sizes exercise the transposed convolutions' output padding; tanh keeps away from kinks.
        VAEVariant(name: "conv", config: make {
            $0.architecture = .conv; $0.widths = [3]; $0.filters = [2, 3]; $0.activation = .tanh
            $0.channels = 1; $0.height = 6; $0.width = 5
        }),
    ]
}()

@Suite struct VariationalAutoencoderTests {
    @Test(arguments: vaeVariants)
    func gradientsMatchFiniteDifferences(variant: VAEVariant) {
        let harness = VAEHarness(variant.config, rows: 4)
        harness.context.step = variant.step
        harness.ws.gradients.zero()
        _ = harness.objective(gradients: true)
        let analytic = harness.ws.gradients.array
        for slot in harness.model.layout.slots {
            checkGradient("\(variant.name) \(slot.name)", values: harness.params.pointer + slot.offset,
                          count: slot.count, analytic: Array(analytic[slot.range]), samples: 12,
                          epsilon: 3e-3, tolerance: 2e-2, floor: 2e-3) {
                harness.objective(gradients: false)
            }
        }
    }

    /// E_q[log q(z) - log p(z)] by sampling, in double precision, against the closed form.
    @Test(arguments: [(Float(0.7), Float(-1.2)), (-1.5, 0.4), (0, 0), (0.2, -4)])
    func klMatchesAMonteCarloEstimate(mean: Float, logVariance: Float) {
        var rng = SplitMix64(seed: 3)
        let sd = exp(Double(logVariance) / 2)
        var sum = 0.0
        let n = 400_000
        for _ in 0..<(n / 2) {
            let (a, b) = rng.nextGaussianPair()
            for e in [Double(a), Double(b)] {
                let z = Double(mean) + sd * e
                // log q - log p = -log sd - e^2/2 + z^2/2
                sum += -log(sd) - e * e / 2 + z * z / 2
            }
        }
        let estimate = sum / Double(n)
        let exact = Double(VariationalAutoencoder.klDivergence(mean: mean, logVariance: logVariance))
        #expect(abs(estimate - exact) < 0.01 + 0.01 * exact, "KL \(exact), Monte Carlo \(estimate)")
    }

    @Test func warmUpRampsTheKLWeight() {
        var config = VariationalAutoencoderConfig(widths: [4, 2])
        config.beta = 2
        config.warmupSteps = 100
        let model = VariationalAutoencoder(config)
        #expect(model.klWeight(step: 0) == 0 && model.klWeight(step: 50) == 1 && model.klWeight(step: 500) == 2)
    }

    @Test(arguments: ["bernoulli", "gaussian", "gaussian_learned"])
    func matchesPyTorch(kind: String) throws {
        let fixture = try Fixture(path: repositoryRoot + "/Tests/ModelsTests/Fixtures/tiny-vae.bin.gz")
        var config = VariationalAutoencoderConfig(widths: [10, 6, 3])
        config.decoder = kind == "bernoulli" ? .bernoulli : kind == "gaussian" ? .gaussian(variance: 0.5) : .gaussianLearned
        let model = VariationalAutoencoder(config)
        let rows = 5
        let params = FloatBuffer(count: model.layout.count)
        for slot in model.layout.slots {
            let tensor = try #require(fixture["\(kind).\(slot.name)"], "missing \(slot.name)")
            #expect(tensor.shape == slot.shape, "\(slot.name)")
            for (i, v) in tensor.values.enumerated() { params[slot.offset + i] = v }
        }
        let ws = model.makeWorkspace(maxRows: rows)
        let x = try #require(fixture["input"]).values, eps = try #require(fixture["epsilon"]).values
        for r in 0..<rows {
            for i in 0..<10 {
                model.input(ws, rows: rows).row(r)[i] = x[r * 10 + i]
                model.target(ws, rows: rows).row(r)[i] = x[r * 10 + i]
            }
            for j in 0..<3 { model.epsilon(ws, rows: rows).row(r)[j] = eps[r * 3 + j] }
        }
        ws.gradients.zero()
        let context = StepContext(training: true)
        model.forward(context, ws, rows: rows, params: Arena(params), statistic: nil, epsilonGiven: true)
        let sums = model.backward(context, ws, rows: rows, globalRows: rows, params: Arena(params),
                                  grads: ws.gradientArena, statistic: nil)
        expectClose(Float(sums.parts[0]), fixture["\(kind).reconstruction"]!.values[0], relative: 1e-5)
        expectClose(Float(sums.parts[1]), fixture["\(kind).kl"]!.values[0], relative: 1e-5)
        expectClose(Float(sums.objective / Double(rows)), fixture["\(kind).loss"]!.values[0], relative: 1e-5)
        for slot in model.layout.slots {
            let expected = fixture["\(kind).grad.\(slot.name)"]!.values
            expectClose(Array(UnsafeBufferPointer(start: ws.gradients.pointer + slot.offset, count: slot.count)),
                        expected, relative: 1e-4, absolute: 1e-6)
        }
    }
}
