// Whole-model gradient checks for the convolutional autoencoders (pooled and strided) and the
// U-Net denoiser (skip connections, residual output), and their shapes: M2's parameters and
// FLOPs, the denoiser's independence of the image size.

import Kernels
import Layers
import Models
import Testing
import TestSupport

struct ConvVariant: CustomStringConvertible, Sendable {
    let name: String
    let make: @Sendable () -> any AutoencoderModel
    var description: String { name }
}

let convVariants: [ConvVariant] = [
    ConvVariant(name: "pooled bce") {
        var c = ConvAutoencoderConfig(channels: 1, height: 8, width: 8)
        c.filters = [3, 2, 2]
        c.activation = .elu
        return ConvAutoencoder(c)
    },
    ConvVariant(name: "pooled mse rgb") {
        var c = ConvAutoencoderConfig(channels: 3, height: 4, width: 6)
        c.filters = [2, 3]
        c.loss = .mse
        c.activation = .elu
        return ConvAutoencoder(c)
    },
    ConvVariant(name: "strided odd size") {
        var c = ConvAutoencoderConfig(channels: 2, height: 7, width: 9)
        c.filters = [3, 2, 2]
        c.architecture = .strided
        c.activation = .elu
        return ConvAutoencoder(c)
    },
    ConvVariant(name: "denoiser depth 0") {
        var c = ConvDenoiserConfig(channels: 1)
        c.depth = 0
        c.width = 3
        c.activation = .elu
        return ConvDenoiser(c, height: 5, width: 6)
    },
    ConvVariant(name: "denoiser depth 1 rgb") {
        var c = ConvDenoiserConfig(channels: 3)
        c.depth = 1
        c.width = 2
        c.activation = .elu
        return ConvDenoiser(c, height: 6, width: 4)
    },
    ConvVariant(name: "denoiser charbonnier loss") {
        var c = ConvDenoiserConfig(channels: 1)
        c.depth = 1
        c.width = 2
        c.activation = .elu
        c.loss = .charbonnier
        return ConvDenoiser(c, height: 4, width: 6)
    },
    ConvVariant(name: "denoiser depth 2 predicts image") {
        var c = ConvDenoiserConfig(channels: 1)
        c.depth = 2
        c.width = 2
        c.residual = false
        c.activation = .elu
        return ConvDenoiser(c, height: 8, width: 12)
    },
]

/// Objective and gradient of any model on fixed rows (one shard, no statistic).
struct AnyModelHarness {
    let model: any AutoencoderModel
    let params: FloatBuffer
    let ws: Workspace
    let rows: Int
    let input: [Float]

    init(_ model: any AutoencoderModel, rows: Int) {
        self.model = model
        self.rows = rows
        params = FloatBuffer(count: model.layout.count)
        ws = model.makeWorkspace(maxRows: rows)
        model.initialize(params: Arena(params), seed: 3)
        var rng = SplitMix64(seed: 9)
        let x = model.input(ws, rows: rows), t = model.target(ws, rows: rows)
        var noisy: [Float] = []
        for r in 0..<rows {
            for i in 0..<model.inputWidth {
                let v = 0.1 + 0.8 * rng.nextUniform()
                t.row(r)[i] = v
                x.row(r)[i] = v + 0.2 * (rng.nextUniform() - 0.5)
                noisy.append(x.row(r)[i])
            }
        }
        input = noisy
    }

    func objective(gradients: Bool) -> Double {
        let x = model.input(ws, rows: rows)
        model.forward(StepContext(training: true), ws, rows: rows, params: Arena(params), statistic: nil)
        let sums = model.backward(StepContext(training: true), ws, rows: rows, globalRows: rows, params: Arena(params),
                                  grads: gradients ? ws.gradientArena : nil, statistic: nil)
        // Backward may not touch the input, but restore it so every evaluation sees the same one.
        for (i, v) in input.enumerated() { x.base[i] = v }
        return sums.objective / Double(rows * model.targetWidth)
    }
}

@Suite struct ConvModelTests {
    /// ELU instead of ReLU keeps the objective smooth; max-pooling still has kinks at ties. Where a
    /// central difference straddles one (two steps disagree) it is skipped, but most must pass.
    @Test(arguments: convVariants)
    func gradientsMatchFiniteDifferences(variant: ConvVariant) {
        let model = variant.make()
        let harness = AnyModelHarness(model, rows: 3)
        defer { withExtendedLifetime(harness.params) {} }
        harness.ws.gradients.zero()
        _ = harness.objective(gradients: true)
        let analytic = harness.ws.gradients.array
        var rng = SplitMix64(seed: 21)
        var checked = 0, skipped = 0
        for slot in model.layout.slots {
            let picks = slot.count <= 6 ? Array(0..<slot.count) : (0..<6).map { _ in Int(rng.next() % UInt64(slot.count)) }
            for pick in picks {
                let i = slot.offset + pick
                func numeric(_ e: Float) -> Double {
                    let saved = harness.params[i]
                    harness.params[i] = saved + e
                    let plus = harness.objective(gradients: false)
                    harness.params[i] = saved - e
                    let minus = harness.objective(gradients: false)
                    harness.params[i] = saved
                    return (plus - minus) / (2 * Double(e))
                }
                let coarse = numeric(4e-3), fine = numeric(2e-3)
                let scale = max(abs(coarse), abs(fine), 1e-3)
                if abs(coarse - fine) / scale > 5e-3 {
                    skipped += 1
                    continue
                }
                checked += 1
                let a = Double(analytic[i])
                let error = abs(fine - a) / max(abs(fine), abs(a), 1e-3)
                #expect(error < 1e-2, "\(variant.name) \(slot.name)[\(pick)]: analytic \(a), numeric \(fine)")
            }
        }
        #expect(checked >= 3 * skipped, "\(variant.name): \(skipped) coordinates near kinks, \(checked) checked")
    }

    @Test func m2HasTheReferenceShape() {
        let model = ConvAutoencoder(ConvAutoencoderConfig())
        // ../shared/bench ConvAE: c1 1->16, c2 16->8, c3 8->8, c4 8->16, c5 16->1, all 3x3.
        let weights = model.layout.slots.filter { $0.name.hasSuffix(".weight") }.map(\.shape)
        #expect(weights == [[16, 1, 3, 3], [8, 16, 3, 3], [8, 8, 3, 3], [16, 8, 3, 3], [1, 16, 3, 3]])
        #expect(model.layout.count == 3217)
        #expect(model.codeWidth == 392)
        let macs = model.gemmShapes.reduce(0) { $0 + $1.m * $1.k * $1.n }
        #expect(macs == 705_600)
    }

    @Test func denoiserParametersDoNotDependOnSize() {
        let config = ConvDenoiserConfig(channels: 3)
        let a = ConvDenoiser(config, height: 48, width: 48), b = ConvDenoiser(config, height: 96, width: 20,
                                                                               inference: true)
        #expect(a.layout.slots == b.layout.slots)
        #expect(b.workspaceColumns < ConvDenoiser(config, height: 96, width: 20).workspaceColumns)
    }
}
