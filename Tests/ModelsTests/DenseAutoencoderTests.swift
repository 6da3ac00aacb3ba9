// Whole-model gradient checks for every dense variant, penalties included: the analytic gradient
// of the training objective (per-value mean loss + penalties) against central differences.

import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport

struct Variant: CustomStringConvertible, Sendable {
    let name: String
    let config: DenseAutoencoderConfig
    var description: String { name }
}

let variants: [Variant] = {
    func make(_ widths: [Int], _ edit: (inout DenseAutoencoderConfig) -> Void) -> DenseAutoencoderConfig {
        var config = DenseAutoencoderConfig(widths: widths)
        edit(&config)
        return config
    }
    return [
        Variant(name: "deep mse", config: make([10, 7, 5, 3]) { _ in }),
        Variant(name: "bce tanh", config: make([10, 6, 4]) { $0.loss = .bce; $0.hiddenActivation = .tanh }),
        Variant(name: "per-layer activations", config: make([10, 8, 6, 3]) {
            $0.hiddenActivations = [.tanh, .elu]; $0.codeActivation = .softplus
        }),
        Variant(name: "tied sigmoid", config: make([10, 6, 4]) {
            $0.tiedWeights = true; $0.hiddenActivation = .sigmoid; $0.codeActivation = .sigmoid
        }),
        Variant(name: "l1 sparse", config: make([10, 6]) { $0.codeActivation = .elu; $0.sparsity = .l1(weight: 0.3) }),
        Variant(name: "kl sparse", config: make([10, 6]) {
            $0.codeActivation = .sigmoid; $0.sparsity = .kl(target: 0.1, weight: 0.5, momentum: 0)
        }),
        Variant(name: "kl running", config: make([10, 6]) {
            $0.codeActivation = .sigmoid; $0.sparsity = .kl(target: 0.1, weight: 0.5, momentum: 0.7)
        }),
        Variant(name: "contractive", config: make([10, 6]) { $0.codeActivation = .sigmoid; $0.contractive = 0.4 }),
        Variant(name: "contractive tied", config: make([10, 6]) {
            $0.codeActivation = .sigmoid; $0.contractive = 0.4; $0.tiedWeights = true
        }),
        Variant(name: "dropout", config: make([10, 8, 6, 3]) {
            $0.dropout = 0.3; $0.inputDropout = 0.2; $0.hiddenActivation = .softplus
        }),
        Variant(name: "gaussian nll", config: make([10, 6, 3]) {
            $0.loss = .gaussianNLL; $0.outputActivation = .identity; $0.hiddenActivation = .leakyRelu
        }),
    ]
}()

/// Objective and gradient of `model` on fixed rows, one shard, running the statistic path.
struct ModelHarness {
    let model: DenseAutoencoder
    let params: FloatBuffer
    let state: FloatBuffer
    let ws: Workspace
    let rows: Int
    let statistic: FloatBuffer

    init(_ model: DenseAutoencoder, rows: Int) {
        self.model = model
        self.rows = rows
        params = FloatBuffer(count: model.layout.count)
        state = FloatBuffer(count: model.stateWidth)
        statistic = FloatBuffer(count: model.statisticWidth)
        ws = model.makeWorkspace(maxRows: rows)
        model.initialize(params: Arena(params), seed: 3)
        var rng = SplitMix64(seed: 9)
        fillSameRows(model.input(ws, rows: rows), model.target(ws, rows: rows), rows: rows, rng: &rng)
        for r in 0..<rows { ws.rowKeys[r] = UInt64(100 + r) }
        if model.stateWidth > 0 {
            // A running average already under way: state holds a previous rate estimate.
            for j in 0..<model.codeWidth { state[j] = 0.3 + 0.02 * Float(j) }
            state[model.codeWidth] = 1
        }
    }

    /// The differentiated objective; fills `ws.gradients` when `gradients` is set.
    func objective(gradients: Bool) -> Double {
        let input = model.input(ws, rows: rows)
        let saved = input.array
        model.forward(StepContext(training: true), ws, rows: rows, params: Arena(params),
                      statistic: model.statisticWidth > 0 ? statistic.pointer : nil)
        var statePointer = state.pointer
        let scratch = FloatBuffer(count: state.count)
        if model.statisticWidth > 0 {
            // Keep the stored state fixed so every evaluation sees the same running average.
            scratch.pointer.update(from: state.pointer, count: state.count)
            statePointer = scratch.pointer
            model.finishStatistic(statistic.pointer, globalRows: rows, state: statePointer, training: true)
        }
        let sums = model.backward(StepContext(training: true), ws, rows: rows, globalRows: rows, params: Arena(params),
                                  grads: gradients ? ws.gradientArena : nil,
                                  statistic: model.statisticWidth > 0 ? UnsafePointer(statistic.pointer) : nil)
        statistic.zero()
        for (i, v) in saved.enumerated() { input.base[i] = v }
        return sums.objective / Double(rows * model.targetWidth) + sums.penalty
    }
}

@Suite struct DenseAutoencoderTests {
    @Test(arguments: variants)
    func gradientsMatchFiniteDifferences(variant: Variant) {
        let model = DenseAutoencoder(variant.config)
        let harness = ModelHarness(model, rows: 4)
        harness.ws.gradients.zero()
        _ = harness.objective(gradients: true)
        let analytic = harness.ws.gradients.array
        for slot in model.layout.slots {
            checkGradient("\(variant.name) \(slot.name)", values: harness.params.pointer + slot.offset,
                          count: slot.count, analytic: Array(analytic[slot.range]), samples: 12,
                          epsilon: 3e-3, tolerance: 2e-2, floor: 1e-3) {
                harness.objective(gradients: false)
            }
        }
    }

