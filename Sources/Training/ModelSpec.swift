// One model specification for every family: the `Codable` value that the CLI builds, `config.json`
// and checkpoints store, `--config` reads and library users write. Each family's config conforms
// to `ModelSpecification` in its own file (with its key, presets and preset names);
// `ModelRegistry.specifications` below is the one list of families.

import Datasets
import Engine
import Foundation
import Layers
import Models

/// What a family's configuration tells the run, whatever the family.
public protocol ModelSpecification: Sendable, Codable, Equatable {
    /// The key that names this config in `config.json` and checkpoints (`{"vae": {...}}`).
    static var key: String { get }
    /// The names `train --model` accepts for this config, each with its preset.
    static var presets: [ModelPreset] { get }
    /// Sets the sizes that come from the data (one training row of `shape`) and checks them.
    /// - Throws: `TrainingError` saying what does not fit.
    mutating func resolve(rowShape shape: ImageShape) throws
    /// Sets the sizes of a model that reads sequence files (variable length, `features` per step).
    mutating func resolve(sequenceSteps steps: Int, features: Int) throws
    /// What a resolved model takes, in words ("784 values per sample").
    var modelInput: String { get }
    /// Why rows of `shape` cannot go through this resolved model, or nil when they can.
    func inputMismatch(_ shape: ImageShape) -> String?
    /// The model, for training rows of `shape` (after `resolve`).
    func makeModel(rowShape shape: ImageShape) -> any AutoencoderModel
    /// The architecture in a few words, for the console.
    var summary: String { get }
    /// The reconstruction loss.
    var loss: LossKind { get }
    /// The name of the reference benchmark model (M1-M5 of the PyTorch references) this is, if any.
    func referenceName(optimizer: OptimizerConfig) -> String?
    /// True when the family also reads sequence files (`.ts`, CSV).
    var readsSequenceFiles: Bool { get }
    /// True when the model reads labels in training (its size may depend on the class count).
    var readsLabels: Bool { get }
    /// For a model that reads labels: takes the data's class count, or refuses data with no
    /// labels or more classes than the model takes.
    mutating func resolve(classCount: Int, data: String) throws
    /// Steps and values per step of a model resolved for sequence files, nil for other models.
    var sequenceSize: (steps: Int, features: Int)? { get }
    /// True when the model's parameters depend on the steps (a dense layer over a whole
    /// sequence): a trained model then keeps its steps on other data instead of growing them.
    var fixesSequenceSteps: Bool { get }
    /// Why this (resolved) config cannot build a model, or nil.
    func validationError() -> String?
    /// Rows per shard below which one shard on several threads outruns several shards on one
    /// each (0: never): 64 where a shard's rows go through a few large GEMMs (dense layers over the
    /// batch), 8 for the recurrent steps (measured on 2 cores, docs/performance.md).
    var threadsBelowRows: Int { get }
    /// True when the model's rows are sequences (steps of values): what works on images
    /// (patches, augmenting, denoising image files) does not apply.
    var modelsSequences: Bool { get }
    /// True for a fully convolutional denoiser: it takes images of any size whole (tiled), and
    /// its evaluation reports PSNR of noisy and denoised images.
    var denoisesWholeImages: Bool { get }
}

extension ModelSpecification {
    public mutating func resolve(sequenceSteps steps: Int, features: Int) throws {
        throw TrainingError("this model takes images (sequence files need --model lstm or gru)")
    }
    public func referenceName(optimizer: OptimizerConfig) -> String? { nil }
    public var readsSequenceFiles: Bool { false }
    public var readsLabels: Bool { false }
    public mutating func resolve(classCount: Int, data: String) throws {
        if classCount == 0 {
            throw TrainingError("this model reads labels and \(data) has none (IDX label files, class folders or sequence labels)")
        }
    }
    public var sequenceSize: (steps: Int, features: Int)? { nil }
    public var fixesSequenceSteps: Bool { false }
    public var threadsBelowRows: Int { 0 }
    public var modelsSequences: Bool { sequenceSize != nil }
    public var denoisesWholeImages: Bool { false }

    /// True when `other` is a config of this type with the same values.
    func isEqual(to other: any ModelSpecification) -> Bool { (other as? Self) == self }
}

