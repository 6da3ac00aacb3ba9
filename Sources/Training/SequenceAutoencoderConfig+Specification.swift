// The LSTM/GRU sequence-to-sequence autoencoder as a model specification: over image rows
// (C x W values per step, H steps) or over sequence files (standardized, variable length).

import Datasets
import Engine
import Layers
import Models

extension SequenceAutoencoderConfig: ModelSpecification {
    public static let key = "sequence"
    /// At 4 rows per shard (batch 8 on 2 cores) 1 x 2 threads ran 1.04-1.07x of 2 x 1, at 16 rows
    /// 0.84-0.94x.
    public var threadsBelowRows: Int { 8 }
    public static var presets: [ModelPreset] {
        [ModelPreset(.lstm, SequenceAutoencoderConfig(cell: .lstm, steps: 1, features: 1)),
         ModelPreset(.gru, SequenceAutoencoderConfig(cell: .gru, steps: 1, features: 1))]
    }

    /// Image rows are the steps: (C, H, W) read as H steps of C x W values.
    public mutating func resolve(rowShape shape: ImageShape) throws {
        try resolve(steps: shape.height, features: shape.channels * shape.width, imageChannels: shape.channels,
                    variableLength: false)
    }

    public mutating func resolve(sequenceSteps steps: Int, features: Int) throws {
        try resolve(steps: steps, features: features, imageChannels: 1, variableLength: true)
    }

    mutating func resolve(steps: Int, features: Int, imageChannels: Int, variableLength: Bool) throws {
        self.steps = steps
        self.features = features
        self.imageChannels = imageChannels
        self.variableLength = variableLength
        // Images are in [0, 1]; standardized sequences are not.
        output = variableLength ? .linear : .sigmoid
        if let problem = validationError() { throw TrainingError(problem) }
    }

    public var sequenceSize: (steps: Int, features: Int)? { variableLength ? (steps, features) : nil }
    public var modelsSequences: Bool { true }

    public var modelInput: String {
        variableLength ? "sequences of \(features) values per step" : "image rows of \(features) values"
    }

    public func inputMismatch(_ shape: ImageShape) -> String? {
        guard !variableLength && features != shape.channels * shape.width else { return nil }
        return "image rows of \(shape.channels * shape.width) values"
    }

    public func makeModel(rowShape shape: ImageShape) -> any AutoencoderModel { SequenceAutoencoder(self) }

    public var summary: String {
        "seq2seq, \(layers) x \(hidden) hidden" + (bidirectional ? " (bidirectional encoder)" : "")
            + ", code \(codeWidth), decoder fed \(decoderInput == .code ? "the code" : "the previous step")"
            + (reverse ? ", reversed" : "") + ", \(steps) steps x \(features) features"
    }

    public var loss: LossKind { .mse }

    public func referenceName(optimizer o: OptimizerConfig) -> String? {
        let reference = steps == 28 && features == 28 && hidden == 128 && layers == 1 && !bidirectional && code == 0
            && decoderInput == .code && !reverse && o.kind == .adam
        guard reference else { return nil }
        return cell == .lstm ? "M3" : "M4"
    }

    public var readsSequenceFiles: Bool { true }
}

extension ModelFamily {
    public static let lstm = ModelFamily(declaring: "lstm")
    public static let gru = ModelFamily(declaring: "gru")
}

extension ModelSpec {
    public static func sequence(_ config: SequenceAutoencoderConfig) -> ModelSpec { ModelSpec(config) }
}
