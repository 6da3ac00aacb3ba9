// Checkpoints: a saved run resumes bit-identically (at an epoch boundary and mid-epoch), the
// file round-trips every tensor, and the run folder holds what the design promises.

import Engine
import Files
import Foundation
import Images
import Kernels
import Models
import Testing
import TestSupport
import Training

func resumeConfig(epochs: Int) -> TrainingConfig {
    var model = DenseAutoencoderConfig(widths: [784, 32, 8])
    model.codeActivation = .sigmoid
    model.sparsity = .kl(target: 0.1, weight: 0.01, momentum: 0.5)
    model.dropout = 0.1
    var config = TrainingConfig(family: .sparse, model: .dense(model), optimizer: OptimizerConfig(), data: bundledMNISTSample)
    config.noise = "masking:0.2"
    config.epochs = epochs
    config.batchSize = 250
    config.shards = 2
    config.seed = 3
    config.gridCount = 4
    config.logEvery = 7
    return config
}

/// A GRU on the shipped time series: standardization, variable lengths, noise and scheduled
/// teacher forcing all have to come back the same after a resume.
func sequenceResumeConfig(epochs: Int) -> TrainingConfig {
    var config = TrainingConfig(family: .gru, data: repositoryRoot + "/data/japanese-vowels")
    var sequence = SequenceAutoencoderConfig(cell: .gru, steps: 1, features: 1)
    sequence.hidden = 8
    sequence.decoderInput = .previous
    sequence.teacherForcing = 0.7
    config.model = .sequence(sequence)
    config.noise = "gaussian:0.1"
    config.epochs = epochs
    config.batchSize = 50
    config.shards = 2
    config.seed = 5
    config.gridCount = 2
    config.logEvery = 1
    return config
}

@Suite(.serialized) struct ResumeTests {
    @Test func sequenceRunResumesBitIdentically() throws {
        let straight = try TrainingRun(config: sequenceResumeConfig(epochs: 2),
                                       runDirectory: try makeScratchFolder("seqstraight"))
        _ = try straight.run(report: { _ in }, log: { _ in })
        let folder = try makeScratchFolder("seqresumed")
        _ = try TrainingRun(config: sequenceResumeConfig(epochs: 1), runDirectory: folder).run(report: { _ in },
                                                                                               log: { _ in })
        let resumed = try TrainingRun(config: sequenceResumeConfig(epochs: 2), runDirectory: folder, resume: folder, epochs: 2)
        _ = try resumed.run(report: { _ in }, log: { _ in })
        #expect(resumed.trainer.params.array == straight.trainer.params.array)
        #expect(resumed.config.standardization == straight.config.standardization)
        let folder2 = try makeScratchFolder("seqinterrupted")
        let interrupted = try TrainingRun(config: sequenceResumeConfig(epochs: 2), runDirectory: folder2)
        // The run's own flag: the process-wide one would also stop runs of suites running beside this one.
        _ = try interrupted.run(report: { r in if r.epoch == 1 && r.batch == 3 { interrupted.stopThisRun = true } },
                                log: { _ in })
        let continued = try TrainingRun(config: sequenceResumeConfig(epochs: 2), runDirectory: folder2, resume: folder2, epochs: 2)
        _ = try continued.run(report: { _ in }, log: { _ in })
        #expect(continued.trainer.params.array == straight.trainer.params.array)
    }

    @Test func resumeAtEpochBoundaryAndMidEpochIsBitIdentical() throws {
        let straight = try TrainingRun(config: resumeConfig(epochs: 2), runDirectory: try makeScratchFolder("straight"))
        _ = try straight.run(report: { _ in }, log: { _ in })

        // Stop after epoch 1, then resume to 2 epochs.
        let folder = try makeScratchFolder("resumed")
        let first = try TrainingRun(config: resumeConfig(epochs: 1), runDirectory: folder)
        _ = try first.run(report: { _ in }, log: { _ in })
        let resumed = try TrainingRun(config: resumeConfig(epochs: 2), runDirectory: folder, resume: folder, epochs: 2)
        #expect(resumed.progress.epoch == 1)
        _ = try resumed.run(report: { _ in }, log: { _ in })
        #expect(resumed.trainer.params.array == straight.trainer.params.array)
        #expect(resumed.trainer.optimizerState.v.array == straight.trainer.optimizerState.v.array)
        #expect(resumed.trainer.modelState.array == straight.trainer.modelState.array)

        // Interrupt mid-epoch (after batch 7 of epoch 1), then resume.
        let folder2 = try makeScratchFolder("interrupted")
        let interrupted = try TrainingRun(config: resumeConfig(epochs: 2), runDirectory: folder2)
        _ = try interrupted.run(report: { r in if r.epoch == 1 && r.batch == 7 { interrupted.stopThisRun = true } },
                                log: { _ in })
        #expect(interrupted.progress.epoch == 1 && interrupted.progress.batchInEpoch == 7)
        let continued = try TrainingRun(config: resumeConfig(epochs: 2), runDirectory: folder2, resume: folder2, epochs: 2)
        _ = try continued.run(report: { _ in }, log: { _ in })
        #expect(continued.trainer.params.array == straight.trainer.params.array)
        #expect(continued.progress.history.count == 2)
    }

