// `autoencoder train`: builds a TrainingConfig from the options and runs it; prints a progress
// bar on a terminal and plain log lines otherwise.

import ArgumentParser
import Datasets
import Engine
import Files
import Foundation
import Models
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an autoencoder; writes a run folder (config, log, grids, plots, checkpoints, metrics).")

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var modelOptions: ModelOptions

    @Option(help: ArgumentHelp("Start from a written config: a config.json or a run folder holding one. Options "
        + "given next to it override its values and are recorded in the new run's config.", valueName: "path"))
    var config: String?

    @Option(help: ArgumentHelp("Noise on the input: gaussian:S (S also as 25/255), gaussian:A..B (a standard "
        + "deviation drawn per sample from [A, B], blind denoising), salt-pepper:F, masking:F (fractions), "
        + "joined by + and optionally +clip to clip to [0, 1], e.g. masking:0.2+gaussian:0.1+clip "
        + "(default: none; gaussian:0.3+clip for --model denoising; gaussian:25/255 for --model denoiser, which "
        + "refuses none)."))
    var noise: String?

    @Flag(help: ArgumentHelp("Dynamic binarization: each value becomes 1 with its own probability, drawn afresh "
        + "every epoch (the test split once), as for likelihoods on binarized MNIST."))
    var binarize = false

    @Flag(help: ArgumentHelp("Data augmentation: each training image or patch (square) is flipped and turned into "
        + "a random one of its 8 orientations, afresh every epoch; evaluation sees the images as they are."))
    var augment = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Train on random N x N patches cut afresh from each image every epoch (denoiser "
        + "default 48; images may then differ in size).", valueName: "N"))
    var patch: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Patches per image per epoch (default: about one pass over each image's pixels).",
                               valueName: "N"))
    var patchesPerImage: Int?

    @Option(help: ArgumentHelp("PNG folders: memory for decoded images, e.g. 2G or 512M (default: half the machine's). "
        + "A folder whose samples do not fit is streamed: decoder threads read the images the next steps need into "
        + "this cache.", valueName: "size"))
    var cacheMemory: ByteSize?

    @Option(parsing: .unconditional, help: ArgumentHelp("Images whose samples (patches) are shuffled together in each "
        + "epoch (default: all of them; a streamed folder: half of what the cache holds). The same window gives the "
        + "same steps whatever the cache size.", valueName: "N"))
    var window: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Threads decoding a streamed folder ahead of training "
        + "(default: one per 8 cores, at least 1).", valueName: "N"))
    var decoders: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Also evaluate, write a grid and checkpoint every N steps (large "
        + "data sets: an epoch can be hours; default: at epoch ends only).", valueName: "N"))
    var evalEvery: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Held-out images evaluated each epoch (default: all; a "
        + "streamed folder: 8, decoded once).", valueName: "N"))
    var validationImages: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Evaluation rows (images or patches) at most (default: all; "
        + "a streamed folder: 1024).", valueName: "N"))
    var validationSamples: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Epochs to train (default 10, or more on small data: up to "
        + "100 so that the run takes 1000 steps; with --resume: the run's own count)."))
    var epochs: Int?

    @Option(parsing: .unconditional, help: "Minibatch size (default 256).")
    var batchSize: Int?

    @Option(help: ArgumentHelp("Cores to use (default: all; under mpirun, per rank); the automatic split of "
        + "them into shards x threads per shard follows.", valueName: "N"))
    var threads: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Shards per minibatch, over all MPI ranks (default: every "
        + "core busy with --threads-per-shard threads each). Same seed and shards: bit-identical runs."))
    var shards: Int?

    @Option(help: ArgumentHelp("Threads per shard for its layers' loops; results agree with one thread within float "
        + "rounding (default: the cores over the shards; with no --shards, more than 1 only where shards would get "
        + "fewer than \(CoreSplit.denseRows) rows for dense models, 8 for lstm/gru).", valueName: "N"))
    var threadsPerShard: Int?

    @Option(help: ArgumentHelp("Under mpirun: how ranks sum the gradient. ordered (default): rank after rank in shard "
        + "order, bit-identical to one process with the same --shards; allreduce: one MPI_Allreduce of each rank's "
        + "sum (other rounding).", valueName: "ordered|allreduce"))
    var mpiReduce: RankGroup.Reduction?

    @Option(parsing: .unconditional, help: ArgumentHelp("Under mpirun: seconds a rank waits for the others in one "
        + "exchange before it ends the job (a rank stopped or hangs; default \(Int(RankGroup.defaultTimeout)), "
        + "0: forever).", valueName: "seconds"))
    var mpiTimeout: Double?

    @Option(help: "Random seed (initialisation, order, noise, dropout; default 0).")
    var seed: UInt64?

    @Option(help: ArgumentHelp("Run folder (default: runs/<model>-<date>). A folder that already holds files is "
        + "refused unless --resume or --overwrite."))
    var runDir: String?

    @Flag(help: "Replace what --run-dir already holds (its config, log, grids and checkpoints are deleted first).")
    var overwrite = false

    @Option(help: "Continue from a checkpoint file or run folder (its config wins; --epochs and --data may change).")
    var resume: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Held out for testing when the data has no test split: a "
        + "fraction below 1 (default 0.1; a denoiser keeps at least 4 images, or a quarter of a small folder), or a "
        + "number of samples from 1.", valueName: "fraction|count"))
    var holdout: Double?

    @Option(parsing: .unconditional, help: "Samples in the reconstruction grid (default 10).")
    var gridCount: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Draw each grid tile pixel as an N x N block (nearest "
        + "neighbour); default: enough for tiles at least 48 pixels tall (2 for 28x28 digits).", valueName: "N"))
    var gridScale: Int?

    @Option(parsing: .unconditional, help: "Also checkpoint every N steps (0: each epoch).")
    var checkpointEvery: Int?

    @Option(parsing: .unconditional, help: "Steps between progress reports (default 50).")
    var logEvery: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Stop once this many minutes of training have passed, "
        + "at the next step, with a checkpoint to --resume from.", valueName: "minutes"))
    var timeLimit: Double?

    @Option(help: ArgumentHelp("Greedy layer-wise pretraining of --model deep before fine-tuning: rbm (restricted "
        + "Boltzmann machines, Hinton & Salakhutdinov), dae (denoising autoencoders, masking noise) or cae "
        + "(contractive autoencoders). Each layer is a stage under RUN/stages/; the hidden layers become logistic "
        + "and the loss defaults to bce.", valueName: "kind"))
    var pretrain: PretrainPlan.Kind?

    @Option(parsing: .unconditional, help: "Epochs of each pretraining stage (default 10).")
    var pretrainEpochs: Int?

    @Option(help: ArgumentHelp("--pretrain dae: the noise of each stage (default masking:0.25).", valueName: "noise"))
    var pretrainNoise: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("--pretrain cae: weight of the contractive penalty of each "
        + "logistic stage (default 0.001).", valueName: "weight"))
    var pretrainContractive: Float?

    func validate() throws {
        // The preset of the chosen --model (none given: the checks that depend on it do not apply).
        let chosen = modelOptions.model?.preset.specification
        if let epochs, !(1...TrainingConfig.largestEpochs).contains(epochs) {
            throw ValidationError("--epochs must be 1 to \(TrainingConfig.largestEpochs)")
        }
        if let gridCount, !(1...TrainingConfig.largestGridCount).contains(gridCount) {
            throw ValidationError("--grid-count must be 1 to \(TrainingConfig.largestGridCount)")
        }
        if let gridScale, !(1...16).contains(gridScale) { throw ValidationError("--grid-scale must be 1 to 16") }
        if let logEvery, logEvery <= 0 { throw ValidationError("--log-every must be positive") }
        if let checkpointEvery, checkpointEvery < 0 { throw ValidationError("--checkpoint-every must be >= 0") }
        if let timeLimit, !(timeLimit > 0 && timeLimit.isFinite) { throw ValidationError("--time-limit must be a positive number of minutes") }
        if let batchSize, !(1...TrainingConfig.largestBatch).contains(batchSize) {
            throw ValidationError("--batch-size must be 1 to \(TrainingConfig.largestBatch)")
        }
        if let shards, !(1...TrainingConfig.largestShards).contains(shards) {
            throw ValidationError("--shards must be 1 to \(TrainingConfig.largestShards)")
        }
        if let threadsPerShard, threadsPerShard <= 0 || threadsPerShard > 256 {
            throw ValidationError("--threads-per-shard must be 1 to 256")
        }
        if let threads, !(1...4096).contains(threads) { throw ValidationError("--threads must be 1 to 4096") }
        if let mpiTimeout, !(mpiTimeout >= 0 && mpiTimeout.isFinite) {
            throw ValidationError("--mpi-timeout must be a number of seconds >= 0")
        }
        if mpiTimeout != nil && RankGroup.world == nil {
            throw ValidationError("--mpi-timeout applies to runs launched by mpirun (mpirun -np R autoencoder train ...)")
        }
        if mpiReduce != nil && RankGroup.world == nil {
            throw ValidationError("--mpi-reduce applies to runs launched by mpirun (mpirun -np R autoencoder train ...)")
        }
        if let patch, !(1...TrainingConfig.largestSide).contains(patch) {
            throw ValidationError("--patch must be 1 to \(TrainingConfig.largestSide)")
        }
        if let patchesPerImage, !(1...TrainingConfig.largestModelSize).contains(patchesPerImage) {
            throw ValidationError("--patches-per-image must be 1 to \(TrainingConfig.largestModelSize)")
        }
        if let holdout, !(holdout > 0 && (holdout < 1 || holdout == holdout.rounded())) {
            throw ValidationError("--holdout must be a fraction in (0, 1) or a whole number of samples")
        }
        if let noise {
            let corruption: Corruption
            do { corruption = try Corruption(parsing: noise) } catch let error as InputError {
                throw ValidationError(error.description)
            }
            if corruption.steps.isEmpty && chosen?.denoisesWholeImages == true && resume == nil {
                throw ValidationError("--model \(modelOptions.model!.rawValue) learns to remove noise: --noise \(noise) leaves it nothing to "
                    + "learn (its default is gaussian:25/255)")
            }
        }
        if let pretrainEpochs, pretrainEpochs <= 0 { throw ValidationError("--pretrain-epochs must be positive") }
        if let pretrainContractive, !(pretrainContractive > 0) {
            throw ValidationError("--pretrain-contractive must be positive")
        }
        if let pretrainNoise {
            do { _ = try Corruption(parsing: pretrainNoise) } catch let error as InputError {
                throw ValidationError(error.description)
            }
        }
        for (given, flag, kind) in [(pretrainEpochs != nil, "--pretrain-epochs", nil),
                                    (pretrainNoise != nil, "--pretrain-noise", PretrainPlan.Kind.dae),
                                    (pretrainContractive != nil, "--pretrain-contractive", .cae)] where given {
            guard let pretrain else { throw ValidationError("\(flag) needs --pretrain") }
            if let kind, pretrain != kind { throw ValidationError("\(flag) applies to --pretrain \(kind.rawValue)") }
        }
        if pretrain != nil {
            if resume != nil { throw ValidationError("--pretrain starts a staged run; --resume RUN continues one") }
            if let family = modelOptions.model, ![.deep, .dense].contains(family) {
                throw ValidationError("--pretrain stacks the layers of --model deep (not \(family.rawValue))")
            }
            if patch != nil { throw ValidationError("--pretrain trains on whole images (no --patch)") }
            if let activation = modelOptions.activation, activation != .sigmoid {
                throw ValidationError("--pretrain makes the hidden layers logistic (--activation sigmoid), as the "
                    + "stack they start from")
            }
        }
        if config != nil && resume != nil {
            throw ValidationError("--config starts a new run from a config; --resume continues a run: give one")
        }
        if resume != nil, let flag = modelOptions.givenModelFlags.first ?? (modelOptions.model != nil ? "--model" : nil) {
            throw CommandFailure(message: "\(flag): a resumed run keeps its model (only --epochs, --data, --run-dir, --time-limit, --cache-memory, "
                + "--decoders, --eval-every, --checkpoint-every and --log-every change)")
        }
        if resume == nil {
            // The family's flags are checked against the config's family when one is given.
            if config == nil { try modelOptions.refuseForeignFlags(family: modelOptions.model ?? .deep) }
            if (patch != nil || patchesPerImage != nil) && chosen?.modelsSequences == true {
                throw ValidationError("--patch does not apply to --model \(modelOptions.model!.rawValue)")
            }
            if augment && chosen?.modelsSequences == true {
                throw ValidationError("--augment turns and mirrors images; it does not apply to --model "
                    + "\(modelOptions.model!.rawValue)")
            }
        }
    }

    /// An existing path made absolute, so a run resumes from any working directory; bundled data
    /// names stay names.
    static func absolute(_ path: String) -> String {
        guard FileManager.default.fileExists(atPath: path) else { return path }
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// The run's config: the defaults (or `--config`), with every given option applied.
    func makeConfig() throws -> TrainingConfig {
        let base = try config.map(TrainingConfig.read(from:))
        let family = modelOptions.model ?? base?.family ?? .deep
        // A different --model than the config's starts from that family's preset.
        let baseModel = base?.family == family ? base?.model : nil
        var model: ModelSpec
        do { model = try modelOptions.modelSpec(family: family, base: baseModel) } catch let error as ValidationError {
            throw CommandFailure(message: error.message)
        }
        if pretrain != nil, var dense = model.as(DenseAutoencoderConfig.self) {
            // The stack's units are logistic; the paper fine-tunes MNIST with cross-entropy.
            dense.hiddenActivation = .sigmoid
            if modelOptions.loss == nil { dense.loss = .bce }
            model = .dense(dense)
        }
        var config = base ?? TrainingConfig(family: family, data: dataOptions.data)
        if base?.family != family {
            config.family = family
            config.noise = family.defaultNoise
            config.patch = family.defaultPatch
        }
        config.model = model
        config.optimizer = modelOptions.optimizerConfig(base: base?.family == family ? base?.optimizer : family.defaultOptimizer)
        if let given = modelOptions.phaseOptimizers(base: config.optimizer) {
            config.phaseOptimizers = (config.phaseOptimizers ?? [:]).merging(given) { $1 }
        }
        if let patch { config.patch = patch }
        if let patchesPerImage { config.patchesPerImage = patchesPerImage }
        if let path = dataOptions.dataPath { config.data = Self.absolute(path) }
        if let channels = dataOptions.channels { config.channels = channels }
        if let background = dataOptions.backgroundLevel { config.background = background }
        if let resize = dataOptions.resize { config.resize = [resize.width, resize.height] }
        if let filter = dataOptions.resizeFilterChoice { config.resizeFilter = filter.rawValue }
        if let crop = dataOptions.crop { config.crop = [crop.width, crop.height] }
        if dataOptions.skipBad { config.skipBad = true }
        if let maxPixels = dataOptions.maxPixels { config.maxPixels = maxPixels }
        applyResumeSettings(&config)
        if let window { config.window = window }
        if let validationImages { config.validationImages = validationImages }
        if let validationSamples { config.validationSamples = validationSamples }
        if let id = dataOptions.sequenceID { config.sequenceID = id }
        if let label = dataOptions.sequenceLabel { config.sequenceLabel = label }
        if let noise { config.noise = noise }
        if binarize { config.binarize = true }
        if augment { config.augment = true }
        if let epochs { config.epochs = epochs }
        if let batchSize { config.batchSize = batchSize }
        CoreSplit.limit = threads
        config.shards = shards ?? (base == nil
            ? CoreSplit.shards(threads: threadsPerShard ?? CoreSplit.threads(model: config.model, batch: config.batchSize))
            : config.shards)
        if let seed { config.seed = seed }
        if let holdout { config.holdout = holdout }
        if let gridCount { config.gridCount = gridCount }
        if let gridScale { config.gridScale = gridScale }
        // The same validation as a config file's or a checkpoint's.
        do { try config.validate() } catch let error as TrainingError {
            throw CommandFailure(message: (self.config.map { $0 + ": " } ?? "") + error.message)
        }
        return config
    }

    /// Options that change when and how a run works, not what its steps see: a new run takes
    /// them, and a resumed run may change them.
    func applyResumeSettings(_ config: inout TrainingConfig) {
        if let timeLimit { config.timeLimit = timeLimit * 60 }
        if let cacheMemory { config.cacheMemory = cacheMemory.bytes }
        if let decoders { config.decoders = decoders }
        if let evalEvery { config.evalEvery = evalEvery }
        if let checkpointEvery { config.checkpointEvery = checkpointEvery }
        if let logEvery { config.logEvery = logEvery }
    }

    func run() throws {
        let config = resume == nil ? try makeConfig() : TrainingConfig(family: .deep, data: dataOptions.data)
        let folder: String
        if let runDir {
            folder = runDir
        } else if let resume {
            folder = resume.hasSuffix(".safetensors")
                ? ((resume as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent : resume
        } else {
            // Runs started in the same second get -2, -3, ...: a default name never reuses a folder.
            let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
            let base = "runs/\(config.family.rawValue)-\(stamp)"
            var candidate = base, n = 1
            while FileManager.default.fileExists(atPath: candidate) {
                n += 1
                candidate = "\(base)-\(n)"
            }
            folder = candidate
        }
        let group = RankGroup.world
        if let mpiReduce { group?.reduction = mpiReduce }
        if let mpiTimeout { group?.setTimeout(mpiTimeout) }
        // Under MPI rank 0 alone owns the run folder.
        let madeFolder = group?.isWriter == false ? false : try RunFolder.prepare(folder, resuming: resume != nil, overwrite: overwrite)
        let resumesStaged = resume.map { !$0.hasSuffix(".safetensors") && StagedRun.isStaged($0) } ?? false
        if group != nil && (pretrain != nil || resumesStaged) {
            throw CommandFailure(message: "staged runs (--pretrain) run in one process, not under mpirun")
        }
        if pretrain != nil || resumesStaged {
            try runStaged(config: config, folder: folder, madeFolder: madeFolder)
            return
        }
        let run: TrainingRun
        do {
            run = try TrainingRun(config: config, runDirectory: folder, resume: resume, epochs: epochs,
                                  dataOverride: dataOptions.dataPath.map(Self.absolute), group: group,
                                  threadsPerShard: { resolved in
                                      threadsPerShard ?? CoreSplit.threads(shards: resolved.shards, model: resolved.model,
                                                                           batch: resolved.batchSize) },
                                  resumeSettings: applyResumeSettings, sizingEpochs: epochs == nil && self.config == nil)
        } catch {
            // A run that cannot start leaves no empty folder behind.
            RunFolder.removeIfUnused(folder, madeFolder: madeFolder)
            throw error
        }
        let c = run.config
        print("training \(c.modelDescription) on \(c.data): "
            + "\(run.model.layout.count) parameters, batch \(c.batchSize), \(c.shards) shard(s)"
            + (run.trainer.threadsPerShard > 1 ? " x \(run.trainer.threadsPerShard) threads" : "")
            + (group.map { " over \($0.size) MPI ranks (\($0.reduction.rawValue) reduction)" } ?? "")
            + ", noise \(c.noise), \(c.optimizer.kind.rawValue) lr \(c.optimizer.learningRate)")
        print("run folder: \(folder)")
        fflush(nil)
        Self.handleSignals()
        let progress = ProgressDisplay(terminal: isatty(STDOUT_FILENO) != 0 && RankGroup.world == nil)
        let metrics: [String: Double]
        do {
            metrics = try run.run(report: progress.show, log: progress.line)
        } catch {
            progress.finish()
            throw error
        }
        progress.finish()
        try Self.printSummary(metrics, of: run, folder: folder)
    }

    /// Ctrl-C (SIGINT), kill (SIGTERM), a closed terminal (SIGHUP) and Ctrl-\\ (SIGQUIT, which the
    /// Swift runtime would answer with a crash backtrace and carry on) checkpoint at the next step
    /// and stop; the exit code (128 + signal) says which.
    static func handleSignals() {
        signal(SIGINT) { stopRequested = $0 }
        signal(SIGTERM) { stopRequested = $0 }
        signal(SIGHUP) { stopRequested = $0 }
        signal(SIGQUIT) { stopRequested = $0 }
        // A parent may have blocked them (the mask survives exec): unblock, or they never arrive.
        var signals = sigset_t()
        sigemptyset(&signals)
        for code in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&signals, code) }
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }

    /// A staged run: pretraining stages, then fine-tuning (new with --pretrain, or resumed).
    func runStaged(config: TrainingConfig, folder: String, madeFolder: Bool) throws {
        let staged: StagedRun
        do {
            if let pretrain {
                let plan = try PretrainPlan(kind: pretrain, finetune: config, epochs: pretrainEpochs ?? 10,
                                            noise: pretrainNoise, contractive: pretrainContractive)
                staged = StagedRun(plan: plan, runDirectory: folder)
            } else {
                staged = try StagedRun.resuming(folder, epochs: epochs)
            }
        } catch {
            RunFolder.removeIfUnused(folder, madeFolder: madeFolder)
            throw error
        }
        let plan = staged.plan
        print("pretraining \(plan.stages.count) \(plan.kind.rawValue) stage(s) of \(plan.stages[0].epochs) epoch(s) on "
            + "\(plan.finetune.data), then fine-tuning \(plan.finetune.modelDescription) for \(plan.finetune.epochs) "
            + "epoch(s); batch \(plan.finetune.batchSize), \(plan.finetune.shards) shard(s)")
        print("run folder: \(folder)")
        fflush(nil)
        Self.handleSignals()
        let progress = ProgressDisplay(terminal: isatty(STDOUT_FILENO) != 0 && RankGroup.world == nil)
        let result: (metrics: [String: Double], stopped: Bool)
        do {
            result = try staged.run(report: progress.show, log: progress.line)
        } catch {
            progress.finish()
            throw error
        }
        progress.finish()
        if let run = staged.finetuneRun, !result.stopped {
            if let seconds = result.metrics["pretrain_seconds"] {
                print(String(format: "pretraining took %.0f s", seconds))
            }
            try Self.printSummary(result.metrics, of: run, folder: folder)
        }
        if stopRequested != 0 { throw ExitCode(128 + stopRequested) }
    }

    /// The best figure of a finished run and where its outputs are.
    static func printSummary(_ metrics: [String: Double], of run: TrainingRun, folder: String) throws {
        if let psnr = metrics["best_test_psnr"] {
            print(String(format: "best validation PSNR %.2f dB (noisy %.2f dB); %.0f s wall", psnr,
                         metrics["best_test_psnr_noisy"] ?? 0, metrics["wall_seconds"] ?? 0))
        } else if run.reporting.objectiveUnit == .perSample, let best = metrics["best_test_loss"] {
            print(String(format: "best test loss %.3f nats per sample at epoch %.0f; %.0f s wall", best,
                         metrics["best_test_loss_epoch"] ?? 0, metrics["wall_seconds"] ?? 0))
        } else if run.isSequenceData, let best = metrics["best_test_mse_per_pixel"] {
            print(String(format: "best test MSE per value %.5f (standardized) at epoch %.0f; %.0f s wall",
                         best, metrics["best_epoch"] ?? 0, metrics["wall_seconds"] ?? 0))
        } else if let best = metrics["best_test_squared_error_per_image"] {
            print(String(format: "best test squared error per image %.3f (MSE per pixel %.5f) at epoch %.0f; "
                + "%.0f s wall", best, metrics["best_test_mse_per_pixel"] ?? 0, metrics["best_epoch"] ?? 0,
                metrics["wall_seconds"] ?? 0))
        }
        print("outputs: \(folder)/grids, \(folder)/plots/loss.png, \(folder)/checkpoints, \(folder)/metrics.json")
        // Stopped by a signal after saving: exit 128 + signal, as shells expect (130 for Ctrl-C).
        if stopRequested != 0 { throw ExitCode(128 + stopRequested) }
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
            + String(format: " | %.1f ms | %.0f %@/s", r.millisecondsPerStep, r.samplesPerSecond, r.rateUnit)
            + (r.dataWait.map { String(format: " | data wait %.0f%%", $0 * 100) } ?? "")
            + (r.cacheHitRate.map { String(format: " | cache hits %.1f%%", $0 * 100) } ?? "")
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
extension RankGroup.Reduction: ExpressibleByArgument {}
