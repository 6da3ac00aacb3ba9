// Everything needed to reproduce a training run, saved as the run folder's config.json and in
// every checkpoint's metadata; built by the CLI from its options, read back by --resume.

import Datasets
import Engine
import Foundation
import Layers
import Models

public struct TrainingConfig: Sendable, Codable, Equatable {
    /// The version of this file's layout; version 1 (no `formatVersion` key) is read and converted.
    public static let currentFormatVersion = 2
    public var formatVersion = TrainingConfig.currentFormatVersion
    /// The preset the model started from (`train --model`), for names and defaults.
    public var family: ModelFamily
    /// The model, with its family's config.
    public var model: ModelSpec
    /// Per-feature standardization of sequence files, fitted on the training split at the start.
    public var standardization: Standardization?
    /// A single sequence CSV: the column holding the sequence id, and an optional label column.
    public var sequenceID: String?
    public var sequenceLabel: String?
    /// Square training patch cut at random from each image (denoiser); nil: whole images.
    public var patch: Int?
    /// Patches cut from each training image per epoch (nil: about one pass over its pixels).
    public var patchesPerImage: Int?
    public var optimizer: OptimizerConfig
    /// Optimizer settings of named phases (e.g. `discriminator`) that differ from `optimizer`.
    public var phaseOptimizers: [String: OptimizerConfig]?
    public var data: String
    public var channels: Int?
    public var background: Float = 0
    public var resize: [Int]?
    public var resizeFilter: String = ResizeFilter.area.rawValue
    public var crop: [Int]?
    public var skipBad = false
    /// Pixels a PNG may declare (nil: `PNGCodec.defaultMaxPixels`).
    public var maxPixels: Int?
    /// Bytes of decoded images held at once (nil: half the machine's memory). A PNG folder whose
    /// samples do not fit is streamed through a cache of this size.
    public var cacheMemory: Int?
    /// Images whose samples are shuffled together in an epoch (nil: all of them, one shuffle; a
    /// streamed folder gets half of what the cache holds). Part of what a run's steps see.
    public var window: Int?
    /// Threads decoding a streamed folder ahead of training (nil: one per 8 cores, at least 1).
    public var decoders: Int?
    /// Held-out images evaluated, and evaluation rows (images or patches) at most (nil: all of
    /// them when the data is in memory; 16 images and 1024 rows when it is streamed).
    public var validationImages: Int?
    public var validationSamples: Int?
    public var noise: String = "none"
    /// Dynamic binarization of image values (Bernoulli draws, fresh every epoch; the test split
    /// once), as for likelihoods on binarized MNIST. Nil: off.
    public var binarize: Bool?
    /// Training rows (square) drawn in a random one of the square's 8 orientations per sample
    /// and epoch (flips and quarter turns). Nil: off.
    public var augment: Bool?
    public var epochs: Int = 10
    public var batchSize: Int = 256
    public var shards: Int = 1
    public var seed: UInt64 = 0
    /// Fraction of the training data held out for evaluation when the source has no test split.
    public var holdout: Double = 0.1
    /// Samples in the reconstruction grid.
    public var gridCount: Int = 10
    /// Pixels per tile pixel in the grids (nearest neighbour; nil: 1).
    public var gridScale: Int?
    /// Also checkpoint every this many steps (0: once per epoch).
    public var checkpointEvery: Int = 0
    /// Also evaluate the test split and write a grid every this many steps (nil: at epoch ends only).
    public var evalEvery: Int?
    /// Steps between log lines.
    public var logEvery: Int = 50
    /// Stop after the epoch during which this many seconds of training have passed (nil: none).
    public var timeLimit: Double?

    /// A run of `model` (default: the family's preset) with `optimizer` (default: the family's).
    public init(family: ModelFamily, model: ModelSpec? = nil, optimizer: OptimizerConfig? = nil, data: String) {
        self.family = family
        self.model = model ?? family.preset
        self.optimizer = optimizer ?? family.defaultOptimizer
        self.data = data
        noise = family.defaultNoise
        patch = family.defaultPatch
    }

    /// Decoder threads when not told: one per 8 cores (decoding a photograph costs a core a
    /// fraction of a second, against seconds of training on its patches).
    public static var defaultDecoders: Int { max(1, ProcessInfo.processInfo.activeProcessorCount / 8) }

    /// The cache budget when not told: half the machine's memory.
    public static var defaultCacheMemory: Int { Int(ProcessInfo.processInfo.physicalMemory / 2) }

    public var folderOptions: PNGFolderOptions {
        PNGFolderOptions(channels: channels, background: background,
                         resize: resize.map { ($0[0], $0[1]) },
                         resizeFilter: ResizeFilter(rawValue: resizeFilter) ?? .area,
                         crop: crop.map { ($0[0], $0[1]) }, allowMixedSizes: patch != nil, skipBad: skipBad)
            .withMaxPixels(maxPixels)
    }

