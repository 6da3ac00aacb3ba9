// Sequence models on the engine: batches of the shipped UEA sample keep padding and the length
// column clean under noise; the same config twice is bit-identical; shard counts agree within
// rounding for both cells.

import Datasets
import Engine
import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport
import Training

func vowelSource(noise: String = "gaussian:0.2") throws -> SequenceBatchSource {
    let splits = try SequenceSource.loadSplits(repositoryRoot + "/data/japanese-vowels")
    let train = splits.train
    return try SequenceBatchSource(sequences: train, standardization: Standardization(fitting: train),
                                   corruption: Corruption(parsing: noise), seed: 5, steps: 29)
}

func trainSequenceModel(_ cell: RecurrentCell, shards: Int, steps: Int, source: SequenceBatchSource,
                        optimizer: OptimizerConfig = OptimizerConfig()) -> Trainer {
    var config = SequenceAutoencoderConfig(cell: cell, steps: 29, features: 12)
    config.hidden = 12
    config.variableLength = true
    config.output = .linear
    config.decoderInput = .previous
    config.teacherForcing = 0.5
    let trainer = Trainer(model: SequenceAutoencoder(config), optimizers: [optimizer], shards: shards,
                          maxBatch: 30, seed: 11)
    let order = EpochOrder(count: source.sequences.count, seed: 11).permutation(epoch: 0)
    for k in 0..<steps {
        order[(k * 30)..<((k + 1) * 30)].withUnsafeBufferPointer {
            _ = trainer.trainStep(source, indices: $0, epoch: 0)
        }
    }
    return trainer
}

@Suite struct SequenceTrainingTests {
    @Test func noiseLeavesPaddingAndLengthAlone() throws {
        let source = try vowelSource()
        let width = source.rowWidth
        #expect(width == 29 * 12 + 1)
        let ids = [0, 1, 2]
        var clean = [Float](repeating: 0, count: 3 * width), noisy = clean
        ids.withUnsafeBufferPointer { source.fill(indices: $0, epoch: 0, clean: &clean, corrupted: &noisy) }
        for (r, id) in ids.enumerated() {
            let n = source.sequences.length(of: id)
            #expect(clean[r * width + width - 1] == Float(n) && noisy[r * width + width - 1] == Float(n))
            for i in (n * 12)..<(29 * 12) { #expect(clean[r * width + i] == 0 && noisy[r * width + i] == 0) }
            #expect(clean[(r * width)..<(r * width + n * 12)] != noisy[(r * width)..<(r * width + n * 12)])
        }
    }

    @Test(arguments: [RecurrentCell.lstm, .gru])
    func sameConfigTwiceIsBitIdentical(cell: RecurrentCell) throws {
        let source = try vowelSource()
        let a = trainSequenceModel(cell, shards: 3, steps: 3, source: source)
        let b = trainSequenceModel(cell, shards: 3, steps: 3, source: source)
        #expect(a.params.array == b.params.array)
    }

    @Test(arguments: [RecurrentCell.lstm, .gru])
    func shardCountsAgreeWithinRounding(cell: RecurrentCell) throws {
        let source = try vowelSource()
        let sgd = OptimizerConfig(kind: .sgd, learningRate: 0.1)
        let one = trainSequenceModel(cell, shards: 1, steps: 3, source: source, optimizer: sgd)
        let three = trainSequenceModel(cell, shards: 3, steps: 3, source: source, optimizer: sgd)
        expectClose(three.params.array, one.params.array, relative: 1e-5, absolute: 1e-6, "params")
        let ids = Array(200..<230)
        let l1 = ids.withUnsafeBufferPointer { one.evaluate(source, indices: $0, epoch: 0) }
        let l3 = ids.withUnsafeBufferPointer { three.evaluate(source, indices: $0, epoch: 0) }
        expectClose(Float(l3.objective), Float(l1.objective), relative: 1e-5, "loss")
    }
}
