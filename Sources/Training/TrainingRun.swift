// A whole training run: loads the data, trains epoch by epoch with the data-parallel engine,
// evaluates on the test split, checkpoints, and emits what happened as events (RunEvents.swift) to
// reporters: the run folder's writer (config.json, log.jsonl, grids/, plots/, metrics.json,
// checkpoints/ last and best, atomic) and the terminal's lines. Resumes bit-identically.

import Datasets
import Engine
import Files
import Foundation
import Kernels
import Layers
import Models


/// What the run reports while it trains (for the progress bar or log lines).
public struct StepReport: Sendable {
    public let epoch: Int
    public let epochs: Int
    public let batch: Int
    public let batches: Int
    /// Mean training objective over the batches since the last report.
    public let loss: Double
    public let millisecondsPerStep: Double
    public let samplesPerSecond: Double
    public let secondsLeft: Double
    /// The model's named loss parts per sample over the same batches, in the model's order.
    public let parts: [(name: String, value: Double)]
    /// What a sample is in rates: "img" for images, "seq" for sequences.
    public let rateUnit: String
    /// A streamed folder: the share of the time spent waiting for images, and the share of
    /// samples read from images already decoded (nil when the data is in memory).
    public var dataWait: Double?
    public var cacheHitRate: Double?
}

/// What a caller of `TrainingRun.run` plugs into the loop: a staged pipeline watches epochs and
/// checkpoints; a process that is not the writer (another MPI rank) turns file writing off.
public struct RunHooks {
    /// Whether this process writes the run folder (config, log, grids, plots, checkpoints, metrics).
    public var writesFiles = true
    /// After each epoch's evaluation of the test split.
    public var evaluated: ((TrainingRun.Evaluation) -> Void)?
    /// After each epoch, with its record (already in `progress.history`).
    public var epochEnded: ((EpochRecord) -> Void)?
    /// After a checkpoint is written, with its path.
    public var checkpointed: ((String) -> Void)?
    /// After each epoch (checkpointed): true stops the run there, as a time limit does.
    public var stopsAfterEpoch: (() -> Bool)?
    /// What `--resume` continues when this run stops (default: its own folder; a stage names
    /// the staged run).
    public var resumeFolder: String?

    public init() {}
}

/// Set by a SIGINT handler: the run checkpoints at the next step boundary and stops.
nonisolated(unsafe) public var stopRequested: Int32 = 0

public final class TrainingRun {
    public let config: TrainingConfig
    public let runDirectory: String
    /// Stops this run the same way as `stopRequested` (set from its own callbacks): a library
    /// user or a test stops one run without touching others in the process.
    public var stopThisRun = false
    public let model: any AutoencoderModel
    /// How the model's figures are reported (loss parts, objective unit, values per target).
    public let reporting: LossReporting
    public let trainer: Trainer
    public internal(set) var progress: RunProgress
    public let trainIndices: [Int]
    public let testIndices: [Int]
    /// The batch sources as existentials, made once (converting per step would allocate).
    public let trainSource: any BatchSource
    public let testSource: any BatchSource
    /// The test split's images (grids), or its sequences (plots), whichever the data is.
    public let testImages: BatchAssembler?
    public let testSequences: SequenceBatchSource?
    public let corruption: Corruption
    /// The order of each epoch's training samples, and the cache a streamed folder is read through.
    let order: SampleOrder
    let cache: ImageCache?
    public let evaluationEpoch: Int
    /// Files left out with `--skip-bad` (listed in the log when the run starts).
    public let skipped: [SkippedFile]
    /// Warnings about the data (logged when the run starts).
    public let dataWarnings: [String]

