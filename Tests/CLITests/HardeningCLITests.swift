// Hostile or careless input through the binary: run folders are never overwritten by accident,
// splits of different sizes are refused before anything is allocated for them, PNG split folders
// give train and test splits with class labels, signals save and exit 128 + signal, and bad
// numbers are refused with one line.

import Engine
import Foundation
import Images
import Testing
import TestSupport
import Training

/// An IDX images file of `count` images of `side` x `side` bytes.
func idxImages(count: Int, side: Int) -> [UInt8] {
    func be(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
    return [0, 0, 8, 3] + be(count) + be(side) + be(side) + (0..<(count * side * side)).map { UInt8($0 % 251) }
}

@Suite(.serialized) struct HardeningCLITests {
    @Test func runFoldersAreNotOverwrittenByAccident() throws {
        let folder = try makeScratchFolder("runfolders")
        let args = ["train", "--model", "dense", "--layers", "784,8", "--epochs", "1", "--run-dir", folder + "/run"]
        #expect(try runTool(args).status == 0)
        let again = try runTool(args)
        #expect(again.status != 0 && again.stderr.contains("already holds a run") && again.stderr.contains("--resume"),
                "\(again.stderr)")
        let replaced = try runTool(args + ["--overwrite"])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        try writeFile(folder + "/file", [1, 2, 3])
        let file = try runTool(["train", "--model", "dense", "--run-dir", folder + "/file", "--data", folder + "/nothing"])
        #expect(file.status != 0 && file.stderr.contains("a file, not a folder"), "\(file.stderr)")
        #expect(file.stderr.split(separator: "\n").count == 1)
        // The data path is stored absolute, so a resume works from any folder.
        let config = try TrainingConfig.from(json: String(contentsOfFile: folder + "/run/config.json", encoding: .utf8))
        #expect(config.data == "mnist-sample")
        let relative = try runTool(["train", "--model", "dense", "--layers", "784,8", "--epochs", "1", "--data",
                                    "data/mnist-sample", "--run-dir", folder + "/rel"])
        #expect(relative.status == 0, "\(relative.stderr)")
        let stored = try TrainingConfig.from(json: String(contentsOfFile: folder + "/rel/config.json", encoding: .utf8))
        #expect(stored.data.hasPrefix("/") && stored.data.hasSuffix("data/mnist-sample"), "\(stored.data)")
    }

    @Test func splitsOfDifferentSizesAreRefused() throws {
        let folder = try makeScratchFolder("splitsizes")
        try writeFile(folder + "/train-images-idx3-ubyte", idxImages(count: 10, side: 28))
        try writeFile(folder + "/t10k-images-idx3-ubyte", idxImages(count: 30, side: 64))
        for command in [["inspect"], ["train", "--model", "dense", "--epochs", "1", "--run-dir", folder + "/run"]] {
            let result = try runTool(command + ["--data", folder])
            #expect(result.status != 0, "\(command[0]) accepted splits of two sizes")
            #expect(result.stderr.contains("t10k-images-idx3-ubyte") && result.stderr.contains("64x64"), "\(result.stderr)")
        }
    }

    @Test func pngSplitFoldersGiveSplitsAndClasses() throws {
        let folder = try makeScratchFolder("pngsplits")
        for (split, count) in [("Train", 6), ("test", 2)] {
            for label in ["cat", "dog"] {
                try FileManager.default.createDirectory(atPath: "\(folder)/data/\(split)/\(label)", withIntermediateDirectories: true)
                for i in 0..<count {
                    try PNGCodec.write(pngImage(width: 8, height: 8, layout: .gray, bitDepth: 8, seed: i),
                                       to: "\(folder)/data/\(split)/\(label)/\(i).png")
                }
            }
        }
        let inspect = try runTool(["inspect", "--data", folder + "/data", "--json"])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any]
        #expect(object?["total"] as? Int == 16, "\(inspect.stdout)")
        let splits = (object?["splits"] as? [[String: Any]] ?? []).map { ($0["split"] as? String ?? "", $0["count"] as? Int ?? 0) }
        #expect(splits.map(\.0) == ["train", "test"] && splits.map(\.1) == [12, 4], "\(splits)")
        #expect(inspect.stdout.contains("cat") && inspect.stdout.contains("dog") && !inspect.stdout.contains("\"Train\""))
        // A class only the test split has, and PNGs beside the split folders, are refused.
        try FileManager.default.createDirectory(atPath: folder + "/data/test/bird", withIntermediateDirectories: true)
        try PNGCodec.write(pngImage(width: 8, height: 8, layout: .gray, bitDepth: 8, seed: 1), to: folder + "/data/test/bird/0.png")
        let unknown = try runTool(["inspect", "--data", folder + "/data"])
        #expect(unknown.status != 0 && unknown.stderr.contains("class bird has no training images"), "\(unknown.stderr)")
        try FileManager.default.removeItem(atPath: folder + "/data/test/bird")
        try PNGCodec.write(pngImage(width: 8, height: 8, layout: .gray, bitDepth: 8, seed: 1), to: folder + "/data/stray.png")
        let stray = try runTool(["inspect", "--data", folder + "/data"])
        #expect(stray.status != 0 && stray.stderr.contains("beside the split folders"), "\(stray.stderr)")
    }

    /// `inspect` reads a PNG folder header by header: a file whose pixel data is damaged passes (its
    /// header is sound) until --decode decodes every file; a damaged header is refused naming the file.
    @Test func inspectReadsHeadersUnlessToldToDecode() throws {
        let folder = try makeScratchFolder("inspectheaders")
        for (label, count, width, height, layout) in [("a", 3, 8, 8, PixelLayout.gray), ("b", 2, 12, 10, .rgb)] {
            try FileManager.default.createDirectory(atPath: "\(folder)/png/\(label)", withIntermediateDirectories: true)
            for i in 0..<count {
                try PNGCodec.write(pngImage(width: width, height: height, layout: layout, bitDepth: 8, seed: i),
                                   to: "\(folder)/png/\(label)/\(i).png")
            }
        }
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/png/a/0.png")))
        let idat = (0..<(bytes.count - 4)).first { bytes[$0..<($0 + 4)].elementsEqual("IDAT".utf8) }!
        bytes[idat + 6] ^= 0xFF
        try writeFile(folder + "/png/a/0.png", bytes)
        let headers = try runTool(["inspect", "--data", folder + "/png"])
        #expect(headers.status == 0 && headers.stdout.contains("5 images (headers read in")
                    && headers.stdout.contains("sizes vary, 8x8 to 12x10, 3 channels, 8-bit")
                    && headers.stdout.contains("a: 3 b: 2"), "\(headers.stdout) \(headers.stderr)")
        let json = try runTool(["inspect", "--data", folder + "/png", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let split = (object?["splits"] as? [[String: Any]])?.first
        #expect(object?["decoded"] as? Bool == false && split?["pixelMean"] == nil && split?["maxWidth"] as? Int == 12,
                "\(json.stdout)")
        let decoded = try runTool(["inspect", "--data", folder + "/png", "--decode"])
        #expect(decoded.status == 1 && decoded.stderr.contains("png/a/0.png"), "\(decoded.stderr)")
        // A damaged IHDR (its CRC) is refused by the header pass, or listed with --skip-bad.
        var other = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/png/b/1.png")))
        other[20] ^= 0x01
        try writeFile(folder + "/png/b/1.png", other)
        let refused = try runTool(["inspect", "--data", folder + "/png"])
        #expect(refused.status == 1 && refused.stderr.contains("png/b/1.png") && refused.stderr.contains("CRC"),
                "\(refused.stderr)")
        let skipping = try runTool(["inspect", "--data", folder + "/png", "--skip-bad"])
        #expect(skipping.status == 0 && skipping.stdout.contains("4 images") && skipping.stdout.contains("skipped"),
                "\(skipping.stdout)")
    }

    /// Starts a long training on `run` and returns once it reports its first step (its signal
    /// handlers are installed and it holds the run folder).
    func startTraining(_ run: String) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: autoencoderBinary)
        process.arguments = ["train", "--model", "dense", "--layers", "784,64,8", "--epochs", "60", "--shards", "1",
                             "--run-dir", run, "--log-every", "5"]
        process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
        let out = Pipe()
        process.standardOutput = out
        process.standardError = Pipe()
        try process.run()
        var seen = ""
        while !seen.contains("step") {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            seen += String(decoding: data, as: UTF8.self)
        }
        return (process, out)
    }

    /// Ctrl-C, kill, a closed terminal and Ctrl-\\ all save and exit 128 + signal (SIGQUIT printed
    /// a crash backtrace and trained on; SIGHUP lost the work since the last checkpoint).
    @Test(arguments: [SIGTERM, SIGINT, SIGHUP, SIGQUIT])
    func signalsSaveAndExitWithTheSignal(_ code: Int32) throws {
        let folder = try makeScratchFolder("signal")
        let (process, out) = try startTraining(folder + "/run")
        kill(process.processIdentifier, code)
        _ = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 128 + code,
                "signal \(code): exit \(process.terminationStatus)")
        #expect(FileManager.default.fileExists(atPath: folder + "/run/checkpoints/last.safetensors"))
        let resumed = try runTool(["train", "--resume", folder + "/run", "--epochs", "1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
    }

    /// A second training on a run folder in use is refused (new, --overwrite or --resume); the
    /// lock of a process that is gone is taken over.
    @Test func aRunFolderInUseIsRefused() throws {
        let folder = try makeScratchFolder("runlock")
        let (process, out) = try startTraining(folder + "/run")
        defer {
            process.terminate()
            _ = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
        }
        for extra in [["--overwrite"], ["--resume", folder + "/run"]] {
            let base = extra.first == "--resume" ? ["train"] : ["train", "--model", "dense", "--layers", "784,8"]
            let second = try runTool(base + ["--epochs", "1", "--run-dir", folder + "/run"] + extra)
            #expect(second.status == 1 && second.stderr.contains("another process (pid \(process.processIdentifier))")
                        && second.stderr.contains("is training in this run folder"), "\(extra): \(second.stderr)")
        }
        #expect(process.isRunning)
        // A lock file left by a process that no longer runs does not hold a folder.
        try FileManager.default.createDirectory(atPath: folder + "/stale", withIntermediateDirectories: true)
        try writeFile(folder + "/stale/.lock", Array("pid 999999\n".utf8))
        let stale = try runTool(["train", "--model", "dense", "--layers", "784,8", "--epochs", "1", "--run-dir",
                                 folder + "/stale"])
        #expect(stale.status == 0, "\(stale.stderr)")
    }

    /// --time-limit stops within the epoch (a checkpoint holding the epoch's sums so far); the
    /// resumed epoch's record averages all of its batches, as an uninterrupted run's does.
    @Test func theTimeLimitActsWithinAnEpoch() throws {
        let folder = try makeScratchFolder("timelimit")
        let args = ["train", "--model", "dense", "--layers", "784,16", "--epochs", "1", "--batch-size", "2", "--shards",
                    "1", "--seed", "3"]
        let limited = try runTool(args + ["--time-limit", "0.003", "--run-dir", folder + "/limited"])
        #expect(limited.status == 0 && limited.stdout.contains("time limit of 0.18 s reached at epoch 1 batch"),
                "\(limited.stdout) \(limited.stderr)")
        let progress = try Checkpoint.load(folder + "/limited").progress
        #expect(progress.epoch == 0 && progress.batchInEpoch > 0, "stopped at batch \(progress.batchInEpoch)")
        // The limit holds for each resumed stretch too: resume until the epoch is done.
        for _ in 0..<30 where try Checkpoint.load(folder + "/limited").progress.epoch == 0 {
            #expect(try runTool(["train", "--resume", folder + "/limited"]).status == 0)
        }
        #expect(try runTool(args + ["--run-dir", folder + "/straight"]).status == 0)
        let a = try Checkpoint.load(folder + "/limited").progress.history, b = try Checkpoint.load(folder + "/straight").progress.history
        #expect(a.count == 1 && b.count == 1 && a.first?.trainLoss == b.first?.trainLoss,
                "\(a.map(\.trainLoss)) vs \(b.map(\.trainLoss))")
    }

    @Test func skippedFilesAreListed() throws {
        let folder = try makeScratchFolder("skipbad")
        try FileManager.default.createDirectory(atPath: folder + "/png", withIntermediateDirectories: true)
        for i in 0..<4 {
            try PNGCodec.write(pngImage(width: 8, height: 8, layout: .gray, bitDepth: 8, seed: i), to: folder + "/png/\(i).png")
        }
        try writeFile(folder + "/png/broken.png", [137, 80, 78, 71, 13, 10, 26, 10, 0, 0])
        let result = try runTool(["train", "--model", "dense", "--layers", "64,4", "--epochs", "1", "--skip-bad",
                                  "--data", folder + "/png", "--run-dir", folder + "/run"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("skipped 1 file(s)") && result.stdout.contains("broken.png"), "\(result.stdout)")
        let log = try String(contentsOfFile: folder + "/run/log.jsonl", encoding: .utf8)
        #expect(log.contains("\"type\":\"skipped\"") && log.contains("broken.png"))
    }

    @Test func sizesFromTheCommandLineAreChecked() throws {
        let folder = try makeScratchFolder("sizes")
        // A batch larger than the data is clamped to it (not a workspace for a million rows).
        let batch = try runTool(["train", "--model", "dense", "--layers", "784,8", "--batch-size", "1000000", "--epochs", "1",
                                 "--run-dir", folder + "/a"])
        #expect(batch.status == 0 && batch.stdout.contains("batch 5000,"), "\(batch.stdout) \(batch.stderr)")
        let memory = try runTool(["train", "--model", "dense", "--layers", "784,2000000,784", "--batch-size", "4000",
                                  "--run-dir", folder + "/b"])
        #expect(memory.status != 0 && memory.stderr.contains("GB, more than the"), "\(memory.stderr)")
        try FileManager.default.createDirectory(atPath: folder + "/png", withIntermediateDirectories: true)
        try PNGCodec.write(pngImage(width: 8, height: 8, layout: .gray, bitDepth: 8, seed: 1), to: folder + "/png/a.png")
        let resize = try runTool(["inspect", "--data", folder + "/png", "--resize", "100000x100000"])
        #expect(resize.status != 0 && resize.stderr.contains("need") && resize.stderr.contains("--resize"), "\(resize.stderr)")
        // Patches per image are sample indices: counts no memory holds are refused before any list is made.
        for i in 1..<20 {
            try PNGCodec.write(pngImage(width: 8, height: 8, layout: .gray, bitDepth: 8, seed: i), to: folder + "/png/\(i).png")
        }
        let patches = try runTool(["train", "--model", "denoiser", "--patch", "8", "--patches-per-image", "16000000",
                                   "--data", folder + "/png", "--run-dir", folder + "/c"])
        #expect(patches.status == 1 && patches.stderr.contains("--patches-per-image 16000000")
                    && patches.stderr.contains("use at most"), "\(patches.status) \(patches.stderr)")
    }

    /// On resume the log agrees with the checkpoint: an epoch record a kill cut off is written
    /// back, lines about steps after the checkpoint (and a half-written line) are dropped.
    @Test func theLogIsReconciledWithTheCheckpointOnResume() throws {
        let folder = try makeScratchFolder("logrecovery")
        let run = folder + "/run"
        #expect(try runTool(["train", "--model", "dense", "--layers", "784,8", "--epochs", "2", "--run-dir", run]).status == 0)
        let log = run + "/log.jsonl"
        var lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        lines.removeAll { $0.contains("\"type\":\"epoch\"") && $0.contains("\"epoch\":2,") }
        lines.append("{\"batch\":9999,\"epoch\":3,\"loss\":1,\"step\":99999,\"type\":\"step\"}")
        lines.append("{\"batch\":5,\"ep")
        try (lines.joined(separator: "\n") + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        let resumed = try runTool(["train", "--resume", run, "--epochs", "3"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let records = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        let epochs = records.filter { $0["type"] as? String == "epoch" }
        #expect(epochs.map { $0["epoch"] as? Int } == [1, 2, 3])
        #expect(epochs[1]["from_checkpoint"] as? Bool == true && epochs[1]["train_loss"] is Double)
        #expect(!records.contains { $0["batch"] as? Int == 9999 })
    }

    /// A config file goes through the same validation as the options: no trap, the key named.
    @Test(arguments: [("batchSize", "0"), ("shards", "0"), ("gridCount", "0"), ("epochs", "9223372036854775807"),
                      ("resize", "[64]"), ("holdout", "2.5")])
    func configValuesAreValidatedLikeOptions(key: String, value: String) throws {
        let folder = try makeScratchFolder("configvalues")
        let base = try runTool(["train", "--model", "dense", "--layers", "784,8", "--epochs", "1", "--run-dir",
                                folder + "/base"])
        #expect(base.status == 0, "\(base.stderr)")
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/base/config.json")))
            as! [String: Any]
        object[key] = try JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: folder + "/bad.json"))
        let result = try runTool(["train", "--config", folder + "/bad.json", "--run-dir", folder + "/run"])
        #expect(result.status == 1 && result.stderr.contains("config key \(key)"), "\(result.status) \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/run/config.json"))
        // A data path of 5 million characters is not echoed whole.
        object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/base/config.json")))
            as! [String: Any]
        object["data"] = "/nonexistent/" + String(repeating: "x", count: 5_000_000)
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: folder + "/long.json"))
        let long = try runTool(["train", "--config", folder + "/long.json", "--run-dir", folder + "/long"])
        #expect(long.status == 1 && long.stderr.count < 1000 && long.stderr.contains("(5000013 characters)"),
                "\(long.stderr.prefix(400))")
    }

    @Test(arguments: [
        (["train", "--epochs", "-1"], "--epochs must be 1 to 1000000"),
        (["train", "--epochs", "9223372036854775807"], "--epochs must be 1 to 1000000"),
        (["train", "--shards", "1000000000000"], "--shards must be 1 to 4096"),
        (["train", "--batch-size", "0"], "--batch-size must be 1 to"),
        (["train", "--patches-per-image", "1000000000"], "--patches-per-image must be 1 to"),
        (["train", "--schedule", "cosine:abc"], "'cosine:abc' is invalid for '--schedule"),
        (["train", "--schedule", "step:0:0.1"], "'step:0:0.1' is invalid for '--schedule"),
        (["train", "--lr", "nan"], "--lr must be a positive number"),
        (["train", "--grid-count", "0"], "--grid-count must be 1 to 1000"),
        (["train", "--momentum", "1.5"], "--momentum must be in [0, 1)"),
        (["reconstruct", "--checkpoint", "x", "--count", "0"], "--count must be positive"),
    ])
    func badNumbersAreRefused(_ arguments: [String], _ message: String) throws {
        let result = try runTool(arguments)
        #expect(result.status != 0 && result.stderr.contains(message), "\(result.stderr)")
    }
}