    @Test func namesFollowSequentialIndexing() {
        var config = DenseAutoencoderConfig(widths: [784, 1000, 500, 250, 30])
        config.dropout = 0.1
        config.dropoutLayers = [1]
        let model = DenseAutoencoder(config)
        let names = model.layout.slots.map(\.name)
        // encoder: 0 Linear, 1 ReLU, 2 Dropout, 3 Linear, 4 ReLU, 5 Linear, 6 ReLU, 7 Linear.
        #expect(names.prefix(8) == ["encoder.0.weight", "encoder.0.bias", "encoder.3.weight", "encoder.3.bias",
                                    "encoder.5.weight", "encoder.5.bias", "encoder.7.weight", "encoder.7.bias"])
        #expect(names.suffix(2) == ["decoder.6.weight", "decoder.6.bias"])
        #expect(model.layout.slot(named: "encoder.0.weight")?.shape == [1000, 784])
        #expect(model.layout.count == 2 * (784 * 1000 + 1000 * 500 + 500 * 250 + 250 * 30) + 1000 + 500 + 250 + 30
            + 250 + 500 + 1000 + 784)
    }

    @Test func perLayerActivationsMirrorInTheDecoder() {
        var config = DenseAutoencoderConfig(widths: [10, 8, 6, 3])
        config.hiddenActivations = [.tanh, .elu]
        let model = DenseAutoencoder(config)
        let kinds = model.network.layers.compactMap { ($0 as? Activation).map { "\($0.kind.rawValue)\($0.width)" } }
        #expect(kinds == ["tanh8", "elu6", "elu6", "tanh8", "sigmoid10"])
    }

    @Test func invalidConfigurationsAreExplained() {
        var config = DenseAutoencoderConfig(widths: [10, 8, 4])
        config.contractive = 0.1
        #expect(config.validationError()?.contains("one sigmoid encoder layer") == true)
        config = DenseAutoencoderConfig(widths: [10, 4])
        config.sparsity = .kl(target: 0.05, weight: 1, momentum: 0)
        #expect(config.validationError()?.contains("sigmoid code") == true)
        config = DenseAutoencoderConfig(widths: [10])
        #expect(config.validationError() != nil)
        config = DenseAutoencoderConfig(widths: [10, 8, 4])
        config.dropout = 0.2
        config.dropoutLayers = [5]
        #expect(config.validationError()?.contains("does not exist") == true)
    }
}

/// Greedy stacks: one-hidden-layer autoencoders (6-4 logistic, then 4-2 linear) written into a
/// deep autoencoder give the parts' encoders in order for the code and their decoders in
/// reverse order for the reconstruction.
@Test func stackedAutoencodersEqualTheirPartsInSequence() throws {
    var lower = DenseAutoencoderConfig(widths: [6, 4])
    lower.codeActivation = .sigmoid
    lower.loss = .bce
    var upper = DenseAutoencoderConfig(widths: [4, 2])
    upper.loss = .bce
    let parts = [DenseAutoencoder(lower), DenseAutoencoder(upper)]
    var rng = SplitMix64(seed: 11)
    let buffers = parts.map { part -> FloatBuffer in
        let p = FloatBuffer(count: part.layout.count)
        for i in 0..<part.layout.count { p[i] = rng.nextUniform() * 2 - 1 }
        return p
    }
    var deepConfig = DenseAutoencoderConfig(widths: [6, 4, 2])
    deepConfig.hiddenActivation = .sigmoid
    deepConfig.loss = .bce
    let deep = DenseAutoencoder(deepConfig)
    let params = FloatBuffer(count: deep.layout.count)
    DenseAutoencoder.stack(zip(parts, buffers).map { ($0, Arena($1)) }, into: deep, params: Arena(params))
    let rows = 3, ws = deep.makeWorkspace(maxRows: rows)
    var data: [[Double]] = []
    for r in 0..<rows {
        let v = (0..<6).map { _ in Double(rng.nextUniform()) }
        data.append(v)
        for i in 0..<6 { deep.input(ws, rows: rows).row(r)[i] = Float(v[i]) }
    }
    deep.forward(.evaluation, ws, rows: rows, params: Arena(params), statistic: nil)
    _ = deep.backward(.evaluation, ws, rows: rows, globalRows: rows, params: Arena(params), grads: nil, statistic: nil)
    func sigmoid(_ a: Double) -> Double { 1 / (1 + exp(-a)) }
    // Dense layer `index` (0: encoder, 1: decoder) of part k applied to x.
    func apply(_ k: Int, _ index: Int, _ x: [Double]) -> [Double] {
        let dense = parts[k].network.layers.compactMap { $0 as? Dense }[index], p = buffers[k]
        return (0..<dense.outputWidth).map { j in
            (0..<dense.inputWidth).reduce(Double(p[dense.bias.offset + j])) {
                $0 + Double(p[dense.weight.offset + j * dense.inputWidth + $1]) * x[$1]
            }
        }
    }
    let code = deep.code(ws, rows: rows), reconstruction = deep.reconstruction(ws, rows: rows)
    for r in 0..<rows {
        let z = apply(1, 0, apply(0, 0, data[r]).map(sigmoid))
        let back = apply(0, 1, apply(1, 1, z).map(sigmoid)).map(sigmoid)
        for j in 0..<2 { #expect(abs(Double(code.row(r)[j]) - z[j]) < 1e-5, "code \(r), \(j)") }
        for i in 0..<6 { #expect(abs(Double(reconstruction.row(r)[i]) - back[i]) < 1e-5, "reconstruction \(r), \(i)") }
    }
}
