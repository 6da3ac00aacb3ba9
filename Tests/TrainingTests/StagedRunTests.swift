// Staged runs (greedy pretraining, then fine-tuning): a run stopped inside a stage or inside the
// fine-tuning resumes bit-identically, shard counts agree within rounding, each stage above
// the first reads the codes of the one below, and the plans of the three stacks.

import Datasets
import Engine
import Foundation
import Kernels
import Models
import Testing
import TestSupport
import Training

func stagedPlan(_ kind: PretrainPlan.Kind, shards: Int = 2) throws -> PretrainPlan {
    var model = DenseAutoencoderConfig(widths: [784, 16, 8, 4])
    model.hiddenActivation = .sigmoid
    model.loss = .bce
    var config = TrainingConfig(family: .deep, model: .dense(model), data: bundledMNISTSample)
    config.epochs = 2
    config.batchSize = 250
    config.shards = shards
    config.seed = 7
    config.gridCount = 2
    return try PretrainPlan(kind: kind, finetune: config, epochs: 2)
}

/// Runs `plan` in a new folder, stopping after the `stopAt`-th epoch end that is not a run's
/// last (stage 1 epoch 1 is the first); returns the folder and whether it stopped.
func runStaged(_ plan: PretrainPlan, folder: String, stopAt: Int? = nil) throws -> (StagedRun, Bool) {
    let staged = StagedRun(plan: plan, runDirectory: folder)
    var hooks = RunHooks()
    var ends = 0
    hooks.stopsAfterEpoch = {
        ends += 1
        return ends == stopAt
    }
    let result = try staged.run(report: { _ in }, log: { _ in }, hooks: hooks)
    return (staged, result.stopped)
}

@Suite(.serialized) struct StagedRunTests {
    @Test func stoppedInsideAStageOrTheFineTuningResumesBitIdentically() throws {
        let plan = try stagedPlan(.rbm)
        let (straight, _) = try runStaged(plan, folder: try makeScratchFolder("staged-straight"))
        let expected = try #require(straight.finetuneRun).trainer.params.array
        // Epoch ends that are not a run's last: stage 1, 2 and 3 epoch 1 (1-3), fine-tuning epoch 1 (4).
        for stopAt in [2, 4] {
            let folder = try makeScratchFolder("staged-stopped")
            let (_, stopped) = try runStaged(plan, folder: folder, stopAt: stopAt)
            #expect(stopped)
            #expect(FileManager.default.fileExists(atPath: folder + "/checkpoints/last.safetensors") == (stopAt == 4))
            let resumed = try StagedRun.resuming(folder)
            let result = try resumed.run(report: { _ in }, log: { _ in })
            #expect(!result.stopped)
            #expect(try #require(resumed.finetuneRun).trainer.params.array == expected, "stopped at epoch end \(stopAt)")
        }
    }

    @Test func shardCountsAgreeWithinRounding() throws {
        let (one, _) = try runStaged(try stagedPlan(.rbm, shards: 1), folder: try makeScratchFolder("staged-one"))
        let (two, _) = try runStaged(try stagedPlan(.rbm, shards: 2), folder: try makeScratchFolder("staged-two"))
        let a = try #require(one.finetuneRun).trainer.params.array, b = try #require(two.finetuneRun).trainer.params.array
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        // Measured 1.2e-6 here (the 16-bit stage features round the same way at both counts).
        #expect(worst < 1e-4, "largest parameter difference \(worst)")
    }

