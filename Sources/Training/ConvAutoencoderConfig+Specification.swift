// The convolutional autoencoder as a model specification: channels and size come from the data.

import Datasets
import Engine
import Layers
import Models

extension ConvAutoencoderConfig: ModelSpecification {
    public static let key = "conv"
    public static var presets: [ModelPreset] { [ModelPreset(.conv, ConvAutoencoderConfig())] }

    public mutating func resolve(rowShape shape: ImageShape) throws {
        channels = shape.channels
        height = shape.height
        width = shape.width
        if let problem = validationError() { throw TrainingError(problem) }
    }

    public var modelInput: String { "images of \(channels) channel(s)" }

    /// Fully convolutional: only the channel count is fixed by the parameters.
    public func inputMismatch(_ shape: ImageShape) -> String? {
        channels == shape.channels ? nil : "images of \(shape.channels) channel(s)"
    }

    public func makeModel(rowShape shape: ImageShape) -> any AutoencoderModel { ConvAutoencoder(self) }

    public var summary: String {
        "\(architecture.rawValue) \(filters.map(String.init).joined(separator: "-")) on \(channels)x\(height)x\(width)"
    }

    public func referenceName(optimizer o: OptimizerConfig) -> String? {
        let m2 = filters == [16, 8, 8] && architecture == .pooled && kernel == 3 && loss == .bce
            && channels == 1 && height == 28 && width == 28 && o.kind == .adam
        return m2 ? "M2" : nil
    }
}

extension ModelFamily {
    public static let conv = ModelFamily(declaring: "conv")
}

extension ModelSpec {
    public static func conv(_ config: ConvAutoencoderConfig) -> ModelSpec { ModelSpec(config) }
}