    /// Prepares a run (loads data, builds the model); `resume` is a checkpoint or run folder.
    /// - Throws: `InputError` or `TrainingError` with a one-line reason.
    /// `evaluating`: the checkpoint whose model is run on `config.data`, for errors that name it.
    /// `epochs`: with `resume`, the run's new epoch count (nil keeps the run's own).
    /// `group`: the MPI job this process is a rank of (`config.shards` counts all ranks' shards).
    /// `threadsPerShard`: threads per shard for the run's config (known once a checkpoint is read).
    /// `resumeSettings`: with `resume`, changes to the checkpoint's config that leave its steps as
    /// they were (time limit, cache, decoders, evaluation, checkpoint and log intervals).
    /// `sizingEpochs`: a new run whose epoch count was not chosen trains `epochsForData` epochs.
    public init(config requested: TrainingConfig, runDirectory: String, resume: String? = nil, epochs: Int? = nil,
                dataOverride: String? = nil, evaluating: (checkpoint: String, trainedOn: String)? = nil,
                group: RankGroup? = nil, threadsPerShard: (TrainingConfig) -> Int = { _ in 1 },
                resumeSettings: (inout TrainingConfig) -> Void = { _ in }, sizingEpochs: Bool = false) throws {
        var config = requested
        var contents: Checkpoint.Contents?
        if let resume {
            let loaded = try Checkpoint.load(resume)
            contents = loaded
            // The checkpoint's config is authoritative; only the epoch count (and where the data
            // now lives) may change.
            config = loaded.config
            if let epochs { config.epochs = epochs }
            if let dataOverride { config.data = dataOverride }
            // Settings that change when and how a run works, not what its steps see.
            resumeSettings(&config)
        }
        try config.validate()
        let data = try RunData(config: &config, resuming: contents != nil, evaluating: evaluating)
        corruption = data.corruption
        order = data.order
        cache = data.cache
        trainIndices = data.trainIndices
        testIndices = data.testIndices
        trainSource = data.trainSource
        testSource = data.testSource
        testImages = data.testImages
        testSequences = data.testSequences
        skipped = data.skipped
        let shape = data.shape
        var trainCount = data.trainCount
        if evaluating == nil && config.batchSize > data.trainIndices.count {
            // A batch larger than the data would only size workspaces for rows that never come.
            config.batchSize = max(data.trainIndices.count, 1)
        }
        if sizingEpochs && resume == nil && evaluating == nil {
            config.epochs = Self.epochsForData(samplesPerEpoch: trainCount, batch: config.batchSize, preset: config.epochs)
        }
        var warnings = data.warnings
        if evaluating == nil, let warning = Self.fewStepsWarning(config: config, samplesPerEpoch: trainCount) {
            warnings.append(warning)
        }
        dataWarnings = warnings
        if config.optimizer.schedule.kind == .cosine && config.optimizer.schedule.totalSteps <= 1 {
            // Cosine decays over the whole run unless told otherwise.
            trainCount = max(trainCount, 1)
            config.optimizer.schedule.totalSteps = config.epochs * ((trainCount + config.batchSize - 1) / config.batchSize)
        }
        for (name, var phase) in config.phaseOptimizers ?? [:]
        where phase.schedule.kind == .cosine && phase.schedule.totalSteps <= 1 {
            phase.schedule.totalSteps = config.epochs * ((max(trainCount, 1) + config.batchSize - 1) / config.batchSize)
            config.phaseOptimizers?[name] = phase
        }
        try config.resolveLabels(classCount: data.trainSource.classCount)
        self.config = config
        self.runDirectory = runDirectory
        evaluationEpoch = 0
        if let problem = config.model.specification.validationError() {
            throw TrainingError("the model: \(problem)")
        }
        model = config.makeModel(rowShape: shape)
        reporting = LossReporting(model)
        try Self.checkMemory(model: model, batchSize: config.batchSize, shards: config.shards, trains: evaluating == nil)
        try cache?.check(stepImages: config.batchSize)
        if let group, config.shards < group.size {
            throw TrainingError("\(config.shards) shard(s) over \(group.size) MPI ranks: --shards counts all ranks' "
                + "shards, at least one per rank (--shards \(group.size) or more)")
        }
        if evaluating != nil {
            trainer = Trainer(evaluating: model, shards: config.shards, maxBatch: config.batchSize, seed: config.seed,
                              group: group, threadsPerShard: threadsPerShard(config))
        } else {
            trainer = Trainer(model: model, optimizers: try config.phaseOptimizerList(for: model), shards: config.shards,
                              maxBatch: config.batchSize, seed: config.seed, group: group,
                              threadsPerShard: threadsPerShard(config))
        }
        progress = RunProgress()
        if let contents {
            try Checkpoint.restore(contents, into: trainer)
            progress = contents.progress
        }
    }