    /// One optimizer per phase of `model`: the phase's own settings, else `optimizer`.
    /// - Throws: `TrainingError` when a named phase is not one of the model's.
    public func phaseOptimizerList(for model: any AutoencoderModel) throws -> [OptimizerConfig] {
        let names = model.phases.map(\.name)
        for name in (phaseOptimizers ?? [:]).keys.sorted() where !names.contains(name) {
            throw TrainingError("--phase-optimizer \(name): the \(family.rawValue) model has no phase \(name) "
                + "(its phases: \(names.joined(separator: ", ")))")
        }
        return names.map { phaseOptimizers?[$0] ?? optimizer }
    }

    public func jsonString(pretty: Bool = false) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// Reads a config (any format version this tool knows; version 1 is converted).
    /// - Throws: `TrainingError` naming a newer format version; `DecodingError` for bad JSON.
    public static func from(json: String) throws -> TrainingConfig {
        var data = Data(json.utf8)
        if var object = try JSONSerialization.jsonObject(with: data) as? [String: Any] {
            let version = object["formatVersion"] as? Int ?? 1
            guard version <= currentFormatVersion else {
                throw TrainingError("config format version \(version) is newer than this tool's "
                    + "(\(currentFormatVersion)); use a newer autoencoder")
            }
            if version == 1 {
                try convertVersion1(&object)
                data = try JSONSerialization.data(withJSONObject: object)
            }
        }
        let config: TrainingConfig
        do { config = try JSONDecoder().decode(TrainingConfig.self, from: data) } catch let error as DecodingError {
            throw TrainingError(Self.describe(error))
        }
        try config.validate()
        return config
    }

    /// A decoding error as the config key it concerns and what was wrong there.
    static func describe(_ error: DecodingError) -> String {
        func key(_ path: [any CodingKey]) -> String {
            let text = path.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
            return text.hasPrefix(".") ? String(text.dropFirst()) : text
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "config key \(key(context.codingPath)): expected \(type)" + Self.detail(context)
        case .valueNotFound(let type, let context):
            return "config key \(key(context.codingPath)): expected \(type), found null"
        case .keyNotFound(let missing, let context):
            return "config key \(key(context.codingPath + [missing])): missing"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not JSON (\(context.debugDescription))"
                : "config key \(key(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "unreadable (\(error))"
        }
    }

    private static func detail(_ context: DecodingError.Context) -> String {
        context.debugDescription.isEmpty ? "" : " (\(context.debugDescription))"
    }

    /// Version 1 kept a dense config under `model` for every family, plus optional `conv`,
    /// `denoiser` and `sequence` configs; version 2 keeps the family's config under `model`.
    static func convertVersion1(_ object: inout [String: Any]) throws {
        guard let name = object["family"] as? String, let family = ModelFamily(rawValue: name) else {
            throw TrainingError("config format version 1 without a known family")
        }
        // Version 1 knew four configs: the dense one under `model`, the others under their keys.
        let key = family.preset.key
        guard ["dense", "conv", "denoiser", "sequence"].contains(key) else {
            throw TrainingError("config format version 1 has no \(family.rawValue) family")
        }
        let value = object[key == "dense" ? "model" : key]
        if let value {
            object["model"] = [key: value]
        } else {
            let preset = try JSONSerialization.jsonObject(with: JSONEncoder().encode(family.preset))
            object["model"] = preset
        }
        for old in ["conv", "denoiser", "sequence"] { object[old] = nil }
        object["formatVersion"] = currentFormatVersion
    }

    /// Fills in the model's size from the data and checks it; `shape` is one training row.
    public mutating func resolveModel(rowShape shape: ImageShape) throws {
        try model.update { try $0.resolve(rowShape: shape) }
    }

    /// Sets the size of a model that reads sequence files.
    /// For a model that reads labels: takes the training data's class count (or refuses data
    /// without labels); nothing for other models.
    public mutating func resolveLabels(classCount: Int) throws {
        guard model.specification.readsLabels else { return }
        let name = data
        try model.update { try $0.resolve(classCount: classCount, data: name) }
    }

    public mutating func resolveSequenceModel(steps: Int, features: Int) throws {
        try model.update { try $0.resolve(sequenceSteps: steps, features: features) }
    }

    /// What a resolved model takes, in words ("784 values per sample", "images of 1 channel(s)").
    public var modelInput: String { model.specification.modelInput }

    /// Why data of `shape` cannot go through this (resolved) model, or nil when it can.
    public func inputMismatch(_ shape: ImageShape) -> String? { model.specification.inputMismatch(shape) }

    /// The model this configuration describes, for rows of `shape` (after `resolveModel`).
    public func makeModel(rowShape shape: ImageShape) -> any AutoencoderModel {
        model.specification.makeModel(rowShape: shape)
    }

    /// A short description of the architecture for the console.
    public var modelDescription: String {
        "\(family.rawValue) \(model.specification.summary)" + (patch.map { " on \($0)x\($0) patches" } ?? "")
    }

    /// The loss the model trains with.
    public var loss: LossKind { model.specification.loss }

    /// The reference benchmark name (M1-M5) when the model and optimizer are one.
    public var referenceName: String? { model.specification.referenceName(optimizer: optimizer) }
}
