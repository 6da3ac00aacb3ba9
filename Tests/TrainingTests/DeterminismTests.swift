// Determinism of the engine: the same config twice is bit-identical; different shard counts
// agree within float rounding (also for the cross-shard KL statistic); a two-group, two-phase
// toy updates each group with its own optimizer; a step allocates nothing after warm-up.

import Datasets
import Engine
import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport
import Training

#if DEBUG
let optimizedBuild = false
#else
let optimizedBuild = true
#endif

func sampleAssembler(noise: String = "masking:0.2") throws -> BatchAssembler {
    let (train, _) = try MNIST.loadFolder(bundledMNISTSample)
    return try BatchAssembler(dataset: train!, corruption: Corruption(parsing: noise), seed: 4)
}

func smallConfig() -> DenseAutoencoderConfig {
    var config = DenseAutoencoderConfig(widths: [784, 64, 16])
    config.dropout = 0.1
    return config
}

/// Trains `steps` minibatches of 48 from a fixed order; returns the trainer.
func train(_ config: DenseAutoencoderConfig, shards: Int, steps: Int, assembler: BatchAssembler,
           optimizer: OptimizerConfig = OptimizerConfig(), threadsPerShard: Int = 1) -> Trainer {
    let trainer = Trainer(model: DenseAutoencoder(config), optimizers: [optimizer], shards: shards,
                          maxBatch: 48, seed: 11, threadsPerShard: threadsPerShard)
    let order = EpochOrder(count: assembler.dataset.count, seed: 11).permutation(epoch: 0)
    for k in 0..<steps {
        order[(k * 48)..<((k + 1) * 48)].withUnsafeBufferPointer {
            _ = trainer.trainStep(assembler, indices: $0, epoch: 0)
        }
    }
    return trainer
}

@Suite struct DeterminismTests {
    /// Threads per shard split each GEMM in blocks: repeatable bit for bit, and within float
    /// rounding of one thread per shard (OpenBLAS blocks each call by its size).
    @Test func threadsPerShardAreRepeatableAndWithinRounding() throws {
        let assembler = try sampleAssembler()
        var config = DenseAutoencoderConfig(widths: [784, 256, 64])
        config.dropout = 0.1
        var sgd = OptimizerConfig()
        sgd.kind = .sgd
        sgd.learningRate = 0.05
        let one = train(config, shards: 2, steps: 3, assembler: assembler, optimizer: sgd)
        let split = train(config, shards: 2, steps: 3, assembler: assembler, optimizer: sgd, threadsPerShard: 3)
        let again = train(config, shards: 2, steps: 3, assembler: assembler, optimizer: sgd, threadsPerShard: 3)
        #expect(split.params.array == again.params.array)
        #expect(split.threadsPerShard == 3)
        expectClose(split.params.array, one.params.array, relative: 1e-5, absolute: 1e-6, "params")
    }

    @Test func sameConfigTwiceIsBitIdentical() throws {
        let assembler = try sampleAssembler()
        let a = train(smallConfig(), shards: 3, steps: 4, assembler: assembler)
        let b = train(smallConfig(), shards: 3, steps: 4, assembler: assembler)
        #expect(a.params.array == b.params.array)
        #expect(a.optimizerState.v.array == b.optimizerState.v.array)
    }

    @Test(arguments: [false, true])
    func shardCountsAgreeWithinRounding(kl: Bool) throws {
        let assembler = try sampleAssembler()
        var config = smallConfig()
        if kl {
            config.codeActivation = .sigmoid
            config.sparsity = .kl(target: 0.05, weight: 0.01, momentum: 0)
        }
        // SGD keeps parameter differences proportional to gradient differences.
        let sgd = OptimizerConfig(kind: .sgd, learningRate: 0.5)
        let one = train(config, shards: 1, steps: 3, assembler: assembler, optimizer: sgd)
        let three = train(config, shards: 3, steps: 3, assembler: assembler, optimizer: sgd)
        expectClose(three.params.array, one.params.array, relative: 1e-5, absolute: 1e-6, "params")
        // Losses of the next batch, evaluated by both.
        let ids = Array(200..<248)
        let l1 = ids.withUnsafeBufferPointer { one.evaluate(assembler, indices: $0, epoch: 0) }
        let l3 = ids.withUnsafeBufferPointer { three.evaluate(assembler, indices: $0, epoch: 0) }
        expectClose(Float(l3.objective), Float(l1.objective), relative: 1e-5, "loss")
        expectClose(Float(l3.penalty), Float(l1.penalty), relative: 1e-5, absolute: 1e-7, "penalty")
    }

}

/// Two parameter groups, two phases: phase 0 fits `a` with SGD, phase 1 fits `b` with Adam,
/// each on its own squared error; each group must move only in its own phase. With `leaks`,
/// each phase also adds a large gradient into the other group's slot, as a generator phase that
/// backpropagates through a discriminator does; the engine must discard it.
struct TwoGroupToy: AutoencoderModel {
    let layout: ParameterLayout
    let a: ParameterSlot
    let b: ParameterSlot
    let inputRegion: Region
    let targetRegion: Region
    let workspaceColumns: Int
    let phases: [Phase]
    var leaks = false

