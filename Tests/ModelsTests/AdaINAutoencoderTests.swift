// The AdaIN two-encoder form: every parameter's gradient against central differences (images,
// variable-length sequences, a variational content code, the conversion critic), a sequence's
// code and output that do not depend on how far it was padded, and the 1-D convolution against
// a direct sum.

import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport

final class AdaINHarness {
    let model: AdaINAutoencoder
    let rows: Int
    let params: FloatBuffer
    let ws: Workspace

    init(_ config: DisentanglingAutoencoderConfig, rows: Int, lengths: [Int] = [], seed: UInt64 = 12) {
        model = AdaINAutoencoder(config)
        self.rows = rows
        params = FloatBuffer(count: model.layout.count)
        ws = model.makeWorkspace(maxRows: rows)
        model.initialize(params: Arena(params), seed: 5)
        var rng = SplitMix64(seed: seed)
        let x = model.input(ws, rows: rows), t = model.target(ws, rows: rows)
        fillSameRows(x, t, rows: rows, rng: &rng)
        for r in 0..<rows {
            ws.rowKeys[r] = UInt64(100 + r)
            guard config.isSequence else { continue }
            let n = lengths[r]
            for i in (n * config.features)..<(config.steps * config.features) {
                x.row(r)[i] = 0
                t.row(r)[i] = 0
            }
            x.row(r)[model.inputWidth - 1] = Float(n)
            t.row(r)[model.inputWidth - 1] = Float(n)
        }
    }

    /// The objective per value (reconstruction + KL weight x KL, as training weighs it).
    func objective() -> Double {
        let context = StepContext(training: model.config.kl > 0)
        model.forward(context, ws, rows: rows, params: Arena(params), statistic: nil)
        let sums = model.backward(context, ws, rows: rows, globalRows: rows, params: Arena(params), grads: nil, statistic: nil)
        return sums.objective / Double(rows * model.valuesPerTarget)
    }

    func gradients() -> [Float] {
        ws.gradients.zero()
        let context = StepContext(training: model.config.kl > 0)
        model.forward(context, ws, rows: rows, params: Arena(params), statistic: nil)
        _ = model.backward(context, ws, rows: rows, globalRows: rows, params: Arena(params), grads: ws.gradientArena,
                           statistic: nil)
        return ws.gradients.array
    }
}

func adainConfig(sequence: Bool, kl: Float = 0, loss: LossKind = .bce) -> DisentanglingAutoencoderConfig {
    var config = DisentanglingAutoencoderConfig(widths: [sequence ? 6 * 3 + 1 : 2 * 8 * 4])
    config.form = .adain
    config.channels = 3
    config.contentChannels = 2
    config.styleWidth = 3
    config.kernel = 3
    config.kl = kl
    config.activation = .tanh
    config.loss = sequence ? .mse : loss
    if sequence {
        config.steps = 6
        config.features = 3
    } else {
        (config.imageChannels, config.imageHeight, config.imageWidth) = (2, 8, 4)
    }
    return config
}

struct AdaINVariant: CustomStringConvertible, Sendable {
    let name: String
    let config: DisentanglingAutoencoderConfig
    var description: String { name }
}

let adainVariants = [
    AdaINVariant(name: "images bce", config: adainConfig(sequence: false)),
    AdaINVariant(name: "images mse variational", config: adainConfig(sequence: false, kl: 0.5, loss: .mse)),
    AdaINVariant(name: "sequences", config: adainConfig(sequence: true)),
    AdaINVariant(name: "sequences variational", config: adainConfig(sequence: true, kl: 0.5)),
]

@Suite struct AdaINAutoencoderTests {
    @Test(arguments: adainVariants)
    func gradientsMatchFiniteDifferences(variant: AdaINVariant) {
        let harness = AdaINHarness(variant.config, rows: 3, lengths: [6, 4, 5])
        let analytic = harness.gradients()
        for slot in harness.model.layout.slots {
            checkGradient("\(variant.name) \(slot.name)", values: harness.params.pointer + slot.offset, count: slot.count,
                          analytic: Array(analytic[slot.range]), samples: 8, epsilon: 1e-3, tolerance: 3e-2,
                          floor: 1e-3, loss: harness.objective)
        }
    }

