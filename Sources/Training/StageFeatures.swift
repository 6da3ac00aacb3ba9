// The data of a pretraining stage above the first: the codes (hidden probabilities) that the
// finished stage below computes for every sample of its own data, train and test splits alike
// (Hinton & Salakhutdinov 2006: each RBM learns from the hidden activities of the one below).
// A stage's `data` reads `stage:FOLDER`; the chain is followed down to the files.

import Datasets
import Engine
import Foundation
import Layers
import Models

public enum StageFeatures {
    public static let prefix = "stage:"

    /// The stage folder a `stage:` data string names, or nil for other data.
    static func folder(_ data: String) -> String? {
        data.hasPrefix(prefix) ? String(data.dropFirst(prefix.count)) : nil
    }

    /// The data behind `data`: files as `DataSource.load` reads them, or for `stage:FOLDER` the
    /// codes of that finished stage's model on its own (clean) data.
    /// - Throws: `TrainingError` when the stage has not finished or its codes are not
    ///   probabilities; the loaders' errors for the files at the bottom.
    public static func load(_ data: String, options: PNGFolderOptions, shards: Int) throws -> DataSource {
        guard let folder = folder(data) else { return try DataSource.load(data, options: options) }
        let file = folder + "/checkpoints/last.safetensors"
        guard FileManager.default.fileExists(atPath: file) else {
            throw TrainingError("\(folder): the stage below has no checkpoint (checkpoints/last.safetensors); "
                + "it must finish first")
        }
        let contents = try Checkpoint.load(file)
        guard contents.progress.epoch >= contents.config.epochs else {
            throw TrainingError("\(folder): the stage below stopped after epoch \(contents.progress.epoch) of "
                + "\(contents.config.epochs); resume the staged run to finish it")
        }
        let below = try load(contents.config.data, options: contents.config.folderOptions, shards: shards)
        guard let shape = below.train.fixedShape else {
            throw TrainingError("\(below.path): images differ in size; a pretraining stack needs one size (--resize)")
        }
        let model = contents.config.makeModel(rowShape: shape)
        guard let latent = model as? any LatentModel else {
            throw TrainingError("\(folder): the \(contents.config.family.rawValue) stage has no code to pass on")
        }
        let trainer = Trainer(evaluating: model, shards: shards, maxBatch: 500, seed: contents.config.seed)
        try Checkpoint.restore(contents, into: trainer, optimizer: false)
        let width = latent.codeWidth
        // A near-square tile per sample, so that grids of a stage's inputs stay readable.
        var height = Int(Double(width).squareRoot())
        while width % height != 0 { height -= 1 }
        let featureShape = ImageShape(channels: 1, height: height, width: width / height)
        func encode(_ dataset: Dataset) throws -> Dataset {
            let source = try BatchAssembler(dataset: dataset, seed: contents.config.seed)
            let codes = trainer.encode(source, indices: Array(0..<dataset.count), epoch: 0)
            // Probabilities are kept as 16-bit fractions (error at most 0.5/65535), as 16-bit
            // PNGs are: half the memory of floats, and the batch assembler reads them as they are.
            var words = [UInt16](repeating: 0, count: codes.count)
            for (i, p) in codes.enumerated() {
                guard p >= 0 && p <= 1 else {
                    throw TrainingError("\(folder): its codes are not probabilities (found \(p)); only a stage with "
                        + "logistic hidden units can feed the next")
                }
                words[i] = UInt16((p * 65535).rounded())
            }
            return Dataset(source: data, shape: featureShape, storage: .words(words), labels: dataset.labels,
                           classNames: dataset.classNames)
        }
        return DataSource(path: data, kind: .stageFeatures, train: try encode(below.train),
                          test: try below.test.map(encode))
    }
}
