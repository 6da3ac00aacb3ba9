// `autoencoder train`: builds a TrainingConfig from the options and runs it; prints a progress
// bar on a terminal and plain log lines otherwise.

import ArgumentParser
import Datasets
import Foundation
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an autoencoder; writes a run folder (config, log, grids, plots, checkpoints, metrics).")

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var modelOptions: ModelOptions

    @Option(help: ArgumentHelp("Noise on the input: gaussian:S, salt-pepper:F, masking:F, joined by + "
        + "(default: none; gaussian:0.3+clip for --model denoising)."))
    var noise: String?

    @Option(help: ArgumentHelp("Train on random N x N patches cut afresh from each image every epoch (denoiser "
        + "default 48; images may then differ in size).", valueName: "N"))
    var patch: Int?

    @Option(help: ArgumentHelp("Patches per image per epoch (default: about one pass over each image's pixels).",
                               valueName: "N"))
    var patchesPerImage: Int?

    @Option(help: "Epochs to train.")
    var epochs: Int = 10

    @Option(help: "Minibatch size.")
    var batchSize: Int = 256

    @Option(help: "Shards per minibatch (default: active cores). Same seed and shards: bit-identical runs.")
    var shards: Int?

    @Option(help: "Random seed (initialisation, order, noise, dropout).")
    var seed: UInt64 = 0

    @Option(help: "Run folder (default: runs/<model>-<date>).")
    var runDir: String?

    @Option(help: "Continue from a checkpoint file or run folder (its config wins; --epochs may extend).")
    var resume: String?

    @Option(help: "Fraction held out for testing when the data has no test split.")
    var holdout: Double = 0.1

    @Option(help: "Samples in the reconstruction grid.")
    var gridCount: Int = 10

    @Option(help: "Also checkpoint every N steps (0: each epoch).")
    var checkpointEvery: Int = 0

    @Option(help: "Steps between progress reports.")
    var logEvery: Int = 50

    @Option(help: "Stop after the epoch in which this many minutes of training have passed.")
    var timeLimit: Double?

    func validate() throws {
        guard epochs > 0, batchSize > 0 else { throw ValidationError("--epochs and --batch-size must be positive") }
        if let shards, shards <= 0 { throw ValidationError("--shards must be positive") }
        if let patch, patch <= 0 { throw ValidationError("--patch must be positive") }
        if let patchesPerImage, patchesPerImage <= 0 { throw ValidationError("--patches-per-image must be positive") }
        guard holdout > 0 && holdout < 1 else { throw ValidationError("--holdout must be in (0, 1)") }
        if let noise {
            do { _ = try Corruption(parsing: noise) } catch let error as DatasetError {
                throw ValidationError(error.description)
            }
        }
    }

    func makeConfig() throws -> TrainingConfig {
        let model = try modelOptions.denseConfig(inputWidth: nil)
        var config = TrainingConfig(family: modelOptions.model, model: model,
                                    optimizer: try modelOptions.optimizerConfig(), data: dataOptions.data)
        config.phaseOptimizers = try modelOptions.phaseOptimizers(base: config.optimizer)
        switch modelOptions.model {
        case .conv: config.conv = try modelOptions.convConfig()
        case .denoiser: config.denoiser = try modelOptions.denoiserConfig()
        case .lstm, .gru: config.sequence = try modelOptions.sequenceConfig()
        default: break
        }
        config.patch = patch
        config.patchesPerImage = patchesPerImage
        config.channels = dataOptions.channels
        config.background = dataOptions.background
        config.resize = dataOptions.resize.map { [$0.width, $0.height] }
        config.resizeFilter = dataOptions.resizeFilter.rawValue
        config.crop = dataOptions.crop.map { [$0.width, $0.height] }
        config.skipBad = dataOptions.skipBad
        config.sequenceID = dataOptions.sequenceID
        config.sequenceLabel = dataOptions.sequenceLabel
        config.noise = noise ?? (modelOptions.model == .denoising ? "gaussian:0.3+clip" : "none")
        config.epochs = epochs
        config.batchSize = batchSize
        config.shards = shards ?? activeCores
        config.seed = seed
        config.holdout = holdout
        config.gridCount = gridCount
        config.checkpointEvery = checkpointEvery
        config.logEvery = logEvery
        config.timeLimit = timeLimit.map { $0 * 60 }
        return config
    }

    func run() throws {
        let config = try makeConfig()
        let folder: String
        if let runDir {
            folder = runDir
        } else if let resume {
            folder = resume.hasSuffix(".safetensors")
                ? ((resume as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent : resume
        } else {
            let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
            folder = "runs/\(config.family.rawValue)-\(stamp)"
        }
        let run: TrainingRun
        do {
            run = try TrainingRun(config: config, runDirectory: folder, resume: resume)
        } catch let error as DatasetError {
            throw CommandFailure(message: error.description)
        } catch let error as TrainingError {
            throw CommandFailure(message: error.description)
        } catch let error as SafeTensorsError {
            throw CommandFailure(message: error.description)
        }
        let c = run.config
        print("training \(c.modelDescription) on \(c.data): "
            + "\(run.model.layout.count) parameters, batch \(c.batchSize), \(c.shards) shard(s), noise \(c.noise), "
            + "\(c.optimizer.kind.rawValue) lr \(c.optimizer.learningRate)")
        print("run folder: \(folder)")
        fflush(nil)
        signal(SIGINT) { _ in stopRequested = 1 }
        let terminal = isatty(STDOUT_FILENO) != 0
        let progress = ProgressDisplay(terminal: terminal)
        let metrics: [String: Double]
        do {
            metrics = try run.run(report: progress.show, log: progress.line)
        } catch let error as TrainingError {
            progress.finish()
            throw CommandFailure(message: error.description)
        }
        progress.finish()
        if let psnr = metrics["best_test_psnr"] {
            print(String(format: "best validation PSNR %.2f dB (noisy %.2f dB); %.0f s wall", psnr,
                         metrics["best_test_psnr_noisy"] ?? 0, metrics["wall_seconds"] ?? 0))
        } else if run.isSequenceData, let best = metrics["best_test_mse_per_pixel"] {
            print(String(format: "best test MSE per value %.5f (standardized) at epoch %.0f; %.0f s wall",
                         best, metrics["best_epoch"] ?? 0, metrics["wall_seconds"] ?? 0))
        } else if let best = metrics["best_test_squared_error_per_image"] {
            print(String(format: "best test squared error per image %.3f (MSE per pixel %.5f) at epoch %.0f; "
                + "%.0f s wall", best, metrics["best_test_mse_per_pixel"] ?? 0, metrics["best_epoch"] ?? 0,
                metrics["wall_seconds"] ?? 0))
        }
        print("outputs: \(folder)/grids, \(folder)/plots/loss.png, \(folder)/checkpoints, \(folder)/metrics.json")
    }
}

/// A one-line progress bar on a terminal; parseable log lines otherwise.
final class ProgressDisplay {
    let terminal: Bool
    var active = false

    init(terminal: Bool) {
        self.terminal = terminal
    }

    func show(_ r: StepReport) {
        let parts = r.parts.map { String(format: " %@ %.4g", $0.name, $0.value) }.joined()
        let text = String(format: "epoch %d step %d/%d | loss %.5f", r.epoch + 1, r.batch, r.batches, r.loss)
            + (parts.isEmpty ? "" : " |" + parts)
            + String(format: " | %.1f ms | %.0f img/s", r.millisecondsPerStep, r.samplesPerSecond)
        if terminal {
            let width = 24
            let filled = Int(Double(width) * Double(r.batch) / Double(max(r.batches, 1)))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let eta = Int(r.secondsLeft)
            print("\r[\(bar)] \(text) | ETA \(eta / 60)m\(String(format: "%02d", eta % 60))s   ", terminator: "")
            fflush(nil)  // flushes every stream (stdout is not concurrency-safe to name in Swift 6)
            active = true
        } else {
            print(text)
            fflush(nil)  // piped output: show progress as it happens, not when a buffer fills
        }
    }

    func line(_ text: String) {
        finish()
        print(text)
        fflush(nil)
    }

    func finish() {
        if active {
            print("")
            active = false
        }
    }
}
