// The variational autoencoder and the latent tools end to end, as the README shows them: train
// with the defaults on the bundled sample, evaluate (ELBO parts, importance-sampled NLL), encode,
// sample, interpolate, traverse; the convolutional VAE; tools refused where they do not apply.

import Foundation
import Images
import Testing
import TestSupport

@Suite(.serialized) struct VAECLITests {
    @Test func vaeAndLatentToolsEndToEnd() throws {
        let folder = try makeScratchFolder("vaecli")
        let run = folder + "/vae"
        let train = try runTool(["train", "--model", "vae", "--epochs", "1", "--shards", "2", "--run-dir", run])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("training vae 784-400-20, bernoulli decoder"), "\(train.stdout)")
        #expect(train.stdout.contains("reconstruction") && train.stdout.contains("kl"))
        let log = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8)
        #expect(log.contains("\"test_kl\"") && log.contains("\"loss_reconstruction\""))
        #expect(FileManager.default.fileExists(atPath: run + "/plots/latent-epoch-001.png"))

        let evaluate = try runTool(["evaluate", "--checkpoint", run, "--nll-samples", "20", "--json"])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(evaluate.stdout.utf8)) as? [String: Any]
        let elbo = try #require(object?["negative_elbo"] as? Double), nll = try #require(object?["nll"] as? Double)
        let kl = try #require(object?["kl"] as? Double), recon = try #require(object?["reconstruction"] as? Double)
        #expect(abs(recon + kl - elbo) < 1e-6 * elbo)
        #expect(nll < elbo && nll > elbo - 30, "NLL \(nll) is a tighter bound than the negative ELBO \(elbo)")

        let encode = try runTool(["encode", "--checkpoint", run, "--out", folder + "/codes.csv"])
        #expect(encode.status == 0, "\(encode.stderr)")
        let lines = try String(contentsOfFile: folder + "/codes.csv", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1001 && lines[0].hasPrefix("z0,z1,") && lines[0].hasSuffix(",label"))
        #expect(lines[1].split(separator: ",").count == 21)
        // The Projector's files: a code per row, label and class per row under a header, a sprite
        // of 32 x 32 thumbnails (1,000 digits), the config naming them; the run folder has its own.
        let projector = folder + "/projector"
        let withProjector = try runTool(["encode", "--checkpoint", run, "--out", folder + "/codes.npy", "--projector", projector])
        #expect(withProjector.status == 0, "\(withProjector.stderr)")
        let vectors = try String(contentsOfFile: projector + "/vectors.tsv", encoding: .utf8).split(separator: "\n")
        #expect(vectors.count == 1000 && vectors.allSatisfy { $0.split(separator: "\t").count == 20 })
        let rows = try String(contentsOfFile: projector + "/metadata.tsv", encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 1001 && rows[0] == "label\tclass" && rows[1] == "7\t7", "\(rows.prefix(2))")
        let sprite = try PNGCodec.read(path: projector + "/sprite.png")
        #expect(sprite.width == 32 * 28 && sprite.height == 32 * 28)
        let config = try String(contentsOfFile: projector + "/projector_config.pbtxt", encoding: .utf8)
        #expect(config.contains("tensor_path: \"vectors.tsv\"") && config.contains("single_image_dim: 28"))
        let runConfig = try String(contentsOfFile: run + "/projector_config.pbtxt", encoding: .utf8)
        #expect(runConfig.contains("tensor_path: \"projector/vectors.tsv\""))

        for (command, extra, size) in [("sample", ["--count", "25"], (3, 10)), ("interpolate", ["--pairs", "3"], (3, 12)),
                                       ("traverse", ["--dimensions", "4", "--steps", "7"], (4, 7))] {
            let out = folder + "/\(command).png"
            let result = try runTool([command, "--checkpoint", run, "--out", out, "--scale", "1"] + extra)
            #expect(result.status == 0, "\(command): \(result.stderr)")
            let image = try PNGCodec.read(path: out)
            // A two-line caption (the model; what the grid shows), tiles of 28 + a 2-pixel gutter;
            // traversal rows carry a label column on the left; the caption may be the widest part.
            #expect(image.height == GridCLITests.captionBand(lines: 2) + 2 + size.0 * 30, "\(command) height \(image.height)")
            #expect(image.width >= 2 + size.1 * 30, "\(command) width \(image.width)")
        }
    }

    @Test func convolutionalVAEAndRefusals() throws {
        let folder = try makeScratchFolder("vaeconv")
        let conv = try runTool(["train", "--model", "vae", "--architecture", "conv", "--layers", "8", "--filters", "8,16",
                                "--epochs", "1", "--run-dir", folder + "/conv"])
        #expect(conv.status == 0, "\(conv.stderr)")
        #expect(conv.stdout.contains("conv 8-16 on 1x28x28, latent 8"), "\(conv.stdout)")
        let sample = try runTool(["sample", "--checkpoint", folder + "/conv", "--out", folder + "/s.png", "--count", "10"])
        #expect(sample.status == 0, "\(sample.stderr)")

        let dense = try runTool(["train", "--model", "dense", "--layers", "784,8", "--epochs", "1", "--run-dir", folder + "/ae"])
        #expect(dense.status == 0, "\(dense.stderr)")
        let noPrior = try runTool(["sample", "--checkpoint", folder + "/ae", "--out", folder + "/x.png"])
        #expect(noPrior.status != 0 && noPrior.stderr.contains("no prior"), "\(noPrior.stderr)")
        let noNLL = try runTool(["evaluate", "--checkpoint", folder + "/ae", "--nll-samples", "5"])
        #expect(noNLL.status != 0 && noNLL.stderr.contains("need a vae"), "\(noNLL.stderr)")
        let traverse = try runTool(["traverse", "--checkpoint", folder + "/ae", "--out", folder + "/t.png"])
        #expect(traverse.status == 0, "\(traverse.stderr)")
    }
}