    /// Stage 2's data are stage 1's hidden probabilities of every sample, to 16-bit precision.
    @Test func stageAboveReadsTheCodesOfTheStageBelow() throws {
        let folder = try makeScratchFolder("staged-codes")
        let (staged, _) = try runStaged(try stagedPlan(.rbm), folder: folder)
        let stage1 = folder + "/stages/rbm-1"
        let features = try StageFeatures.load(StageFeatures.prefix + stage1, options: PNGFolderOptions(), shards: 1)
        let below = try TrainingRun.fromCheckpoint(stage1 + "/checkpoints/last.safetensors")
        let raw = try MNIST.loadFolder(bundledMNISTSample).0!
        #expect(features.train.count == raw.count && features.train.fixedShape?.count == 16)
        #expect(features.train.labels == raw.labels)
        let ids = [0, 17, 4999]
        let codes = below.trainer.encode(try BatchAssembler(dataset: raw, seed: 0), indices: ids, epoch: 0)
        var row = [Float](repeating: 0, count: 16)
        for (n, id) in ids.enumerated() {
            row.withUnsafeMutableBufferPointer { features.train.copySample(id, into: $0.baseAddress!) }
            for j in 0..<16 { #expect(abs(row[j] - codes[n * 16 + j]) <= 0.5 / 65535 + 1e-6, "sample \(id) unit \(j)") }
        }
        // The unrolled stack's figure (logged before fine-tuning) is the stack's own deterministic
        // up-down pass, computed here in Double from the stage checkpoints.
        let stages = try (1...3).map { try Checkpoint.load(folder + "/stages/rbm-\($0)/checkpoints/last.safetensors").tensors }
        let test = try #require(try MNIST.loadFolder(bundledMNISTSample).1)
        var total = 0.0
        var image = [Float](repeating: 0, count: 784)
        for i in 0..<test.count {
            image.withUnsafeMutableBufferPointer { test.copySample(i, into: $0.baseAddress!) }
            var h = image.map(Double.init)
            for (k, t) in stages.enumerated() {
                let w = t["rbm.weight"]!.values, c = t["rbm.hidden_bias"]!.values, v = h.count
                h = (0..<c.count).map { j in
                    var a = Double(c[j])
                    for i in 0..<v { a += Double(w[j * v + i]) * h[i] }
                    return k == 2 ? a : 1 / (1 + exp(-a))
                }
            }
            for t in stages.reversed() {
                let w = t["rbm.weight"]!.values, b = t["rbm.visible_bias"]!.values, hidden = h.count
                h = (0..<b.count).map { i in
                    var a = Double(b[i])
                    for j in 0..<hidden { a += Double(w[j * b.count + i]) * h[j] }
                    return 1 / (1 + exp(-a))
                }
            }
            for (p, x) in zip(h, image) { total += (p - Double(x)) * (p - Double(x)) }
        }
        let unrolled = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder
            + "/stages/unrolled.json"))) as? [String: Double]
        let logged = try #require(unrolled?["test_squared_error_per_image"])
        #expect(abs(logged - total / Double(test.count)) < 1e-3 * logged, "logged \(logged), up-down pass \(total / Double(test.count))")
        // The fine-tuned model started from the stack: its filters grid per stage is written.
        for k in 1...3 { #expect(FileManager.default.fileExists(atPath: folder + "/grids/filters-stage-\(k).png")) }
        #expect(staged.plan.stageNames == ["rbm-1", "rbm-2", "rbm-3"])
    }

    @Test func stacksOfDenoisingAndContractiveAutoencoders() throws {
        let dae = try stagedPlan(.dae), cae = try stagedPlan(.cae)
        for plan in [dae, cae] {
            #expect(plan.stages.count == 3)
            for (k, stage) in plan.stages.enumerated() {
                guard let layer = stage.model.as(DenseAutoencoderConfig.self) else { Issue.record("stage \(k) is not dense"); continue }
                #expect(layer.widths == [[784, 16], [16, 8], [8, 4]][k])
                #expect(layer.codeActivation == (k == 2 ? .identity : .sigmoid))
                #expect(stage.noise == (plan.kind == .dae ? "masking:0.25" : "none"))
                // The penalty is for logistic units: the linear top trains without it.
                #expect(layer.contractive == (plan.kind == .cae && k < 2 ? 1e-3 : 0))
            }
        }
        let folder = try makeScratchFolder("staged-dae")
        let (staged, stopped) = try runStaged(dae, folder: folder)
        #expect(!stopped)
        let run = try #require(staged.finetuneRun)
        // Fine-tuning improves on the unrolled stack it starts from.
        let unrolled = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder
            + "/stages/unrolled.json"))) as? [String: Double]
        let before = try #require(unrolled?["test_squared_error_per_image"])
        let after = run.evaluateTestSplit().squaredErrorPerImage
        #expect(after < before, "squared error per image \(before) -> \(after)")
    }

    @Test func plansRefuseModelsAStackCannotStart() throws {
        var config = TrainingConfig(family: .deep, data: bundledMNISTSample)
        #expect(throws: TrainingError.self) { try PretrainPlan(kind: .rbm, finetune: config, epochs: 2) }  // ReLU
        var model = DenseAutoencoderConfig(widths: [784, 16])
        model.hiddenActivation = .sigmoid
        config.model = .dense(model)
        #expect(throws: TrainingError.self) { try PretrainPlan(kind: .rbm, finetune: config, epochs: 2) }  // no hidden layer
        model.widths = [784, 16, 4]
        model.tiedWeights = true
        config.model = .dense(model)
        #expect(throws: TrainingError.self) { try PretrainPlan(kind: .dae, finetune: config, epochs: 2) }
    }
}
