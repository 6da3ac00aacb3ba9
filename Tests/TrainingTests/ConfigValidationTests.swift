// One validation of a run config, whichever way it arrives: values that trapped the process or
// were silently accepted (from config.json and from a checkpoint's metadata) are refused with
// the config key; a checkpoint's progress and non-finite weights are checked as it loads.

import Engine
import Foundation
import Kernels
import Models
import Testing
import TestSupport
import Training

/// A valid config as JSON (what `train` writes), for edits.
func validConfigObject() throws -> [String: Any] {
    var config = TrainingConfig(family: .dense, model: .dense(DenseAutoencoderConfig(widths: [784, 32])),
                                data: "mnist-sample")
    config.shards = 2
    return try JSONSerialization.jsonObject(with: Data(config.jsonString().utf8)) as! [String: Any]
}

func edited(_ edit: (inout [String: Any]) -> Void) throws -> String {
    var object = try validConfigObject()
    edit(&object)
    return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
}

@Suite struct ConfigValidationTests {
    @Test func aValidConfigPasses() throws {
        let config = try TrainingConfig.from(json: try edited { _ in })
        #expect(config.validationProblem() == nil)
    }

    /// (key expected in the message, the edit)
    static let badValues: [(String, @Sendable (inout [String: Any]) -> Void)] = [
        ("resize", { $0["resize"] = [64] }),
        ("resize", { $0["resize"] = [Int]() }),
        ("resize", { $0["resize"] = [-64, -64] }),
        ("crop", { $0["crop"] = [0, 10] }),
        ("batchSize", { $0["batchSize"] = 0 }),
        ("batchSize", { $0["batchSize"] = -5 }),
        ("shards", { $0["shards"] = 0 }),
        // A preset name of another family than the model's config: two sources of truth.
        ("family", { $0["family"] = "denoiser" }),
        ("family", { $0["family"] = "vae" }),
        ("shards", { $0["shards"] = -1 }),
        ("gridCount", { $0["gridCount"] = 0 }),
        ("epochs", { $0["epochs"] = Int.max }),
        ("epochs", { $0["epochs"] = 0 }),
        ("epochs", { $0["epochs"] = -3 }),
        ("model.dense.widths[1]", { o in
            var dense = (o["model"] as! [String: Any])["dense"] as! [String: Any]
            dense["widths"] = [784, Int.max]
            o["model"] = ["dense": dense]
        }),
        ("optimizer.learningRate", { o in
            var optimizer = o["optimizer"] as! [String: Any]
            optimizer["learningRate"] = -1
            o["optimizer"] = optimizer
        }),
        ("optimizer.schedule.every", { o in
            var optimizer = o["optimizer"] as! [String: Any]
            optimizer["schedule"] = ["kind": "step", "every": 0, "gamma": 0.1, "totalSteps": 1, "minFactor": 0,
                                     "warmupSteps": 0]
            o["optimizer"] = optimizer
        }),
        ("holdout", { $0["holdout"] = 1.5 }),
        ("holdout", { $0["holdout"] = 0 }),
        ("background", { $0["background"] = -2 }),
        ("logEvery", { $0["logEvery"] = 0 }),
        ("checkpointEvery", { $0["checkpointEvery"] = -1 }),
        ("patchesPerImage", { $0["patchesPerImage"] = -1 }),
        ("noise", { $0["noise"] = "gaussian:abc" }),
        ("resizeFilter", { $0["resizeFilter"] = "sinc" }),
        ("batchSize", { $0["batchSize"] = "many" }),
    ]