    /// The default epoch count for data of `samplesPerEpoch` at `batch`: the family's `preset`
    /// (10), or as many as 1,000 steps take on small data, at most 100 (the bundled sample's 20
    /// steps an epoch get 50 epochs; full MNIST's 235 keep 10).
    public static func epochsForData(samplesPerEpoch: Int, batch: Int, preset: Int) -> Int {
        let perEpoch = max(1, (samplesPerEpoch + batch - 1) / max(batch, 1))
        return max(preset, min(100, (1000 + perEpoch - 1) / perEpoch))
    }

    /// Below this many steps a run is warned about: it learns little more than the mean image.
    public static let fewSteps = 300

    /// The warning for a run of fewer than `fewSteps` steps, naming the --epochs that would give
    /// 1,000; nil for a longer run.
    static func fewStepsWarning(config: TrainingConfig, samplesPerEpoch: Int) -> String? {
        let perEpoch = max(1, (samplesPerEpoch + config.batchSize - 1) / max(config.batchSize, 1))
        let steps = config.epochs * perEpoch
        guard steps < fewSteps else { return nil }
        return "this run trains only \(steps) steps (\(config.epochs) epoch\(config.epochs == 1 ? "" : "s") of \(perEpoch) batches of \(config.batchSize) "
            + "from \(samplesPerEpoch) samples); most models need 1000 or more to learn more than a blur: "
            + "--epochs \((1000 + perEpoch - 1) / perEpoch) or a smaller --batch-size"
    }

    /// A streamed folder's cache: images decoded, samples read, and the most bytes held at once.
    public var cacheCounters: (decodes: Int, lookups: Int, peakBytes: Int)? { cache?.counters() }

    /// "seq" when the run reads sequence files, else "img" (rates in the progress line).
    var rateUnit: String { testSequences != nil ? "seq" : "img" }

    /// Refuses a model and batch whose buffers (parameters, gradient slabs, moments and the
    /// shards' workspaces; parameters and workspaces when it only evaluates) would not fit in
    /// this machine's memory, before allocating them.
    static func checkMemory(model: any AutoencoderModel, batchSize: Int, shards: Int, trains: Bool = true) throws {
        let rowsPerShard = (batchSize + shards - 1) / shards
        let momentBlocks = (OptimizerState.momentBlocks(model.phases).max() ?? 0) + 1
        let floats = Double(model.layout.count) * Double(trains ? 2 + 2 * momentBlocks + shards : 1)
            + Double(shards) * Double(rowsPerShard) * Double(model.workspaceColumns)
        let bytes = floats * 4, available = Double(ProcessInfo.processInfo.physicalMemory) * 0.75
        guard bytes <= available else {
            throw TrainingError(String(format: "the model at batch %d on %d shard(s) needs about %.1f GB, more than the "
                + "%.1f GB this machine can give; use a smaller --batch-size or model", batchSize, shards, bytes / 1e9,
                available / 1e9))
        }
    }

    /// A run holding a checkpoint's weights, for reconstruction and evaluation; `data`, `noise`
    /// and `shards` override the checkpoint's config when given.
    public static func fromCheckpoint(_ path: String, data: String? = nil, noise: String? = nil,
                                      shards: Int? = nil) throws -> TrainingRun {
        let contents = try Checkpoint.load(path, preferring: "best")
        var config = contents.config
        let trainedOn = config.data
        if let data { config.data = data }
        if let noise { config.noise = noise }
        if let shards { config.shards = shards }
        // The folder the checkpoint belongs to (RUN for RUN/checkpoints/NAME.safetensors); such a
        // run evaluates and never writes it.
        let parent = (contents.path as NSString).deletingLastPathComponent
        let folder = (parent as NSString).lastPathComponent == "checkpoints" ? (parent as NSString).deletingLastPathComponent : parent
        let run = try TrainingRun(config: config, runDirectory: folder, evaluating: (contents.path, trainedOn))
        try Checkpoint.restore(contents, into: run.trainer, optimizer: false)
        run.progress = contents.progress
        return run
    }

    var batchesPerEpoch: Int { (trainIndices.count + config.batchSize - 1) / config.batchSize }

