// The sequence-to-sequence autoencoder: whole-model gradients against finite differences for
// each decoder form, variable lengths (padding changes nothing), image rows with planar
// channels, and the conditioned decoder's free-running evaluation.

import Kernels
import Layers
import Models
import Testing
import TestSupport

/// A model with random parameters and one batch of inputs in its workspace.
final class SequenceHarness {
    let model: SequenceAutoencoder
    let rows: Int
    let params: FloatBuffer
    let ws: Workspace

    init(_ config: SequenceAutoencoderConfig, rows: Int, lengths: [Int]? = nil, seed: UInt64 = 9) {
        model = SequenceAutoencoder(config)
        self.rows = rows
        params = FloatBuffer(count: model.layout.count)
        ws = model.makeWorkspace(maxRows: rows)
        model.initialize(params: Arena(params), seed: 3)
        var rng = SplitMix64(seed: seed)
        let x = model.input(ws, rows: rows), t = model.target(ws, rows: rows)
        let values = config.steps * config.features
        for r in 0..<rows {
            for i in 0..<values {
                let v = config.output == .sigmoid ? 0.1 + 0.8 * rng.nextUniform() : 2 * rng.nextUniform() - 1
                x.row(r)[i] = v
                t.row(r)[i] = v
            }
            if config.variableLength {
                x.row(r)[values] = Float(lengths![r])
                t.row(r)[values] = Float(lengths![r])
            }
            ws.rowKeys[r] = UInt64(100 + r)
        }
    }

    /// The per-value mean squared error; fills `ws.gradients` when `gradients` is set.
    func objective(gradients: Bool, training: Bool = true) -> Double {
        model.forward(StepContext(training: training), ws, rows: rows, params: Arena(params), statistic: nil)
        let sums = model.backward(StepContext(training: true), ws, rows: rows, globalRows: rows, params: Arena(params),
                                  grads: gradients ? ws.gradientArena : nil, statistic: nil)
        return sums.objective / Double(rows * model.valuesPerTarget)
    }
}

struct SequenceVariant: CustomStringConvertible, Sendable {
    let name: String
    let config: SequenceAutoencoderConfig
    var lengths: [Int]? = nil
    var description: String { name }
}

func sequenceConfig(_ cell: RecurrentCell, steps: Int = 5, features: Int = 3,
                    _ edit: (inout SequenceAutoencoderConfig) -> Void = { _ in }) -> SequenceAutoencoderConfig {
    var config = SequenceAutoencoderConfig(cell: cell, steps: steps, features: features)
    config.hidden = 6
    edit(&config)
    return config
}

let sequenceVariants: [SequenceVariant] = [RecurrentCell.lstm, .gru].flatMap { cell in [
    SequenceVariant(name: "\(cell) fed the code", config: sequenceConfig(cell)),
    SequenceVariant(name: "\(cell) 2 layers, bidirectional, bottleneck, reversed", config: sequenceConfig(cell) {
        $0.layers = 2
        $0.bidirectional = true
        $0.code = 4
        $0.reverse = true
    }),
    SequenceVariant(name: "\(cell) conditioned decoder", config: sequenceConfig(cell) { $0.decoderInput = .previous }),
    SequenceVariant(name: "\(cell) variable lengths, linear output", config: sequenceConfig(cell) {
        $0.variableLength = true
        $0.output = .linear
        $0.decoderInput = .previous
        $0.reverse = true
    }, lengths: [5, 2, 4]),
    SequenceVariant(name: "\(cell) image rows, 2 channels", config: sequenceConfig(cell, features: 4) {
        $0.imageChannels = 2
    }),
] }

@Suite struct SequenceAutoencoderTests {
    @Test(arguments: sequenceVariants)
    func gradientsMatchFiniteDifferences(variant: SequenceVariant) {
        let harness = SequenceHarness(variant.config, rows: 3, lengths: variant.lengths)
        harness.ws.gradients.zero()
        _ = harness.objective(gradients: true)
        let analytic = harness.ws.gradients.array
        for slot in harness.model.layout.slots {
            checkGradient("\(variant.name) \(slot.name)", values: harness.params.pointer + slot.offset,
                          count: slot.count, analytic: Array(analytic[slot.range]), samples: 8,
                          epsilon: 3e-3, tolerance: 2e-2, floor: 1e-3) {
                harness.objective(gradients: false)
            }
        }
    }

