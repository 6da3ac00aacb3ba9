// The fully convolutional denoiser as a model specification: any image size divisible by
// 2^depth; the channel count comes from the data.

import Datasets
import Layers
import Models

extension ConvDenoiserConfig: ModelSpecification {
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
}
