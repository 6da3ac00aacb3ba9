// The adversarial autoencoder in the engine: each phase moves only its own parameters, phases
// that share parameters keep their own optimizer moments (and checkpoints carry them: a resumed
// run is bit-identical), shard counts agree within rounding, labels reach the conditioned
// prior (its zero-allocation step test sits with the others in DeterminismTests).

import Datasets
import Engine
import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport
import Training

func smallAAE(clusters: Int = 0, conditional: Bool = false) -> AdversarialAutoencoderConfig {
    var config = AdversarialAutoencoderConfig(widths: [784, 48, 2])
    config.discriminator = [16]
    config.clusters = clusters
    if conditional {
        config.prior = .mixture(components: 10)
        config.conditional = true
    }
    return config
}

/// `steps` minibatches of 48 from a fixed order.
func trainAAE(_ config: AdversarialAutoencoderConfig, shards: Int, steps: Int, source: any BatchSource,
              optimizers: [OptimizerConfig] = [OptimizerConfig()]) -> Trainer {
    let trainer = Trainer(model: AdversarialAutoencoder(config), optimizers: optimizers, shards: shards,
                          maxBatch: 48, seed: 7)
    let order = EpochOrder(count: 1000, seed: 7).permutation(epoch: 0)
    for k in 0..<steps {
        order[(k * 48)..<((k + 1) * 48)].withUnsafeBufferPointer { _ = trainer.trainStep(source, indices: $0, epoch: 0) }
    }
    return trainer
}

func aaeRunConfig(epochs: Int) -> TrainingConfig {
    var config = TrainingConfig(family: .aae, model: .aae(smallAAE(conditional: true)), data: bundledMNISTSample)
    config.epochs = epochs
    config.batchSize = 250
    config.shards = 2
    config.seed = 4
    config.gridCount = 2
    config.phaseOptimizers = ["discriminator": OptimizerConfig(learningRate: 2e-4)]
    return config
}

@Suite(.serialized) struct AdversarialTrainingTests {
    /// With every other phase at learning rate 0, a phase changes exactly its own group.
    @Test(arguments: [0, 1, 2])
    func aPhaseMovesOnlyItsOwnParameters(phase: Int) throws {
        let source: any BatchSource = try sampleAssembler(noise: "none")
        let config = smallAAE(clusters: 3)
        let frozen = OptimizerConfig(learningRate: 0)
        var optimizers = [frozen, frozen, frozen]
        optimizers[phase] = OptimizerConfig(learningRate: 1e-2)
        let start = Trainer(model: AdversarialAutoencoder(config), optimizers: [frozen], shards: 1, maxBatch: 48, seed: 7)
        let trained = trainAAE(config, shards: 2, steps: 2, source: source, optimizers: optimizers)
        let group = trained.model.phases[phase].group
        let before = start.params.array, after = trained.params.array
        for slot in trained.model.layout.slots {
            let moved = before[slot.range] != after[slot.range]
            #expect(moved == group.contains(slot.offset), "phase \(phase): \(slot.name) moved: \(moved)")
        }
    }

    /// `--decoder-only-from`: from that epoch the step runs the decoder's phase alone, on that
    /// step's batch (it assembles it, as the first phase run), and moves only the decoder.
    @Test func decoderTrainsAloneFromItsEpoch() throws {
        let source: any BatchSource = try sampleAssembler(noise: "none")
        var config = DisentanglingAutoencoderConfig(widths: [784, 32, 4])
        config.classes = 10
        config.kl = 0
        config.decoderOnlyFrom = 2
        let model = DisentanglingAutoencoder(config)
        #expect(model.phases.map(\.name) == ["adversary", "autoencoder", "decoder"])
        #expect((0..<3).map { model.runsPhase($0, epoch: 0) } == [true, true, false])
        #expect((0..<3).map { model.runsPhase($0, epoch: 1) } == [false, false, true])
        let trainer = Trainer(model: model, optimizers: [OptimizerConfig(learningRate: 1e-2)], shards: 2, maxBatch: 32, seed: 3)
        let first = Array(0..<32), second = Array(100..<132)
        first.withUnsafeBufferPointer { _ = trainer.trainStep(source, indices: $0, epoch: 0) }
        let before = trainer.params.array
        // The decoder phase's reconstruction is the loss of the new batch with these parameters.
        let expected = second.withUnsafeBufferPointer { trainer.evaluate(source, indices: $0, epoch: 1) }
        // The workspaces hold the first batch again, as after its step.
        _ = first.withUnsafeBufferPointer { trainer.evaluate(source, indices: $0, epoch: 0) }
        let sums = second.withUnsafeBufferPointer { trainer.trainStep(source, indices: $0, epoch: 1) }
        #expect(abs(sums.parts[0] - expected.parts[0]) <= 1e-6 * abs(expected.parts[0]), "\(sums.parts[0]) vs \(expected.parts[0])")
        let after = trainer.params.array, decoder = model.phases[2].group
        for slot in model.layout.slots {
            let moved = before[slot.range] != after[slot.range]
            #expect(moved == decoder.contains(slot.offset), "\(slot.name) moved: \(moved)")
        }
    }

    /// Each phase names where it writes outside its group (the engine zeroes only there): after a
    /// step every shard's gradient slab is zero again, for the AAE and the disentangling model.
    @Test func phasesDeclareWhereTheySpill() throws {
        let source: any BatchSource = try sampleAssembler(noise: "none")
        var disentangle = DisentanglingAutoencoderConfig(widths: [784, 32, 4])
        disentangle.classes = 10
        disentangle.adversaryWidths = [8]
        let models: [any AutoencoderModel] = [AdversarialAutoencoder(smallAAE(clusters: 3)),
                                              AdversarialAutoencoder(smallAAE(conditional: true)),
                                              DisentanglingAutoencoder(disentangle)]
        for model in models {
            let trainer = Trainer(model: model, optimizers: [OptimizerConfig()], shards: 2, maxBatch: 48, seed: 3)
            let ids = Array(0..<48)
            ids.withUnsafeBufferPointer { _ = trainer.trainStep(source, indices: $0, epoch: 0) }
            for ws in trainer.shardWorkspaces {
                #expect(ws.gradients.array.allSatisfy { $0 == 0 }, "\(type(of: model)): gradients left in a slab")
            }
        }
    }

