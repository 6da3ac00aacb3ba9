// One model specification for every family: the `Codable` value that the CLI builds, `config.json`
// and checkpoints store, `--config` reads and library users write. Each family's config conforms
// to `ModelSpecification` in its own file; `ModelSpec` below is the one registration, and
// `ModelFamily` names the presets (`train --model NAME`) that start from it.

import Datasets
import Foundation
import Layers
import Models

/// What a family's configuration tells the run, whatever the family.
public protocol ModelSpecification: Sendable, Codable, Equatable {
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
}

/// The model of a run: one case per family config. Adding a family adds a case here.
public enum ModelSpec: Sendable, Equatable, Codable {
    case dense(DenseAutoencoderConfig)
    case conv(ConvAutoencoderConfig)
    case denoiser(ConvDenoiserConfig)
    case sequence(SequenceAutoencoderConfig)
    case vae(VariationalAutoencoderConfig)
    case aae(AdversarialAutoencoderConfig)
    case disentangle(DisentanglingAutoencoderConfig)
    case rbm(RBMConfig)

    /// The family's config, through the common protocol.
    public var specification: any ModelSpecification {
        switch self {
        case .dense(let c): c
        case .conv(let c): c
        case .denoiser(let c): c
        case .sequence(let c): c
        case .vae(let c): c
        case .aae(let c): c
        case .disentangle(let c): c
        case .rbm(let c): c
        }
    }

    /// Wraps a family config back into its case.
    init(_ specification: any ModelSpecification) {
        switch specification {
        case let c as DenseAutoencoderConfig: self = .dense(c)
        case let c as ConvAutoencoderConfig: self = .conv(c)
        case let c as ConvDenoiserConfig: self = .denoiser(c)
        case let c as SequenceAutoencoderConfig: self = .sequence(c)
        case let c as VariationalAutoencoderConfig: self = .vae(c)
        case let c as AdversarialAutoencoderConfig: self = .aae(c)
        case let c as DisentanglingAutoencoderConfig: self = .disentangle(c)
        case let c as RBMConfig: self = .rbm(c)
        default: preconditionFailure("\(type(of: specification)) is not registered in ModelSpec")
        }
    }

    /// Runs `body` on the family config and stores the result.
    mutating func update(_ body: (inout any ModelSpecification) throws -> Void) rethrows {
        var specification = self.specification
        try body(&specification)
        self = ModelSpec(specification)
    }

    // `{"dense": {...}}`: one key naming the family config.
    enum CodingKeys: String, CodingKey, CaseIterable {
        case dense, conv, denoiser, sequence, vae, aae, disentangle, rbm
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard container.allKeys.count == 1, let key = container.allKeys.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription:
                "the model needs exactly one of " + CodingKeys.allCases.map(\.rawValue).joined(separator: ", ")))
        }
        switch key {
        case .dense: self = .dense(try container.decode(DenseAutoencoderConfig.self, forKey: key))
        case .conv: self = .conv(try container.decode(ConvAutoencoderConfig.self, forKey: key))
        case .denoiser: self = .denoiser(try container.decode(ConvDenoiserConfig.self, forKey: key))
        case .sequence: self = .sequence(try container.decode(SequenceAutoencoderConfig.self, forKey: key))
        case .vae: self = .vae(try container.decode(VariationalAutoencoderConfig.self, forKey: key))
        case .aae: self = .aae(try container.decode(AdversarialAutoencoderConfig.self, forKey: key))
        case .disentangle: self = .disentangle(try container.decode(DisentanglingAutoencoderConfig.self, forKey: key))
        case .rbm: self = .rbm(try container.decode(RBMConfig.self, forKey: key))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .dense(let c): try container.encode(c, forKey: .dense)
        case .conv(let c): try container.encode(c, forKey: .conv)
        case .denoiser(let c): try container.encode(c, forKey: .denoiser)
        case .sequence(let c): try container.encode(c, forKey: .sequence)
        case .vae(let c): try container.encode(c, forKey: .vae)
        case .aae(let c): try container.encode(c, forKey: .aae)
        case .disentangle(let c): try container.encode(c, forKey: .disentangle)
        case .rbm(let c): try container.encode(c, forKey: .rbm)
        }
    }
}

/// The names `train --model` accepts: each a preset of one family's config.
public enum ModelFamily: String, Sendable, Codable, CaseIterable {
    case dense, deep, sparse, denoising, dropout, contractive, conv, denoiser, lstm, gru, vae, aae, disentangle, rbm

    /// The preset model. Widths starting with 0 take the data's width when the run resolves them.
    public var preset: ModelSpec {
        switch self {
        case .dense, .deep, .sparse, .denoising, .dropout, .contractive:
            return .dense(DenseAutoencoderConfig.preset(self))
        case .conv: return .conv(ConvAutoencoderConfig())
        case .denoiser: return .denoiser(ConvDenoiserConfig(channels: 1))
        case .lstm: return .sequence(SequenceAutoencoderConfig(cell: .lstm, steps: 1, features: 1))
        case .gru: return .sequence(SequenceAutoencoderConfig(cell: .gru, steps: 1, features: 1))
        case .vae: return .vae(VariationalAutoencoderConfig(widths: [0, 400, 20]))
        case .aae: return .aae(AdversarialAutoencoderConfig(widths: [0, 1000, 1000, 2]))
        case .disentangle: return .disentangle(DisentanglingAutoencoderConfig(widths: [0, 512, 256, 16]))
        case .rbm: return .rbm(RBMConfig(visible: 0, hidden: 1000))
        }
    }

    /// The optimizer when none is given: Adam at 1e-3, or for an RBM the reference code's SGD
    /// (learning rate 0.1, momentum 0.5 for 5 epochs, then 0.9).
    public var defaultOptimizer: OptimizerConfig {
        guard self == .rbm else { return OptimizerConfig() }
        var optimizer = OptimizerConfig(kind: .sgd, learningRate: 0.1)
        optimizer.momentum = 0.9
        optimizer.initialMomentum = 0.5
        optimizer.initialMomentumEpochs = 5
        return optimizer
    }

    /// Input noise when none is given: the denoising families learn to remove some.
    public var defaultNoise: String {
        switch self {
        case .denoising: "gaussian:0.3+clip"
        // The denoiser learns to remove noise: clean inputs would teach it the identity.
        case .denoiser: "gaussian:25/255"
        default: "none"
        }
    }

    /// Training patch size when none is given (the denoiser trains on crops of any image size).
    public var defaultPatch: Int? { self == .denoiser ? 48 : nil }
}

extension DenseAutoencoderConfig {
    /// The dense family presets: widths (0 = the data's width), code activation and penalties.
    public static func preset(_ family: ModelFamily) -> DenseAutoencoderConfig {
        var config = DenseAutoencoderConfig(widths: [])
        switch family {
        case .deep: config.widths = [0, 1000, 500, 250, 30]
        case .sparse:
            config.widths = [0, 64]
            config.codeActivation = .sigmoid
            config.sparsity = .kl(target: 0.05, weight: 0.001, momentum: 0)
        case .denoising: config.widths = [0, 256, 64]
        case .dropout:
            config.widths = [0, 512, 128, 32]
            config.dropout = 0.2
        case .contractive:
            config.widths = [0, 128]
            config.codeActivation = .sigmoid
            config.contractive = 1e-3
        default: config.widths = [0, 32]
        }
        return config
    }
}
