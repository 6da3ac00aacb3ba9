// The denoising workflow through the binary: train a small denoiser on a PNG folder of mixed
// sizes, denoise odd-sized gray/RGB 8- and 16-bit images (same names, sizes, color types and
// depths come back), and evaluate, which must corrupt its clean input before denoising.

import Datasets
import Engine
import Foundation
import Images
import Testing
import TestSupport
import Training

/// A smooth test picture with a little texture, values in [0, 1].
func smoothPicture(width: Int, height: Int, channels: Int, seed: Int) -> [Float] {
    var values: [Float] = []
    for c in 0..<channels {
        for y in 0..<height {
            for x in 0..<width {
                let v = 0.5 + 0.3 * sin(Double(x + seed) * 0.21 + Double(c)) * cos(Double(y - seed) * 0.13)
                    + 0.1 * sin(Double(x * y + seed) * 0.05)
                values.append(Float(v))
            }
        }
    }
    return values
}

/// Interleaves planar values into a PNG image of `layout` (alpha 0.8 where present).
func pngImage(width: Int, height: Int, layout: PixelLayout, bitDepth: Int, seed: Int) -> PNGImage {
    let colors = layout.isColor ? 3 : 1, n = width * height
    let planes = smoothPicture(width: width, height: height, channels: colors, seed: seed)
    var interleaved: [Float] = []
    for p in 0..<n {
        for c in 0..<colors { interleaved.append(planes[c * n + p]) }
        if layout.hasAlpha { interleaved.append(0.8) }
    }
    return PNGImage(width: width, height: height, layout: layout, bitDepth: bitDepth, values: interleaved)
}

@Suite(.serialized) struct DenoiserCLITests {
    /// Trains a tiny gray denoiser for one epoch; returns the run folder.
    func trainTinyDenoiser() throws -> String {
        let data = try makeScratchFolder("denoiser-data")
        for i in 0..<6 {
            let image = pngImage(width: 40 + 3 * i, height: 36 + 5 * i, layout: .gray, bitDepth: 8, seed: i)
            try PNGCodec.write(image, to: data + "/img\(i).png")
        }
        let run = try makeScratchFolder("denoiser-run")
        let result = try runTool(["train", "--model", "denoiser", "--data", data, "--noise", "gaussian:25/255",
                                  "--patch", "16", "--depth", "1", "--width", "4", "--epochs", "1",
                                  "--batch-size", "8", "--shards", "2", "--run-dir", run, "--grid-count", "4"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("validation PSNR"), "\(result.stdout)")
        return run
    }

    /// The README's command has no --patch: the denoiser's default (48) must apply before the
    /// folder is read, so images of mixed sizes are accepted.
    @Test func defaultPatchAcceptsMixedSizes() throws {
        let data = try makeScratchFolder("denoiser-mixed")
        for (i, size) in [(50, 52), (64, 49), (57, 60)].enumerated() {
            try PNGCodec.write(pngImage(width: size.0, height: size.1, layout: .gray, bitDepth: 8, seed: i),
                               to: data + "/img\(i).png")
        }
        let run = try makeScratchFolder("denoiser-mixed-run")
        // No --noise: the denoiser's default noise (clean inputs would teach it nothing).
        let result = try runTool(["train", "--model", "denoiser", "--data", data, "--depth", "1", "--width", "4",
                                  "--epochs", "1", "--batch-size", "4", "--run-dir", run])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("noise gaussian:25/255") && !result.stdout.contains("100.00 dB"), "\(result.stdout)")
        let config = try String(contentsOfFile: run + "/config.json", encoding: .utf8)
        #expect(config.contains("\"patch\" : 48"), "\(config)")
        let l1 = try runTool(["train", "--model", "denoiser", "--data", data, "--loss", "l1", "--depth", "1", "--width", "4",
                              "--epochs", "1", "--batch-size", "4", "--run-dir", run + "-l1"])
        #expect(l1.status == 0 && l1.stdout.contains("validation PSNR"), "\(l1.stdout)\(l1.stderr)")
        let config1 = try String(contentsOfFile: run + "-l1/config.json", encoding: .utf8)
        #expect(config1.contains("\"loss\" : \"l1\""), "\(config1)")
        let bce = try runTool(["train", "--model", "denoiser", "--data", data, "--loss", "bce", "--epochs", "1",
                               "--run-dir", run + "-bce"])
        #expect(bce.status != 0 && bce.stderr.contains("mse, l1 or charbonnier"), "\(bce.stderr)")
        let clean = try runTool(["train", "--model", "denoiser", "--data", data, "--noise", "none", "--epochs", "1",
                                 "--run-dir", run + "-clean"])
        #expect(clean.status != 0 && clean.stderr.contains("leaves it nothing to learn"), "\(clean.stderr)")
    }

