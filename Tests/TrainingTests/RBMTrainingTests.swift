// The RBM on the engine: the same samples and statistics at 1 and 2 shards (keyed Gibbs draws),
// the reconstruction error falling on the bundled digits, and the momentum of the first epochs.

import Datasets
import Engine
import Foundation
import Kernels
import Models
import Testing
import TestSupport
import Training

func trainRBM(shards: Int, steps: Int, epoch: Int = 0, optimizer: OptimizerConfig = ModelFamily.rbm.defaultOptimizer,
              source: any BatchSource, hidden: Int = 32) -> Trainer {
    let trainer = Trainer(model: RestrictedBoltzmannMachine(RBMConfig(visible: 784, hidden: hidden)), optimizers: [optimizer],
                          shards: shards, maxBatch: 100, seed: 3)
    let order = EpochOrder(count: 5000, seed: 3).permutation(epoch: epoch)
    for k in 0..<steps {
        order[(k * 100)..<((k + 1) * 100)].withUnsafeBufferPointer { _ = trainer.trainStep(source, indices: $0, epoch: epoch) }
    }
    return trainer
}

@Suite(.serialized) struct RBMTrainingTests {
    @Test func shardCountsAgreeWithinRounding() throws {
        let source: any BatchSource = try sampleAssembler(noise: "none")
        let one = trainRBM(shards: 1, steps: 5, source: source).params.array
        let two = trainRBM(shards: 2, steps: 5, source: source).params.array
        let worst = zip(one, two).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-5, "largest difference \(worst)")
    }

    @Test func reconstructionErrorFalls() throws {
        let source: any BatchSource = try sampleAssembler(noise: "none")
        let probe = Array(4000..<4100)
        func error(_ trainer: Trainer) -> Double {
            probe.withUnsafeBufferPointer { trainer.evaluate(source, indices: $0, epoch: 0).squaredError / 100 }
        }
        let before = error(trainRBM(shards: 2, steps: 0, source: source))
        let after = error(trainRBM(shards: 2, steps: 40, source: source))
        #expect(after < 0.5 * before, "squared error per image \(before) -> \(after)")
    }

    /// Momentum 0.9 with 0.5 for the first epoch trains epoch 0 as momentum 0.5 does, and later
    /// epochs differently.
    @Test func initialMomentumHoldsForItsEpochs() throws {
        let source: any BatchSource = try sampleAssembler(noise: "none")
        var half = OptimizerConfig(kind: .sgd, learningRate: 0.1)
        half.momentum = 0.5
        var switched = half
        switched.momentum = 0.9
        switched.initialMomentum = 0.5
        switched.initialMomentumEpochs = 1
        #expect(trainRBM(shards: 1, steps: 3, optimizer: half, source: source).params.array
            == trainRBM(shards: 1, steps: 3, optimizer: switched, source: source).params.array)
        #expect(trainRBM(shards: 1, steps: 3, epoch: 1, optimizer: half, source: source).params.array
            != trainRBM(shards: 1, steps: 3, epoch: 1, optimizer: switched, source: source).params.array)
    }
}
