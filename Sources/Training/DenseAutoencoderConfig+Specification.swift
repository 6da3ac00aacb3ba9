// The dense families (dense, deep, sparse, denoising, dropout, contractive) as a model
// specification, with their presets.

import Datasets
import Engine
import Layers
import Models

extension DenseAutoencoderConfig: ModelSpecification {
    public static let key = "dense"
    public static var presets: [ModelPreset] {
        [ModelPreset(.dense, preset(.dense)), ModelPreset(.deep, preset(.deep)), ModelPreset(.sparse, preset(.sparse)),
         ModelPreset(.denoising, preset(.denoising), noise: "gaussian:0.3+clip"), ModelPreset(.dropout, preset(.dropout)),
         ModelPreset(.contractive, preset(.contractive))]
    }
    public var threadsBelowRows: Int { CoreSplit.denseRows }

    public mutating func resolve(rowShape shape: ImageShape) throws {
        if widths.isEmpty { widths = [shape.count, 32] }
        if widths[0] == 0 { widths[0] = shape.count }
        guard widths[0] == shape.count else {
            throw TrainingError("--layers starts with \(widths[0]) but the data has "
                + "\(shape.count) values per sample (\(shape)); start the list with \(shape.count)")
        }
        if let problem = validationError() { throw TrainingError(problem) }
    }

    public var modelInput: String { "\(widths.first ?? 0) values per sample" }

    public func inputMismatch(_ shape: ImageShape) -> String? {
        guard let first = widths.first, first != shape.count else { return nil }
        return "\(shape.count) values per sample (\(shape))"
    }

    public func makeModel(rowShape shape: ImageShape) -> any AutoencoderModel { DenseAutoencoder(self) }

    public var summary: String { widths.map(String.init).joined(separator: "-") }

    public func referenceName(optimizer o: OptimizerConfig) -> String? {
        let m1 = widths == [784, 1000, 500, 250, 30] && hiddenActivation == .relu && codeActivation == .identity
            && outputActivation == .sigmoid && loss == .mse && o.kind == .adam && dropout == 0
            && sparsity == .none && contractive == 0 && !tiedWeights && inputDropout == 0
        return m1 ? "M1" : nil
    }
}

extension ModelFamily {
    public static let dense = ModelFamily(declaring: "dense")
    public static let deep = ModelFamily(declaring: "deep")
    public static let sparse = ModelFamily(declaring: "sparse")
    public static let denoising = ModelFamily(declaring: "denoising")
    public static let dropout = ModelFamily(declaring: "dropout")
    public static let contractive = ModelFamily(declaring: "contractive")
}

extension ModelSpec {
    public static func dense(_ config: DenseAutoencoderConfig) -> ModelSpec { ModelSpec(config) }
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
