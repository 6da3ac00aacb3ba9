// The adversarial autoencoder as a model specification: dense widths take the data's width (a
// leading 0); a label-conditioned prior needs labelled data with at most one class per component.

import Datasets
import Engine
import Layers
import Models

extension AdversarialAutoencoderConfig: ModelSpecification {
    public static let key = "aae"
    public static var presets: [ModelPreset] { [ModelPreset(.aae, AdversarialAutoencoderConfig(widths: [0, 1000, 1000, 2]))] }
    public var threadsBelowRows: Int { CoreSplit.denseRows }

    public mutating func resolve(rowShape shape: ImageShape) throws {
        if widths.first == 0 { widths[0] = shape.count }
        guard widths.first == shape.count else {
            throw TrainingError("--layers starts with \(widths.first ?? 0) but the data has "
                + "\(shape.count) values per sample (\(shape)); start the list with \(shape.count)")
        }
        if movesInputs && imageHeight == 0 {
            (imageChannels, imageHeight, imageWidth) = (shape.channels, shape.height, shape.width)
        }
        if let problem = validationError() { throw TrainingError(problem) }
    }

    public var modelInput: String { "\(widths.first ?? 0) values per sample" }

    public func inputMismatch(_ shape: ImageShape) -> String? {
        widths.first == shape.count ? nil : "\(shape.count) values per sample (\(shape))"
    }

    public func makeModel(rowShape shape: ImageShape) -> any AutoencoderModel { AdversarialAutoencoder(self) }

    public var summary: String {
        widths.map(String.init).joined(separator: "-") + (clusters > 0 ? " (+\(clusters) clusters)" : "")
            + ", prior \(prior.description)" + (conditional ? " by label" : "")
            + ", discriminator " + discriminator.map(String.init).joined(separator: "-")
            + (shift > 0 ? ", shift \(shift)" : "") + (rotate > 0 ? ", rotate \(rotate)" : "")
            + (consistency > 0 ? ", consistency \(consistency)" : "")
            + (balance > 0 ? ", balance \(balance)" : "")
    }

    public var readsLabels: Bool { conditional }

    /// M6 of the references: the default AAE (784-1000-1000-2, Gaussian prior, discriminator 500-500), Adam.
    public func referenceName(optimizer o: OptimizerConfig) -> String? {
        let m6 = widths == [784, 1000, 1000, 2] && discriminator == [500, 500] && prior == .gaussian && !conditional
            && clusters == 0 && loss == .bce && activation == .relu && o.kind == .adam
        return m6 ? "M6" : nil
    }

    public func resolve(classCount: Int, data: String) throws {
        guard classCount > 0 else {
            throw TrainingError("--conditional reads labels and \(data) has none (IDX label files or class folders)")
        }
        guard classCount <= prior.components else {
            throw TrainingError("--conditional: \(data) has \(classCount) classes, the prior \(prior.components) "
                + "components (--prior mixture:\(classCount))")
        }
    }
}

extension ModelFamily {
    public static let aae = ModelFamily(declaring: "aae")
}

extension ModelSpec {
    public static func aae(_ config: AdversarialAutoencoderConfig) -> ModelSpec { ModelSpec(config) }
}
