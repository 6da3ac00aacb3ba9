// The disentangling autoencoder as a model specification: images (dense widths take the data's
// width, a leading 0) or sequence files (steps x features, padded, plus the length), and the
// label's class count from the data.

import Datasets
import Engine
import Layers
import Models

extension DisentanglingAutoencoderConfig: ModelSpecification {
    public static let key = "disentangle"
    public static var presets: [ModelPreset] {
        [ModelPreset(.disentangle, DisentanglingAutoencoderConfig(widths: [0, 512, 256, 16]))]
    }

    public mutating func resolve(rowShape shape: ImageShape) throws {
        guard !isSequence else { return }
        if form == .adain && imageHeight == 0 {
            (imageChannels, imageHeight, imageWidth) = (shape.channels, shape.height, shape.width)
        }
        if widths.first == 0 { widths[0] = shape.count }
        guard widths.first == shape.count else {
            throw TrainingError("--layers starts with \(widths.first ?? 0) but the data has "
                + "\(shape.count) values per sample (\(shape)); start the list with \(shape.count)")
        }
    }

    /// Sequences are standardized values: mse on each row's valid steps.
    public mutating func resolve(sequenceSteps steps: Int, features: Int) throws {
        self.steps = steps
        self.features = features
        widths[0] = steps * features + 1
        loss = .mse
    }

    public var readsSequenceFiles: Bool { true }
    public var sequenceSize: (steps: Int, features: Int)? { isSequence ? (steps, features) : nil }
    /// The split form's first layer reads all steps x features values; the AdaIN form's
    /// convolutions take any length.
    /// The AdaIN form's convolutions run over any steps, but its conversion critic reads whole rows.
    public var fixesSequenceSteps: Bool { form == .split || swapWeight > 0 }
    /// The split form is dense layers over the batch (M7 at 4-16 rows per shard: 1 x 2 threads
    /// ran 1.18x faster than 2 x 1 on 2 cores); the AdaIN form's convolutions run per sample.
    public var threadsBelowRows: Int { form == .split ? CoreSplit.denseRows : 0 }
    public var readsLabels: Bool { true }

    /// M7 of the references: the default on 10-class digits (784-512-256-16, adversary 256,
    /// alternating, lambda 0.05, variational code with KL weight 0.25), Adam.
    public func referenceName(optimizer o: OptimizerConfig) -> String? {
        let m7 = form == .split && widths == [784, 512, 256, 16] && classes == 10 && adversary == .alternating && adversaryWidths == [256]
            && adversaryWeight == 0.05 && adversaryWarmup == 0 && kl == 0.25 && swapWeight == 0 && scatterWeight == 0
            && loss == .bce
            && activation == .relu && o.kind == .adam
        return m7 ? "M7" : nil
    }

    public mutating func resolve(classCount: Int, data: String) throws {
        // The AdaIN form trains without labels; they only name what `evaluate` measures.
        guard classCount > 0 || form == .adain else {
            throw TrainingError("the disentangle model separates the label from the rest and \(data) has no labels "
                + "(IDX label files, class folders, a .ts file's class labels or --sequence-label)")
        }
        if form == .adain && swapWeight > 0 && classCount == 0 {
            throw TrainingError("--swap-weight: the conversion critic learns the label and \(data) has no labels "
                + "(IDX label files, class folders, a .ts file's class labels or --sequence-label)")
        }
        if classes == 0 { classes = classCount }
        guard classCount <= classes else {
            throw TrainingError("\(data) has \(classCount) classes, the model was trained with \(classes)")
        }
        if let problem = validationError() { throw TrainingError(problem) }
    }

    public var modelInput: String {
        isSequence ? "sequences of \(features) values per step, at most \(steps) steps" : "\(widths.first ?? 0) values per sample"
    }

    public func inputMismatch(_ shape: ImageShape) -> String? {
        if isSequence { return "images (\(shape))" }
        if form == .adain && (shape.channels, shape.height, shape.width) != (imageChannels, imageHeight, imageWidth) {
            return "\(shape) images (the model takes \(imageChannels)x\(imageHeight)x\(imageWidth))"
        }
        return widths.first == shape.count ? nil : "\(shape.count) values per sample (\(shape))"
    }

    public func makeModel(rowShape shape: ImageShape) -> any AutoencoderModel {
        form == .adain ? AdaINAutoencoder(self) : DisentanglingAutoencoder(self)
    }

    public var summary: String {
        if form == .adain {
            let input = isSequence ? "sequences of \(steps) x \(features), 1-D kernel \(kernel)"
                : "\(imageChannels)x\(imageHeight)x\(imageWidth) images"
            return "AdaIN two-encoder: \(input), \(channels) channels, content code \(contentChannels) per position"
                + (kl > 0 ? " (variational, KL weight \(kl))" : "") + ", style vector \(styleWidth)"
                + (classes > 0 ? ", \(classes)-class label" + (swapWeight > 0 ? "" : " for evaluation") : "")
                + (swapWeight > 0 ? ", conversion critic "
                    + (criticWidths + [classes]).map(String.init).joined(separator: "-")
                    + " (weight \(swapWeight))" : "")
        }
        let body = isSequence
            ? "sequences of \(steps) x \(features) -> " + widths.dropFirst().map(String.init).joined(separator: "-")
            : widths.map(String.init).joined(separator: "-")
        return body + " + \(classes)-class label, \(adversary.rawValue) adversary "
            + (adversaryWidths + [classes]).map(String.init).joined(separator: "-") + ", lambda \(adversaryWeight)"
            + (adversaryWarmup > 0 ? " after \(adversaryWarmup) warm-up steps" : "")
            + (kl > 0 ? ", variational code (KL weight \(kl))" : "")
            + (swapWeight > 0 ? ", swap critic " + (criticWidths + [classes]).map(String.init).joined(separator: "-")
                + " (weight \(swapWeight))" : "")
            + (scatterWeight > 0 ? ", class-mean scatter weight \(scatterWeight)" : "")
    }
}

extension ModelFamily {
    public static let disentangle = ModelFamily(declaring: "disentangle")
}

extension ModelSpec {
    public static func disentangle(_ config: DisentanglingAutoencoderConfig) -> ModelSpec { ModelSpec(config) }
}
