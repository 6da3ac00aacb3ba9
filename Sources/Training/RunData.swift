// Data resolution of a run: what `--data` holds (IDX, PNG folder, sequence files), the train
// and test splits (a held-out part when there is no test split), the batch sources with their
// noise, patches and binarization, and the model's size resolved from one training row.

import Datasets
import Engine
import Files
import Foundation
import Models

/// The data side of a run, resolved once from its config.
public struct RunData {
    public internal(set) var corruption: Corruption
    /// One training row's shape (sequences: steps x features).
    public internal(set) var shape: ImageShape
    public internal(set) var trainIndices: [Int]
    public internal(set) var testIndices: [Int]
    var trainCount: Int
    /// The batch sources as existentials, made once (converting per step would allocate).
    let trainSource: any BatchSource
    let testSource: any BatchSource
    /// The test split's images (grids), or its sequences (plots), whichever the data is.
    let testImages: BatchAssembler?
    let testSequences: SequenceBatchSource?
    /// Files left out with `--skip-bad`, each with libpng's reason.
    public internal(set) var skipped: [SkippedFile] = []
    /// Things about the data worth a line in the log (transparent images on black).
    public internal(set) var warnings: [String] = []
    /// The order of each epoch's training samples.
    var order: SampleOrder
    /// The cache a PNG folder larger than it is streamed through (nil: the data is in memory).
    var cache: ImageCache?