    @Test func parameterNamesFollowTheReferenceModel() {
        let model = SequenceAutoencoder(sequenceConfig(.lstm, steps: 28, features: 28) { $0.hidden = 128 })
        #expect(model.layout.slots.map(\.name) == [
            "enc.weight_ih_l0", "enc.weight_hh_l0", "enc.bias_ih_l0", "enc.bias_hh_l0",
            "dec.weight_ih_l0", "dec.weight_hh_l0", "dec.bias_ih_l0", "dec.bias_hh_l0", "out.weight", "out.bias"])
        #expect(model.layout.count == 4 * 128 * (28 + 128 + 2) + 4 * 128 * (128 + 128 + 2) + 128 * 28 + 28)
    }

    @Test(arguments: [RecurrentCell.lstm, .gru])
    func paddingChangesNothing(cell: RecurrentCell) {
        let config = sequenceConfig(cell) {
            $0.variableLength = true
            $0.output = .linear
        }
        let lengths = [3, 5, 1]
        let a = SequenceHarness(config, rows: 3, lengths: lengths)
        let b = SequenceHarness(config, rows: 3, lengths: lengths)
        // Garbage after each sequence's end, in input and target.
        for r in 0..<3 {
            for i in (lengths[r] * 3)..<15 {
                b.model.input(b.ws, rows: 3).row(r)[i] = 7 + Float(i)
                b.model.target(b.ws, rows: 3).row(r)[i] = -5
            }
        }
        a.ws.gradients.zero()
        b.ws.gradients.zero()
        let la = a.objective(gradients: true), lb = b.objective(gradients: true)
        #expect(la == lb)
        #expect(a.ws.gradients.array == b.ws.gradients.array)
        let recon = b.model.reconstruction(b.ws, rows: 3)
        for r in 0..<3 {
            for i in (lengths[r] * 3)..<15 { #expect(recon.row(r)[i] == 0) }
            #expect(recon.row(r)[15] == Float(lengths[r]))
        }
    }

    /// Evaluation of a conditioned decoder feeds its own outputs: at the end each step's input is
    /// the previous step's output (a fixed point), while training feeds the true previous values.
    @Test(arguments: [RecurrentCell.lstm, .gru])
    func conditionedEvaluationRunsFree(cell: RecurrentCell) {
        let config = sequenceConfig(cell) { $0.decoderInput = .previous }
        let harness = SequenceHarness(config, rows: 2)
        let d = config.features, t = config.steps
        _ = harness.objective(gradients: false, training: true)
        let forced = harness.model.reconstruction(harness.ws, rows: 2).array
        let x = harness.model.input(harness.ws, rows: 2)
        var inputs = harness.model.decoderInputs(harness.ws, rows: 2)!
        for r in 0..<2 {
            for i in 0..<(t - 1) * d { #expect(inputs.row(r)[d + i] == x.row(r)[i]) }
        }
        _ = harness.objective(gradients: false, training: false)
        let free = harness.model.reconstruction(harness.ws, rows: 2).array
        inputs = harness.model.decoderInputs(harness.ws, rows: 2)!
        #expect(forced[0..<d] == free[0..<d], "step 0 reads zeros either way")
        #expect(forced != free)
        for r in 0..<2 {
            for i in 0..<d { #expect(inputs.row(r)[i] == 0) }
            expectClose(Array(UnsafeBufferPointer(start: inputs.row(r) + d, count: (t - 1) * d)),
                        Array(free[(r * t * d)..<(r * t * d + (t - 1) * d)]), relative: 1e-6, absolute: 1e-7,
                        "row \(r): inputs are the previous outputs")
        }
    }

    @Test func invalidConfigurationsAreExplained() {
        var config = sequenceConfig(.gru)
        config.teacherForcing = 0.5
        #expect(config.validationError()?.contains("--decoder-input previous") == true)
        config = sequenceConfig(.gru, features: 5) { $0.imageChannels = 2 }
        #expect(config.validationError() != nil)
    }
}
