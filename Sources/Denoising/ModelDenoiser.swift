// Whole PNGs through an image autoencoder that was trained on noisy inputs (dense, conv, vae...
// denoising autoencoders), at the size it was trained on: the counterpart of ImageDenoiser (the
// fully convolutional denoiser, any size) for `autoencoder denoise`.

import Datasets
import Engine
import Foundation
import Images
import Kernels
import Layers
import Models
import Training

public final class ModelDenoiser {
    public let config: TrainingConfig
    let contents: Checkpoint.Contents
    /// Built on first use for an image shape (usually the one the model was trained on).
    var trainers: [[Int]: Trainer] = [:]

    /// Loads an image autoencoder checkpoint trained with noise.
    /// - Throws: `TrainingError` for sequence models, models that read labels, and models
    ///   trained on clean inputs; `InputError` for unreadable files.
    public init(checkpoint path: String) throws {
        contents = try Checkpoint.load(path, preferring: "best")
        config = contents.config
        let spec = config.model.specification
        if spec.modelsSequences {
            throw TrainingError("\(contents.path): a \(config.family.rawValue) checkpoint models sequences, not images")
        }
        if spec.readsLabels {
            throw TrainingError("\(contents.path): the \(config.family.rawValue) model reads labels; denoise takes "
                + "image models that need none")
        }
        if try Corruption(parsing: config.noise).steps.isEmpty {
            throw TrainingError("\(contents.path): the \(config.family.rawValue) model was trained on clean inputs "
                + "(noise none), so it reconstructs but was never taught to denoise; train it with --noise")
        }
    }

    /// The model and its parameters for images of `shape`, or why it cannot take them.
    func trainer(for shape: ImageShape) throws -> Trainer? {
        let key = [shape.channels, shape.height, shape.width]
        if let trainer = trainers[key] { return trainer }
        guard config.inputMismatch(shape) == nil else { return nil }
        let model = config.makeModel(rowShape: shape)
        guard model.inputWidth == shape.count && model.targetWidth == shape.count else { return nil }
        let trainer = Trainer(evaluating: model, shards: 1, maxBatch: 1, seed: config.seed)
        try Checkpoint.restore(contents, into: trainer, optimizer: false)
        trainers[key] = trainer
        return trainer
    }

    /// Denoises a decoded PNG of the model's trained size: same size, layout and bit depth out,
    /// alpha kept; a gray model denoises each color channel, a color model sees gray as three
    /// equal channels. `path` names the image in errors.
    /// - Throws: `TrainingError` when the image's size does not fit the model.
    public func denoise(_ image: PNGImage, path: String) throws -> PNGImage {
        let (h, w) = (image.height, image.width)
        var channels: Int?
        for c in [image.colorChannels, 1, 3] where channels == nil {
            if try trainer(for: ImageShape(channels: c, height: h, width: w)) != nil { channels = c }
        }
        guard let c = channels, let trainer = try trainer(for: ImageShape(channels: c, height: h, width: w)) else {
            throw TrainingError("\(path): \(w)x\(h), \(image.colorChannels) color channel(s), not what the "
                + "\(config.family.rawValue) model (\(config.model.specification.summary)) was trained on: denoise "
                + "images of its trained size")
        }
        return image.mappingColorPlanes(channels: c) { planes in
            // 16-bit words hold 8- and 16-bit samples exactly.
            let words = planes.map { UInt16(($0 * 65535).rounded()) }
            let dataset = Dataset(source: path, shape: ImageShape(channels: c, height: h, width: w), storage: .words(words),
                                  labels: nil)
            var out = [Float](repeating: 0, count: planes.count)
            do {
                let source = try BatchAssembler(dataset: dataset, seed: config.seed)
                _ = [0].withUnsafeBufferPointer { trainer.evaluate(source, indices: $0, epoch: 0, reconstructions: &out) }
            } catch {
                preconditionFailure("a dataset of one fixed-size image assembles: \(error)")
            }
            return out
        }
    }
}