    /// Loss and every parameter's gradient against PyTorch (tools/make_adain_fixtures.py): the
    /// variational content code at its mean, evaluation mode.
    @Test(arguments: ["images", "sequences"])
    func matchesPyTorch(kind: String) throws {
        let fixture = try Fixture(path: repositoryRoot + "/Tests/ModelsTests/Fixtures/tiny-adain.bin.gz")
        let config = adainConfig(sequence: kind == "sequences", kl: 0.5)
        let model = AdaINAutoencoder(config)
        let rows = 3
        let params = FloatBuffer(count: model.layout.count)
        for slot in model.layout.slots {
            let tensor = try #require(fixture["\(kind).\(slot.name)"], "missing \(slot.name)")
            #expect(tensor.shape == slot.shape, "\(slot.name)")
            for (i, v) in tensor.values.enumerated() { params[slot.offset + i] = v }
        }
        #expect(fixture.names.filter { $0.hasPrefix("\(kind).grad.") }.count == model.layout.slots.count)
        let ws = model.makeWorkspace(maxRows: rows)
        let x = try #require(fixture["\(kind).input"]).values
        #expect(x.count == rows * model.inputWidth)
        for r in 0..<rows {
            for i in 0..<model.inputWidth {
                model.input(ws, rows: rows).row(r)[i] = x[r * model.inputWidth + i]
                model.target(ws, rows: rows).row(r)[i] = x[r * model.inputWidth + i]
            }
        }
        ws.gradients.zero()
        model.forward(.evaluation, ws, rows: rows, params: Arena(params), statistic: nil)
        let sums = model.backward(.evaluation, ws, rows: rows, globalRows: rows, params: Arena(params),
                                  grads: ws.gradientArena, statistic: nil)
        expectClose(Float(sums.parts[0]), fixture["\(kind).reconstruction"]!.values[0], relative: 1e-5)
        expectClose(Float(sums.parts[1]), fixture["\(kind).kl"]!.values[0], relative: 1e-5)
        expectClose(Float(sums.objective / Double(rows * model.valuesPerTarget)), fixture["\(kind).objective"]!.values[0],
                    relative: 1e-5)
        for slot in model.layout.slots {
            let expected = fixture["\(kind).grad.\(slot.name)"]!.values
            expectClose(Array(UnsafeBufferPointer(start: ws.gradients.pointer + slot.offset, count: slot.count)),
                        expected, relative: 1e-3, absolute: 1e-6)
        }
    }

    /// The conversion critic: the critic follows its cross-entropy on real rows (its phase, first);
    /// the autoencoder reconstruction + KL + w x the critic's cross-entropy on each row's
    /// conversion to its partner's label, through the critic, the output and the conversions'
    /// decoding into both encoders.
    @Test(arguments: adainVariants)
    func conversionCriticGradientsMatchFiniteDifferences(variant: AdaINVariant) {
        var config = variant.config
        config.classes = 3
        config.swapWeight = 0.6
        config.criticWidths = [4]
        let rows = 5
        let harness = AdaINHarness(config, rows: rows, lengths: [6, 4, 5, 3, 6])
        let model = harness.model, ws = harness.ws, w = Double(config.swapWeight)
        for (r, y) in [0, 1, 1, 2, -1].enumerated() { ws.labels[r] = Int32(y) }
        #expect(model.phases.map(\.name) == ["critic", "autoencoder"])
        #expect(model.lossPartNames.suffix(2) == ["critic", "swap"])
        let swapPart = model.lossPartNames.count - 1
        func pass(_ phase: Int, gradients: Bool) -> LossSums {
            if gradients { ws.gradients.zero() }
            let context = StepContext(phase: phase, training: true)
            model.forward(context, ws, rows: rows, params: Arena(harness.params), statistic: nil)
            return model.backward(context, ws, rows: rows, globalRows: rows, params: Arena(harness.params),
                                  grads: gradients ? ws.gradientArena : nil, statistic: nil)
        }
        _ = pass(0, gradients: true)
        let criticGradients = ws.gradients.array
        _ = pass(1, gradients: true)
        let autoencoderGradients = ws.gradients.array
        let criticStart = model.layout.slots.first { $0.name.hasPrefix("critic.") }!.offset
        for slot in model.layout.slots {
            let isCritic = slot.offset >= criticStart
            let objective: () -> Double = {
                if isCritic { return pass(0, gradients: false).parts[swapPart - 1] / Double(rows) }
                let sums = pass(1, gradients: false)
                return sums.objective / Double(rows * model.valuesPerTarget) + w * sums.parts[swapPart] / Double(rows)
            }
            checkGradient("conversion critic \(variant.name) \(slot.name)", values: harness.params.pointer + slot.offset,
                          count: slot.count, analytic: Array((isCritic ? criticGradients : autoencoderGradients)[slot.range]),
                          samples: 8, epsilon: 1e-3, tolerance: 3e-2, floor: 1e-3, loss: objective)
        }
        // Each labelled row converts to a row of another label; the unlabelled row neither converts nor is taken.
        for r in 0..<rows {
            let q = model.partner(ws, r, rows: rows), y = Int(ws.labels[r])
            if y < 0 {
                #expect(q == -1)
            } else {
                #expect(q >= 0 && q != r && ws.labels[q] >= 0 && Int(ws.labels[q]) != y)
            }
        }
    }

