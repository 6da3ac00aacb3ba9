// The disentangling autoencoder end to end: defaults on the bundled digits (probes and swap
// consistency in `evaluate --json`, the swap grid's layout, the latent tools on its code) and on
// the bundled JapaneseVowels sequences (speaker = label, conversion plots); data without labels
// is refused.

import Foundation
import Images
import Testing
import TestSupport

/// The bundled JapaneseVowels test split with every utterance's values repeated, each twice as
/// long as before (up to 58 steps).
func writeDoubledVowels(to path: String) throws {
    let test = try String(contentsOfFile: repositoryRoot + "/data/japanese-vowels/JapaneseVowels_TEST.ts", encoding: .utf8)
    var inData = false
    let doubled = test.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
        defer { if line.lowercased().hasPrefix("@data") { inData = true } }
        guard inData, !line.isEmpty, !line.hasPrefix("#") else { return String(line) }
        var parts = line.split(separator: ":").map(String.init)
        let label = parts.removeLast()
        return (parts.map { $0 + "," + $0 } + [label]).joined(separator: ":")
    }.joined(separator: "\n")
    try doubled.write(toFile: path, atomically: true, encoding: .utf8)
}

@Suite(.serialized) struct DisentangleCLITests {
    @Test func digitsAndVowels() throws {
        let folder = try makeScratchFolder("discli")
        let run = folder + "/digits"
        let train = try runTool(["train", "--model", "disentangle", "--layers", "784,64,8", "--adversary-layers", "32",
                                 "--epochs", "1", "--shards", "2", "--run-dir", run])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("training disentangle 784-64-8 + 10-class label, alternating adversary 32-10"),
                "\(train.stdout)")
        let evaluate = try runTool(["evaluate", "--checkpoint", run, "--json"])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(evaluate.stdout.utf8)) as? [String: Any]
        let free = try #require(object?["probe_free"] as? Double)
        let labelled = try #require(object?["probe_labelled"] as? Double)
        let consistency = try #require(object?["swap_consistency"] as? Double)
        #expect(object?["probe_chance"] as? Double == 0.1)
        #expect(labelled > 0.99, "the one-hot holds the label")
        #expect(free >= 0 && free <= 1 && consistency >= 0 && consistency <= 1)
        let classifier = try #require(object?["classifier_accuracy"] as? Double)
        #expect(classifier > 0.8, "the classifier learns the digits: \(classifier)")

        let swap = try runTool(["swap", "--checkpoint", run, "--rows", "4", "--columns", "10", "--scale", "1",
                                "--out", folder + "/swap.png"])
        #expect(swap.status == 0, "\(swap.stderr)")
        let grid = try PNGCodec.read(path: folder + "/swap.png")
        // A caption (the model, wrapped to the grid's width; what rows and columns take), a header
        // row and 4 rows; the source column and 10 label columns; tiles of 28 + 2.
        #expect((GridCLITests.captionLines(height: grid.height, below: 2 + 5 * 30) ?? 0) >= 3
                && grid.width >= 2 + 11 * 30,
                "\(grid.width)x\(grid.height)")
        for command in ["interpolate", "traverse"] {
            let result = try runTool([command, "--checkpoint", run, "--out", folder + "/\(command).png"])
            #expect(result.status == 0, "\(command): \(result.stderr)")
        }

        let vowels = folder + "/vowels"
        let sequences = try runTool(["train", "--model", "disentangle", "--data", "japanese-vowels", "--epochs", "2",
                                     "--run-dir", vowels])
        #expect(sequences.status == 0, "\(sequences.stderr)")
        #expect(sequences.stdout.contains("sequences of 29 x 12"), "\(sequences.stdout)")
        let converted = try runTool(["swap", "--checkpoint", vowels, "--rows", "2", "--out", folder + "/convert.png"])
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect(try PNGCodec.read(path: folder + "/convert.png").height > 300)
        let speakers = try runTool(["evaluate", "--checkpoint", vowels, "--json"])
        let speakerObject = try JSONSerialization.jsonObject(with: Data(speakers.stdout.utf8)) as? [String: Any]
        #expect(abs((speakerObject?["probe_chance"] as? Double ?? 0) - 1.0 / 9) < 1e-12)

        // The model's dense input spans its 29 steps: longer sequences are refused by name (they
        // used to re-size the model and fail on a tensor shape).
        try writeDoubledVowels(to: folder + "/Long_TEST.ts")
        let long = try runTool(["evaluate", "--checkpoint", vowels, "--data", folder + "/Long_TEST.ts"])
        #expect(long.status != 0 && long.stderr.contains("the model takes at most 29"), "\(long.stderr)")
    }

    /// The AdaIN two-encoder form: digits (the content carries the digit), vowels of any length,
    /// the conversion critic (labels needed, steps kept), unlabelled images, and the flags of the
    /// other form refused.
    @Test func adainForm() throws {
        let folder = try makeScratchFolder("adaincli")
        let run = folder + "/digits"
        let train = try runTool(["train", "--model", "disentangle", "--form", "adain", "--hidden-channels", "8",
                                 "--epochs", "1", "--run-dir", run])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("AdaIN two-encoder: 1x28x28 images, 8 channels, content code 4 per position"),
                "\(train.stdout)")
        let evaluate = try runTool(["evaluate", "--checkpoint", run, "--json"])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(evaluate.stdout.utf8)) as? [String: Any]
        let free = try #require(object?["probe_free"] as? Double), labelled = try #require(object?["probe_labelled"] as? Double)
        #expect(labelled > free, "the content code holds more of the digit than the style: \(labelled) vs \(free)")
        let swap = try runTool(["swap", "--checkpoint", run, "--rows", "3", "--columns", "4", "--scale", "1",
                                "--out", folder + "/swap.png"])
        #expect(swap.status == 0, "\(swap.stderr)")
        let grid = try PNGCodec.read(path: folder + "/swap.png")
        // The caption wraps at 64 glyphs, wider than the 5 tiles: it sets the width.
        #expect((GridCLITests.captionLines(height: grid.height, below: 2 + 4 * 30) ?? 0) >= 3
                && grid.width > 2 + 5 * 30 && grid.width <= BitmapFont.width(of: String(repeating: "m", count: 64), scale: 1),
                "\(grid.width)x\(grid.height)")
        for command in ["encode", "interpolate", "traverse"] {
            let out = folder + (command == "encode" ? "/codes.npy" : "/\(command).png")
            let result = try runTool([command, "--checkpoint", run, "--out", out])
            #expect(result.status == 0, "\(command): \(result.stderr)")
        }

        // Sequences: 1-D convolutions take any length, so a trained model reads longer ones.
        let vowels = folder + "/vowels"
        let sequences = try runTool(["train", "--model", "disentangle", "--form", "adain", "--data", "japanese-vowels",
                                     "--epochs", "2", "--hidden-channels", "8", "--kernel", "3", "--run-dir", vowels])
        #expect(sequences.status == 0, "\(sequences.stderr)")
        #expect(sequences.stdout.contains("sequences of 29 x 12, 1-D kernel 3"), "\(sequences.stdout)")
        let converted = try runTool(["swap", "--checkpoint", vowels, "--rows", "2", "--out", folder + "/convert.png"])
        #expect(converted.status == 0, "\(converted.stderr)")
        try writeDoubledVowels(to: folder + "/Long_TEST.ts")
        let long = try runTool(["evaluate", "--checkpoint", vowels, "--data", folder + "/Long_TEST.ts", "--json"])
        #expect(long.status == 0, "\(long.stderr)")
        // The conversion critic reads whole rows: its model keeps its steps.
        let critic = try runTool(["train", "--model", "disentangle", "--form", "adain", "--data", "japanese-vowels",
                                  "--epochs", "1", "--hidden-channels", "4", "--swap-weight", "0.5", "--run-dir",
                                  folder + "/critic"])
        #expect(critic.status == 0 && critic.stdout.contains("9-class label, conversion critic 256-9 (weight 0.5)")
                && critic.stdout.contains(" critic ") && critic.stdout.contains(" swap "), "\(critic.stdout)\(critic.stderr)")
        let longer = try runTool(["evaluate", "--checkpoint", folder + "/critic", "--data", folder + "/Long_TEST.ts"])
        #expect(longer.status != 0 && longer.stderr.contains("the model takes at most 29"), "\(longer.stderr)")

        // No labels needed to train; evaluate then says what it lacks.
        let images = folder + "/images"
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        for i in 0..<6 {
            let image = PNGImage(width: 8, height: 12, layout: .gray, bitDepth: 8,
                                 samples: (0..<96).map { UInt16(($0 * 7 + 40 * i) % 256) })
            try PNGCodec.write(image, to: images + "/\(i).png")
        }
        let unlabelled = try runTool(["train", "--model", "disentangle", "--form", "adain", "--data", images, "--epochs", "1",
                                      "--hidden-channels", "4", "--run-dir", folder + "/unlabelled"])
        #expect(unlabelled.status == 0, "\(unlabelled.stderr)")
        let measured = try runTool(["evaluate", "--checkpoint", folder + "/unlabelled"])
        #expect(measured.status == 0 && measured.stdout.contains("trained without labels"), "\(measured.stdout)\(measured.stderr)")
        let blind = try runTool(["train", "--model", "disentangle", "--form", "adain", "--data", images, "--epochs", "1",
                                 "--hidden-channels", "4", "--swap-weight", "0.5", "--run-dir", folder + "/blind"])
        #expect(blind.status != 0 && blind.stderr.contains("the conversion critic learns the label")
                && blind.stderr.contains("has no labels"), "\(blind.stderr)")
        let odd = try runTool(["train", "--model", "disentangle", "--form", "adain", "--data", images, "--resize", "10x10",
                               "--epochs", "1", "--run-dir", folder + "/odd"])
        #expect(odd.status != 0 && odd.stderr.contains("multiples of 4"), "\(odd.stderr)")
        for (flags, message) in [(["--form", "adain", "--adversary", "reversal"], "--adversary applies to --form split"),
                                 (["--form", "adain", "--scatter-weight", "1"], "--scatter-weight applies to --form split"),
                                 (["--kernel", "3"], "--kernel applies to --form adain")] {
            let refused = try runTool(["train", "--model", "disentangle", "--epochs", "1", "--run-dir", folder + "/x"] + flags)
            #expect(refused.status != 0 && refused.stderr.contains(message), "\(refused.stderr)")
        }
    }

    @Test func refusesDataWithoutLabels() throws {
        let folder = try makeScratchFolder("disrefuse")
        let images = folder + "/images"
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        for i in 0..<4 {
            let image = PNGImage(width: 8, height: 8, layout: .gray, bitDepth: 8,
                                 samples: [UInt16](repeating: UInt16(40 * i), count: 64))
            try PNGCodec.write(image, to: images + "/\(i).png")
        }
        let result = try runTool(["train", "--model", "disentangle", "--data", images, "--epochs", "1",
                                  "--run-dir", folder + "/run"])
        #expect(result.status != 0 && result.stderr.contains("has no labels"), "\(result.stderr)")
        let dense = try runTool(["train", "--model", "dense", "--layers", "784,8", "--epochs", "1", "--run-dir", folder + "/ae"])
        #expect(dense.status == 0, "\(dense.stderr)")
        let swap = try runTool(["swap", "--checkpoint", folder + "/ae", "--out", folder + "/s.png"])
        #expect(swap.status != 0 && swap.stderr.contains("does not separate a label"), "\(swap.stderr)")
    }
}
