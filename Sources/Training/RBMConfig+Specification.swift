// The restricted Boltzmann machine as a model specification: the visible width takes the data's
// (a leading 0 in --layers), the hidden width is the second.

import Datasets
import Engine
import Layers
import Models

extension RBMConfig: ModelSpecification {
    public static let key = "rbm"
    public static var presets: [ModelPreset] {
        [ModelPreset(.rbm, RBMConfig(visible: 0, hidden: 1000), optimizer: referenceOptimizer)]
    }

    /// The reference code's SGD: learning rate 0.1, momentum 0.5 for 5 epochs, then 0.9.
    public static var referenceOptimizer: OptimizerConfig {
        var optimizer = OptimizerConfig(kind: .sgd, learningRate: 0.1)
        optimizer.momentum = 0.9
        optimizer.initialMomentum = 0.5
        optimizer.initialMomentumEpochs = 5
        return optimizer
    }
    public var threadsBelowRows: Int { CoreSplit.denseRows }

    public mutating func resolve(rowShape shape: ImageShape) throws {
        if visible == 0 { visible = shape.count }
        guard visible == shape.count else {
            throw TrainingError("--layers starts with \(visible) but the data has \(shape.count) values per sample "
                + "(\(shape)); start the list with \(shape.count)")
        }
        if let problem = validationError() { throw TrainingError(problem) }
    }

    public var modelInput: String { "\(visible) values per sample" }

    public func inputMismatch(_ shape: ImageShape) -> String? {
        visible == shape.count ? nil : "\(shape.count) values per sample (\(shape))"
    }

    public func makeModel(rowShape shape: ImageShape) -> any AutoencoderModel { RestrictedBoltzmannMachine(self) }

    public var summary: String {
        "RBM \(visible) binary visible - \(hidden) \(hiddenUnits.rawValue) hidden, CD-\(cdSteps), weight cost \(weightCost)"
    }

    public var loss: LossKind { .mse }
}

extension ModelFamily {
    public static let rbm = ModelFamily(declaring: "rbm")
}

extension ModelSpec {
    public static func rbm(_ config: RBMConfig) -> ModelSpec { ModelSpec(config) }
}
