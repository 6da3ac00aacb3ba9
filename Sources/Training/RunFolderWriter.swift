// The run folder as a reporter: config.json, log.jsonl (reconciled with the checkpoint on
// resume), checkpoints/, grids/, plots/ and metrics.json. Only the process that writes the folder
// has one (rank 0 under MPI); it holds the folder's lock while the run trains.

import Datasets
import Engine
import Files
import Foundation
import Images
import Models

public final class RunFolderWriter: RunReporter {
    let folder: String
    let lock: RunFolderLock
    let logFile: LogFile

    /// Creates the folder and its subfolders, locks it, writes config.json and opens the log
    /// (made to agree with the checkpoint when `run` resumes one).
    init(_ run: TrainingRun) throws {
        folder = run.runDirectory
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        lock = try RunFolderLock.acquire(folder)
        do {
            for sub in ["grids", "plots", "checkpoints"] {
                try FileManager.default.createDirectory(atPath: folder + "/" + sub, withIntermediateDirectories: true)
            }
            try AtomicFile.write(Data(run.config.jsonString(pretty: true).utf8), to: folder + "/config.json")
            let resuming = run.progress.epoch > 0 || run.progress.batchInEpoch > 0
            if resuming { try run.reconcileLog(folder + "/log.jsonl") }
            logFile = try LogFile(path: folder + "/log.jsonl", append: resuming)
        } catch {
            lock.release()
            throw error
        }
    }

    /// Releases the folder's lock (the run has stopped).
    func close() { lock.release() }

    /// Writes checkpoints/NAME.safetensors (atomically); returns its path.
    func saveCheckpoint(_ name: String, of run: TrainingRun) throws -> String {
        let path = folder + "/checkpoints/\(name).safetensors"
        try Checkpoint.save(run.trainer, config: run.config, progress: run.progress, to: path)
        return path
    }

    public func handle(_ event: RunEvent, of run: TrainingRun) throws {
        switch event {
        case .began(let fresh):
            if fresh {
                for warning in run.dataWarnings { logFile.write(["type": "warning", "message": warning]) }
                if !run.skipped.isEmpty {
                    logFile.write(["type": "skipped", "files": run.skipped.map { ["path": $0.path, "reason": $0.reason] }])
                }
            }
            if let cache = run.cache {
                logFile.write(["type": "streaming", "decoded_bytes": cache.index.totalSampleBytes, "cache_bytes": cache.budget,
                               "window": run.config.window ?? 0, "decoders": cache.decoders])
            }
        case .fileLeftOut(let path, let reason, let epoch, let batch):
            logFile.write(["type": "skipped", "files": [["path": path, "reason": reason]], "epoch": epoch, "batch": batch])
        case .steps(let window):
            let report = window.report
            var line: [String: Any] = ["type": "step", "epoch": report.epoch + 1, "batch": report.batch, "step": window.step,
                                       "loss": report.loss, "ms_per_step": report.millisecondsPerStep,
                                       "lr": Self.decimal(run.trainer.learningRate()),
                                       "samples_per_second": report.samplesPerSecond]
            if let peak = window.cachePeakBytes {
                line["data_wait"] = report.dataWait
                line["cache_hit_rate"] = report.cacheHitRate
                line["cache_peak_bytes"] = peak
                line["cache_decodes"] = window.cacheDecodes
            }
            for part in report.parts { line["loss_" + part.name] = part.value }
            logFile.write(line)
        case .evaluated(let e):
            let test = e.test
            var entry: [String: Any] = ["type": "eval", "epoch": e.epoch, "batch": e.batch, "step": e.step,
                                        "test_loss": test.objective, "test_squared_error_per_image": test.squaredErrorPerImage,
                                        "test_mse_per_pixel": test.msePerPixel]
            for part in test.parts { entry["test_" + part.name] = part.value }
            if let psnr = test.psnr, let noisy = test.psnrNoisy {
                entry["test_psnr"] = psnr
                entry["test_psnr_noisy"] = noisy
            }
            logFile.write(entry)
            if let grid = e.grid {
                try run.writeGrid(grid, to: folder + String(format: "/grids/reconstruction-step-%08d.png", e.step),
                                  scale: run.config.gridScale,
                                  caption: "\(run.config.modelDescription), step \(e.step), " + run.qualityText(inside: test))
            }
        case .epochEnded(let end):
            try writeFigures(end, of: run)
            let record = end.record, test = end.test
            var entry: [String: Any] = [
                "type": "epoch", "epoch": record.epoch, "step": end.step, "train_loss": record.trainLoss,
                "test_loss": test.objective, "test_squared_error_per_image": test.squaredErrorPerImage,
                "test_mse_per_pixel": test.msePerPixel, "seconds": record.seconds,
                "lr": Self.decimal(run.trainer.learningRate()),
                "samples_per_second": end.samplesPerSecond]
            for (name, value) in record.trainParts ?? [:] { entry["train_" + name] = value }
            for (name, value) in record.testParts ?? [:] { entry["test_" + name] = value }
            if let seen = end.trainingSplit {
                for ((name, trained), (_, heldOut)) in zip(seen.parts, test.parts) {
                    entry["train_eval_" + name] = trained
                    entry["gap_" + name] = heldOut - trained
                }
            }
            if let psnr = test.psnr, let noisy = test.psnrNoisy {
                entry["test_psnr"] = psnr
                entry["test_psnr_noisy"] = noisy
            }
            logFile.write(entry)
            try AtomicFile.write(LogFile.json(end.metrics, pretty: true), to: folder + "/metrics.json")
        case .stopped:
            break
        }
    }

    /// The epoch's reconstruction grid (and filters), the loss plot and the latent scatter.
    func writeFigures(_ end: EpochEnd, of run: TrainingRun) throws {
        let epoch = end.record.epoch
        if let grid = end.grid {
            var caption = "\(run.config.modelDescription), epoch \(epoch)"
            if let psnr = end.record.testPSNR {
                caption += String(format: ", validation PSNR %.2f dB", psnr)
            } else if let error = end.record.testSquaredErrorPerImage {
                caption += String(format: ", test squared error/image %.3f", error)
            }
            try run.writeGrid(grid, to: folder + String(format: "/grids/reconstruction-epoch-%03d.png", epoch),
                              scale: run.config.gridScale, caption: caption)
            if let filters = run.model as? any FilterModel, !run.isSequenceData {
                try run.writeFilters(of: filters, to: folder + String(format: "/grids/filters-epoch-%03d.png", epoch))
            }
        }
        try run.writePlot(to: folder + "/plots/loss.png")
        if let codes = end.codes {
            try run.writeLatentScatter(codes: codes.values, labels: codes.labels, width: codes.width,
                                       to: folder + String(format: "/plots/latent-epoch-%03d.png", epoch),
                                       title: "test codes, epoch \(epoch)")
        }
    }

    /// A float as the decimal it was written as (0.001, not 0.0010000000474974513).
    static func decimal(_ value: Float) -> Double { Double("\(value)") ?? Double(value) }
}
