// The tiny dense autoencoder of tools/make_fixtures.py (PyTorch) with the same weights gives the
// same output, loss and gradients, and the same losses over 10 Adam steps.

import Engine
import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport
import Training

let modelFixtures = repositoryRoot + "/Tests/ModelsTests/Fixtures"

@Suite struct ReferenceFixtureTests {
    func tinyModel(loss: LossKind) -> DenseAutoencoder {
        var config = DenseAutoencoderConfig(widths: [12, 8, 5, 3])
        config.loss = loss
        return DenseAutoencoder(config)
    }

    /// A trainer holding the fixture's initial weights (names must match PyTorch's state_dict).
    func trainer(_ model: DenseAutoencoder, _ fixture: Fixture, lr: Float = 1e-2) throws -> Trainer {
        let trainer = Trainer(model: model, optimizers: [OptimizerConfig(kind: .adam, learningRate: lr)],
                              shards: 1, maxBatch: 6, seed: 0)
        for slot in model.layout.slots {
            let tensor = try #require(fixture[slot.name], "fixture lacks \(slot.name)")
            #expect(tensor.shape == slot.shape, "\(slot.name)")
            for i in 0..<slot.count { trainer.params[slot.offset + i] = tensor.values[i] }
        }
        return trainer
    }

    @Test func mseForwardGradientsAndAdamSteps() throws {
        let fixture = try Fixture(path: modelFixtures + "/tiny-dense-ae.bin.gz")
        let model = tinyModel(loss: .mse)
        let trainer = try trainer(model, fixture)
        let rows = FloatRows(rowWidth: 12, values: fixture["input"]!.values)
        let indices = Array(0..<6)
        // Output and loss at the initial weights.
        var output = [Float](repeating: 0, count: 72)
        let sums = indices.withUnsafeBufferPointer { ids in
            output.withUnsafeMutableBufferPointer {
                trainer.evaluate(rows, indices: ids, epoch: 0, reconstructions: $0.baseAddress!)
            }
        }
        expectClose(output, fixture["output"]!.values, relative: 1e-5, absolute: 1e-6, "output")
        expectClose(Float(sums.squaredError / 72), fixture["loss"]!.values[0], relative: 1e-5, "loss")
        // Gradients: one forward/backward into the slab, read before any update.
        let ws = model.makeWorkspace(maxRows: 6)
        indices.withUnsafeBufferPointer { ids in
            rows.fill(indices: ids, epoch: 0, clean: model.target(ws, rows: 6).base,
                      corrupted: model.input(ws, rows: 6).base)
        }
        model.forward(StepContext(training: true), ws, rows: 6, params: Arena(trainer.params), statistic: nil)
        _ = model.backward(StepContext(training: true), ws, rows: 6, globalRows: 6, params: Arena(trainer.params),
                           grads: ws.gradientArena, statistic: nil)
        for slot in model.layout.slots {
            expectClose(Array(ws.gradients.array[slot.range]), fixture["grad." + slot.name]!.values,
                        relative: 1e-5, absolute: 1e-7, "grad.\(slot.name)")
        }
        // Ten Adam steps: losses before each update, then the parameters.
        var losses: [Float] = []
        for _ in 0..<10 {
            let s = indices.withUnsafeBufferPointer { trainer.trainStep(rows, indices: $0, epoch: 0) }
            losses.append(Float(s.squaredError / 72))
        }
        expectClose(losses, fixture["adam_losses"]!.values, relative: 1e-4, "adam losses")
        for slot in model.layout.slots {
            expectClose(Array(trainer.params.array[slot.range]), fixture["after." + slot.name]!.values,
                        relative: 1e-4, absolute: 1e-5, "after.\(slot.name)")
        }
    }

    @Test func bceFromLogitsMatches() throws {
        let fixture = try Fixture(path: modelFixtures + "/tiny-dense-ae.bin.gz")
        let model = tinyModel(loss: .bce)
        let trainer = try trainer(model, fixture)
        let rows = FloatRows(rowWidth: 12, values: fixture["input"]!.values)
        let ws = model.makeWorkspace(maxRows: 6)
        let indices = Array(0..<6)
        indices.withUnsafeBufferPointer { ids in
            rows.fill(indices: ids, epoch: 0, clean: model.target(ws, rows: 6).base,
                      corrupted: model.input(ws, rows: 6).base)
        }
        model.forward(StepContext(training: true), ws, rows: 6, params: Arena(trainer.params), statistic: nil)
        expectClose(model.network.output(ws, rows: 6).array, fixture["bce.output_logits"]!.values,
                    relative: 1e-5, absolute: 1e-6, "logits")
        let sums = model.backward(StepContext(training: true), ws, rows: 6, globalRows: 6, params: Arena(trainer.params),
                                  grads: ws.gradientArena, statistic: nil)
        expectClose(Float(sums.objective / 72), fixture["bce.loss"]!.values[0], relative: 1e-5, "bce loss")
        for slot in model.layout.slots {
            expectClose(Array(ws.gradients.array[slot.range]), fixture["bce.grad." + slot.name]!.values,
                        relative: 1e-5, absolute: 1e-7, "bce.grad.\(slot.name)")
        }
    }
}
