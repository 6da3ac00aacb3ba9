// Everything needed to reproduce a training run, saved as the run folder's config.json and in
// every checkpoint's metadata; built by the CLI from its options, read back by --resume.

import Datasets
import Foundation
import Layers
import Models

/// The model families `train --model` accepts.
public enum ModelFamily: String, Sendable, Codable, CaseIterable {
    case dense, deep, sparse, denoising, dropout, contractive, conv, denoiser, lstm, gru

    public var isConvolutional: Bool { self == .conv || self == .denoiser }
    public var isRecurrent: Bool { self == .lstm || self == .gru }
}

public struct TrainingConfig: Sendable, Codable, Equatable {
    public var family: ModelFamily
    /// The dense families' model (unused by conv and denoiser).
    public var model: DenseAutoencoderConfig
    /// The conv family's model; channels and size come from the data when absent.
    public var conv: ConvAutoencoderConfig?
    public var denoiser: ConvDenoiserConfig?
    /// The lstm and gru families' model; steps and features come from the data.
    public var sequence: SequenceAutoencoderConfig?
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
    public var noise: String = "none"
    public var epochs: Int = 10
    public var batchSize: Int = 256
    public var shards: Int = 1
    public var seed: UInt64 = 0
    /// Fraction of the training data held out for evaluation when the source has no test split.
    public var holdout: Double = 0.1
    /// Samples in the reconstruction grid.
    public var gridCount: Int = 10
    /// Also checkpoint every this many steps (0: once per epoch).
    public var checkpointEvery: Int = 0
    /// Steps between log lines.
    public var logEvery: Int = 50
    /// Stop after the epoch during which this many seconds of training have passed (nil: none).
    public var timeLimit: Double?

    public init(family: ModelFamily, model: DenseAutoencoderConfig, optimizer: OptimizerConfig, data: String) {
        self.family = family
        self.model = model
        self.optimizer = optimizer
        self.data = data
    }