/// `kill -9` at random moments (checkpoint writes included), then `--resume` until the run ends:
/// the result equals an uninterrupted run bit for bit and no temporary file is left behind.
@Suite(.serialized) struct KillResumeTests {
    static func arguments(epochs: Int) -> [String] {
        ["train", "--model", "dense", "--layers", "784,32", "--epochs", "\(epochs)", "--batch-size", "100",
         "--shards", "2", "--checkpoint-every", "3", "--noise", "masking:0.3", "--seed", "9"]
    }

    func parameters(_ run: String) throws -> [String: [Float]] {
        try SafeTensors.read(path: run + "/checkpoints/last.safetensors").tensors
            .filter { !$0.key.hasPrefix("optimizer.") }.mapValues(\.values)
    }

    @Test func killedRunsResumeBitIdentically() throws {
        let folder = try makeScratchFolder("killresume")
        // AUTOENCODER_KILLS=20 swift test --filter KillResumeTests for a longer trial.
        let planned = Int(ProcessInfo.processInfo.environment["AUTOENCODER_KILLS"] ?? "") ?? 4
        let epochs = 2 * planned
        let straight = try runTool(Self.arguments(epochs: epochs) + ["--run-dir", folder + "/straight"])
        #expect(straight.status == 0, "\(straight.stderr)")
        var rng = SystemRandomNumberGenerator()
        let run = folder + "/killed"
        var kills = 0, finished = false, attempts = 0
        while !finished && attempts < 4 * planned + 10 {
            attempts += 1
            let started = FileManager.default.fileExists(atPath: run + "/checkpoints/last.safetensors")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: autoencoderBinary)
            process.arguments = started ? ["train", "--resume", run] : Self.arguments(epochs: epochs) + ["--run-dir", run, "--overwrite"]
            process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            if kills < planned {
                usleep(UInt32.random(in: 50_000...600_000, using: &rng))
                if process.isRunning {
                    kill(process.processIdentifier, SIGKILL)
                    kills += 1
                }
            }
            process.waitUntilExit()
            finished = process.terminationReason == .exit && process.terminationStatus == 0
        }
        #expect(finished, "the run never finished after \(kills) kills")
        // A fast machine may finish a resumed stretch before the next kill lands; two kills at least.
        #expect(kills >= min(planned, 2), "only \(kills) of \(planned) kills landed before the run ended")
        let a = try parameters(folder + "/straight"), b = try parameters(run)
        #expect(!a.isEmpty && a.keys.sorted() == b.keys.sorted())
        for (name, values) in a { #expect(values == b[name], "\(name) differs after \(kills) kills") }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints").filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty, "temporaries left: \(leftovers)")
        // The log agrees with the checkpoints: every epoch once, with the uninterrupted run's
        // train loss (the sums of a resumed epoch are kept), and no step logged twice.
        func records(_ run: String) throws -> [[String: Any]] {
            try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n")
                .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        let straightEpochs = try records(folder + "/straight").filter { $0["type"] as? String == "epoch" }
        let killedLines = try records(run)
        let killedEpochs = killedLines.filter { $0["type"] as? String == "epoch" }
        #expect(killedEpochs.map { $0["epoch"] as? Int } == (1...epochs).map { $0 }, "\(killedEpochs.map { $0["epoch"] ?? "" })")
        #expect(killedEpochs.map { $0["train_loss"] as? Double } == straightEpochs.map { $0["train_loss"] as? Double })
        let steps = killedLines.filter { $0["type"] as? String == "step" }.map { "\($0["epoch"]!)-\($0["batch"]!)" }
        #expect(Set(steps).count == steps.count, "steps logged twice: \(steps)")
    }
}

/// The fuzz corpus (Fuzz/corpus, seeds and inputs that once crashed) replayed through every
/// harness in a normal build: each input loads or throws (tools/fuzz runs libFuzzer on them).
@Suite struct FuzzCorpusTests {
    @Test(arguments: ["png", "idx", "ts", "csv", "safetensors", "config"])
    func corpusReplaysWithoutCrashing(_ target: String) throws {
        let binary = (autoencoderBinary as NSString).deletingLastPathComponent + "/autoencoder-fuzz"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [target, repositoryRoot + "/Fuzz/corpus/" + target]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0 && text.contains("\(target): "), "\(text)")
        #expect(!text.contains(": 0 input(s)"), "no corpus for \(target)")
    }
}