/// The config types of all families, in the order `--model` lists their presets. Adding a family
/// adds its config type here; everything that goes over families (decoding, presets, `--model`
/// names) reads this list.
public enum ModelRegistry {
    public static let specifications: [any ModelSpecification.Type] = [
        DenseAutoencoderConfig.self,
        ConvAutoencoderConfig.self,
        ConvDenoiserConfig.self,
        SequenceAutoencoderConfig.self,
        VariationalAutoencoderConfig.self,
        AdversarialAutoencoderConfig.self,
        DisentanglingAutoencoderConfig.self,
        RBMConfig.self,
    ]

    /// Every preset of every family, in order.
    public static let presets: [ModelPreset] = specifications.flatMap { $0.presets }

    /// The config type stored under `key`, or nil.
    static func specification(key: String) -> (any ModelSpecification.Type)? {
        specifications.first { $0.key == key }
    }
}

/// The model of a run: one family's config (`{"dense": {...}}` in JSON).
public struct ModelSpec: Sendable, Equatable, Codable {
    /// The family's config, through the common protocol.
    public var specification: any ModelSpecification

    public init(_ specification: any ModelSpecification) { self.specification = specification }

    /// The config as `type`, or nil when the model is of another family.
    public func `as`<Specification: ModelSpecification>(_ type: Specification.Type) -> Specification? {
        specification as? Specification
    }

    /// The key of the family's config (`dense`, `conv`, ...).
    public var key: String { type(of: specification).key }

    public static func == (a: ModelSpec, b: ModelSpec) -> Bool { a.specification.isEqual(to: b.specification) }

    /// Runs `body` on the family config and stores the result.
    mutating func update(_ body: (inout any ModelSpecification) throws -> Void) rethrows {
        try body(&specification)
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        guard container.allKeys.count == 1, let key = container.allKeys.first,
              let type = ModelRegistry.specification(key: key.stringValue) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription:
                "the model needs exactly one of " + ModelRegistry.specifications.map { $0.key }.joined(separator: ", ")))
        }
        specification = try Self.decode(type, from: container, forKey: key)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try specification.encode(into: &container, forKey: Key(stringValue: key))
    }
}

extension ModelSpec {
    private static func decode<Specification: ModelSpecification>(
        _ type: Specification.Type, from container: KeyedDecodingContainer<Key>, forKey key: Key) throws -> any ModelSpecification {
        try container.decode(type, forKey: key)
    }
}

extension ModelSpecification {
    func encode(into container: inout KeyedEncodingContainer<ModelSpec.Key>, forKey key: ModelSpec.Key) throws {
        try container.encode(self, forKey: key)
    }
}

/// A name `train --model` accepts: a family's config with the settings it starts from.
public struct ModelPreset: Sendable {
    public var family: ModelFamily
    public var model: ModelSpec
    /// The optimizer when none is given.
    public var optimizer = OptimizerConfig()
    /// Input noise when none is given.
    public var noise = "none"
    /// Training patch size when none is given (models that train on crops of any image size).
    public var patch: Int?

    public init(_ family: ModelFamily, _ model: any ModelSpecification, optimizer: OptimizerConfig = OptimizerConfig(),
                noise: String = "none", patch: Int? = nil) {
        self.family = family
        self.model = ModelSpec(model)
        self.optimizer = optimizer
        self.noise = noise
        self.patch = patch
    }
}

/// The names `train --model` accepts, each a preset of one family's config (declared as static
/// members next to the family's specification); `config.json` keeps the name for display.
public struct ModelFamily: RawRepresentable, Hashable, Sendable, Codable, CaseIterable, CustomStringConvertible {
    public let rawValue: String

    /// A registered preset name, or nil.
    public init?(rawValue: String) {
        guard ModelRegistry.presets.contains(where: { $0.family.rawValue == rawValue }) else { return nil }
        self.rawValue = rawValue
    }

    /// Declares a preset name (a family's specification file does, as a static member).
    init(declaring name: String) { rawValue = name }

    public static var allCases: [ModelFamily] { ModelRegistry.presets.map(\.family) }
    public var description: String { rawValue }

    var presetEntry: ModelPreset {
        guard let entry = ModelRegistry.presets.first(where: { $0.family == self }) else {
            preconditionFailure("--model \(rawValue) is declared but no family's presets name it")
        }
        return entry
    }

    /// The preset model. Widths starting with 0 take the data's width when the run resolves them.
    public var preset: ModelSpec { presetEntry.model }
    /// The optimizer when none is given.
    public var defaultOptimizer: OptimizerConfig { presetEntry.optimizer }
    /// Input noise when none is given.
    public var defaultNoise: String { presetEntry.noise }
    /// Training patch size when none is given.
    public var defaultPatch: Int? { presetEntry.patch }
}