    /// Trains the remaining epochs. `report` receives step reports; `log` receives lines; `hooks`
    /// are called at epoch ends, evaluations and checkpoints; `reporters` observe every event
    /// after the run folder and the lines have (on every rank: check `trainer.group`).
    public func run(report: @escaping (StepReport) -> Void, log: @escaping (String) -> Void,
                    hooks: RunHooks = RunHooks(), reporters extra: [any RunReporter] = []) throws -> [String: Double] {
        guard trainer.trains else {
            throw TrainingError("\(runDirectory): this run was opened to evaluate a checkpoint; to train on, resume it "
                + "(TrainingRun(config:runDirectory:resume:))")
        }
        // Under MPI only rank 0 writes; the others run the same loop (and its collective parts).
        let folder = hooks.writesFiles && (trainer.group?.isWriter ?? true) ? try RunFolderWriter(self) : nil
        defer { folder?.close() }
        let reporters: [any RunReporter] = (folder.map { [$0] } ?? []) + [ConsoleReporter(report: report, log: log)] + extra
        func emit(_ event: RunEvent) throws {
            for reporter in reporters { try reporter.handle(event, of: self) }
        }
        // Figures need every rank under MPI (their evaluation is collective).
        let drawsFigures = folder != nil || trainer.group != nil
        func checkpoint(_ name: String) throws {
            guard let folder else { return }
            let path = try folder.saveCheckpoint(name, of: self)
            hooks.checkpointed?(path)
        }
        try emit(.began(fresh: progress.epoch == 0 && progress.batchInEpoch == 0))
        var permutation = [Int](repeating: 0, count: trainIndices.count)
        if let cache {
            cache.start(epoch: progress.epoch, step: progress.batchInEpoch, epochs: config.epochs, walk: streamWalk())
        }
        defer { cache?.stop() }
        var lastCounters = cache?.counters() ?? (0, 0, 0)
        var batch = [Int](repeating: 0, count: config.batchSize)
        let started = Date()
        var samplesTrained = 0
        while progress.epoch < config.epochs {
            let epoch = progress.epoch
            order.fill(&permutation, epoch: epoch)
            // A resumed epoch starts from the sums its checkpoint kept.
            let epochStart = Date().addingTimeInterval(-(progress.epochSeconds ?? 0))
            var windowStart = Date(), windowLoss = 0.0, windowSteps = 0, windowSamples = 0, windowWait = 0.0
            var epochLoss = progress.epochLossSum ?? 0, epochSamples = progress.epochSamples ?? 0
            var windowParts = LossParts(), epochParts = LossParts()
            for (i, sum) in (progress.epochPartSums ?? []).prefix(LossParts.capacity).enumerated() { epochParts[i] = sum }
            /// A checkpoint inside the epoch, with the epoch's sums so far.
            func checkpointInsideEpoch() throws {
                progress.epochLossSum = epochLoss
                progress.epochSamples = epochSamples
                progress.epochPartSums = (0..<LossParts.capacity).map { epochParts[$0] }
                progress.epochSeconds = Date().timeIntervalSince(epochStart)
                try checkpoint("last")
            }
            var b = progress.batchInEpoch
            while b < batchesPerEpoch {
                let lower = b * config.batchSize
                let upper = min(lower + config.batchSize, trainIndices.count)
                for i in lower..<upper { batch[i - lower] = trainIndices[permutation[i]] }
                let rows = upper - lower
                if let cache { windowWait += try acquireImages(cache, epoch: epoch, batch: b, emit: emit,
                                                               checkpoint: checkpointInsideEpoch) }
                let sums = batch.withUnsafeBufferPointer {
                    trainer.trainStep(trainSource, indices: UnsafeBufferPointer(rebasing: $0[0..<rows]), epoch: epoch)
                }
                let loss = objective(sums, rows: rows)
                guard loss.isFinite else {
                    let layer = trainer.nonFiniteLayer().map { ", first non-finite output in layer \($0)" } ?? ""
                    let last = runDirectory + "/checkpoints/last.safetensors"
                    let kept = FileManager.default.fileExists(atPath: last)
                        ? "; \(last) holds the last good state" : "; no checkpoint had been written yet"
                    throw TrainingError("loss became \(loss) at step \(trainer.step) (epoch \(epoch + 1), batch \(b + 1), "
                        + "phase \(model.phases[0].name))\(layer)\(kept)")
                }
                windowLoss += loss
                epochLoss += loss * Double(rows)
                windowParts += sums.parts
                epochParts += sums.parts
                epochSamples += rows
                windowSteps += 1
                windowSamples += rows
                samplesTrained += rows
                b += 1
                progress.batchInEpoch = b
                if windowSteps == config.logEvery || b == batchesPerEpoch {
                    let seconds = Date().timeIntervalSince(windowStart)
                    let perStep = seconds / Double(windowSteps)
                    let stepsLeft = Double(batchesPerEpoch - b + (config.epochs - epoch - 1) * batchesPerEpoch)
                    var stepReport = StepReport(
                        epoch: epoch, epochs: config.epochs, batch: b, batches: batchesPerEpoch,
                        loss: windowLoss / Double(windowSteps), millisecondsPerStep: perStep * 1000,
                        samplesPerSecond: Double(windowSamples) / max(seconds, 1e-9), secondsLeft: stepsLeft * perStep,
                        parts: partList(windowParts, samples: windowSamples), rateUnit: rateUnit)
                    var now: (decodes: Int, lookups: Int, peakBytes: Int)?
                    if let cache {
                        now = cache.counters()
                        let reads = now!.lookups - lastCounters.1, decoded = now!.decodes - lastCounters.0
                        stepReport.dataWait = windowWait / max(seconds, 1e-9)
                        stepReport.cacheHitRate = reads > 0 ? max(0, Double(reads - decoded) / Double(reads)) : nil
                        lastCounters = now!
                        windowWait = 0
                    }
                    try emit(.steps(StepWindow(report: stepReport, step: trainer.step, cachePeakBytes: now?.peakBytes,
                                               cacheDecodes: now?.decodes)))
                    windowParts = LossParts()
                    windowStart = Date()
                    windowLoss = 0
                    windowSteps = 0
                    windowSamples = 0
                }
                if let every = config.evalEvery, trainer.step % every == 0 && b < batchesPerEpoch {
                    let test = evaluate(indices: testIndices)
                    let grid = drawsFigures ? gridRows(count: config.gridCount) : nil
                    try emit(.evaluated(Evaluated(epoch: epoch + 1, batch: b, step: trainer.step, test: test, grid: grid)))
                    try checkpointInsideEpoch()
                } else if config.checkpointEvery > 0 && trainer.step % config.checkpointEvery == 0 && b < batchesPerEpoch {
                    try checkpointInsideEpoch()
                }
                // The time limit acts within the epoch too (an epoch of a large folder takes long);
                // at its end, the epoch's evaluation comes first.
                let timeUp = b < batchesPerEpoch && config.timeLimit.map { Date().timeIntervalSince(started) >= $0 } == true
                var stop = stopRequested != 0 || stopThisRun || timeUp
                if let group = trainer.group { stop = group.any(stop) }  // every rank stops at this step
                if stop {
                    // Even after its last batch: the epoch's evaluation and record are still to come.
                    try checkpointInsideEpoch()
                    try emit(.stopped(Stop(reason: timeUp ? .timeLimitInEpoch : .interrupted, epoch: epoch + 1, batch: b,
                                           resumeFolder: hooks.resumeFolder ?? runDirectory)))
                    return metrics(wallSeconds: Date().timeIntervalSince(started), samples: samplesTrained)
                }
            }
            let trainSeconds = Date().timeIntervalSince(epochStart)
            let test = evaluate(indices: testIndices)
            hooks.evaluated?(test)
            let record = EpochRecord(epoch: epoch + 1, trainLoss: epochLoss / Double(max(epochSamples, 1)),
                                     testLoss: test.objective, testSquaredErrorPerImage: test.squaredErrorPerImage,
                                     testMSEPerPixel: test.msePerPixel, testPSNR: test.psnr,
                                     testPSNRNoisy: test.psnrNoisy, seconds: trainSeconds,
                                     trainParts: partDictionary(partList(epochParts, samples: epochSamples)),
                                     testParts: partDictionary(test.parts))
            progress.history.append(record)
            progress.epoch += 1
            progress.batchInEpoch = 0
            (progress.epochLossSum, progress.epochSamples, progress.epochPartSums, progress.epochSeconds) = (nil, nil, nil, nil)
            let best = progress.history.compactMap(\.testLoss).min() ?? .infinity
            try checkpoint("last")
            if test.objective <= best { try checkpoint("best") }
            let grid = drawsFigures ? gridRows(count: config.gridCount) : nil
            let codes = drawsFigures && model is any LatentModel ? try encodeTestSplit() : nil
            // The first training samples (as many as the test split) with the same parameters.
            let seen = reporting.reportsTrainingGap
                ? evaluate(indices: Array(trainIndices.prefix(testIndices.count)), source: trainSource) : nil
            try emit(.epochEnded(EpochEnd(record: record, test: test, step: trainer.step,
                                          samplesPerSecond: Double(epochSamples) / max(trainSeconds, 1e-9),
                                          trainingSplit: seen, grid: grid,
                                          codes: codes.map { ($0.codes, $0.labels, $0.width) },
                                          metrics: metrics(wallSeconds: Date().timeIntervalSince(started),
                                                           samples: samplesTrained))))
            hooks.epochEnded?(record)
            var limitReached = config.timeLimit.map { Date().timeIntervalSince(started) >= $0 } ?? false
            if let group = trainer.group { limitReached = group.any(limitReached) }
            if config.timeLimit != nil, limitReached, progress.epoch < config.epochs {
                try emit(.stopped(Stop(reason: .timeLimitAfterEpoch, epoch: epoch + 1, batch: 0,
                                       resumeFolder: hooks.resumeFolder ?? runDirectory)))
                break
            }
            if progress.epoch < config.epochs, hooks.stopsAfterEpoch?() == true { break }
        }
        return metrics(wallSeconds: Date().timeIntervalSince(started), samples: samplesTrained)
    }

