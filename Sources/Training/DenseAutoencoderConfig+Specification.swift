// The dense families (dense, deep, sparse, denoising, dropout, contractive) as a model
// specification; their presets are `DenseAutoencoderConfig.preset` (ModelSpec.swift).

import Datasets
import Layers
import Models

extension DenseAutoencoderConfig: ModelSpecification {
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