    /// Loads the data of `config` and resolves its model's size (filled into `config`).
    /// `resuming`: the model's size is the checkpoint's. `evaluating`: the checkpoint whose model
    /// is run on `config.data`, for errors that name it.
    /// - Throws: `InputError` or `TrainingError` with a one-line reason.
    init(config: inout TrainingConfig, resuming: Bool, evaluating: (checkpoint: String, trainedOn: String)?) throws {
        corruption = try Corruption(parsing: config.noise)
        order = .global(EpochOrder(count: 0, seed: config.seed))
        if config.model.specification.readsSequenceFiles && SequenceSource.looksLikeSequences(config.data) {
            if config.augment == true {
                throw TrainingError("\(config.data): --augment turns and mirrors images, not sequences")
            }
            let splits = try SequenceSource.loadSplits(config.data, idColumn: config.sequenceID,
                                                       labelColumn: config.sequenceLabel)
            let test = splits.test ?? splits.train
            let (trainIDs, testIDs) = try Self.split(count: splits.train.count, testCount: splits.test?.count,
                                                             config: config, source: splits.train.source)
            // Standardize with the training sequences' statistics, kept in the config (and so in
            // every checkpoint) so evaluation and resumed runs use the same ones.
            if config.standardization == nil {
                config.standardization = Standardization(fitting: splits.train, indices: trainIDs)
            }
            let longest = max(splits.train.maxLength, test.maxLength)
            if resuming && config.model.specification.sequenceSize == nil {
                if let sequence = config.model.as(SequenceAutoencoderConfig.self) {
                    throw TrainingError("\(splits.train.source): \(splits.train.features) values per step; the model "
                        + "was trained on \(sequence.features) (image rows)")
                }
                throw TrainingError("\(splits.train.source): sequence files; the model was trained on images")
            }
            // A trained model whose size depends on the steps keeps them: longer sequences are
            // refused by the batch source below, shorter ones padded.
            let keepsSteps = evaluating != nil && config.model.specification.fixesSequenceSteps
                && config.model.specification.sequenceSize != nil
            if !resuming && !keepsSteps {
                try config.resolveSequenceModel(steps: longest, features: splits.train.features)
            }
            guard let size = config.model.specification.sequenceSize else {
                preconditionFailure("a model resolved for sequence files has a sequence size")
            }
            guard size.features == splits.train.features else {
                throw TrainingError("\(splits.train.source): \(splits.train.features) values per step; the model "
                    + "was trained on \(size.features)")
            }
            let train = try SequenceBatchSource(sequences: splits.train, standardization: config.standardization,
                                                corruption: corruption, seed: config.seed, steps: size.steps)
            // Evaluation noise is fixed: one seed and epoch, so test figures compare across epochs.
            let testSource = try SequenceBatchSource(sequences: test, standardization: config.standardization,
                                                     corruption: corruption, seed: config.seed ^ 0x7465_7374,
                                                     steps: size.steps)
            shape = ImageShape(channels: 1, height: size.steps, width: size.features)
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
                    + "takes images (sequences need --model lstm, gru or disentangle)")
            }
            let dataset: Dataset, testSet: Dataset, trainImages: [Int], testImageIDs: [Int]
            if evaluating == nil, let streamed = try Self.streamedFolder(&config, resuming: resuming) {
                (dataset, testSet, trainImages, testImageIDs) = (streamed.train, streamed.test,
                                                                 streamed.trainImages, Array(0..<streamed.test.count))
                skipped = streamed.skipped
                cache = dataset.cache
            } else {
                let source: DataSource
                do {
                    source = try StageFeatures.load(config.data, options: config.folderOptions, shards: config.shards)
                } catch let error as InputError where error.kind == .mixedSizes && evaluating != nil {
                    // The flags the message suggests are training options; say what the model takes.
                    let reason = error.reason.replacingOccurrences(of: "; pass --resize WxH or --crop WxH", with: "")
                    throw InputError(.mixedSizes, path: error.path, reason + "; the model in \(evaluating!.checkpoint) "
                        + "takes \(config.modelInput)")
                }
                dataset = source.train
                testSet = source.test ?? dataset
                skipped = source.skipped
                if let warning = source.transparencyWarning(background: config.background) { warnings.append(warning) }
                var held: [Int]
                (trainImages, held) = try Self.split(count: dataset.count, testCount: source.test?.count,
                                                     config: config, source: dataset.source)
                if let limit = config.validationImages { held = Array(held.prefix(limit)) }
                testImageIDs = held
            }
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
            if config.patch == nil, let a = dataset.fixedShape, let b = testSet.fixedShape, a != b {
                throw InputError(.mixedSizes, path: testSet.source, "test images are \(b), the training images are "
                    + "\(a); both splits must have one size (or pass --resize WxH)")
            }
            // Every patch of an epoch is a sample index in the training and test lists and in the
            // epoch's order (about 32 bytes each): refuse counts the memory cannot hold (a quarter
            // of it, and at most 2^27 patches: 4 GB of lists).
            let images = Double(dataset.count + testSet.count)
            let largest = min(Double(ProcessInfo.processInfo.physicalMemory) / 4 / 32, Double(1 << 27))
            if images * Double(repeats) > largest {
                throw TrainingError("--patches-per-image \(repeats): \(Int(images)) images x \(repeats) patches per epoch "
                    + "are more sample indices than this machine's memory holds (\(Int(largest))); use at most "
                    + "\(max(1, Int(largest / images)))")
            }
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
            if config.augment == true {
                guard train.rowShape.height == train.rowShape.width else {
                    throw TrainingError("\(dataset.source): --augment turns and mirrors square rows; these are "
                        + "\(train.rowShape) (train on square --patch N crops, or --resize to a square)")
                }
                // The training rows only: evaluation sees the images as they are.
                train.augment = true
            }
            trainIndices = train.sampleIndices(images: trainImages)
            testIndices = test.sampleIndices(images: testImageIDs)
            if let limit = config.validationSamples ?? (cache != nil ? 1024 : nil) {
                testIndices = Array(testIndices.prefix(limit))
            }
            if let window = config.window {
                order = .windowed(WindowedOrder(imageOf: trainIndices.map { $0 % dataset.count }, window: window,
                                                seed: config.seed))
            }
            trainSource = train
            testSource = test
            testImages = test
            testSequences = nil
            trainCount = trainIndices.count
        }
        if case .global = order { order = .global(EpochOrder(count: trainIndices.count, seed: config.seed)) }
    }

    /// What a streamed PNG folder gives a run.
    struct Streamed {
        var train: Dataset
        var test: Dataset
        var trainImages: [Int]
        var skipped: [SkippedFile]
    }

    /// A PNG folder whose decoded samples exceed the cache, set up for streaming: the training
    /// images through a cache, a bounded set of held-out images decoded now. Nil when the data
    /// is not a PNG folder or fits (then it is loaded whole, as before).
    static func streamedFolder(_ config: inout TrainingConfig, resuming: Bool) throws -> Streamed? {
        if config.model.specification.readsSequenceFiles && SequenceSource.looksLikeSequences(config.data) { return nil }
        guard let found = try DataSource.index(config.data, options: config.folderOptions) else { return nil }
        let budget = config.cacheMemory ?? TrainingConfig.defaultCacheMemory
        let total = found.train.totalSampleBytes + (found.test?.totalSampleBytes ?? 0)
        guard total > budget else { return nil }
        let train = found.train
        let trainImages: [Int], held: PNGIndex, heldImages: [Int]
        if let test = found.test {
            (trainImages, held, heldImages) = (Array(train.files.indices), test, Array(test.files.indices))
        } else {
            let (kept, out) = try split(count: train.files.count, testCount: nil, config: config, source: train.folder)
            (trainImages, held, heldImages) = (kept, train, out)
        }
        var options = config.folderOptions
        options.classNames = train.classNames
        let chosen = held.subset(Array(heldImages.prefix(config.validationImages ?? 8)))
        let (test, testSkipped) = try PNGFolder.decode(chosen, options: options)
        let cache = ImageCache(index: train, options: config.folderOptions, budget: budget,
                               decoders: config.decoders ?? TrainingConfig.defaultDecoders)
        if config.window == nil && !resuming { config.window = cache.defaultWindow }
        return Streamed(train: Dataset(streaming: cache), test: test, trainImages: trainImages,
                        skipped: (train.skipped + (found.test?.skipped ?? []) + testSkipped).sorted { $0.path < $1.path })
    }

    /// Training and test sample indices: every sample of each split when the source has a test
    /// split, else a seeded random `holdout` part of the one split for testing: a count of samples,
    /// or a fraction (for a whole-image denoiser at least 4 images where a quarter of the folder
    /// allows: one photograph is a noisy figure to pick the best epoch by).
    public static func split(count: Int, testCount: Int?, config: TrainingConfig, source: String) throws
        -> (train: [Int], test: [Int]) {
        if let testCount { return (Array(0..<count), Array(0..<testCount)) }
        guard count >= 2 else { throw TrainingError("\(source): need at least 2 samples to hold some out for testing") }
        let order = EpochOrder(count: count, seed: config.seed ^ 0x686F_6C64).permutation(epoch: 0)
        let fewest = config.model.specification.denoisesWholeImages ? max(1, min(4, count / 4)) : 1
        // A count (1 or more) is taken as given; a fraction gets the floor above.
        let held = config.holdout >= 1 ? min(Int(config.holdout), count - 1)
            : min(max(Int(Double(count) * config.holdout), fewest), count - 1)
        return (Array(order[held...]).sorted(), Array(order[0..<held]).sorted())
    }
}
