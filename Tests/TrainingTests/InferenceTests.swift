// The forward-only inference path against evaluation: the same reconstructions, bit for bit, for
// models with a batch statistic, a fused training pass, sequences, a likelihood and the U-Net.

import Datasets
import Engine
import Foundation
import Models
import Testing
import TestSupport
import Training

@Suite struct InferenceTests {
    static func cases() throws -> [(name: String, model: any AutoencoderModel, source: any BatchSource, rows: Int)] {
        let images: any BatchSource = try sampleAssembler(noise: "gaussian:0.2")
        var sparse = DenseAutoencoderConfig(widths: [784, 48, 12])
        sparse.codeActivation = .sigmoid
        sparse.sparsity = .kl(target: 0.1, weight: 0.01, momentum: 0.5)
        var vae = VariationalAutoencoderConfig(widths: [784, 40, 5])
        vae.freeBits = 0.1
        var conv = ConvAutoencoderConfig()
        conv.filters = [6, 4, 4]
        var sequence = SequenceAutoencoderConfig(cell: .gru, steps: 29, features: 12)
        sequence.hidden = 20
        let denoiserImages = try BatchAssembler(dataset: smoothImages(count: 24, channels: 1),
                                                corruption: Corruption(parsing: "gaussian:25/255"), seed: 3,
                                                patch: (16, 16))
        var denoiser = ConvDenoiserConfig(channels: 1)
        denoiser.width = 24
        return [
            ("sparse (batch statistic)", DenseAutoencoder(sparse), images, 30),
            ("vae (free bits statistic, sampling)", VariationalAutoencoder(vae), images, 30),
            ("conv (fused training pass)", ConvAutoencoder(conv), images, 16),
            ("gru", SequenceAutoencoder(sequence), try vowelSource(), 30),
            ("denoiser", ConvDenoiser(denoiser, height: 16, width: 16), denoiserImages, 8),
        ]
    }

    /// After two training steps (so running state and parameters moved), `infer` writes exactly
    /// the reconstructions `evaluate` does, on 2 shards with an uneven split.
    @Test func inferenceReconstructsExactlyAsEvaluation() throws {
        for (name, model, source, rows) in try Self.cases() {
            let trainer = Trainer(model: model, optimizers: [OptimizerConfig()], shards: 2, maxBatch: rows + 1, seed: 5)
            let width = model.targetWidth
            var evaluated = [Float](repeating: 0, count: (rows - 1) * width)
            var inferred = [Float](repeating: .nan, count: evaluated.count)
            Array(0..<rows).withUnsafeBufferPointer { ids in
                trainer.trainStep(source, indices: ids, epoch: 0)
                trainer.trainStep(source, indices: ids, epoch: 1)
                let odd = UnsafeBufferPointer(rebasing: ids[1...])
                _ = trainer.evaluate(source, indices: odd, epoch: 0, reconstructions: &evaluated)
                trainer.infer(source, indices: odd, epoch: 0, reconstructions: &inferred)
            }
            #expect(inferred == evaluated, "\(name)")
            #expect(evaluated.contains { $0 != 0 }, "\(name): reconstructions written")
        }
    }
}
