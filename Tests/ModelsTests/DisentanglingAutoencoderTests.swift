// The split-latent disentangling autoencoder: every parameter's gradient against central
// differences of the objective its phase follows (alternating: reconstruction + lambda x
// confusion for the autoencoder, cross-entropy for the adversary; reversal: the adversary's
// cross-entropy reaches the encoder reversed and scaled), for images and for variable-length
// sequences, whose padding neither costs nor receives anything.

import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport

final class DisentangleHarness {
    let model: DisentanglingAutoencoder
    let rows: Int
    let params: FloatBuffer
    let ws: Workspace

    init(_ config: DisentanglingAutoencoderConfig, rows: Int) {
        model = DisentanglingAutoencoder(config)
        self.rows = rows
        params = FloatBuffer(count: model.layout.count)
        ws = model.makeWorkspace(maxRows: rows)
        model.initialize(params: Arena(params), seed: 5)
        var rng = SplitMix64(seed: 12)
        let x = model.input(ws, rows: rows), t = model.target(ws, rows: rows)
        fillSameRows(x, t, rows: rows, rng: &rng)
        for r in 0..<rows {
            if config.isSequence {
                // Lengths 2..steps, zero padding after them, the length last.
                let n = 2 + r % (config.steps - 1)
                for i in (n * config.features)..<(config.steps * config.features) {
                    x.row(r)[i] = 0
                    t.row(r)[i] = 0
                }
                x.row(r)[model.inputWidth - 1] = Float(n)
                t.row(r)[model.inputWidth - 1] = Float(n)
            }
            ws.labels[r] = Int32(r % config.classes)
        }
        ws.labels[rows - 1] = -1  // an unlabelled row: no adversary term
    }

    /// (reconstruction per value, adversary cross-entropy per sample, confusion per sample).
    /// A variational code draws its sample in training only: its losses come from a training pass.
    func losses() -> (Double, Double, Double) {
        let context = model.config.kl > 0 ? StepContext(training: true) : .evaluation
        model.forward(context, ws, rows: rows, params: Arena(params), statistic: nil)
        let sums = model.backward(context, ws, rows: rows, globalRows: rows, params: Arena(params), grads: nil,
                                  statistic: nil)
        let r = Double(rows)
        return (sums.objective / (r * Double(model.valuesPerTarget)), sums.parts[1] / r, sums.parts[2] / r)
    }

    /// Every loss part of an evaluation pass, per sample.
    func parts() -> [Double] {
        model.forward(.evaluation, ws, rows: rows, params: Arena(params), statistic: nil)
        let sums = model.backward(.evaluation, ws, rows: rows, globalRows: rows, params: Arena(params), grads: nil,
                                  statistic: nil)
        return (0..<model.lossPartNames.count).map { sums.parts[$0] / Double(rows) }
    }

    /// Gradients of one training phase into `ws.gradients` (after the phases before it: the
    /// alternating autoencoder phase reuses the adversary phase's encoding).
    func gradients(phase: Int) -> [Float] {
        ws.gradients.zero()
        for earlier in 0..<phase {
            model.forward(StepContext(phase: earlier, training: true), ws, rows: rows, params: Arena(params), statistic: nil)
        }
        let context = StepContext(phase: phase, training: true)
        model.forward(context, ws, rows: rows, params: Arena(params), statistic: nil)
        _ = model.backward(context, ws, rows: rows, globalRows: rows, params: Arena(params), grads: ws.gradientArena,
                           statistic: nil)
        return ws.gradients.array
    }
}

struct DisentangleVariant: CustomStringConvertible, Sendable {
    let name: String
    let config: DisentanglingAutoencoderConfig
    var description: String { name }
}

let disentangleVariants: [DisentangleVariant] = {
    func make(_ edit: (inout DisentanglingAutoencoderConfig) -> Void) -> DisentanglingAutoencoderConfig {
        var config = DisentanglingAutoencoderConfig(widths: [10, 6, 3])
        config.classes = 3
        config.adversaryWidths = [5]
        config.adversaryWeight = 0.7
        config.activation = .tanh
        config.kl = 0
        edit(&config)
        return config
    }
    return [
        DisentangleVariant(name: "alternating bce", config: make { _ in }),
        DisentangleVariant(name: "reversal bce", config: make { $0.adversary = .reversal }),
        DisentangleVariant(name: "alternating mse", config: make { $0.loss = .mse; $0.adversaryWidths = [] }),
        // Training reports the adversary's loss in its own phase only when alternating: reversal here.
        DisentangleVariant(name: "reversal variational", config: make { $0.adversary = .reversal; $0.kl = 0.5 }),
        DisentangleVariant(name: "reversal sequences", config: make {
            $0.adversary = .reversal; $0.loss = .mse; $0.steps = 4; $0.features = 2; $0.widths = [9, 6, 3]
        }),
    ]
}()