    @Test func denoiseKeepsNamesSizesColorTypesAndDepths() throws {
        let run = try trainTinyDenoiser()
        let input = try makeScratchFolder("denoise-in"), output = input + "-out"
        let cases: [(String, PixelLayout, Int)] = [
            ("gray8.png", .gray, 8), ("gray16.png", .gray, 16), ("rgb8.png", .rgb, 8), ("rgba16.png", .rgba, 16),
        ]
        for (i, (name, layout, depth)) in cases.enumerated() {
            try PNGCodec.write(pngImage(width: 37, height: 53, layout: layout, bitDepth: depth, seed: 10 + i),
                               to: input + "/" + name)
        }
        let result = try runTool(["denoise", "--checkpoint", run, "--input", input, "--output", output,
                                  "--tile", "16"])
        #expect(result.status == 0, "\(result.stderr)")
        for (name, layout, depth) in cases {
            let original = try PNGCodec.read(path: input + "/" + name)
            let denoised = try PNGCodec.read(path: output + "/" + name)
            #expect(denoised.width == 37 && denoised.height == 53, "\(name)")
            #expect(denoised.layout == layout && denoised.bitDepth == depth, "\(name)")
            #expect(denoised.samples != original.samples, "\(name) came back unchanged")
            if layout.hasAlpha {
                let alpha = stride(from: 3, to: denoised.samples.count, by: 4)
                #expect(alpha.allSatisfy { denoised.samples[$0] == original.samples[$0] }, "alpha changed")
            }
        }
        let same = try runTool(["denoise", "--checkpoint", run, "--input", input, "--output", input])
        #expect(same.status != 0 && same.stderr.contains("input folder"))
    }

