// The step contract: models see the step context, read the batch's labels and report named loss
// parts that add up over shards; per-phase optimizer settings are checked against the phases.

import Datasets
import Engine
import Files
import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport
import Training

/// Reports, per row, its label as loss part 0, the step as part 1 and the epoch as part 2.
struct LabelReadingToy: AutoencoderModel, LossReportingModel {
    let layout: ParameterLayout
    let region: Region
    let workspaceColumns: Int
    let phases: [Phase]

    init() {
        var layout = ParameterLayout()
        let slot = layout.reserve("weight", shape: [1])
        self.layout = layout
        var allocator = RegionAllocator()
        region = allocator.take(784)
        workspaceColumns = allocator.columns
        phases = [Phase(name: "autoencoder", group: slot.range)]
    }

    var inputWidth: Int { 784 }
    var targetWidth: Int { 784 }
    var lossPartNames: [String] { ["label", "step", "epoch"] }
    func initialize(params: Arena, seed: UInt64) {}
    func input(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(region, rows: rows) }
    func target(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(region, rows: rows) }
    func forward(_ context: StepContext, _ ws: Workspace, rows: Int, params: Arena,
                 statistic: UnsafeMutablePointer<Float>?) {}
    func backward(_ context: StepContext, _ ws: Workspace, rows: Int, globalRows: Int, params: Arena, grads: Arena?,
                  statistic: UnsafePointer<Float>?) -> LossSums {
        var sums = LossSums()
        for r in 0..<rows {
            sums.parts[0] += Double(ws.labels[r])
            sums.parts[1] += Double(context.step)
            sums.parts[2] += Double(context.epoch)
        }
        return sums
    }
    func reconstruction(_ ws: Workspace, rows: Int) -> Matrix { input(ws, rows: rows) }
}

@Suite struct StepContractTests {
    @Test func labelsStepAndEpochReachEveryShard() throws {
        let (train, _) = try MNIST.loadFolder(bundledMNISTSample)
        let dataset = try #require(train)
        let source: any BatchSource = try BatchAssembler(dataset: dataset, seed: 0)
        #expect(source.classCount == 10)
        let ids = [3, 17, 256, 1024, 4999, 42, 7]
        let labelSum = ids.reduce(0.0) { $0 + Double(dataset.labels![$1]) }
        for shards in [1, 3] {
            let trainer = Trainer(model: LabelReadingToy(), optimizers: [OptimizerConfig(kind: .sgd)], shards: shards,
                                  maxBatch: 8, seed: 0)
            var sums = LossSums()
            ids.withUnsafeBufferPointer { p in
                for _ in 0..<2 { sums = trainer.trainStep(source, indices: p, epoch: 5) }
            }
            #expect(sums.parts[0] == labelSum, "labels summed over \(shards) shard(s)")
            #expect(sums.parts[1] == Double(ids.count), "the second step sees step 1")
            #expect(sums.parts[2] == Double(5 * ids.count))
        }
    }

    @Test func sourcesWithoutLabelsGiveMinusOne() throws {
        let rows = FloatRows(rowWidth: 2, values: [1, 2, 3, 4])
        var labels: [Int32] = [7, 7]
        [0, 1].withUnsafeBufferPointer { p in rows.fillLabels(indices: p, into: &labels) }
        #expect(labels == [-1, -1])
        #expect(rows.classCount == 0)
    }

    @Test func sequenceLabelsComeFromTheFile() throws {
        let splits = try SequenceSource.loadSplits(repositoryRoot + "/data/japanese-vowels", idColumn: nil,
                                                   labelColumn: nil)
        let source = try SequenceBatchSource(sequences: splits.train, standardization: nil, seed: 0,
                                             steps: splits.train.maxLength)
        #expect(source.classCount == 9)
        var labels = [Int32](repeating: 0, count: 3)
        [0, 100, 269].withUnsafeBufferPointer { p in source.fillLabels(indices: p, into: &labels) }
        #expect(labels == [0, 100, 269].map { splits.train.labels![$0] })
    }

    @Test func phaseOptimizersMustNameThePhases() throws {
        var config = resumeConfig(epochs: 1)
        var discriminator = OptimizerConfig(kind: .sgd, learningRate: 0.5)
        discriminator.momentum = 0.9
        config.phaseOptimizers = ["autoencoder": discriminator]
        let model = DenseAutoencoder(DenseAutoencoderConfig(widths: [4, 2]))
        #expect(try config.phaseOptimizerList(for: model) == [discriminator])
        config.phaseOptimizers = ["discriminator": discriminator]
        #expect(throws: TrainingError.self) { try config.phaseOptimizerList(for: model) }
        do {
            _ = try config.phaseOptimizerList(for: model)
        } catch let error as TrainingError {
            #expect(error.message.contains("no phase discriminator") && error.message.contains("autoencoder"))
        }
        // Round trip through the config file.
        config.phaseOptimizers = ["autoencoder": discriminator]
        #expect(try TrainingConfig.from(json: config.jsonString()) == config)
    }
}

