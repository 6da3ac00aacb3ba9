// The convolutional autoencoders of tools/make_conv_model_fixtures.py (PyTorch) with the same
// weights give the same reconstruction, loss and gradients: M2 (direct convolutions, fused ReLU,
// max-pool, nearest upsampling, BCE on logits) with 5 Adam steps, and the strided variant
// (stride-2 convolutions, transposed convolutions with per-dimension output padding) on 7x9; and
// the U-Net denoiser of tools/torch_denoiser.py (skip concatenations, residual output).

import Engine
import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport
import Training

@Suite struct ConvReferenceFixtureTests {
    func check(_ prefix: String, model: ConvAutoencoder, rows: Int, adam: Bool) throws {
        let fixture = try Fixture(path: modelFixtures + "/conv-models.bin.gz")
        let trainer = Trainer(model: model, optimizers: [OptimizerConfig(kind: .adam, learningRate: 1e-3)],
                              shards: 1, maxBatch: rows, seed: 0)
        for slot in model.layout.slots {
            let tensor = try #require(fixture["\(prefix).\(slot.name)"], "fixture lacks \(prefix).\(slot.name)")
            #expect(tensor.shape == slot.shape, "\(slot.name)")
            for i in 0..<slot.count { trainer.params[slot.offset + i] = tensor.values[i] }
        }
        let width = model.inputWidth
        let data = FloatRows(rowWidth: width, values: fixture["\(prefix).input"]!.values)
        let indices = Array(0..<rows)
        var output = [Float](repeating: 0, count: rows * width)
        let sums = indices.withUnsafeBufferPointer { ids in
            output.withUnsafeMutableBufferPointer {
                trainer.evaluate(data, indices: ids, epoch: 0, reconstructions: $0.baseAddress!)
            }
        }
        expectClose(output, fixture["\(prefix).output"]!.values, relative: 1e-5, absolute: 1e-6, "\(prefix) output")
        expectClose(Float(sums.objective / Double(rows * width)), fixture["\(prefix).loss"]!.values[0],
                    relative: 1e-5, "\(prefix) loss")
        let ws = model.makeWorkspace(maxRows: rows)
        indices.withUnsafeBufferPointer { ids in
            data.fill(indices: ids, epoch: 0, clean: model.target(ws, rows: rows).base,
                      corrupted: model.input(ws, rows: rows).base)
        }
        model.forward(StepContext(training: true), ws, rows: rows, params: Arena(trainer.params), statistic: nil)
        _ = model.backward(StepContext(training: true), ws, rows: rows, globalRows: rows, params: Arena(trainer.params),
                           grads: ws.gradientArena, statistic: nil)
        for slot in model.layout.slots {
            expectClose(Array(ws.gradients.array[slot.range]), fixture["\(prefix).grad.\(slot.name)"]!.values,
                        relative: 1e-4, absolute: 1e-6, "\(prefix) grad.\(slot.name)")
        }
        guard adam else { return }
        var losses: [Float] = []
        for _ in 0..<5 {
            let s = indices.withUnsafeBufferPointer { trainer.trainStep(data, indices: $0, epoch: 0) }
            losses.append(Float(s.objective / Double(rows * width)))
        }
        expectClose(losses, fixture["\(prefix).adam_losses"]!.values, relative: 1e-5, "\(prefix) adam losses")
    }

    @Test func m2MatchesPyTorch() throws {
        let model = ConvAutoencoder(ConvAutoencoderConfig())
        #expect(model.network.layers.contains { ($0 as? Conv2D)?.direct == true })
        try check("m2", model: model, rows: 2, adam: true)
    }

    @Test func stridedVariantMatchesPyTorch() throws {
        var config = ConvAutoencoderConfig(channels: 2, height: 7, width: 9)
        config.filters = [3, 2, 2]
        config.architecture = .strided
        config.loss = .mse
        try check("strided", model: ConvAutoencoder(config), rows: 3, adam: false)
    }

    @Test(arguments: [("d2", 1, 8, 12, 2, 4), ("d1rgb", 3, 6, 4, 1, 2)])
    func denoiserMatchesPyTorch(prefix: String, channels: Int, height: Int, width: Int, depth: Int,
                                filters: Int) throws {
        let fixture = try Fixture(path: modelFixtures + "/denoiser.bin.gz")
        var config = ConvDenoiserConfig(channels: channels)
        config.depth = depth
        config.width = filters
        let model = ConvDenoiser(config, height: height, width: width)
        let params = FloatBuffer(count: model.layout.count)
        defer { withExtendedLifetime(params) {} }
        for slot in model.layout.slots {
            let tensor = try #require(fixture["\(prefix).\(slot.name)"], "fixture lacks \(prefix).\(slot.name)")
            #expect(tensor.shape == slot.shape, "\(slot.name)")
            for i in 0..<slot.count { params[slot.offset + i] = tensor.values[i] }
        }
        let ws = model.makeWorkspace(maxRows: 2)
        let n = model.inputWidth
        for (i, v) in fixture["\(prefix).input"]!.values.enumerated() { model.input(ws, rows: 2).base[i] = v }
        for (i, v) in fixture["\(prefix).target"]!.values.enumerated() { model.target(ws, rows: 2).base[i] = v }
        model.forward(StepContext(training: true), ws, rows: 2, params: Arena(params), statistic: nil)
        expectClose(model.reconstruction(ws, rows: 2).array, fixture["\(prefix).output"]!.values, relative: 1e-5,
                    absolute: 1e-6, "\(prefix) output")
        let sums = model.backward(StepContext(training: true), ws, rows: 2, globalRows: 2, params: Arena(params),
                                  grads: ws.gradientArena, statistic: nil)
        expectClose(Float(sums.objective / Double(2 * n)), fixture["\(prefix).loss"]!.values[0], relative: 1e-5,
                    "\(prefix) loss")
        for slot in model.layout.slots {
            expectClose(Array(ws.gradients.array[slot.range]), fixture["\(prefix).grad.\(slot.name)"]!.values,
                        relative: 1e-4, absolute: 1e-6, "\(prefix) grad.\(slot.name)")
        }
    }
}