    public var folderOptions: PNGFolderOptions {
        PNGFolderOptions(channels: channels, background: background,
                         resize: resize.map { ($0[0], $0[1]) },
                         resizeFilter: ResizeFilter(rawValue: resizeFilter) ?? .area,
                         crop: crop.map { ($0[0], $0[1]) }, allowMixedSizes: patch != nil, skipBad: skipBad)
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

    public static func from(json: String) throws -> TrainingConfig {
        try JSONDecoder().decode(TrainingConfig.self, from: Data(json.utf8))
    }

    /// Default encoder widths of each family for inputs of `inputWidth` floats.
    public static func defaultWidths(_ family: ModelFamily, inputWidth d: Int) -> [Int] {
        switch family {
        case .dense: [d, 32]
        case .deep: [d, 1000, 500, 250, 30]
        case .sparse: [d, 64]
        case .denoising: [d, 256, 64]
        case .dropout: [d, 512, 128, 32]
        case .contractive: [d, 128]
        case .conv, .denoiser, .lstm, .gru: []
        }
    }

    /// Fills in the model's size from the data and checks it; `shape` is one training row.
    public mutating func resolveModel(rowShape shape: ImageShape) throws {
        switch family {
        case .conv:
            var conv = self.conv ?? ConvAutoencoderConfig()
            conv.channels = shape.channels
            conv.height = shape.height
            conv.width = shape.width
            if let problem = conv.validationError() { throw TrainingError(problem) }
            self.conv = conv
        case .denoiser:
            var denoiser = self.denoiser ?? ConvDenoiserConfig(channels: shape.channels)
            denoiser.channels = shape.channels
            if let problem = denoiser.validationError() { throw TrainingError(problem) }
            let multiple = denoiser.sizeMultiple
            guard shape.height % multiple == 0 && shape.width % multiple == 0 else {
                throw TrainingError("the denoiser of depth \(denoiser.depth) trains on sizes divisible by \(multiple); "
                    + "\(shape.width)x\(shape.height) is not (choose --patch as a multiple of \(multiple))")
            }
            self.denoiser = denoiser
        case .lstm, .gru:
            // Image rows are the steps: (C, H, W) read as H steps of C x W values.
            try resolveSequenceModel(steps: shape.height, features: shape.channels * shape.width,
                                     imageChannels: shape.channels, variableLength: false)
        default:
            if model.widths.isEmpty { model.widths = TrainingConfig.defaultWidths(family, inputWidth: shape.count) }
            guard model.widths[0] == shape.count else {
                throw TrainingError("--layers starts with \(model.widths[0]) but the data has "
                    + "\(shape.count) values per sample (\(shape)); start the list with \(shape.count)")
            }
            if let problem = model.validationError() { throw TrainingError(problem) }
        }
    }

    /// What a resolved model takes, in words ("784 values per sample", "images of 1 channel(s)").
    public var modelInput: String? {
        switch family {
        case .conv: conv.map { "images of \($0.channels) channel(s)" }
        case .denoiser: denoiser.map { "images of \($0.channels) channel(s)" }
        case .lstm, .gru:
            sequence.map { $0.variableLength ? "sequences of \($0.features) values per step"
                : "image rows of \($0.features) values" }
        default: model.widths.first.map { "\($0) values per sample" }
        }
    }

    /// Why data of `shape` cannot go through this (resolved) model, or nil when it can.
    public func inputMismatch(_ shape: ImageShape) -> String? {
        switch family {
        case .conv:
            // Fully convolutional: only the channel count is fixed by the parameters.
            guard let conv, conv.channels != shape.channels else { return nil }
            return "images of \(shape.channels) channel(s)"
        case .denoiser:
            guard let denoiser, denoiser.channels != shape.channels else { return nil }
            return "images of \(shape.channels) channel(s)"
        case .lstm, .gru:
            guard let sequence, sequence.variableLength || sequence.features != shape.channels * shape.width else {
                return nil
            }
            return "image rows of \(shape.channels * shape.width) values"
        default:
            guard let first = model.widths.first, first != shape.count else { return nil }
            return "\(shape.count) values per sample (\(shape))"
        }
    }

    /// The model this configuration describes, for rows of `shape` (after `resolveModel`).
    public func makeModel(rowShape shape: ImageShape) -> any AutoencoderModel {
        switch family {
        case .conv: ConvAutoencoder(conv!)
        case .denoiser: ConvDenoiser(denoiser!, height: shape.height, width: shape.width)
        case .lstm, .gru: SequenceAutoencoder(sequence!)
        default: DenseAutoencoder(model)
        }
    }

    /// A short description of the architecture for the console.
    public var modelDescription: String {
        switch family {
        case .conv:
            guard let conv else { return "conv" }
            return "conv \(conv.architecture.rawValue) \(conv.filters.map(String.init).joined(separator: "-")) "
                + "on \(conv.channels)x\(conv.height)x\(conv.width)"
        case .denoiser:
            guard let denoiser else { return "denoiser" }
            return "denoiser depth \(denoiser.depth) width \(denoiser.width)"
                + (denoiser.residual ? " (residual)" : "") + (patch.map { " on \($0)x\($0) patches" } ?? "")
        case .lstm, .gru:
            guard let sequence else { return family.rawValue }
            return "\(family.rawValue) seq2seq, \(sequence.layers) x \(sequence.hidden) hidden"
                + (sequence.bidirectional ? " (bidirectional encoder)" : "")
                + ", code \(sequence.codeWidth), decoder fed \(sequence.decoderInput == .code ? "the code" : "the previous step")"
                + (sequence.reverse ? ", reversed" : "") + ", \(sequence.steps) steps x \(sequence.features) features"
        default:
            return "\(family.rawValue) \(model.widths.map(String.init).joined(separator: "-"))"
        }
    }

    /// The loss the model trains with.
    public var loss: LossKind {
        switch family {
        case .conv: conv?.loss ?? .bce
        case .denoiser, .lstm, .gru: .mse
        default: model.loss
        }
    }
}

extension TrainingConfig {
    /// Sets the recurrent model's size (options the user gave are kept) and checks it.
    public mutating func resolveSequenceModel(steps: Int, features: Int, imageChannels: Int,
                                              variableLength: Bool) throws {
        let cell: RecurrentCell = family == .gru ? .gru : .lstm
        var sequence = self.sequence ?? SequenceAutoencoderConfig(cell: cell, steps: steps, features: features)
        sequence.cell = cell
        sequence.steps = steps
        sequence.features = features
        sequence.imageChannels = imageChannels
        sequence.variableLength = variableLength
        // Images are in [0, 1]; standardized sequences are not.
        sequence.output = variableLength ? .linear : .sigmoid
        if let problem = sequence.validationError() { throw TrainingError(problem) }
        self.sequence = sequence
    }
}
