// The variational autoencoder as a model specification: dense widths take the data's width
// (a leading 0), the convolutional form takes the image's channels and size.

import Datasets
import Engine
import Layers
import Models

extension VariationalAutoencoderConfig: ModelSpecification {
    public static let key = "vae"
    public static var presets: [ModelPreset] { [ModelPreset(.vae, VariationalAutoencoderConfig(widths: [0, 400, 20]))] }
    public var threadsBelowRows: Int { CoreSplit.denseRows }

    public mutating func resolve(rowShape shape: ImageShape) throws {
        switch architecture {
        case .dense:
            if widths.first == 0 { widths[0] = shape.count }
            guard widths.first == shape.count else {
                throw TrainingError("--layers starts with \(widths.first ?? 0) but the data has "
                    + "\(shape.count) values per sample (\(shape)); start the list with \(shape.count)")
            }
        case .conv:
            channels = shape.channels
            height = shape.height
            width = shape.width
        }
        if let problem = validationError() { throw TrainingError(problem) }
    }

    public var modelInput: String {
        architecture == .dense ? "\(dataWidth) values per sample" : "\(channels)x\(height)x\(width) images"
    }

    public func inputMismatch(_ shape: ImageShape) -> String? {
        switch architecture {
        case .dense: return dataWidth == shape.count ? nil : "\(shape.count) values per sample (\(shape))"
        case .conv:
            let same = channels == shape.channels && height == shape.height && width == shape.width
            return same ? nil : "\(shape.channels)x\(shape.height)x\(shape.width) images"
        }
    }

    public func makeModel(rowShape shape: ImageShape) -> any AutoencoderModel { VariationalAutoencoder(self) }

    public var summary: String {
        let body = architecture == .dense
            ? widths.map(String.init).joined(separator: "-")
            : "conv \(filters.map(String.init).joined(separator: "-")) on \(channels)x\(height)x\(width), latent \(latentWidth)"
        return body + ", \(decoder.description) decoder" + (beta != 1 ? ", beta \(beta)" : "")
            + (warmupSteps > 0 ? ", KL warm-up \(warmupSteps) steps" : "") + (freeBits > 0 ? ", free bits \(freeBits)" : "")
    }

    public var loss: LossKind {
        switch decoder {
        case .bernoulli: .bce
        case .gaussian: .mse
        case .gaussianLearned: .gaussianNLL
        }
    }

    /// M5 of the references: 784-512-256-(z=20), ReLU, Bernoulli decoder, Adam.
    public func referenceName(optimizer o: OptimizerConfig) -> String? {
        let m5 = architecture == .dense && widths == [784, 512, 256, 20] && activation == .relu
            && decoder == .bernoulli && beta == 1 && warmupSteps == 0 && freeBits == 0 && o.kind == .adam
        return m5 ? "M5" : nil
    }
}

extension ModelFamily {
    public static let vae = ModelFamily(declaring: "vae")
}

extension ModelSpec {
    public static func vae(_ config: VariationalAutoencoderConfig) -> ModelSpec { ModelSpec(config) }
}