    init(leaks: Bool = false) {
        self.leaks = leaks
        var layout = ParameterLayout()
        a = layout.reserve("first.weight", shape: [3])
        b = layout.reserve("second.weight", shape: [3])
        self.layout = layout
        var allocator = RegionAllocator()
        inputRegion = allocator.take(3)
        targetRegion = allocator.take(3)
        workspaceColumns = allocator.columns
        phases = [Phase(name: "first", group: a.range), Phase(name: "second", group: b.range)]
    }

    var inputWidth: Int { 3 }
    var targetWidth: Int { 3 }
    func initialize(params: Arena, seed: UInt64) {}
    func input(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(inputRegion, rows: rows) }
    func target(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(targetRegion, rows: rows) }
    func forward(_ context: StepContext, _ ws: Workspace, rows: Int, params: Arena,
                 statistic: UnsafeMutablePointer<Float>?) {}

    /// Phase p: loss = mean over rows and values of (w_p * x - t)^2, w_p = a or b.
    func backward(_ context: StepContext, _ ws: Workspace, rows: Int, globalRows: Int, params: Arena, grads: Arena?,
                  statistic: UnsafePointer<Float>?) -> LossSums {
        let slot = context.phase == 0 ? a : b
        if leaks, let grads {
            let other = context.phase == 0 ? b : a
            for i in 0..<3 { grads[other][i] += 100 }
        }
        let w = params[slot]
        let x = input(ws, rows: rows), t = target(ws, rows: rows)
        var sums = LossSums()
        for r in 0..<rows {
            for i in 0..<3 {
                let e = w[i] * x.row(r)[i] - t.row(r)[i] * 2
                sums.objective += Double(e * e)
                grads?[slot][i] += 2 * e * x.row(r)[i] / Float(globalRows * 3)
            }
        }
        return sums
    }

    func reconstruction(_ ws: Workspace, rows: Int) -> Matrix { input(ws, rows: rows) }
}

@Suite struct MultiPhaseTests {
    @Test func eachPhaseUpdatesOnlyItsGroupWithItsOptimizer() {
        let model = TwoGroupToy()
        let sgd = OptimizerConfig(kind: .sgd, learningRate: 0.1)
        let adam = OptimizerConfig(kind: .adam, learningRate: 0.05)
        let rows = FloatRows(rowWidth: 3, values: [1, 2, 3, 0.5, -1, 2])
        for shards in [1, 2] {
            let trainer = Trainer(model: model, optimizers: [sgd, adam], shards: shards, maxBatch: 2, seed: 0)
            for i in 0..<6 { trainer.params[i] = 1 }
            [0, 1].withUnsafeBufferPointer { _ = trainer.trainStep(rows, indices: $0, epoch: 0) }
            // Expected by hand: t = 2x, w = 1: e = -x, dL/dw_i = mean_r 2 e x / 3 = -2 mean(x^2) / 3.
            let xs: [[Float]] = [[1, 2, 3], [0.5, -1, 2]]
            for i in 0..<3 {
                let g = -2 * (xs[0][i] * xs[0][i] + xs[1][i] * xs[1][i]) / 2 / 3
                expectClose(trainer.params[i], 1 - 0.1 * g, relative: 1e-6, "sgd a[\(i)] shards \(shards)")
                // First Adam step moves each weight by lr * sign(g) (bias-corrected m / sqrt(v)).
                expectClose(trainer.params[3 + i], 1 + 0.05, relative: 1e-5, "adam b[\(i)] shards \(shards)")
            }
            #expect(trainer.optimizerState.updates == [1, 1])
        }
    }

    /// A phase that writes gradients into another group (backpropagating through its layers)
    /// changes nothing: the same updates as without, and every slab is zero after the step.
    @Test func aPhaseLeavesNoGradientInAnotherGroup() {
        let sgd = OptimizerConfig(kind: .sgd, learningRate: 0.1)
        let adam = OptimizerConfig(kind: .adam, learningRate: 0.05)
        let rows = FloatRows(rowWidth: 3, values: [1, 2, 3, 0.5, -1, 2])
        for shards in [1, 2] {
            var results: [[Float]] = []
            for model in [TwoGroupToy(), TwoGroupToy(leaks: true)] {
                let trainer = Trainer(model: model, optimizers: [sgd, adam], shards: shards, maxBatch: 2, seed: 0)
                for i in 0..<6 { trainer.params[i] = 1 }
                for _ in 0..<3 { [0, 1].withUnsafeBufferPointer { _ = trainer.trainStep(rows, indices: $0, epoch: 0) } }
                results.append((0..<6).map { trainer.params[$0] })
                for ws in trainer.shardWorkspaces {
                    #expect((0..<6).allSatisfy { ws.gradients[$0] == 0 }, "stale gradient left, shards \(shards)")
                }
            }
            #expect(results[0] == results[1], "leaked gradients changed the updates (shards \(shards))")
        }
    }
}
