// The run folder as a reporter: config.json, log.jsonl (reconciled with the checkpoint on
// resume), a TensorBoard event file (the log's figures as scalars, the grids and plots as images,
// the config as text), checkpoints/, grids/, plots/ and metrics.json. Only the process that writes the folder
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
    let events: EventFile

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
            events = try EventFile(folder: folder, keepingStepsThrough: resuming ? run.trainer.step : nil)
            if !resuming {
                events.write([.text(tag: "run/command", markdown: "    " + CommandLine.arguments.joined(separator: " ")),
                              .text(tag: "run/config", markdown: "```\n" + run.config.jsonString(pretty: true) + "\n```")],
                             step: 0)
            }
        } catch {
            lock.release()
            throw error
        }
    }

    /// Writes `entry` to log.jsonl and its numbers (a line with a step) to the event file as
    /// scalars `TYPE/KEY` at that step: train/loss, epoch/test_psnr, eval/test_loss, ...
    func log(_ entry: [String: Any]) {
        logFile.write(entry)
        guard let step = entry["step"] as? Int, let type = entry["type"] as? String else { return }
        let prefix = type == "step" ? "train" : type
        var scalars: [SummaryValue] = []
        for (key, value) in entry.sorted(by: { $0.key < $1.key }) where !["epoch", "batch", "step"].contains(key) {
            let number: Float? = switch value {
            case let v as Double: Float(v)
            case let v as Float: v
            case let v as Int: Float(v)
            default: nil
            }
            if let number { scalars.append(.scalar(tag: prefix + "/" + key, value: number)) }
        }
        events.write(scalars, step: step)
    }

    /// A PNG the run just wrote, as an image under `tag` at `step`.
    func image(_ path: String, tag: String, step: Int) {
        guard let bytes = FileManager.default.contents(atPath: path) else { return }
        events.write([.png(tag: tag, bytes: [UInt8](bytes))], step: step)
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
                for warning in run.dataWarnings { log(["type": "warning", "message": warning]) }
                if !run.skipped.isEmpty {
                    log(["type": "skipped", "files": run.skipped.map { ["path": $0.path, "reason": $0.reason] }])
                }
            }
            if let cache = run.cache {
                log(["type": "streaming", "decoded_bytes": cache.index.totalSampleBytes, "cache_bytes": cache.budget,
                               "window": run.config.window ?? 0, "decoders": cache.decoders])
            }
        case .fileLeftOut(let path, let reason, let epoch, let batch):
            log(["type": "skipped", "files": [["path": path, "reason": reason]], "epoch": epoch, "batch": batch])
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
            log(line)
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
            log(entry)
            if let grid = e.grid {
                let path = folder + String(format: "/grids/reconstruction-step-%08d.png", e.step)
                try run.writeGrid(grid, to: path, scale: run.config.gridScale,
                                  caption: "\(run.config.modelDescription), step \(e.step), " + run.qualityText(inside: test))
                image(path, tag: "grids/reconstruction", step: e.step)
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
            log(entry)
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
            let path = folder + String(format: "/grids/reconstruction-epoch-%03d.png", epoch)
            try run.writeGrid(grid, to: path, scale: run.config.gridScale, caption: caption)
            image(path, tag: "grids/reconstruction", step: end.step)
            if let filters = run.model as? any FilterModel, !run.isSequenceData {
                let path = folder + String(format: "/grids/filters-epoch-%03d.png", epoch)
                try run.writeFilters(of: filters, to: path)
                image(path, tag: "grids/filters", step: end.step)
            }
        }
        try run.writePlot(to: folder + "/plots/loss.png")
        if let codes = end.codes {
            let path = folder + String(format: "/plots/latent-epoch-%03d.png", epoch)
            try run.writeLatentScatter(codes: codes.values, labels: codes.labels, width: codes.width, to: path,
                                       title: "test codes, epoch \(epoch)")
            image(path, tag: "plots/latent", step: end.step)
            // The latest epoch's codes for TensorBoard's projector (config at the run's top).
            try run.writeProjector(codes: codes.values, labels: codes.labels, width: codes.width,
                                   to: folder + "/projector", configFolder: folder, keepingSprite: true)
        }
    }

    /// A float as the decimal it was written as (0.001, not 0.0010000000474974513).
    static func decimal(_ value: Float) -> Double { Double("\(value)") ?? Double(value) }
}