    /// Inference (no loss follows) skips the conversion critic: the same code and output as an
    /// evaluation forward, the critic's outputs untouched.
    @Test func inferenceSkipsTheConversionCritic() {
        var config = adainConfig(sequence: true)
        config.classes = 3
        config.swapWeight = 0.6
        config.criticWidths = [4]
        let harness = AdaINHarness(config, rows: 3, lengths: [6, 4, 5])
        let model = harness.model, ws = harness.ws
        for r in 0..<3 { ws.labels[r] = Int32(r) }
        expectInferenceSkipsCritics(model, [model.criticReal!, model.criticSwap!], ws, rows: 3,
                                    params: Arena(harness.params)) { model.code(ws, rows: 3).array }
    }

    /// The same sequences in a model padded to more steps (the parameters do not depend on the
    /// steps) give the same code, the same output on their steps and the same loss.
    @Test func sequenceResultsIgnorePadding() {
        let short = AdaINHarness(adainConfig(sequence: true, kl: 0.5), rows: 3, lengths: [6, 2, 4])
        var longConfig = adainConfig(sequence: true, kl: 0.5)
        longConfig.steps = 11
        longConfig.widths = [11 * 3 + 1]
        let long = AdaINHarness(longConfig, rows: 3, lengths: [6, 2, 4])
        long.params.pointer.update(from: short.params.pointer, count: short.model.layout.count)
        let x = short.model.input(short.ws, rows: 3), y = long.model.input(long.ws, rows: 3)
        let ty = long.model.target(long.ws, rows: 3)
        for r in 0..<3 {
            for i in 0..<(11 * 3) { y.row(r)[i] = i < 18 ? x.row(r)[i] : 0 }
            ty.row(r).update(from: y.row(r), count: 33)
        }
        #expect(abs(short.objective() * 18 - long.objective() * 33) < 1e-5)
        let a = short.model.code(short.ws, rows: 3), b = long.model.code(long.ws, rows: 3)
        let outA = short.model.reconstruction(short.ws, rows: 3), outB = long.model.reconstruction(long.ws, rows: 3)
        for (r, n) in [6, 2, 4].enumerated() {
            for c in 0..<2 {
                for t in 0..<6 {
                    #expect(abs(a.row(r)[c * 6 + t] - b.row(r)[c * 11 + t]) < 1e-5)
                    #expect(t < n || b.row(r)[c * 11 + t] == 0)
                }
            }
            for j in 0..<3 { #expect(abs(a.row(r)[12 + j] - b.row(r)[22 + j]) < 1e-5) }
            for i in 0..<(n * 3) { #expect(abs(outA.row(r)[i] - outB.row(r)[i]) < 1e-5) }
            for i in (n * 3)..<33 { #expect(outB.row(r)[i] == 0) }
            #expect(outB.row(r)[33] == Float(n))
        }
    }

    /// Decoding a code gives what the forward pass gave; swapping the style changes the output.
    @Test func decodeFromCodesMatchesForward() {
        let harness = AdaINHarness(adainConfig(sequence: false), rows: 2)
        let model = harness.model, ws = harness.ws
        model.forward(.evaluation, ws, rows: 2, params: Arena(harness.params), statistic: nil)
        let forward = model.reconstruction(ws, rows: 2).array
        let codes = model.code(ws, rows: 2).array
        model.latentInput(ws, rows: 2).row(0).update(from: codes, count: model.codeWidth)
        model.decode(ws, rows: 1, params: Arena(harness.params))
        expectClose(model.reconstruction(ws, rows: 1).array, Array(forward[0..<model.inputWidth]), relative: 1e-6)
        for j in model.freeColumns { model.latentInput(ws, rows: 1).row(0)[j] = codes[model.codeWidth + j] }
        model.decode(ws, rows: 1, params: Arena(harness.params))
        let swapped = model.reconstruction(ws, rows: 1).array
        #expect(zip(swapped, forward).contains { abs($0 - $1) > 1e-4 })
        // Images: the style is free of the label, the content carries it.
        #expect(model.freeColumns == 4..<7 && model.labelledColumns == 0..<4)
    }
}

@Suite struct Conv1DTests {
    /// y[o, t] = b[o] + sum over c, j of w[o, c, j] x[c, t - 2 + j] (kernel 5, zero outside).
    @Test func forwardMatchesDirectSumAndGradientsMatchFiniteDifferences() {
        var layout = ParameterLayout()
        let conv = Conv1D(inChannels: 2, outChannels: 3, length: 7, kernel: 5, name: "c", layout: &layout)
        let params = FloatBuffer(count: layout.count), grads = FloatBuffer(count: layout.count)
        var rng = SplitMix64(seed: 3)
        conv.initialize(params: Arena(params), rng: &rng)
        let buffers = [conv.inputWidth, conv.outputWidth, conv.cacheWidth, conv.outputWidth, conv.inputWidth]
            .map { FloatBuffer(count: 2 * $0) }
        let x = Matrix(buffers[0].pointer, rows: 2, cols: conv.inputWidth)
        let y = Matrix(buffers[1].pointer, rows: 2, cols: conv.outputWidth)
        let cache = Matrix(buffers[2].pointer, rows: 2, cols: conv.cacheWidth)
        let dy = Matrix(buffers[3].pointer, rows: 2, cols: conv.outputWidth)
        let dx = Matrix(buffers[4].pointer, rows: 2, cols: conv.inputWidth)
        for r in 0..<2 {
            for i in 0..<conv.inputWidth { x.row(r)[i] = rng.nextUniform() * 2 - 1 }
            for i in 0..<conv.outputWidth { dy.row(r)[i] = rng.nextUniform() * 2 - 1 }
        }
        conv.forward(x: x, y: y, cache: cache, params: Arena(params))
        let w = params.pointer + conv.weight.offset, b = params.pointer + conv.bias.offset
        for r in 0..<2 {
            for o in 0..<3 {
                for t in 0..<7 {
                    var s = Double(b[o])
                    for c in 0..<2 {
                        for j in 0..<5 where (0..<7).contains(t - 2 + j) {
                            s += Double(w[(o * 2 + c) * 5 + j]) * Double(x.row(r)[c * 7 + t - 2 + j])
                        }
                    }
                    #expect(abs(Double(y.row(r)[o * 7 + t]) - s) < 1e-5)
                }
            }
        }
        dx.fill(0)
        conv.backward(dy: dy, x: x, y: y, cache: cache, dx: dx, params: Arena(params), grads: Arena(grads))
        // L = sum(dy * y): its gradients are what backward gave.
        func loss() -> Double {
            conv.forward(x: x, y: y, cache: cache, params: Arena(params))
            var s = 0.0
            for r in 0..<2 { for i in 0..<conv.outputWidth { s += Double(dy.row(r)[i]) * Double(y.row(r)[i]) } }
            return s
        }
        checkGradient("conv1d parameters", values: params.pointer, count: layout.count, analytic: grads.array,
                      samples: 40, epsilon: 1e-2, tolerance: 1e-3, loss: loss)
        checkGradient("conv1d input", values: x.base, count: 2 * conv.inputWidth, analytic: dx.array, samples: 28,
                      epsilon: 1e-2, tolerance: 1e-3, loss: loss)
    }
}