@Suite(.serialized) struct RunHookTests {
    @Test func hooksSeeEpochsEvaluationsAndCheckpoints() throws {
        let folder = try makeScratchFolder("hooks")
        var epochs: [Int] = [], evaluations = 0, checkpoints: [String] = []
        var hooks = RunHooks()
        hooks.epochEnded = { epochs.append($0.epoch) }
        hooks.evaluated = { _ in evaluations += 1 }
        hooks.checkpointed = { checkpoints.append(($0 as NSString).lastPathComponent) }
        _ = try TrainingRun(config: resumeConfig(epochs: 2), runDirectory: folder + "/writer")
            .run(report: { _ in }, log: { _ in }, hooks: hooks)
        #expect(epochs == [1, 2] && evaluations == 2)
        #expect(checkpoints.filter { $0 == "last.safetensors" }.count == 2 && checkpoints.contains("best.safetensors"))
        // A process that is not the writer trains the same and leaves no files.
        var silent = RunHooks()
        silent.writesFiles = false
        let quiet = try TrainingRun(config: resumeConfig(epochs: 2), runDirectory: folder + "/reader")
        let metrics = try quiet.run(report: { _ in }, log: { _ in }, hooks: silent)
        #expect(!FileManager.default.fileExists(atPath: folder + "/reader"))
        #expect(metrics["epochs_done"] == 2)
        let written = try Checkpoint.load(folder + "/writer")
        #expect(written.tensors["encoder.0.weight"]?.values
            == Array(UnsafeBufferPointer(start: quiet.trainer.params.pointer + quiet.model.layout.slot(named: "encoder.0.weight")!.offset,
                                         count: 784 * 32)))
    }
}

/// Records what a run reports, in order.
final class EventRecorder: RunReporter {
    var kinds: [String] = []
    var epochEnds: [EpochEnd] = []
    var windows: [StepWindow] = []

    func handle(_ event: RunEvent, of run: TrainingRun) throws {
        switch event {
        case .began(let fresh): kinds.append(fresh ? "began" : "resumed")
        case .fileLeftOut: kinds.append("left out")
        case .steps(let window): kinds.append("steps"); windows.append(window)
        case .evaluated: kinds.append("evaluated")
        case .epochEnded(let end): kinds.append("epoch"); epochEnds.append(end)
        case .stopped: kinds.append("stopped")
        }
    }
}

@Suite(.serialized) struct RunEventTests {
    /// The folder's log is the events written down: one line per step window and epoch, the
    /// epoch event's metrics are metrics.json's; a process that writes nothing gets the same
    /// events without figures.
    @Test func theLogIsTheEventsAndANonWriterGetsThemWithoutFigures() throws {
        let folder = try makeScratchFolder("events")
        var config = resumeConfig(epochs: 2)
        config.evalEvery = 3
        let recorder = EventRecorder()
        _ = try TrainingRun(config: config, runDirectory: folder + "/writer")
            .run(report: { _ in }, log: { _ in }, reporters: [recorder])
        let lines = try String(contentsOfFile: folder + "/writer/log.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(recorder.kinds.first == "began" && recorder.kinds.last == "epoch")
        #expect(lines.filter { $0["type"] as? String == "step" }.count == recorder.windows.count)
        #expect(lines.filter { $0["type"] as? String == "eval" }.count == recorder.kinds.filter { $0 == "evaluated" }.count)
        // Every third step but those that end an epoch (the epoch's own evaluation).
        let steps = recorder.epochEnds.last?.step ?? 0, perEpoch = steps / 2
        #expect(recorder.kinds.filter { $0 == "evaluated" }.count
            == (1...steps).filter { $0 % 3 == 0 && $0 % perEpoch != 0 }.count)
        // JSON keeps 15-17 significant digits.
        func close(_ a: Double?, _ b: Double?) -> Bool { abs((a ?? .nan) - (b ?? .infinity)) <= 1e-12 * abs(b ?? 1) }
        let epochs = lines.filter { $0["type"] as? String == "epoch" }
        #expect(epochs.count == 2 && zip(epochs, recorder.epochEnds).allSatisfy { close($0["test_loss"] as? Double, $1.test.objective) })
        #expect(zip(lines.filter { $0["type"] as? String == "step" }, recorder.windows)
            .allSatisfy { close($0["loss"] as? Double, $1.report.loss) && $0["step"] as? Int == $1.step })
        #expect(recorder.epochEnds.allSatisfy { $0.grid?.ids.count == 4 && $0.codes?.width == 8 })
        let written = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/writer/metrics.json")))
            as! [String: Double]
        #expect(close(written["test_loss"], recorder.epochEnds.last?.metrics["test_loss"])
            && close(written["best_test_loss"], recorder.epochEnds.last?.metrics["best_test_loss"]))

        var silent = RunHooks()
        silent.writesFiles = false
        let quiet = EventRecorder()
        _ = try TrainingRun(config: config, runDirectory: folder + "/reader")
            .run(report: { _ in }, log: { _ in }, hooks: silent, reporters: [quiet])
        #expect(quiet.kinds == recorder.kinds)
        #expect(quiet.epochEnds.map(\.test.objective) == recorder.epochEnds.map(\.test.objective))
        #expect(quiet.epochEnds.allSatisfy { $0.grid == nil && $0.codes == nil })
        #expect(!FileManager.default.fileExists(atPath: folder + "/reader"))
    }
}