    /// The generator phase keeps its own moments for the encoder: block 1, not block 0.
    @Test func phasesSharingParametersKeepTheirOwnMoments() throws {
        let source: any BatchSource = try sampleAssembler(noise: "none")
        let trainer = trainAAE(smallAAE(), shards: 2, steps: 2, source: source)
        let count = trainer.model.layout.count
        #expect(trainer.optimizerState.momentOffsets == [0, 0, count])
        let encoder = trainer.model.phases[2].group
        let m = trainer.optimizerState.m.array
        #expect(encoder.contains { m[$0] != m[count + $0] })
        #expect(encoder.contains { m[count + $0] != 0 })
        // Outside the generator's group its block stays unused.
        #expect((encoder.upperBound..<count).allSatisfy { m[count + $0] == 0 })
    }

    @Test func shardCountsAgreeWithinRounding() throws {
        let source: any BatchSource = try sampleAssembler(noise: "none")
        let sgd = OptimizerConfig(kind: .sgd, learningRate: 0.1)
        let one = trainAAE(smallAAE(clusters: 3), shards: 1, steps: 3, source: source, optimizers: [sgd])
        let three = trainAAE(smallAAE(clusters: 3), shards: 3, steps: 3, source: source, optimizers: [sgd])
        expectClose(three.params.array, one.params.array, relative: 1e-4, absolute: 1e-6, "params")
        let again = trainAAE(smallAAE(clusters: 3), shards: 3, steps: 3, source: source, optimizers: [sgd])
        #expect(again.params.array == three.params.array)
    }

    /// Shifts and the second view's noise are keyed by the row, so the consistency term trains
    /// alike at any shard count; balance is taken over each shard's rows, so only a rerun at the
    /// same shard count repeats it exactly.
    @Test func clusteringTermsTrainAlikeAcrossShards() throws {
        let source: any BatchSource = try sampleAssembler(noise: "gaussian:0.3")
        let sgd = OptimizerConfig(kind: .sgd, learningRate: 0.1)
        var config = smallAAE(clusters: 3)
        (config.shift, config.consistency) = (2, 0.5)
        (config.imageChannels, config.imageHeight, config.imageWidth) = (1, 28, 28)
        let one = trainAAE(config, shards: 1, steps: 3, source: source, optimizers: [sgd])
        let three = trainAAE(config, shards: 3, steps: 3, source: source, optimizers: [sgd])
        expectClose(three.params.array, one.params.array, relative: 1e-4, absolute: 1e-6, "params")
        let plain = trainAAE(smallAAE(clusters: 3), shards: 1, steps: 3, source: source, optimizers: [sgd])
        #expect(plain.params.array != one.params.array)
        config.balance = 0.1
        let balanced = trainAAE(config, shards: 3, steps: 3, source: source, optimizers: [sgd])
        let again = trainAAE(config, shards: 3, steps: 3, source: source, optimizers: [sgd])
        #expect(again.params.array == balanced.params.array)
        #expect(balanced.params.array != three.params.array)
    }

    /// The conditioned prior reads the batch's labels: with labels the discriminator sees other
    /// inputs than without, so training differs.
    @Test func conditionedPriorReadsLabels() throws {
        let labelled: any BatchSource = try sampleAssembler(noise: "none")
        let train = try MNIST.loadFolder(bundledMNISTSample).0!
        let unlabelled: any BatchSource = try BatchAssembler(
            dataset: Dataset(source: train.source, shape: train.fixedShape!, storage: train.storage, labels: nil),
            corruption: Corruption(parsing: "none"), seed: 4)
        let a = trainAAE(smallAAE(conditional: true), shards: 2, steps: 2, source: labelled)
        let b = trainAAE(smallAAE(conditional: true), shards: 2, steps: 2, source: unlabelled)
        let labels = a.shardWorkspaces[0].labels
        #expect((0..<24).allSatisfy { labels[$0] >= 0 && labels[$0] < 10 })
        #expect(a.params.array != b.params.array)
    }

    @Test func resumedRunIsBitIdentical() throws {
        let straight = try TrainingRun(config: aaeRunConfig(epochs: 2), runDirectory: try makeScratchFolder("aaestraight"))
        _ = try straight.run(report: { _ in }, log: { _ in })
        let folder = try makeScratchFolder("aaeresumed")
        _ = try TrainingRun(config: aaeRunConfig(epochs: 1), runDirectory: folder).run(report: { _ in }, log: { _ in })
        let resumed = try TrainingRun(config: aaeRunConfig(epochs: 2), runDirectory: folder, resume: folder, epochs: 2)
        _ = try resumed.run(report: { _ in }, log: { _ in })
        #expect(resumed.trainer.params.array == straight.trainer.params.array)
        #expect(resumed.trainer.optimizerState.m.array == straight.trainer.optimizerState.m.array)
        #expect(resumed.trainer.optimizerState.v.array == straight.trainer.optimizerState.v.array)
        let contents = try Checkpoint.load(folder)
        #expect(contents.tensors["optimizer.generator.encoder.0.weight.m"] != nil)
        #expect(contents.tensors["optimizer.generator.decoder.0.weight.m"] == nil)
    }
}