/// An evaluation forward, then an inference forward (no loss follows) with the critics' outputs
/// overwritten in between: the same code (`code()`) and reconstruction, the critics' outputs untouched.
func expectInferenceSkipsCritics(_ model: any AutoencoderModel, _ critics: [Network], _ ws: Workspace, rows: Int,
                                 params: Arena, code: () -> [Float]) {
    model.forward(.evaluation, ws, rows: rows, params: params, statistic: nil)
    let before = code(), output = model.reconstruction(ws, rows: rows).array
    for critic in critics { critic.output(ws, rows: rows).fill(-7) }
    model.forward(StepContext(training: false, scoring: false), ws, rows: rows, params: params, statistic: nil)
    #expect(code() == before && model.reconstruction(ws, rows: rows).array == output)
    for critic in critics { #expect(critic.output(ws, rows: rows).array.allSatisfy { $0 == -7 }) }
}

@Suite struct DisentanglingAutoencoderTests {
    @Test(arguments: disentangleVariants)
    func gradientsMatchFiniteDifferences(variant: DisentangleVariant) {
        let harness = DisentangleHarness(variant.config, rows: 4)
        let model = harness.model, lambda = Double(variant.config.adversaryWeight)
        let adversaryStart = model.layout.slots.first { $0.name.hasPrefix("adversary.") }!.offset
        // Which objective each parameter follows, and the phase whose gradient it gets.
        let alternating = variant.config.adversary == .alternating
        // Alternating: phase 0 trains the adversary, phase 1 the autoencoder.
        let phaseGradients = alternating ? [harness.gradients(phase: 0), harness.gradients(phase: 1)]
            : [harness.gradients(phase: 0)]
        for slot in model.layout.slots {
            let isAdversary = slot.offset >= adversaryStart
            let analytic = phaseGradients[alternating && !isAdversary ? 1 : 0]
            let objective: () -> Double = {
                let (recon, crossEntropy, confusion) = harness.losses()
                if isAdversary { return crossEntropy }
                return alternating ? recon + lambda * confusion : recon - lambda * crossEntropy
            }
            checkGradient("\(variant.name) \(slot.name)", values: harness.params.pointer + slot.offset, count: slot.count,
                          analytic: Array(analytic[slot.range]), samples: 10, epsilon: 3e-3, tolerance: 2e-2,
                          floor: 1e-3, loss: objective)
        }
    }

    /// The swap critic: the critic follows its cross-entropy on real images (adversary phase), the
    /// autoencoder reconstruction + lambda x confusion + w x the critic's cross-entropy on decodes
    /// of each free code with a swapped label, through the critic, the sigmoid and the decoder.
    @Test(arguments: [LossKind.bce, .mse])
    func swapCriticGradientsMatchFiniteDifferences(loss: LossKind) {
        var config = disentangleVariants[0].config
        config.loss = loss
        config.swapWeight = 0.6
        config.criticWidths = [4]
        let harness = DisentangleHarness(config, rows: 4)
        let model = harness.model, lambda = Double(config.adversaryWeight), w = Double(config.swapWeight)
        #expect(model.lossPartNames == ["reconstruction", "adversary", "confusion", "critic", "swap"])
        let adversaryStart = model.layout.slots.first { $0.name.hasPrefix("adversary.") }!.offset
        let criticStart = model.layout.slots.first { $0.name.hasPrefix("critic.") }!.offset
        let phaseGradients = [harness.gradients(phase: 0), harness.gradients(phase: 1)]
        for slot in model.layout.slots {
            let owner = slot.offset >= criticStart ? 2 : slot.offset >= adversaryStart ? 1 : 0
            let objective: () -> Double = {
                let (recon, crossEntropy, confusion) = harness.losses()
                let parts = harness.parts()
                switch owner {
                case 2: return parts[3]
                case 1: return crossEntropy
                default: return recon + lambda * confusion + w * parts[4]
                }
            }
            checkGradient("swap critic \(loss) \(slot.name)", values: harness.params.pointer + slot.offset,
                          count: slot.count, analytic: Array(phaseGradients[owner == 0 ? 1 : 0][slot.range]),
                          samples: 10, epsilon: 3e-3, tolerance: 2e-2, floor: 1e-3, loss: objective)
        }
        // The decoder's own phase (--decoder-only-from): reconstruction + w x swap, the decoder alone.
        var late = config
        late.decoderOnlyFrom = 3
        let decoderHarness = DisentangleHarness(late, rows: 4)
        let decoderGradients = decoderHarness.gradients(phase: 2)
        for slot in decoderHarness.model.layout.slots where slot.name.hasPrefix("decoder.") {
            checkGradient("swap critic, decoder phase \(loss) \(slot.name)",
                          values: decoderHarness.params.pointer + slot.offset, count: slot.count,
                          analytic: Array(decoderGradients[slot.range]), samples: 10, epsilon: 3e-3, tolerance: 2e-2,
                          floor: 1e-3, loss: { decoderHarness.losses().0 + w * decoderHarness.parts()[4] })
        }
        // Every labelled row is decoded with another label; the unlabelled row with none.
        for r in 0..<3 {
            let swapped = model.swappedLabel(harness.ws, r)
            #expect(swapped != r % 3 && (0..<3).contains(swapped))
        }
        #expect(model.swappedLabel(harness.ws, 3) == -1)
    }

    /// The scatter penalty: its value is the labelled rows' squared distances from their class's
    /// mean free code to the shard's mean, and the autoencoder's gradient (alternating) follows
    /// reconstruction + lambda x confusion + w x scatter.
    @Test(arguments: [false, true])
    func scatterPenaltyGradientsMatchFiniteDifferences(sequences: Bool) {
        var config = disentangleVariants[sequences ? 4 : 0].config
        config.adversary = .alternating
        config.scatterWeight = 0.8
        let rows = 8
        let harness = DisentangleHarness(config, rows: rows)
        let model = harness.model, lambda = Double(config.adversaryWeight)
        #expect(model.lossPartNames.last == "scatter")
        // The value, from the encoder's means (an evaluation pass encodes the same means).
        let parts = harness.parts()
        let head = model.encoder.output(harness.ws, rows: rows), width = model.freeWidth
        var means = [[Double]](repeating: [Double](repeating: 0, count: width), count: 3)
        var all = [Double](repeating: 0, count: width)
        var counts = [Double](repeating: 0, count: 3)
        for r in 0..<rows where harness.ws.labels[r] >= 0 {
            let y = Int(harness.ws.labels[r])
            counts[y] += 1
            for j in 0..<width {
                means[y][j] += Double(head.row(r)[j])
                all[j] += Double(head.row(r)[j])
            }
        }
        var expected = 0.0
        for y in 0..<3 {
            for j in 0..<width {
                let d = means[y][j] / counts[y] - all[j] / counts.reduce(0, +)
                expected += counts[y] * d * d
            }
        }
        #expect(expected > 1e-3 && abs(parts.last! - expected / Double(rows)) < 1e-5 * max(1, expected),
                "\(parts.last!) vs \(expected / Double(rows))")
        let gradients = harness.gradients(phase: 1)
        let adversaryStart = model.layout.slots.first { $0.name.hasPrefix("adversary.") }!.offset
        for slot in model.layout.slots where slot.offset < adversaryStart {
            checkGradient("scatter \(sequences ? "sequences" : "images") \(slot.name)",
                          values: harness.params.pointer + slot.offset, count: slot.count,
                          analytic: Array(gradients[slot.range]), samples: 10, epsilon: 3e-3, tolerance: 2e-2,
                          floor: 1e-3, loss: {
                              let (recon, _, confusion) = harness.losses()
                              return recon + lambda * confusion
                          })
        }
    }

    /// The scatter penalty is the batch's: over two shards whose statistic is summed and finished
    /// (as the engine does), the gradients add up to those of one shard holding every row; each
    /// shard's own class means (no statistic) would give others.
    @Test func scatterStatisticSpansShards() {
        var config = disentangleVariants[0].config
        config.scatterWeight = 0.8
        let whole = DisentangleHarness(config, rows: 8)
        let model = whole.model, params = Arena(whole.params)
        let expected = whole.gradients(phase: 1)
        let shards = [0..<4, 4..<8].map { range -> Workspace in
            let ws = model.makeWorkspace(maxRows: 4)
            for (i, r) in range.enumerated() {
                model.input(ws, rows: 4).row(i).update(from: model.input(whole.ws, rows: 8).row(r), count: model.inputWidth)
                model.target(ws, rows: 4).row(i).update(from: model.target(whole.ws, rows: 8).row(r), count: model.targetWidth)
                ws.labels[i] = whole.ws.labels[r]
                ws.rowKeys[i] = whole.ws.rowKeys[r]
            }
            return ws
        }
        #expect(model.statisticWidth == 4 * 3 + 3)
        func twoShardGradients(shared: Bool) -> [Float] {
            let statistic = FloatBuffer(count: model.statisticWidth), state = FloatBuffer(count: 1)
            for phase in 0..<2 {
                let context = StepContext(phase: phase, training: true)
                statistic.zero()
                for ws in shards {
                    ws.statistics.zero()
                    model.forward(context, ws, rows: 4, params: params, statistic: ws.statistics.pointer)
                    for j in 0..<model.statisticWidth { statistic[j] += ws.statistics[j] }
                }
                guard phase == 1 else { continue }
                model.finishStatistic(statistic.pointer, globalRows: 8, state: state.pointer, training: true)
                for ws in shards {
                    ws.gradients.zero()
                    _ = model.backward(context, ws, rows: 4, globalRows: 8, params: params, grads: ws.gradientArena,
                                       statistic: shared ? UnsafePointer(statistic.pointer) : nil)
                }
            }
            return zip(shards[0].gradients.array, shards[1].gradients.array).map { $0 + $1 }
        }
        let adversaryStart = model.layout.slots.first { $0.name.hasPrefix("adversary.") }!.offset
        let shared = twoShardGradients(shared: true), own = twoShardGradients(shared: false)
        expectClose(Array(shared[0..<adversaryStart]), Array(expected[0..<adversaryStart]), relative: 1e-4, absolute: 1e-6)
        let encoder = model.layout.slots.first { $0.name.hasPrefix("encoder.0") }!
        #expect(zip(own[encoder.range], expected[encoder.range]).contains { abs($0 - $1) > 1e-4 * max(abs($1), 1e-3) })
    }

    /// Inference (no loss follows) skips the swap critic: the same code and reconstruction as an
    /// evaluation forward, the critic's outputs untouched.
    @Test func inferenceSkipsTheSwapCritic() {
        var config = disentangleVariants[0].config
        config.swapWeight = 0.6
        config.criticWidths = [4]
        let harness = DisentangleHarness(config, rows: 4)
        let model = harness.model
        expectInferenceSkipsCritics(model, [model.criticReal!, model.criticSwap!], harness.ws, rows: 4,
                                    params: Arena(harness.params)) { model.codeMatrix(harness.ws, rows: 4).array }
    }

    /// A sequence's padding (and the output there) costs nothing.
    @Test func sequencePaddingIsMasked() {
        let harness = DisentangleHarness(disentangleVariants[4].config, rows: 4)
        let before = harness.losses().0
        let t = harness.model.target(harness.ws, rows: 4)
        t.row(0)[7] = 5  // row 0 has 2 steps of 2 values: index 7 is padding
        #expect(harness.losses().0 == before)
        t.row(0)[3] = 5  // index 3 is data
        #expect(harness.losses().0 > before)
    }

    @Test func adversaryWeightWarmsUp() {
        var config = disentangleVariants[0].config
        config.adversaryWarmup = 100
        let model = DisentanglingAutoencoder(config)
        #expect(model.adversaryWeight(step: 0) == 0)
        #expect(abs(model.adversaryWeight(step: 50) - 0.35) < 1e-6)
        #expect(model.adversaryWeight(step: 1000) == config.adversaryWeight)
    }

    /// A config stored before a field existed loads with that field's default (kl: 0, the
    /// deterministic code such configs had).
    @Test func storedConfigsMissingFieldsLoad() throws {
        let json = #"{"widths": [10, 6, 3], "classes": 3, "adversaryWeight": 0.2}"#
        let config = try JSONDecoder().decode(DisentanglingAutoencoderConfig.self, from: Data(json.utf8))
        #expect(config.classes == 3 && config.adversaryWeight == 0.2 && config.kl == 0)
        #expect(config.adversaryWarmup == 0 && config.adversary == .alternating && config.adversaryWidths == [256])
        let again = try JSONDecoder().decode(DisentanglingAutoencoderConfig.self, from: JSONEncoder().encode(config))
        #expect(again == config)
    }

    /// Alternating training reports the adversary's losses from its own phase only.
    @Test func partsAreNotCountedTwice() {
        let harness = DisentangleHarness(disentangleVariants[0].config, rows: 4)
        let model = harness.model
        var total = LossSums()
        for phase in 0..<2 {
            let context = StepContext(phase: phase, training: true)
            model.forward(context, harness.ws, rows: 4, params: Arena(harness.params), statistic: nil)
            total += model.backward(context, harness.ws, rows: 4, globalRows: 4, params: Arena(harness.params),
                                    grads: nil, statistic: nil)
        }
        let (_, crossEntropy, confusion) = harness.losses()
        #expect(abs(total.parts[1] / 4 - crossEntropy) < 1e-9)
        #expect(abs(total.parts[2] / 4 - confusion) < 1e-9)
    }
}
