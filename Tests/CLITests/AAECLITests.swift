// The adversarial autoencoder end to end: a label-conditioned mixture prior (per-component
// sample rows, the latent scatter, every loss part logged), the clustering form and its error in
// `evaluate --json`, and the refusals a user can run into.

import Foundation
import Images
import Testing
import TestSupport

@Suite(.serialized) struct AAECLITests {
    @Test func conditionedMixtureAndClusters() throws {
        let folder = try makeScratchFolder("aaecli")
        let run = folder + "/aae"
        let train = try runTool(["train", "--model", "aae", "--prior", "mixture", "--conditional", "--layers", "784,64,2",
                                 "--discriminator", "32", "--epochs", "1", "--shards", "2", "--run-dir", run])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("training aae 784-64-2, prior mixture:10 by label, discriminator 32"), "\(train.stdout)")
        let log = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8)
        for key in ["loss_reconstruction", "loss_discriminator", "loss_generator", "test_discriminator"] {
            #expect(log.contains("\"\(key)\""), "\(key) missing from the log")
        }
        #expect(FileManager.default.fileExists(atPath: run + "/plots/latent-epoch-001.png"))
        let sample = try runTool(["sample", "--checkpoint", run, "--count", "30", "--scale", "1", "--out", folder + "/s.png"])
        #expect(sample.status == 0, "\(sample.stderr)")
        // A caption of at least two lines (the model, wrapped to the grid's width; what the rows
        // are), one row per component (10), three samples each, tiles of 28 + 2, a label column.
        let image = try PNGCodec.read(path: folder + "/s.png")
        #expect((GridCLITests.captionLines(height: image.height, below: 2 + 10 * 30) ?? 0) >= 2, "height \(image.height)")
        let interpolate = try runTool(["interpolate", "--checkpoint", run, "--pairs", "2", "--out", folder + "/i.png"])
        #expect(interpolate.status == 0, "\(interpolate.stderr)")

        let clusters = folder + "/clusters"
        let clustered = try runTool(["train", "--model", "aae", "--clusters", "4", "--layers", "784,64,2", "--discriminator",
                                     "16", "--epochs", "1", "--run-dir", clusters])
        #expect(clustered.status == 0, "\(clustered.stderr)")
        let evaluate = try runTool(["evaluate", "--checkpoint", clusters, "--json"])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(evaluate.stdout.utf8)) as? [String: Any]
        let error = try #require(object?["cluster_error"] as? Double)
        // Four clusters can label at most four digits right: at least 60% wrong, never all.
        #expect(error >= 0.5 && error < 1, "cluster error \(error)")
        #expect((object?["clusters_used"] as? Int).map { $0 >= 1 && $0 <= 4 } == true)
    }

    @Test func refusals() throws {
        let folder = try makeScratchFolder("aaerefuse")
        let foreign = try runTool(["train", "--model", "dense", "--prior", "mixture", "--run-dir", folder + "/a"])
        #expect(foreign.status != 0 && foreign.stderr.contains("--prior does not apply to --model dense"), "\(foreign.stderr)")
        let unconditioned = try runTool(["train", "--model", "aae", "--conditional", "--run-dir", folder + "/b"])
        #expect(unconditioned.status != 0 && unconditioned.stderr.contains("needs a mixture prior"), "\(unconditioned.stderr)")
        let badPrior = try runTool(["train", "--model", "aae", "--prior", "mixture:1", "--run-dir", folder + "/c"])
        #expect(badPrior.status != 0 && badPrior.stderr.contains("--prior mixture:1"), "\(badPrior.stderr)")
        let tooFew = try runTool(["train", "--model", "aae", "--prior", "mixture:5", "--conditional", "--epochs", "1",
                                  "--run-dir", folder + "/d"])
        #expect(tooFew.status != 0 && tooFew.stderr.contains("10 classes, the prior 5 components"), "\(tooFew.stderr)")
        // Unlabelled images: a folder of PNGs without class folders.
        let images = folder + "/images"
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        for i in 0..<4 {
            let image = PNGImage(width: 8, height: 8, layout: .gray, bitDepth: 8,
                                 samples: [UInt16](repeating: UInt16(40 * i), count: 64))
            try PNGCodec.write(image, to: images + "/\(i).png")
        }
        let unlabelled = try runTool(["train", "--model", "aae", "--prior", "mixture", "--conditional", "--data", images,
                                      "--epochs", "1", "--run-dir", folder + "/e"])
        #expect(unlabelled.status != 0 && unlabelled.stderr.contains("reads labels"), "\(unlabelled.stderr)")
    }
}
