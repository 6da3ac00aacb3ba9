// What a run tells its observers. The loop trains, evaluates and checkpoints; reporters turn its
// events into the run folder's files, terminal lines or anything a caller adds. The collective
// parts of an output (under MPI every rank evaluates the grid's rows and the codes) are computed by
// the loop and carried in the event, so a rank that writes nothing simply has no folder reporter.

import Datasets
import Engine
import Foundation

/// Something that happened in a run, in the order it happened.
public enum RunEvent {
    /// Training begins; `fresh` is false when it resumes a checkpoint.
    case began(fresh: Bool)
    /// A file that failed mid-run and is left out (`--skip-bad`); epoch and batch 1-based.
    case fileLeftOut(path: String, reason: String, epoch: Int, batch: Int)
    /// A window of `logEvery` steps (or the end of an epoch).
    case steps(StepWindow)
    /// An evaluation of the test split between epoch ends (`--eval-every`).
    case evaluated(Evaluated)
    /// The end of an epoch: its record, evaluation and figures.
    case epochEnded(EpochEnd)
    /// The run stops before its last epoch (checkpointed).
    case stopped(Stop)
}

/// Observes a run's events. A reporter that throws stops the run (a file it cannot write).
public protocol RunReporter: AnyObject {
    func handle(_ event: RunEvent, of run: TrainingRun) throws
}

/// A window of steps: the report a progress bar shows, with the step counter after it and the
/// stream cache's counters (streamed folders only).
public struct StepWindow {
    public let report: StepReport
    public let step: Int
    public let cachePeakBytes: Int?
    public let cacheDecodes: Int?
}

/// The clean, corrupted and reconstructed rows of the first test samples (rows x width each).
public struct GridRows: Sendable {
    public let ids: [Int]
    public let clean: [Float]
    public let noisy: [Float]
    public let reconstructions: [Float]
}

public struct Evaluated {
    /// 1-based epoch, batch within it, and the step counter.
    public let epoch: Int
    public let batch: Int
    public let step: Int
    public let test: TrainingRun.Evaluation
    /// Present where figures are drawn: a run that writes its folder, and every rank under MPI.
    public let grid: GridRows?
}

public struct EpochEnd {
    public let record: EpochRecord
    public let test: TrainingRun.Evaluation
    public let step: Int
    public let samplesPerSecond: Double
    /// The first training samples evaluated with the same parameters (models that report the
    /// training gap), else nil.
    public let trainingSplit: TrainingRun.Evaluation?
    public let grid: GridRows?
    /// The test split's codes (models with a code, image data), where figures are drawn.
    public let codes: (values: [Float], labels: [Int32], width: Int)?
    /// The run's metrics so far (what metrics.json holds).
    public let metrics: [String: Double]
}

public struct Stop {
    public enum Reason { case interrupted, timeLimitInEpoch, timeLimitAfterEpoch }
    public let reason: Reason
    /// 1-based epoch; batch within it (in-epoch stops).
    public let epoch: Int
    public let batch: Int
    /// What `--resume` continues.
    public let resumeFolder: String
}

/// Lines for a terminal (`log`) and step reports (`report`, e.g. a progress bar).
public final class ConsoleReporter: RunReporter {
    let report: (StepReport) -> Void
    let log: (String) -> Void

    public init(report: @escaping (StepReport) -> Void, log: @escaping (String) -> Void) {
        self.report = report
        self.log = log
    }

    public func handle(_ event: RunEvent, of run: TrainingRun) throws {
        switch event {
        case .began(let fresh):
            if fresh {
                for warning in run.dataWarnings { log("warning: " + warning) }
                if !run.skipped.isEmpty {
                    log("skipped \(run.skipped.count) file(s) that libpng rejects (--skip-bad):")
                    for file in run.skipped { log("  \(file)") }
                }
            }
            if let cache = run.cache {
                log("streaming \(cache.index.folder): \(ImageCache.format(cache.index.totalSampleBytes)) of decoded images "
                    + "through a \(ImageCache.format(cache.budget)) cache, windows of \(run.config.window ?? 0) images, "
                    + "\(cache.decoders) decoder thread(s); \(run.testIndices.count) validation samples of "
                    + "\(run.testImages?.dataset.count ?? 0) held-out images")
            }
        case .fileLeftOut(let path, let reason, _, _):
            log("warning: \(path): \(reason); left out of training (--skip-bad)")
        case .steps(let window):
            report(window.report)
        case .evaluated(let e):
            log("step \(e.step) (epoch \(e.epoch) batch \(e.batch)) | " + run.qualityText(inside: e.test))
        case .epochEnded(let end):
            var gapText = ""
            if let seen = end.trainingSplit {
                for ((name, trained), (_, heldOut)) in zip(seen.parts, end.test.parts) {
                    gapText += String(format: ", %@ gap %.3f", name, heldOut - trained)
                }
            }
            let test = end.test
            var quality = run.isSequenceData
                ? String(format: "test MSE per value %.5f (standardized)", test.msePerPixel)
                : String(format: "test squared error/image %.3f", test.squaredErrorPerImage)
                    + test.parts.map { String(format: ", %@ %.3f", $0.name, $0.value) }.joined() + gapText
            if let psnr = test.psnr, let noisy = test.psnrNoisy {
                quality = String(format: "validation PSNR %.2f dB (noisy %.2f dB)", psnr, noisy)
            }
            log(String(format: "epoch %d/%d | train %.5f | test %.5f | ", end.record.epoch, run.config.epochs,
                       end.record.trainLoss, test.objective) + quality
                + String(format: " | %.1f s | %.0f %@/s", end.record.seconds, end.samplesPerSecond, run.rateUnit))
        case .stopped(let stop):
            switch stop.reason {
            case .interrupted, .timeLimitInEpoch:
                let why = stop.reason == .timeLimitInEpoch
                    ? String(format: "time limit of %g s reached", run.config.timeLimit ?? 0) : "interrupted"
                log("\(why) at epoch \(stop.epoch) batch \(stop.batch): saved checkpoints/last.safetensors; "
                    + "continue with --resume \(stop.resumeFolder)")
            case .timeLimitAfterEpoch:
                log("time limit of \(Int(run.config.timeLimit ?? 0)) s reached after epoch \(stop.epoch); "
                    + "resume with --resume \(stop.resumeFolder)")
            }
        }
    }
}

extension TrainingRun {
    /// An in-epoch evaluation as its log line states it.
    func qualityText(inside test: Evaluation) -> String {
        var quality = String(format: "test %.5f", test.objective)
        if let psnr = test.psnr, let noisy = test.psnrNoisy {
            quality += String(format: " | validation PSNR %.2f dB (noisy %.2f dB)", psnr, noisy)
        }
        return quality
    }
}