    @Test func evaluateCorruptsTheCleanInput() throws {
        let run = try trainTinyDenoiser()
        let clean = try makeScratchFolder("denoise-clean")
        for i in 0..<3 {
            try PNGCodec.write(pngImage(width: 41 + i, height: 33, layout: .gray, bitDepth: 8, seed: 20 + i),
                               to: clean + "/c\(i).png")
        }
        let result = try runTool(["evaluate", "--checkpoint", run, "--data", clean, "--noise", "gaussian:25/255",
                                  "--seed", "0", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        // Unclipped Gaussian noise of sigma 25/255 gives 20.17 dB; clean input would be infinite.
        let noisy = try #require(object?["psnr_noisy"] as? Double)
        #expect(abs(noisy - 20.17) < 0.5)
        let denoised = try #require(object?["psnr_denoised"] as? Double)
        #expect(denoised.isFinite && denoised < 60)
        #expect(object?["images"] as? Int == 3)
        #expect((object?["per_image"] as? [Any])?.count == 3)
        // The same seed gives the same figures; another seed other noise.
        let saved = clean + "-saved"
        let again = try runTool(["evaluate", "--checkpoint", run, "--data", clean, "--noise", "gaussian:25/255",
                                 "--seed", "0", "--json", "--save", saved])
        // --save wrote the images scored: the denoised ones give the reported PSNR (up to 8-bit
        // rounding), the noisy ones are what `noise` writes with the same seed.
        let made = try runTool(["noise", "--input", clean, "--output", clean + "-noisy", "--noise", "gaussian:25/255",
                                "--seed", "0"])
        #expect(made.status == 0, "\(made.stderr)")
        let perImage = try #require(object?["per_image"] as? [[String: Any]])
        for entry in perImage {
            let file = try #require(entry["file"] as? String)
            let original = try PNGCodec.read(path: clean + "/" + file)
            let denoisedImage = try PNGCodec.read(path: saved + "/denoised/" + file)
            #expect(denoisedImage.width == original.width && denoisedImage.layout == .gray && denoisedImage.bitDepth == 8)
            let mse = zip(original.samples, denoisedImage.samples).reduce(0.0) {
                $0 + pow((Double($1.0) - Double($1.1)) / 255, 2)
            } / Double(original.samples.count)
            let reported = try #require(entry["psnr_denoised"] as? Double)
            #expect(abs(10 * log10(1 / mse) - reported) < 0.05, "\(file): \(10 * log10(1 / mse)) vs \(reported)")
            #expect(try PNGCodec.read(path: saved + "/noisy/" + file) == PNGCodec.read(path: clean + "-noisy/" + file), "\(file)")
        }
        let other = try runTool(["evaluate", "--checkpoint", run, "--data", clean, "--noise", "gaussian:25/255",
                                 "--seed", "1", "--json"])
        let againObject = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any]
        let otherObject = try JSONSerialization.jsonObject(with: Data(other.stdout.utf8)) as? [String: Any]
        #expect(againObject?["psnr_noisy"] as? Double == noisy)
        #expect(otherObject?["psnr_noisy"] as? Double != noisy)
        let none = try runTool(["evaluate", "--checkpoint", run, "--data", clean, "--noise", "none"])
        #expect(none.status != 0 && none.stderr.contains("needs noise"))
    }

    @Test func denoiseRefusesModelsNotTrainedToDenoise() throws {
        let run = try makeScratchFolder("dense-run")
        let train = try runTool(["train", "--model", "dense", "--data", "mnist-sample", "--epochs", "1",
                                 "--run-dir", run, "--layers", "784,16"])
        #expect(train.status == 0, "\(train.stderr)")
        let result = try runTool(["denoise", "--checkpoint", run, "--input", "data", "--output", run + "/out"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("trained on clean inputs"), "\(result.stderr)")
        let sequences = try makeScratchFolder("gru-run")
        let gru = try runTool(["train", "--model", "gru", "--data", "mnist-sample", "--hidden", "4", "--epochs", "1",
                               "--noise", "gaussian:0.1", "--run-dir", sequences])
        #expect(gru.status == 0, "\(gru.stderr)")
        let refused = try runTool(["denoise", "--checkpoint", sequences, "--input", "data", "--output", sequences + "/out"])
        #expect(refused.status != 0 && refused.stderr.contains("models sequences"), "\(refused.stderr)")
    }

    /// A convolutional denoising autoencoder (28x28) denoises PNG digits of its trained size: the
    /// files come back as the model's reconstructions (as a run reading the same folder computes
    /// them), closer to the clean digits than the noisy ones were; other sizes are refused.
    @Test func denoiseWithAConvDenoisingAutoencoder() throws {
        let run = try makeScratchFolder("conv-dae")
        let train = try runTool(["train", "--model", "conv", "--data", "mnist-sample", "--noise", "gaussian:0.3+clip",
                                 "--epochs", "2", "--batch-size", "64", "--run-dir", run])
        #expect(train.status == 0, "\(train.stderr)")
        let clean = try makeScratchFolder("digits-clean"), noisy = clean + "-noisy", out = clean + "-out"
        let test = try #require(try MNIST.loadFolder(bundledMNISTSample).1)
        var digit = [Float](repeating: 0, count: 784)
        for i in 0..<4 {
            digit.withUnsafeMutableBufferPointer { test.copySample(i, into: $0.baseAddress!) }
            try PNGCodec.write(PNGImage(width: 28, height: 28, layout: .gray, bitDepth: 8, values: digit),
                               to: clean + "/d\(i).png")
        }
        #expect(try runTool(["noise", "--input", clean, "--output", noisy, "--noise", "gaussian:0.3+clip"]).status == 0)
        let result = try runTool(["denoise", "--checkpoint", run, "--input", noisy, "--output", out])
        #expect(result.status == 0 && result.stdout.contains("denoised 4 image(s)"), "\(result.stdout)\(result.stderr)")
        // The expected outputs through the run's own path: the folder read as a data set, one batch.
        let reader = try TrainingRun.fromCheckpoint(run, data: noisy, noise: "none", shards: 1)
        let folder = try DataSource.load(noisy).train
        var expected = [Float](repeating: 0, count: 4 * 784)
        _ = [0, 1, 2, 3].withUnsafeBufferPointer {
            reader.trainer.evaluate(try! BatchAssembler(dataset: folder, seed: 0), indices: $0, epoch: 0,
                                    reconstructions: &expected)
        }
        var before = 0.0, after = 0.0
        for i in 0..<4 {
            let (c, n, d) = try (PNGCodec.read(path: clean + "/d\(i).png"), PNGCodec.read(path: noisy + "/d\(i).png"),
                                 PNGCodec.read(path: out + "/d\(i).png"))
            #expect(d.width == 28 && d.height == 28 && d.layout == .gray && d.bitDepth == 8)
            let position = try #require(folder.files?.firstIndex(of: "d\(i).png"))
            let worst = (0..<784).map { abs(Float(d.samples[$0]) / 255 - expected[position * 784 + $0]) }.max()!
            #expect(worst <= 0.5 / 255 + 1e-6, "d\(i).png: largest difference \(worst)")
            for p in 0..<784 {
                before += pow(Double(n.samples[p]) - Double(c.samples[p]), 2)
                after += pow(Double(d.samples[p]) - Double(c.samples[p]), 2)
            }
        }
        #expect(after < 0.5 * before, "squared error to clean: noisy \(before), denoised \(after)")
        try PNGCodec.write(PNGImage(width: 30, height: 28, layout: .gray, bitDepth: 8,
                                    values: [Float](repeating: 0.5, count: 840)), to: clean + "-wide.png")
        let wide = try runTool(["denoise", "--checkpoint", run, "--input", clean + "-wide.png", "--output", out + "2"])
        #expect(wide.status != 0 && wide.stdout.contains("trained size"), "\(wide.stdout)")
    }
}

@Suite struct ConvBenchCLITests {
    @Test func benchConvMeasuresM2() throws {
        let result = try runTool(["bench", "--model", "conv", "--data", "mnist-sample", "--batch-size", "16",
                                  "--shards", "1", "--min-time", "0.1", "--warmup-steps", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
        let row = try #require(rows?.first)
        #expect(row["model"] as? String == "M2")
        #expect((row["train_samples_per_second"] as? Double ?? 0) > 0)
        // 705,600 multiply-adds forward, training counted as 3 x forward.
        let gflops = try #require(row["gflops"] as? Double), rate = try #require(row["train_sps"] as? Double)
        #expect(abs(gflops / rate * 1e9 - 3 * 2 * 705_600) < 1)
    }

    @Test func benchStreamsAFolderLargerThanItsCache() throws {
        // 12 RGB 200x150 images (1.08 MB of samples) through a 1M cache (11 images): streamed, at
        // least the first window (5 images) decoded, and the wait reported.
        let folder = try makeScratchFolder("bench-stream")
        for i in 0..<12 {
            try PNGCodec.write(pngImage(width: 200, height: 150, layout: .rgb, bitDepth: 8, seed: i), to: folder + "/\(i).png")
        }
        let result = try runTool(["bench", "--model", "denoiser", "--depth", "1", "--width", "4", "--data", folder,
                                  "--channels", "3", "--patch", "16", "--batch-size", "4", "--cache-memory", "1M",
                                  "--min-time", "0.5", "--warmup-steps", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
        let row = try #require(rows?.first)
        #expect((row["data_wait"] as? Double).map { $0 >= 0 && $0 < 1 } == true)
        #expect(row["cache_bytes"] as? Int == 1 << 20 && (row["cache_decodes"] as? Int ?? 0) >= 5)
    }
}