@Suite(.serialized) struct CheckpointEvaluationTests {
    /// A checkpoint opened for evaluation reports what the run's last evaluation did, running
    /// state included (the sparsity's running average changes the objective's penalty).
    @Test func anEvaluatedCheckpointReportsTheRunsOwnTestLoss() throws {
        let folder = try makeScratchFolder("evaluate-state")
        let config = resumeConfig(epochs: 1)
        guard case .kl(_, _, let momentum)? = config.model.as(DenseAutoencoderConfig.self)?.sparsity, momentum > 0 else {
            Issue.record("the config keeps a running average"); return
        }
        let run = try TrainingRun(config: config, runDirectory: folder + "/run")
        _ = try run.run(report: { _ in }, log: { _ in })
        let opened = try TrainingRun.fromCheckpoint(folder + "/run")
        #expect(!opened.trainer.trains && opened.runDirectory == folder + "/run")
        #expect(throws: TrainingError.self) { _ = try opened.run(report: { _ in }, log: { _ in }) }
        #expect(opened.evaluateTestSplit().objective == run.progress.history.last?.testLoss)
    }
}

/// The README's library example, as written there (one epoch instead of five).
@Suite(.serialized) struct LibraryExampleTests {
    @Test func readmeExampleTrains() throws {
        let folder = try makeScratchFolder("library")
        var config = TrainingConfig(family: .sparse, data: "mnist-sample")
        config.epochs = 1
        var hooks = RunHooks()
        var seen: [Int] = []
        hooks.epochEnded = { seen.append($0.epoch) }
        let run = try TrainingRun(config: config, runDirectory: folder + "/lib")
        let metrics = try run.run(report: { _ in }, log: { _ in }, hooks: hooks)
        #expect(seen == [1] && metrics["epochs_done"] == 1)
        guard let model = run.config.model.as(DenseAutoencoderConfig.self) else { Issue.record("sparse is dense"); return }
        #expect(model.widths == [784, 64] && model.sparsity != .none, "the preset's model: \(model)")
    }
}

@Suite struct ReportingRobustnessTests {
    @Test func nonFiniteNumbersAreLoggedAsNull() throws {
        let data = LogFile.json(["loss": Double.nan, "parts": ["kl": Double.infinity, "ok": 1.5], "n": 3])
        let text = String(decoding: data, as: UTF8.self)
        #expect(text == #"{"loss":null,"n":3,"parts":{"kl":null,"ok":1.5}}"#, "\(text)")
    }

    @Test func restoreRefusesAnotherPhaseCount() throws {
        let folder = try makeScratchFolder("phasecount")
        let single = Trainer(model: DenseAutoencoder(DenseAutoencoderConfig(widths: [3, 2])),
                             optimizers: [OptimizerConfig()], shards: 1, maxBatch: 2, seed: 0)
        var config = resumeConfig(epochs: 1)
        config.model = .dense(DenseAutoencoderConfig(widths: [3, 2]))
        try Checkpoint.save(single, config: config, progress: RunProgress(), to: folder + "/one.safetensors")
        var contents = try Checkpoint.load(folder + "/one.safetensors")
        try Checkpoint.restore(contents, into: single)
        contents = Checkpoint.Contents(path: contents.path, config: contents.config, progress: contents.progress,
                                       updates: [4, 4], tensors: contents.tensors)
        #expect(throws: InputError.self) { try Checkpoint.restore(contents, into: single) }
    }
}