    /// Epoch e's images in the order this process reads them: its own shards' rows, step by step.
    func streamWalk() -> @Sendable (Int) -> EpochWalk {
        let (order, indices, batch, shards) = (order, trainIndices, config.batchSize, config.shards)
        let local = trainer.localShards, images = cache?.index.files.count ?? 1
        return { epoch in
            var permutation: [Int] = []
            order.fill(&permutation, epoch: epoch)
            var walk = EpochWalk(images: [], stepStarts: [0])
            walk.images.reserveCapacity(indices.count)
            var lower = 0
            while lower < indices.count {
                let upper = min(lower + batch, indices.count)
                let plan = ShardPlan(rows: upper - lower, shards: shards)
                for r in plan.ranges[local.lowerBound].lowerBound..<plan.ranges[local.upperBound - 1].upperBound {
                    walk.images.append(Int32(indices[permutation[lower + r]] % images))
                }
                walk.stepStarts.append(walk.images.count)
                lower = upper
            }
            return walk
        }
    }

    /// Waits for the images of step `batch` (returns the seconds waited). A file that fails mid-run
    /// is left out with `--skip-bad` (logged); otherwise the run checkpoints and stops, naming it.
    /// Under MPI every rank learns when one stops.
    func acquireImages(_ cache: ImageCache, epoch: Int, batch: Int, emit: (RunEvent) throws -> Void,
                       checkpoint: () throws -> Void) throws -> Double {
        var waited = 0.0
        var failure: InputError?
        do { waited = try cache.acquire(epoch: epoch, step: batch, skipBad: config.skipBad) } catch let error as InputError {
            failure = error
        }
        var stop = failure != nil
        if let group = trainer.group { stop = group.any(stop) }
        if stop {
            try checkpoint()
            let what = failure.map { "\($0.path): \($0.reason)" } ?? "another rank could not read an image"
            throw TrainingError("\(what) (at epoch \(epoch + 1) batch \(batch + 1); saved checkpoints/last.safetensors); "
                + "restore the file and continue with --resume (runs started with --skip-bad leave such files out)")
        }
        for failed in cache.takeFailures() {
            try emit(.fileLeftOut(path: failed.path, reason: failed.reason, epoch: epoch + 1, batch: batch + 1))
        }
        return waited
    }

}
