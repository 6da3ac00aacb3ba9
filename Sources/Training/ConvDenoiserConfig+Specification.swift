// The fully convolutional denoiser as a model specification: any image size divisible by
// 2^depth; the channel count comes from the data.

import Datasets
import Engine
import Layers
import Models

extension ConvDenoiserConfig: ModelSpecification {
    public static let key = "denoiser"
    // It learns to remove noise (clean inputs would teach it the identity), on crops of any image size.
    public static var presets: [ModelPreset] {
        [ModelPreset(.denoiser, ConvDenoiserConfig(channels: 1), noise: "gaussian:25/255", patch: 48)]
    }

    public mutating func resolve(rowShape shape: ImageShape) throws {
        channels = shape.channels
        if let problem = validationError() { throw TrainingError(problem) }
        guard shape.height % sizeMultiple == 0 && shape.width % sizeMultiple == 0 else {
            throw TrainingError("the denoiser of depth \(depth) trains on sizes divisible by \(sizeMultiple); "
                + "\(shape.width)x\(shape.height) is not (choose --patch as a multiple of \(sizeMultiple))")
        }
    }

    public var modelInput: String { "images of \(channels) channel(s)" }

    public func inputMismatch(_ shape: ImageShape) -> String? {
        channels == shape.channels ? nil : "images of \(shape.channels) channel(s)"
    }

    public func makeModel(rowShape shape: ImageShape) -> any AutoencoderModel {
        ConvDenoiser(self, height: shape.height, width: shape.width)
    }

    public var summary: String { "depth \(depth) width \(width)" + (residual ? " (residual)" : "") }

    public var loss: LossKind { .mse }
    public var denoisesWholeImages: Bool { true }
}

extension ModelFamily {
    public static let denoiser = ModelFamily(declaring: "denoiser")
}

extension ModelSpec {
    public static func denoiser(_ config: ConvDenoiserConfig) -> ModelSpec { ModelSpec(config) }
}
