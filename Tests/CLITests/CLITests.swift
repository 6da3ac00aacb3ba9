// End to end through the built `autoencoder` binary: inspect and grid on the bundled data, and
// a one-line error with a non-zero exit for bad input.

import Engine
import Foundation
import Images
import Training
import Testing
import TestSupport

/// The `autoencoder` executable built beside the test bundle.
let autoencoderBinary: String = {
    var candidates: [String] = []
    if let url = Bundle.main.executableURL { candidates.append(url.deletingLastPathComponent().path) }
    candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path)
    candidates.append(repositoryRoot + "/.build/debug")
    for folder in candidates where FileManager.default.isExecutableFile(atPath: folder + "/autoencoder") {
        return folder + "/autoencoder"
    }
    return repositoryRoot + "/.build/debug/autoencoder"
}()

func runTool(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: autoencoderBinary)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self),
            String(decoding: stderr, as: UTF8.self))
}

@Suite(.serialized) struct CLITests {
    @Test func inspectBundledSample() throws {
        let result = try runTool(["inspect", "--data", "data/mnist-sample"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("IDX folder, 6000 images (decoded in"))
        #expect(result.stdout.contains("train: 5000 images, 28x28, 1 channel, 8-bit"))
        #expect(result.stdout.contains("test: 1000 images, 28x28"))
        #expect(result.stdout.contains("0: 479 1: 563"))
        let json = try runTool(["inspect", "--data", "mnist-sample", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["total"] as? Int == 6000)
    }

    @Test func inspectBadSourceFailsWithOneLine() throws {
        let folder = try makeScratchFolder("clibad")
        try writeFile(folder + "/train-images-idx3-ubyte", [0, 0, 9, 3, 0, 0, 0, 1])
        let result = try runTool(["inspect", "--data", folder])
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(folder + "/train-images-idx3-ubyte"))
        #expect(result.stderr.contains("bad IDX magic"))
        let missing = try runTool(["inspect", "--data", folder + "/nothing"])
        #expect(missing.status != 0 && missing.stderr.contains("no such file"))
        // The mistakes a newcomer makes first: full MNIST not fetched, one PNG instead of a
        // folder, a PNG renamed like an IDX file.
        let mnist = try runTool(["inspect", "--data", folder + "/mnist"])
        #expect(mnist.status != 0 && mnist.stderr.contains("tools/fetch-mnist"), "\(mnist.stderr)")
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]
        try writeFile(folder + "/photo.png", png)
        let one = try runTool(["inspect", "--data", folder + "/photo.png"])
        #expect(one.status != 0 && one.stderr.contains("is a PNG image; --data takes a folder"), "\(one.stderr)")
        try writeFile(folder + "/renamed-idx3-ubyte", Array("label,x\n1,0.5\n".utf8))
        let renamed = try runTool(["inspect", "--data", folder + "/renamed-idx3-ubyte"])
        #expect(renamed.stderr.contains("bad IDX magic") && renamed.stderr.contains("the file is a text file"),
                "\(renamed.stderr)")
    }

    @Test func mistypedCommandGetsTheNearestName() throws {
        let typo = try runTool(["trian", "--model", "dense"])
        #expect(typo.status == 64 && typo.stderr.contains("unknown command 'trian'; did you mean 'train'?"), "\(typo.stderr)")
        let unknown = try runTool(["frobnicate"])
        #expect(unknown.status == 64 && !unknown.stderr.contains("did you mean") && unknown.stderr.contains("Commands: train"))
    }

    @Test func helpOfOneFamilyLeavesTheOthersOut() throws {
        let all = try runTool(["train", "--help"]), vae = try runTool(["train", "--model", "vae", "--help"])
        #expect(all.status == 0 && vae.status == 0)
        #expect(all.stdout.contains("--beta") && all.stdout.contains("--cd-steps"))
        #expect(vae.stdout.contains("--beta") && vae.stdout.contains("--lr") && !vae.stdout.contains("--cd-steps"))
        #expect(vae.stdout.split(separator: "\n").count < all.stdout.split(separator: "\n").count * 3 / 4)
    }

    @Test func shortRunsAreWarnedAndThreadsCapTheCores() throws {
        let folder = try makeScratchFolder("clifew")
        let result = try runTool(["train", "--model", "dense", "--layers", "784,16", "--epochs", "1", "--threads", "1",
                                  "--run-dir", folder + "/run"])
        #expect(result.status == 0, "\(result.stderr)")
        let output = result.stdout + result.stderr
        // 5,000 sample digits at batch 256: 20 steps; 1,000 steps take 50 epochs.
        #expect(output.contains("this run trains only 20 steps") && output.contains("--epochs 50"), "\(output)")
        #expect(result.stdout.contains("1 shard(s)"), "\(result.stdout)")
        let log = try String(contentsOfFile: folder + "/run/log.jsonl", encoding: .utf8)
        #expect(log.contains("this run trains only 20 steps"))
    }

    @Test func gridWritesCleanAndNoisyRows() throws {
        let folder = try makeScratchFolder("cligrid")
        let out = folder + "/g.png"
        let result = try runTool(["grid", "--data", "data/mnist-sample", "--noise", "gaussian:0.3",
                                  "--count", "6", "--columns", "3", "--scale", "1", "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        let image = try PNGCodec.read(path: out)
        // Four rows (clean, noisy, clean, noisy) of three 28x28 tiles, 2 px gutters, labels left.
        var grid = ImageGrid(tileWidth: 28, tileHeight: 28, channels: 1)
        grid.caption = "gaussian:0.3, seed 0, epoch 0"
        for label in ["clean", "noisy", "clean", "noisy"] {
            grid.addRow(label: label, tiles: [Float](repeating: 0, count: 3 * 784))
        }
        let expected = grid.render()
        #expect(image.width == expected.width && image.height == expected.height)
        #expect(image.layout == .gray)
        // The first clean tile is test digit 0 exactly; its noisy tile differs.
        let (x0, y0) = grid.tileOrigin(row: 0, column: 0)
        let (_, y1) = grid.tileOrigin(row: 1, column: 0)
        var differs = 0
        var ink = 0
        for y in 0..<28 {
            for x in 0..<28 {
                let clean = image.samples[(y0 + y) * image.width + x0 + x]
                let noisy = image.samples[(y1 + y) * image.width + x0 + x]
                if clean > 128 { ink += 1 }
                if clean != noisy { differs += 1 }
            }
        }
        #expect(ink > 50 && ink < 400)
        #expect(differs > 300)  // noise below 0 on the black background clips to 0
    }

    @Test func badNoiseSpecIsRejected() throws {
        let result = try runTool(["grid", "--noise", "gausian:0.3", "--out", "/tmp/never.png"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("unknown kind 'gausian'"))
    }

    @Test func trainEvaluateReconstructEndToEnd() throws {
        let folder = try makeScratchFolder("clitrain")
        let run = folder + "/run"
        let result = try runTool(["train", "--model", "denoising", "--layers", "784,64,16", "--epochs", "1",
                                  "--batch-size", "100", "--shards", "2", "--run-dir", run])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("epoch 1/1"))
        let grid = try PNGCodec.read(path: run + "/grids/reconstruction-epoch-001.png")
        // A caption, then clean, noisy, recon rows of 28x28 tiles drawn at 2x.
        #expect(grid.height == GridCLITests.captionBand(lines: 1, scale: 2) + 2 + 3 * 58)
        let evaluation = try runTool(["evaluate", "--checkpoint", run, "--json"])
        #expect(evaluation.status == 0, "\(evaluation.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(evaluation.stdout.utf8)) as? [String: Any]
        let error = try #require(object?["squared_error_per_image"] as? Double)
        #expect(error > 0 && error < 60)
        let reconstruction = try runTool(["reconstruct", "--checkpoint", run + "/checkpoints/best.safetensors",
                                          "--count", "5", "--out", folder + "/r.png"])
        #expect(reconstruction.status == 0, "\(reconstruction.stderr)")
        #expect(try PNGCodec.read(path: folder + "/r.png").width > 5 * 28)

        // Data the model cannot take: the error names the data, what it is and what the model takes,
        // and suggests no training-only flags.
        func gray(_ side: Int, _ path: String) throws {
            let image = PNGImage(width: side, height: side, layout: .gray, bitDepth: 8,
                                 samples: [UInt16](repeating: 100, count: side * side))
            try PNGCodec.write(image, to: path)
        }
        let small = folder + "/small", mixed = folder + "/mixed"
        for dir in [small, mixed] { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try gray(10, small + "/a.png")
        try gray(10, small + "/b.png")
        try gray(10, mixed + "/a.png")
        try gray(12, mixed + "/b.png")
        let wrongSize = try runTool(["evaluate", "--checkpoint", run, "--data", small])
        #expect(wrongSize.status != 0)
        #expect(wrongSize.stderr.contains("100 values per sample") && wrongSize.stderr.contains("takes 784 values"),
                "\(wrongSize.stderr)")
        #expect(!wrongSize.stderr.contains("--layers"))
        let mixedSizes = try runTool(["evaluate", "--checkpoint", run, "--data", mixed])
        #expect(mixedSizes.status != 0)
        #expect(mixedSizes.stderr.contains("mixed sizes") && mixedSizes.stderr.contains("takes 784 values"),
                "\(mixedSizes.stderr)")
        #expect(!mixedSizes.stderr.contains("--resize"))
        let sequences = try runTool(["evaluate", "--checkpoint", run, "--data",
                                     "data/japanese-vowels/JapaneseVowels_TRAIN.ts"])
        #expect(sequences.status != 0 && sequences.stderr.contains("sequence data"), "\(sequences.stderr)")
    }

    @Test func trainRejectsBadOptionsWithOneLine() throws {
        let wrongWidth = try runTool(["train", "--layers", "100,10", "--epochs", "1", "--run-dir", "/tmp/never-run"])
        #expect(wrongWidth.status != 0 && wrongWidth.stderr.contains("784 values per sample"))
        let folder = try makeScratchFolder("clibad")
        let contractive = try runTool(["train", "--model", "contractive", "--layers", "784,64,16", "--epochs", "1",
                                       "--run-dir", folder + "/run"])
        #expect(contractive.status != 0 && contractive.stderr.contains("one sigmoid encoder layer"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/run"), "a run that cannot start leaves no folder")
        let missing = try runTool(["evaluate", "--checkpoint", "/nonexistent/x.safetensors"])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/x.safetensors"))
    }

    @Test func benchPrintsTheDocumentedJSONFields() throws {
        let result = try runTool(["bench", "--model", "dense", "--layers", "784,32", "--batch-size", "64",
                                  "--shards", "1,2", "--min-time", "0.2", "--warmup-steps", "2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 2)
        for key in ["train_samples_per_second", "infer_samples_per_second", "shards", "batch_size", "gflops",
                    "allocations_per_step", "train_sps", "threads"] {
            #expect(rows[0][key] != nil, "\(key)")
        }
        #expect(rows.map { $0["shards"] as? Int } == [1, 2])
    }

    @Test func divergingRunStopsNamingStepAndLayer() throws {
        let folder = try makeScratchFolder("clinan")
        let result = try runTool(["train", "--model", "deep", "--optimizer", "sgd", "--lr", "1e12",
                                  "--batch-size", "64", "--epochs", "1", "--run-dir", folder + "/run"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("loss became") && result.stderr.contains("in layer"), "\(result.stderr)")
        #expect(result.stderr.contains("no checkpoint had been written yet"))
    }
}

/// One model specification from the command line: foreign flags refused, `--config` restarts a
/// written run bit-identically, `--resume` keeps the epoch count.
@Suite(.serialized) struct ModelSpecCLITests {
    @Test(arguments: [
        (["--model", "conv", "--layers", "784,128"], "--layers does not apply to --model conv"),
        (["--model", "dense", "--filters", "16,8"], "--filters does not apply to --model dense"),
        (["--model", "denoiser", "--tied"], "--tied does not apply to --model denoiser"),
        (["--model", "vae", "--loss", "bce"], "--loss does not apply to --model vae"),
        (["--model", "gru", "--dropout", "0.1"], "--dropout does not apply to --model gru"),
    ])
    func foreignFlagsAreRefusedInOneLine(_ flags: [String], _ message: String) throws {
        let result = try runTool(["train", "--epochs", "1"] + flags)
        #expect(result.status == 64, "a usage error's status")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count <= 2, "\(result.stderr)")
    }

    /// Threads per shard by the measured rule: a dense model whose batch split one shard per core
    /// leaves fewer than 64 rows gets the cores; a conv model, or enough rows, keeps one thread.
    @Test func threadsPerShardFollowTheMeasuredRule() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let folder = try makeScratchFolder("threads")
        func firstLine(_ arguments: [String], _ run: String) throws -> String {
            let result = try runTool(["train", "--data", "mnist-sample", "--epochs", "1", "--shards", "1",
                                      "--run-dir", folder + "/" + run] + arguments)
            #expect(result.status == 0, "\(result.stderr)")
            return String(result.stdout.split(separator: "\n").first ?? "")
        }
        let dense = try firstLine(["--model", "dense", "--layers", "784,16", "--batch-size", "32"], "dense")
        #expect(dense.contains(cores > 1 ? "1 shard(s) x \(cores) threads," : "1 shard(s),"), "\(dense)")
        let conv = try firstLine(["--model", "conv", "--batch-size", "32"], "conv")
        #expect(conv.contains("1 shard(s),"), "\(conv)")
        if 256 / cores >= 64 {
            let wide = try firstLine(["--model", "dense", "--layers", "784,16", "--batch-size", "256"], "wide")
            #expect(wide.contains("1 shard(s),"), "\(wide)")
        }
    }

    @Test func configRestartsARunBitIdenticallyAndResumeKeepsEpochs() throws {
        let folder = try makeScratchFolder("configrun")
        let first = try runTool(["train", "--model", "dense", "--layers", "784,12", "--epochs", "1", "--shards", "2",
                                 "--batch-size", "100", "--noise", "masking:0.2", "--seed", "4",
                                 "--run-dir", folder + "/a"])
        #expect(first.status == 0, "\(first.stderr)")
        let again = try runTool(["train", "--config", folder + "/a", "--run-dir", folder + "/b"])
        #expect(again.status == 0, "\(again.stderr)")
        let a = try SafeTensors.read(path: folder + "/a/checkpoints/last.safetensors").tensors
        let b = try SafeTensors.read(path: folder + "/b/checkpoints/last.safetensors").tensors
        #expect(!a.isEmpty && a.keys.sorted() == b.keys.sorted())
        for (name, tensor) in a { #expect(tensor.values == b[name]?.values, "\(name) differs") }
        // Options next to --config override and are recorded.
        let changed = try runTool(["train", "--config", folder + "/a/config.json", "--seed", "5", "--epochs", "2",
                                   "--run-dir", folder + "/c"])
        #expect(changed.status == 0, "\(changed.stderr)")
        let config = try TrainingConfig.from(json: String(contentsOfFile: folder + "/c/config.json", encoding: .utf8))
        #expect(config.seed == 5 && config.epochs == 2 && config.noise == "masking:0.2" && config.batchSize == 100)
        // --resume without --epochs keeps the run's count (2), with --epochs extends it.
        let resumed = try runTool(["train", "--resume", folder + "/c"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try String(contentsOfFile: folder + "/c/metrics.json", encoding: .utf8).contains("\"epochs_done\" : 2"))
        let extended = try runTool(["train", "--resume", folder + "/c", "--epochs", "3", "--log-every", "7",
                                    "--time-limit", "30", "--cache-memory", "512M"])
        #expect(extended.status == 0 && extended.stdout.contains("epoch 3/3"), "\(extended.stdout)")
        // Settings that leave the steps as they were may change on resume; the rest is the run's.
        let settings = try TrainingConfig.from(json: String(contentsOfFile: folder + "/c/config.json", encoding: .utf8))
        #expect(settings.logEvery == 7 && settings.timeLimit == 1800 && settings.cacheMemory == 512 << 20)
        #expect(settings.seed == 5 && settings.batchSize == 100)
        let refused = try runTool(["train", "--resume", folder + "/c", "--layers", "784,10"])
        #expect(refused.status != 0 && refused.stderr.contains("a resumed run keeps its model"))
    }
}