    @Test func runFolderHoldsEverything() throws {
        let folder = try makeScratchFolder("runfolder")
        let run = try TrainingRun(config: resumeConfig(epochs: 2), runDirectory: folder)
        let metrics = try run.run(report: { _ in }, log: { _ in })
        for file in ["config.json", "log.jsonl", "metrics.json", "plots/loss.png", "checkpoints/last.safetensors",
                     "checkpoints/best.safetensors", "grids/reconstruction-epoch-001.png",
                     "grids/reconstruction-epoch-002.png"] {
            #expect(FileManager.default.fileExists(atPath: folder + "/" + file), "\(file)")
        }
        let grid = try PNGCodec.read(path: folder + "/grids/reconstruction-epoch-002.png")
        // A caption line, then three rows (clean, noisy, recon) of four 28x28 tiles, both at 2x.
        #expect(grid.height == (BitmapFont.glyphHeight + 2) * 2 + 2 - 1 + 2 + 3 * 58)
        let lines = try String(contentsOfFile: folder + "/log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.filter { $0.contains("\"type\":\"epoch\"") }.count == 2)
        #expect(metrics["epochs_done"] == 2)
        // Every line says when it was written; epoch lines the learning rate (constant here).
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var times: [Date] = []
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let time = try #require(object["time"] as? String)
            times.append(try #require(formatter.date(from: time), "\(time)"))
            if object["type"] as? String == "epoch" {
                #expect((object["lr"] as? Double).map(Float.init) == run.config.optimizer.learningRate)
            }
        }
        #expect(times == times.sorted() && abs(times.last!.timeIntervalSinceNow) < 600)
        let config = try TrainingConfig.from(json: String(contentsOfFile: folder + "/config.json", encoding: .utf8))
        #expect(config == run.config)
    }

    /// A grid shows the classes in turn (a class-sorted split would show only its first class).
    @Test func gridsTakeTheClassesInTurn() throws {
        let folder = try makeScratchFolder("gridclasses")
        let run = try TrainingRun(config: resumeConfig(epochs: 1), runDirectory: folder)
        let ids = run.gridRows(count: 12).ids
        var labels = [Int32](repeating: -1, count: ids.count)
        ids.withUnsafeBufferPointer { p in
            labels.withUnsafeMutableBufferPointer { run.testSource.fillLabels(indices: p, into: $0.baseAddress!) }
        }
        #expect(labels == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
        #expect(Set(ids).count == 12 && ids.allSatisfy { run.testIndices.contains($0) })
    }

    /// The tools read a run folder's best checkpoint (the lowest test loss), a resume its last;
    /// a folder without a best one gives the last to both.
    @Test func toolsReadTheBestCheckpointAndResumesTheLast() throws {
        let one = try makeScratchFolder("best-one"), two = try makeScratchFolder("best-two")
        _ = try TrainingRun(config: resumeConfig(epochs: 1), runDirectory: one).run(report: { _ in }, log: { _ in })
        _ = try TrainingRun(config: resumeConfig(epochs: 2), runDirectory: two).run(report: { _ in }, log: { _ in })
        // Run two's best becomes run one's checkpoint (epoch 1); its last stays at epoch 2.
        let best = two + "/checkpoints/best.safetensors"
        try FileManager.default.removeItem(atPath: best)
        try FileManager.default.copyItem(atPath: one + "/checkpoints/last.safetensors", toPath: best)
        #expect(try Checkpoint.load(two, preferring: "best").progress.epoch == 1)
        #expect(try Checkpoint.load(two).progress.epoch == 2)
        #expect(try TrainingRun.fromCheckpoint(two, shards: 1).progress.epoch == 1)
        try FileManager.default.removeItem(atPath: best)
        #expect(try Checkpoint.load(two, preferring: "best").progress.epoch == 2)
    }

    @Test func checkpointRoundTripsEveryTensor() throws {
        let folder = try makeScratchFolder("roundtrip")
        let run = try TrainingRun(config: resumeConfig(epochs: 1), runDirectory: folder)
        _ = try run.run(report: { _ in }, log: { _ in })
        let contents = try Checkpoint.load(folder + "/checkpoints/last.safetensors")
        #expect(contents.config == run.config)
        #expect(contents.updates == run.trainer.optimizerState.updates)
        for slot in run.model.layout.slots {
            #expect(contents.tensors[slot.name]?.values == Array(run.trainer.params.array[slot.range]))
            #expect(contents.tensors["optimizer.\(slot.name).m"]?.shape == slot.shape)
        }
        // A copy restored into a fresh trainer evaluates identically.
        let copy = try TrainingRun.fromCheckpoint(folder, shards: 1)
        #expect(copy.trainer.params.array == run.trainer.params.array)
        // A damaged file is a clear error naming it.
        let damaged = folder + "/damaged.safetensors"
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/checkpoints/last.safetensors")))
        try writeFile(damaged, Array(bytes.prefix(bytes.count / 2)))
        #expect(throws: InputError.self) { try Checkpoint.load(damaged) }
    }
}
