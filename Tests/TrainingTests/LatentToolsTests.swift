// Latent tools: decoding a model's own codes gives its reconstructions, the prior quantiles,
// spherical interpolation and the 2-D projection have their defining properties, and .npy files
// carry the header numpy expects.

import Analysis
import Datasets
import Engine
import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport
import Training

@Suite struct LatentToolsTests {
    /// Sequence models too: an LSTM fed the code (reversed, with a bottleneck) and a GRU whose
    /// conditioned decoder starts from the code and feeds its own predictions, as evaluation does.
    @Test(arguments: ["dense", "conv", "lstm", "gru-conditioned"])
    func decodingTheCodesGivesTheReconstructions(_ kind: String) throws {
        let (train, _) = try MNIST.loadFolder(bundledMNISTSample)
        let source: any BatchSource = try BatchAssembler(dataset: try #require(train), seed: 0)
        var lstm = SequenceAutoencoderConfig(cell: .lstm, steps: 28, features: 28)
        (lstm.hidden, lstm.code, lstm.reverse) = (12, 5, true)
        var gru = SequenceAutoencoderConfig(cell: .gru, steps: 28, features: 28)
        (gru.hidden, gru.decoderInput) = (10, .previous)
        let model: any AutoencoderModel = switch kind {
        case "dense": DenseAutoencoder(DenseAutoencoderConfig(widths: [784, 16, 4]))
        case "conv": ConvAutoencoder(ConvAutoencoderConfig())
        case "lstm": SequenceAutoencoder(lstm)
        default: SequenceAutoencoder(gru)
        }
        let trainer = Trainer(model: model, optimizers: [OptimizerConfig()], shards: 2, maxBatch: 6, seed: 1)
        let ids = [5, 9, 100, 7, 300, 2]
        var reconstructions = [Float](repeating: 0, count: ids.count * 784)
        ids.withUnsafeBufferPointer { p in
            _ = trainer.evaluate(source, indices: p, epoch: 0, reconstructions: &reconstructions)
        }
        let decoded = trainer.decode(codes: trainer.encode(source, indices: ids, epoch: 0))
        expectClose(decoded, reconstructions, relative: 1e-5, absolute: 1e-6)
    }

    @Test func normalQuantilesAreRight() {
        expectClose(Float(TrainingRun.normalQuantile(0.975)), 1.959964, relative: 1e-6)
        expectClose(Float(TrainingRun.normalQuantile(0.001)), -3.090232, relative: 1e-6)
        #expect(abs(TrainingRun.normalQuantile(0.5)) < 1e-12)
    }

    @Test func slerpKeepsEndpointsAndNorm() {
        let a: [Float] = [1, 0, 0], b: [Float] = [0, 0, 1]
        expectClose(TrainingRun.slerp(a, b, 0), a, relative: 1e-6, absolute: 1e-7)
        expectClose(TrainingRun.slerp(a, b, 1), b, relative: 1e-6, absolute: 1e-7)
        let middle = TrainingRun.slerp(a, b, 0.5)
        expectClose(middle.reduce(0) { $0 + $1 * $1 }, 1, relative: 1e-6)
        expectClose(middle, [0.70710677, 0, 0.70710677], relative: 1e-5, absolute: 1e-7)
    }

    @Test func projectionFindsTheMainDirections() {
        // A grid of points: widely along u = (1, 2, 2)/3 (s), a little along v = (2, -2, 1)/3 (t),
        // s and t uncorrelated with mean 0.
        var codes: [Float] = [], expected: [(Double, Double)] = []
        for i in -12...12 {
            for t in [Float(-0.1), 0.1] {
                let s = Float(i)
                codes += [s / 3 + 2 * t / 3, 2 * s / 3 - 2 * t / 3, 2 * s / 3 + t / 3]
                expected.append((Double(s), Double(t)))
            }
        }
        let points = TrainingRun.projectTo2D(codes, width: 3)
        for (p, e) in zip(points, expected) {
            #expect(abs(abs(p.x) - abs(e.0)) < 1e-4 && abs(abs(p.y) - abs(e.1)) < 1e-4, "\(p) vs \(e)")
        }
    }

    @Test func npyHeaderAndValues() throws {
        let folder = try makeScratchFolder("npy")
        try NPYFile.write([1, -2.5, 3, 4, 5, 6], rows: 2, columns: 3, to: folder + "/a.npy")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/a.npy")))
        #expect(Array(bytes[0..<8]) == [0x93] + Array("NUMPY".utf8) + [1, 0])
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.contains("'descr': '<f4'") && header.contains("'shape': (2, 3)") && header.hasSuffix("\n"))
        let values = stride(from: 10 + headerLength, to: bytes.count, by: 4).map { i in
            Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
        }
        #expect(values == [1, -2.5, 3, 4, 5, 6])
    }
}