    @Test(arguments: badValues.indices)
    func badValuesAreRefusedNamingTheKey(case index: Int) throws {
        let (key, edit) = Self.badValues[index]
        let json = try edited(edit)
        #expect {
            _ = try TrainingConfig.from(json: json)
        } throws: { error in
            "\(error)".contains("config key \(key)")
        }
    }

    /// The library path: a config value built in code (not decoded) is refused when a run starts.
    @Test func aRunRefusesAnInvalidConfigBeforeLoadingData() throws {
        var config = TrainingConfig(family: .dense, data: "/nonexistent/folder")
        config.batchSize = 0
        #expect {
            _ = try TrainingRun(config: config, runDirectory: try makeScratchFolder("invalid-run"))
        } throws: { error in
            "\(error)".contains("config key batchSize")
        }
    }

    /// Writes a checkpoint of a tiny dense model, then rewrites it with `edit` applied to its
    /// metadata and tensors; returns the path.
    func editedCheckpoint(_ name: String, metadata editMetadata: (inout [String: String]) -> Void = { _ in },
                          tensors editTensors: (inout [String: [Float]]) -> Void = { _ in }) throws -> String {
        let folder = try makeScratchFolder(name)
        var config = TrainingConfig(family: .dense, model: .dense(DenseAutoencoderConfig(widths: [6, 3])),
                                    data: "mnist-sample")
        config.shards = 1
        let trainer = Trainer(model: DenseAutoencoder(DenseAutoencoderConfig(widths: [6, 3])),
                              optimizers: [OptimizerConfig()], shards: 1, maxBatch: 4, seed: 1)
        let path = folder + "/c.safetensors"
        try Checkpoint.save(trainer, config: config, progress: RunProgress(), to: path)
        var (tensors, order, metadata) = try SafeTensors.read(path: path)
        editMetadata(&metadata)
        var values = tensors.mapValues(\.values)
        editTensors(&values)
        let buffers = order.map { name -> FloatBuffer in
            let buffer = FloatBuffer(count: values[name]!.count)
            for (i, v) in values[name]!.enumerated() { buffer[i] = v }
            return buffer
        }
        let list = order.indices.map { i in
            (name: order[i], shape: tensors[order[i]]!.shape,
             values: UnsafeBufferPointer(start: buffers[i].pointer, count: buffers[i].count))
        }
        try withExtendedLifetime(buffers) { try SafeTensors.write(list, metadata: metadata, to: path) }
        return path
    }

    @Test func aCheckpointRoundTripsUnedited() throws {
        let path = try editedCheckpoint("ckpt-plain")
        #expect(try Checkpoint.load(path).config.batchSize == 256)
    }

    @Test(arguments: [("epoch", -1, 0), ("batchInEpoch", 0, -4)])
    func aCheckpointAtANegativePositionIsRefused(field: String, epoch: Int, batch: Int) throws {
        let path = try editedCheckpoint("ckpt-position") { metadata in
            metadata["progress"] = "{\"epoch\":\(epoch),\"batchInEpoch\":\(batch),\"history\":[]}"
        }
        #expect {
            _ = try Checkpoint.load(path)
        } throws: { error in
            "\(error)".contains("c.safetensors") && "\(error)".contains("not a position in a run")
        }
    }

    @Test func aCheckpointWithABadConfigNamesTheKey() throws {
        let path = try editedCheckpoint("ckpt-config") { metadata in
            metadata["config"] = metadata["config"]!.replacingOccurrences(of: "\"gridCount\":10", with: "\"gridCount\":0")
        }
        #expect {
            _ = try Checkpoint.load(path)
        } throws: { error in
            "\(error)".contains("c.safetensors") && "\(error)".contains("config key gridCount")
        }
    }

    @Test func unreadableMetadataIsASentence() throws {
        let path = try editedCheckpoint("ckpt-metadata") { $0["progress"] = "{\"epoch\": \"three\"}" }
        #expect {
            _ = try Checkpoint.load(path)
        } throws: { error in
            "\(error)".contains("key epoch") && !"\(error)".contains("NSError") && !"\(error)".contains("Code=")
        }
    }

    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func nonFiniteWeightsAreRefusedNamingTheTensor(value: Float) throws {
        let path = try editedCheckpoint("ckpt-nan", tensors: { $0["decoder.0.bias"]![2] = value })
        #expect {
            _ = try Checkpoint.load(path)
        } throws: { error in
            "\(error)".contains("tensor decoder.0.bias") && "\(error)".contains("index 2") && "\(error)".contains("diverged")
        }
    }
}
