// A whole training run: loads the data, trains epoch by epoch with the data-parallel engine,
// evaluates on the test split, and writes the run folder: config.json, log.jsonl, grids/,
// plots/loss.png, checkpoints/ (last and best, atomic) and metrics.json. Resumes bit-identically.

import Datasets
import Foundation
import Images
import Kernels
import Layers
import Models

/// Errors that stop a run, each a one-line reason.
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

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
}

/// Set by a SIGINT handler: the run checkpoints at the next step boundary and stops.
nonisolated(unsafe) public var stopRequested: Int32 = 0

public final class TrainingRun {
    public let config: TrainingConfig
    public let runDirectory: String
    public let model: any AutoencoderModel
    public let trainer: Trainer
    public internal(set) var progress: RunProgress
    let trainIndices: [Int]
    let testIndices: [Int]
    /// The batch sources as existentials, made once (converting per step would allocate).
    let trainSource: any BatchSource
    let testSource: any BatchSource
    /// The test split's images (grids), or its sequences (plots), whichever the data is.
    let testImages: BatchAssembler?
    let testSequences: SequenceBatchSource?
    let corruption: Corruption
    let evaluationEpoch: Int

    /// Prepares a run (loads data, builds the model); `resume` is a checkpoint or run folder.
    /// - Throws: `DatasetError`, `TrainingError` or `SafeTensorsError` with a one-line reason.
    /// `evaluating`: the checkpoint whose model is run on `config.data`, for errors that name it.
    /// `epochs`: with `resume`, the run's new epoch count (nil keeps the run's own).
    public init(config requested: TrainingConfig, runDirectory: String, resume: String? = nil, epochs: Int? = nil,
                dataOverride: String? = nil, evaluating: (checkpoint: String, trainedOn: String)? = nil) throws {
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
        }
        corruption = try Corruption(parsing: config.noise)
        let shape: ImageShape
        var trainCount: Int
        if config.model.specification.readsSequenceFiles && SequenceSource.looksLikeSequences(config.data) {
            let splits = try SequenceSource.loadSplits(config.data, idColumn: config.sequenceID,
                                                       labelColumn: config.sequenceLabel)
            let test = splits.test ?? splits.train
            let (trainIDs, testIDs) = try TrainingRun.split(count: splits.train.count, testCount: splits.test?.count,
                                                             config: config, source: splits.train.source)
            // Standardize with the training sequences' statistics, kept in the config (and so in
            // every checkpoint) so evaluation and resumed runs use the same ones.
            if config.standardization == nil {
                config.standardization = Standardization(fitting: splits.train, indices: trainIDs)
            }
            let longest = max(splits.train.maxLength, test.maxLength)
            guard case .sequence(var sequence) = config.model else {
                throw TrainingError("\(config.data): sequence data needs a sequence model")
            }
            if contents == nil || !sequence.variableLength {
                if contents != nil && !sequence.variableLength {
                    throw TrainingError("\(splits.train.source): \(splits.train.features) values per step; the model "
                        + "was trained on \(sequence.features) (image rows)")
                }
                try config.resolveSequenceModel(steps: longest, features: splits.train.features)
                guard case .sequence(let resolved) = config.model else { preconditionFailure("sequence model expected") }
                sequence = resolved
            }
            guard sequence.features == splits.train.features else {
                throw TrainingError("\(splits.train.source): \(splits.train.features) values per step; the model "
                    + "was trained on \(sequence.features)")
            }
            let train = try SequenceBatchSource(sequences: splits.train, standardization: config.standardization,
                                                corruption: corruption, seed: config.seed, steps: sequence.steps)
            // Evaluation noise is fixed: one seed and epoch, so test figures compare across epochs.
            let testSource = try SequenceBatchSource(sequences: test, standardization: config.standardization,
                                                     corruption: corruption, seed: config.seed ^ 0x7465_7374,
                                                     steps: sequence.steps)
            shape = ImageShape(channels: 1, height: sequence.steps, width: sequence.features)
            trainIndices = trainIDs
            testIndices = testIDs
            trainSource = train
            self.testSource = testSource
            testSequences = testSource
            testImages = nil
            trainCount = trainIDs.count
        } else {
            // The denoiser trains on patches by default, so its folder may mix image sizes.
            if config.patch == nil { config.patch = config.family.defaultPatch }
            if SequenceSource.looksLikeSequences(config.data) {
                throw TrainingError("\(config.data): sequence data (.ts or .csv); the \(config.family.rawValue) model "
                    + "takes images (sequences need --model lstm or gru)")
            }
            let source: DataSource
            do {
                source = try DataSource.load(config.data, options: config.folderOptions)
            } catch let error as DatasetError where error.kind == .mixedSizes && evaluating != nil {
                // The flags the message suggests are training options; say what the model takes.
                let reason = error.reason.replacingOccurrences(of: "; pass --resize WxH or --crop WxH", with: "")
                throw DatasetError(.mixedSizes, path: error.path, reason + "; the model in \(evaluating!.checkpoint) "
                    + "takes \(config.modelInput)")
            }
            let dataset = source.train
            if let patch = config.patch {
                shape = ImageShape(channels: dataset.channels, height: patch, width: patch)
            } else if let fixed = dataset.fixedShape {
                shape = fixed
            } else {
                throw TrainingError("\(dataset.source): images differ in size; pass --resize WxH, --crop WxH or --patch N")
            }
            if let evaluating, let problem = config.inputMismatch(shape) {
                throw TrainingError("\(dataset.source): \(problem); the model in \(evaluating.checkpoint) takes "
                    + "\(config.modelInput) (trained on \(evaluating.trainedOn))")
            }
            try config.resolveModel(rowShape: shape)
            if let patch = config.patch, config.patchesPerImage == nil {
                // About one pass over the training pixels per epoch.
                let (h, w) = dataset.meanSize
                config.patchesPerImage = max(1, Int((Double(h * w) / Double(patch * patch)).rounded(.up)))
            }
            let repeats = config.patchesPerImage ?? 1
            let testSet = source.test ?? dataset
            let (trainImages, testImageIDs) = try TrainingRun.split(count: dataset.count, testCount: source.test?.count,
                                                                    config: config, source: dataset.source)
            let patch = config.patch.map { (height: $0, width: $0) }
            var train = try BatchAssembler(dataset: dataset, corruption: corruption, seed: config.seed, patch: patch,
                                           patchesPerImage: repeats)
            // Evaluation noise and crops are fixed: one seed and epoch, so test figures compare across epochs.
            var test = try BatchAssembler(dataset: testSet, corruption: corruption, seed: config.seed ^ 0x7465_7374,
                                          patch: patch, patchesPerImage: repeats)
            if config.binarize == true {
                train.binarize = true
                test.binarize = true
                test.binarizeEpoch = 0
            }
            trainIndices = train.sampleIndices(images: trainImages)
            testIndices = test.sampleIndices(images: testImageIDs)
            trainSource = train
            testSource = test
            testImages = test
            testSequences = nil
            trainCount = trainIndices.count
        }
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
        self.config = config
        self.runDirectory = runDirectory
        evaluationEpoch = 0
        model = config.makeModel(rowShape: shape)
        trainer = Trainer(model: model, optimizers: try config.phaseOptimizerList(for: model), shards: config.shards,
                          maxBatch: config.batchSize, seed: config.seed)
        progress = RunProgress()
        if let contents {
            try Checkpoint.restore(contents, into: trainer)
            progress = contents.progress
        }
    }

    /// Training and test sample indices: every sample of each split when the source has a test
    /// split, else a seeded random `holdout` part of the one split for testing.
    static func split(count: Int, testCount: Int?, config: TrainingConfig, source: String) throws
        -> (train: [Int], test: [Int]) {
        if let testCount { return (Array(0..<count), Array(0..<testCount)) }
        guard count >= 2 else { throw TrainingError("\(source): need at least 2 samples to hold some out for testing") }
        let order = EpochOrder(count: count, seed: config.seed ^ 0x686F_6C64).permutation(epoch: 0)
        let held = min(max(Int(Double(count) * config.holdout), 1), count - 1)
        return (Array(order[held...]).sorted(), Array(order[0..<held]).sorted())
    }

    /// A run holding a checkpoint's weights, for reconstruction and evaluation; `data`, `noise`
    /// and `shards` override the checkpoint's config when given.
    public static func fromCheckpoint(_ path: String, data: String? = nil, noise: String? = nil,
                                      shards: Int? = nil) throws -> TrainingRun {
        let contents = try Checkpoint.load(path)
        var config = contents.config
        let trainedOn = config.data
        if let data { config.data = data }
        if let noise { config.noise = noise }
        if let shards { config.shards = shards }
        let run = try TrainingRun(config: config, runDirectory: NSTemporaryDirectory(),
                                  evaluating: (contents.path, trainedOn))
        try Checkpoint.restore(contents, into: run.trainer, optimizer: false)
        run.progress = contents.progress
        return run
    }

    var batchesPerEpoch: Int { (trainIndices.count + config.batchSize - 1) / config.batchSize }

    /// Trains the remaining epochs. `report` receives step reports; `log` receives lines.
    public func run(report: (StepReport) -> Void, log: (String) -> Void) throws -> [String: Double] {
        let fm = FileManager.default
        for folder in ["grids", "plots", "checkpoints"] {
            try fm.createDirectory(atPath: runDirectory + "/" + folder, withIntermediateDirectories: true)
        }
        try AtomicFile.write(Data(config.jsonString(pretty: true).utf8), to: runDirectory + "/config.json")
        let logFile = try LogFile(path: runDirectory + "/log.jsonl", append: progress.epoch > 0 || progress.batchInEpoch > 0)
        let order = EpochOrder(count: trainIndices.count, seed: config.seed)
        var permutation = [Int](repeating: 0, count: trainIndices.count)
        var batch = [Int](repeating: 0, count: config.batchSize)
        let started = Date()
        var samplesTrained = 0
        while progress.epoch < config.epochs {
            let epoch = progress.epoch
            order.fill(&permutation, epoch: epoch)
            let epochStart = Date()
            var windowStart = Date(), windowLoss = 0.0, windowSteps = 0, windowSamples = 0
            var epochLoss = 0.0, epochSamples = 0
            var windowParts = LossParts(), epochParts = LossParts()
            var b = progress.batchInEpoch
            while b < batchesPerEpoch {
                let lower = b * config.batchSize
                let upper = min(lower + config.batchSize, trainIndices.count)
                for i in lower..<upper { batch[i - lower] = trainIndices[permutation[i]] }
                let rows = upper - lower
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
                    let stepReport = StepReport(
                        epoch: epoch, epochs: config.epochs, batch: b, batches: batchesPerEpoch,
                        loss: windowLoss / Double(windowSteps), millisecondsPerStep: perStep * 1000,
                        samplesPerSecond: Double(windowSamples) / max(seconds, 1e-9), secondsLeft: stepsLeft * perStep,
                        parts: partList(windowParts, samples: windowSamples))
                    report(stepReport)
                    var line: [String: Any] = ["type": "step", "epoch": epoch + 1, "batch": b, "step": trainer.step,
                                               "loss": stepReport.loss, "ms_per_step": stepReport.millisecondsPerStep,
                                               "samples_per_second": stepReport.samplesPerSecond]
                    for part in stepReport.parts { line["loss_" + part.name] = part.value }
                    logFile.write(line)
                    windowParts = LossParts()
                    windowStart = Date()
                    windowLoss = 0
                    windowSteps = 0
                    windowSamples = 0
                }
                if config.checkpointEvery > 0 && trainer.step % config.checkpointEvery == 0 && b < batchesPerEpoch {
                    try Checkpoint.save(trainer, config: config, progress: progress,
                                        to: runDirectory + "/checkpoints/last.safetensors")
                }
                if stopRequested != 0 {
                    try Checkpoint.save(trainer, config: config, progress: progress,
                                        to: runDirectory + "/checkpoints/last.safetensors")
                    log("interrupted at epoch \(epoch + 1) batch \(b): saved checkpoints/last.safetensors; "
                        + "continue with --resume \(runDirectory)")
                    return metrics(wallSeconds: Date().timeIntervalSince(started), samples: samplesTrained)
                }
            }
            let trainSeconds = Date().timeIntervalSince(epochStart)
            let test = evaluate(indices: testIndices)
            let record = EpochRecord(epoch: epoch + 1, trainLoss: epochLoss / Double(max(epochSamples, 1)),
                                     testLoss: test.objective, testSquaredErrorPerImage: test.squaredErrorPerImage,
                                     testMSEPerPixel: test.msePerPixel, testPSNR: test.psnr,
                                     testPSNRNoisy: test.psnrNoisy, seconds: trainSeconds,
                                     trainParts: partDictionary(partList(epochParts, samples: epochSamples)),
                                     testParts: partDictionary(test.parts))
            progress.history.append(record)
            progress.epoch += 1
            progress.batchInEpoch = 0
            let best = progress.history.compactMap(\.testLoss).min() ?? .infinity
            try Checkpoint.save(trainer, config: config, progress: progress, to: runDirectory + "/checkpoints/last.safetensors")
            if test.objective <= best {
                try Checkpoint.save(trainer, config: config, progress: progress, to: runDirectory + "/checkpoints/best.safetensors")
            }
            try writeGrid(epoch: epoch + 1)
            try writePlot()
            if model is any LatentModel && !isSequenceData {
                try writeLatentScatter(to: runDirectory + String(format: "/plots/latent-epoch-%03d.png", epoch + 1),
                                       title: "test codes, epoch \(epoch + 1)")
            }
            var entry: [String: Any] = [
                "type": "epoch", "epoch": epoch + 1, "step": trainer.step, "train_loss": record.trainLoss,
                "test_loss": test.objective, "test_squared_error_per_image": test.squaredErrorPerImage,
                "test_mse_per_pixel": test.msePerPixel, "seconds": trainSeconds,
                "samples_per_second": Double(epochSamples) / max(trainSeconds, 1e-9)]
            for (name, value) in record.trainParts ?? [:] { entry["train_" + name] = value }
            for (name, value) in record.testParts ?? [:] { entry["test_" + name] = value }
            var quality = testSequences == nil
                ? String(format: "test squared error/image %.3f", test.squaredErrorPerImage)
                    + test.parts.map { String(format: ", %@ %.3f", $0.name, $0.value) }.joined()
                : String(format: "test MSE per value %.5f (standardized)", test.msePerPixel)
            if let psnr = test.psnr, let noisy = test.psnrNoisy {
                entry["test_psnr"] = psnr
                entry["test_psnr_noisy"] = noisy
                quality = String(format: "validation PSNR %.2f dB (noisy %.2f dB)", psnr, noisy)
            }
            logFile.write(entry)
            log(String(format: "epoch %d/%d | train %.5f | test %.5f | ", epoch + 1, config.epochs, record.trainLoss,
                       test.objective) + quality
                + String(format: " | %.1f s | %.0f img/s", trainSeconds, Double(epochSamples) / max(trainSeconds, 1e-9)))
            let metrics = metrics(wallSeconds: Date().timeIntervalSince(started), samples: samplesTrained)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try AtomicFile.write(try encoder.encode(metrics), to: runDirectory + "/metrics.json")
            if let limit = config.timeLimit, Date().timeIntervalSince(started) >= limit, progress.epoch < config.epochs {
                log("time limit of \(Int(limit)) s reached after epoch \(epoch + 1); resume with --resume \(runDirectory)")
                break
            }
        }
        return metrics(wallSeconds: Date().timeIntervalSince(started), samples: samplesTrained)
    }

    /// The training objective in its reported unit (per value, or per sample for likelihood
    /// models) plus penalties.
    func objective(_ sums: LossSums, rows: Int) -> Double {
        sums.objective / Double(rows * objectiveDivisor) + sums.penalty
    }

    /// Values per sample that the objective's sum is divided by (1 for a per-sample objective).
    var objectiveDivisor: Int { model.objectiveUnit == .perValue ? model.valuesPerTarget : 1 }

    /// The model's named loss parts as per-sample means over `samples` rows.
    func partList(_ parts: LossParts, samples: Int) -> [(name: String, value: Double)] {
        model.lossPartNames.enumerated().map { ($0.element, parts[$0.offset] / Double(max(samples, 1))) }
    }

    func partDictionary(_ list: [(name: String, value: Double)]) -> [String: Double]? {
        list.isEmpty ? nil : Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0.value) })
    }

    public struct Evaluation: Sendable {
        public var objective: Double
        public var squaredErrorPerImage: Double
        public var msePerPixel: Double
        /// BCE nats per image (BCE models), else nil.
        public var bcePerImage: Double?
        /// Mean PSNR (dB, peak 1) of the reconstructions and of the corrupted inputs against the
        /// clean images, per image then averaged (denoisers), else nil.
        public var psnr: Double?
        public var psnrNoisy: Double?
        /// The model's named loss parts per sample.
        public var parts: [(name: String, value: Double)] = []
    }

    /// Loss figures over `indices` of the test set (fixed evaluation noise), in batches.
    public func evaluate(indices: [Int]) -> Evaluation {
        var total = LossSums()
        var penaltyBatches = 0.0
        var start = 0
        let measurePSNR = isDenoiser
        let width = model.targetWidth
        var clean = [Float](repeating: 0, count: measurePSNR ? config.batchSize * width : 0)
        var noisy = clean, recon = clean
        var psnrSum = 0.0, psnrNoisySum = 0.0
        while start < indices.count {
            let end = min(start + config.batchSize, indices.count)
            let sums: LossSums
            if measurePSNR {
                sums = indices[start..<end].withUnsafeBufferPointer { ids in
                    testSource.fill(indices: ids, epoch: evaluationEpoch, clean: &clean, corrupted: nil)
                    return trainer.evaluate(testSource, indices: ids, epoch: evaluationEpoch,
                                            reconstructions: &recon, inputs: &noisy)
                }
                for r in 0..<(end - start) {
                    let range = (r * width)..<((r + 1) * width)
                    psnrSum += psnr(clean[range], recon[range])
                    psnrNoisySum += psnr(clean[range], noisy[range])
                }
            } else {
                sums = indices[start..<end].withUnsafeBufferPointer {
                    trainer.evaluate(testSource, indices: $0, epoch: evaluationEpoch)
                }
            }
            total.objective += sums.objective
            total.squaredError += sums.squaredError
            total.parts += sums.parts
            total.penalty += sums.penalty * Double(end - start)
            penaltyBatches += Double(end - start)
            start = end
        }
        let n = Double(indices.count), d = Double(model.valuesPerTarget)
        return Evaluation(objective: total.objective / (n * Double(objectiveDivisor)) + total.penalty / max(penaltyBatches, 1),
                          squaredErrorPerImage: total.squaredError / n, msePerPixel: total.squaredError / (n * d),
                          bcePerImage: config.loss == .bce && model.objectiveUnit == .perValue ? total.objective / n : nil,
                          psnr: measurePSNR ? psnrSum / n : nil, psnrNoisy: measurePSNR ? psnrNoisySum / n : nil,
                          parts: partList(total.parts, samples: indices.count))
    }

    /// PSNR in dB of `b` against `a` for values in [0, 1]; the reconstruction is clipped to
    /// that range first, as a saved image would be. Capped at 100 dB for identical images.
    func psnr(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
        var sum = 0.0
        for (x, y) in zip(a, b) {
            let e = Double(x) - Double(min(max(y, 0), 1))
            sum += e * e
        }
        let mse = sum / Double(a.count)
        return mse > 0 ? min(10 * log10(1 / mse), 100) : 100
    }

    /// Clean | corrupted | reconstruction rows of the first `gridCount` test samples.
    public func writeGrid(epoch: Int) throws {
        try writeGrid(to: runDirectory + String(format: "/grids/reconstruction-epoch-%03d.png", epoch),
                      count: config.gridCount)
    }

    /// True for the fully convolutional denoiser (PSNR figures, "denoised" grid rows).
    var isDenoiser: Bool {
        if case .denoiser = config.model { return true }
        return false
    }

    /// True when the run reads sequence files (standardized values, not images).
    public var isSequenceData: Bool { testSequences != nil }

    /// The test split's indices (the held-out part for single-split sources).
    public var testSampleCount: Int { testIndices.count }

    /// Evaluation over the whole test split.
    public func evaluateTestSplit() -> Evaluation { evaluate(indices: testIndices) }

    /// Importance-sampled negative log-likelihood (nats per sample) of the test split with
    /// `samples` draws per sample: the mean, and each sample's.
    /// - Throws: `TrainingError` for a model without a likelihood or corrupted inputs.
    public func importanceSampledNLL(samples: Int) throws -> (mean: Double, perSample: [Double]) {
        guard model is VariationalAutoencoder else {
            throw TrainingError("importance-sampled likelihoods need a vae checkpoint (this is \(config.family.rawValue))")
        }
        guard corruption.isNone else {
            throw TrainingError("importance sampling scores the clean inputs; pass --noise none (the run used \(config.noise))")
        }
        guard samples > 0 else { throw TrainingError("--nll-samples must be positive") }
        let values = trainer.negativeLogLikelihoods(testSource, indices: testIndices, samples: samples)
        return (values.reduce(0, +) / Double(max(values.count, 1)), values)
    }

    /// Writes a clean | corrupted | reconstruction grid of the first `count` test samples
    /// (rows of up to 10 samples); for sequence data, a plot of original vs reconstruction per
    /// feature of the first few test sequences, in the data's units.
    public func writeGrid(to path: String, count: Int) throws {
        let shown = testSequences == nil ? count : min(count, 3)
        let ids = Array(testIndices.prefix(min(shown, config.batchSize)))
        let width = model.targetWidth
        var clean = [Float](repeating: 0, count: ids.count * width)
        var noisy = clean, recon = clean
        ids.withUnsafeBufferPointer { p in
            clean.withUnsafeMutableBufferPointer { c in
                testSource.fill(indices: p, epoch: evaluationEpoch, clean: c.baseAddress!, corrupted: nil)
            }
            noisy.withUnsafeMutableBufferPointer { n in
                recon.withUnsafeMutableBufferPointer { r in
                    _ = trainer.evaluate(testSource, indices: p, epoch: evaluationEpoch,
                                         reconstructions: r.baseAddress!, inputs: n.baseAddress!)
                }
            }
        }
        if let sequences = testSequences?.sequences {
            var plot = SequencePlot(featureNames: sequences.featureNames)
            let d = sequences.features
            for (r, id) in ids.enumerated() {
                let n = sequences.length(of: id)
                var original = Array(clean[(r * width)..<(r * width + n * d)])
                var reconstruction = Array(recon[(r * width)..<(r * width + n * d)])
                if let standardization = config.standardization {
                    original = standardization.inverted(original)
                    reconstruction = standardization.inverted(reconstruction)
                }
                var caption = sequences.files?[id] ?? "sequence \(id + 1)"
                if let labels = sequences.labels {
                    caption += " (class " + (sequences.classNames?[Int(labels[id])] ?? "\(labels[id])") + ")"
                }
                plot.add(caption + ": \(n) steps", original: original, reconstruction: reconstruction)
            }
            try plot.write(to: path)
            return
        }
        guard let shape = testImages?.rowShape, shape.channels == 1 || shape.channels == 3 else { return }
        var grid = ImageGrid(tileWidth: shape.width, tileHeight: shape.height, channels: shape.channels)
        let perRow = 10
        for start in stride(from: 0, to: ids.count, by: perRow) {
            let range = (start * width)..<(min(start + perRow, ids.count) * width)
            grid.addRow(label: "clean", tiles: Array(clean[range]))
            if !corruption.isNone { grid.addRow(label: "noisy", tiles: Array(noisy[range])) }
            grid.addRow(label: isDenoiser ? "denoised" : "recon", tiles: Array(recon[range]))
        }
        try PNGCodec.write(grid.render(), to: path)
    }

    func writePlot() throws {
        var plot = LinePlot(title: "loss per epoch", xLabel: "epoch", yLabel: "objective", logScaleY: true)
        plot.add("train", color: (31, 119, 180), points: progress.history.map { (Double($0.epoch), $0.trainLoss) })
        plot.add("test", color: (214, 39, 40),
                 points: progress.history.compactMap { r in r.testLoss.map { (Double(r.epoch), $0) } })
        let colors: [(UInt8, UInt8, UInt8)] = [(44, 160, 44), (148, 103, 189), (140, 86, 75), (227, 119, 194)]
        for (i, name) in model.lossPartNames.enumerated() {
            plot.add("test " + name, color: colors[i % colors.count],
                     points: progress.history.compactMap { r in r.testParts?[name].map { (Double(r.epoch), $0) } })
        }
        try PNGCodec.write(plot.render(), to: runDirectory + "/plots/loss.png")
    }

    func metrics(wallSeconds: Double, samples: Int) -> [String: Double] {
        var m: [String: Double] = ["epochs_done": Double(progress.history.count), "steps": Double(trainer.step),
                                   "wall_seconds": wallSeconds,
                                   "train_samples_per_second": Double(samples) / max(wallSeconds, 1e-9)]
        if let last = progress.history.last {
            m["train_loss"] = last.trainLoss
            m["test_loss"] = last.testLoss
            m["test_squared_error_per_image"] = last.testSquaredErrorPerImage
            m["test_mse_per_pixel"] = last.testMSEPerPixel
            for (name, value) in last.trainParts ?? [:] { m["train_" + name] = value }
            for (name, value) in last.testParts ?? [:] { m["test_" + name] = value }
        }
        if let best = progress.history.filter({ $0.testSquaredErrorPerImage != nil })
            .min(by: { $0.testSquaredErrorPerImage! < $1.testSquaredErrorPerImage! }) {
            m["best_epoch"] = Double(best.epoch)
            m["best_test_squared_error_per_image"] = best.testSquaredErrorPerImage
            m["best_test_mse_per_pixel"] = best.testMSEPerPixel
        }
        if let best = progress.history.filter({ $0.testPSNR != nil }).max(by: { $0.testPSNR! < $1.testPSNR! }) {
            m["best_test_psnr"] = best.testPSNR
            m["best_test_psnr_noisy"] = best.testPSNRNoisy
        }
        return m
    }
}

/// Appends one JSON object per line, flushed as it goes.
final class LogFile {
    let handle: FileHandle

    init(path: String, append: Bool) throws {
        if !append || !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw TrainingError("\(path): cannot open the log for writing")
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    func write(_ object: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        handle.write(data + Data("\n".utf8))
    }

    deinit { try? handle.close() }
}
