// `train --pretrain` end to end: the staged run folder (plan, stages, filters per stage, the
// unrolled stack's figure, the fine-tuning's checkpoints), resuming it with more epochs, and
// the flags it refuses.

import Foundation
import Images
import Testing
import TestSupport

@Suite struct PretrainCLITests {
    @Test func stagedRunFolderAndResume() throws {
        let folder = try makeScratchFolder("pretraincli")
        let run = folder + "/staged"
        let train = try runTool(["train", "--model", "deep", "--layers", "784,32,16,4", "--pretrain", "rbm",
                                 "--pretrain-epochs", "2", "--epochs", "1", "--batch-size", "100", "--run-dir", run])
        #expect(train.status == 0, "\(train.stderr)")
        for text in ["stage 1/3 (rbm-1)", "stage 3/3 (rbm-3): rbm RBM 16 binary visible - 4 gaussian hidden",
                     "sgd lr 0.001", "unrolled rbm stack before fine-tuning", "fine-tuning: deep 784-32-16-4",
                     "pretraining took", "best test squared error per image"] {
            #expect(train.stdout.contains(text), "\(text): \(train.stdout)")
        }
        for file in ["pretrain.json", "config.json", "checkpoints/last.safetensors", "stages/unrolled.json",
                     "stages/rbm-1/checkpoints/last.safetensors", "stages/rbm-3/log.jsonl"] {
            #expect(FileManager.default.fileExists(atPath: run + "/" + file), "\(file)")
        }
        // Stage 2's 16 units as pixel-space filters: two rows of 28 x 28 tiles.
        let filters = try PNGCodec.read(path: run + "/grids/filters-stage-2.png")
        #expect(filters.width == 2 + 10 * 30 && filters.height == 2 + 2 * 30, "\(filters.width)x\(filters.height)")
        let config = try String(contentsOfFile: run + "/config.json", encoding: .utf8)
        #expect(config.contains("\"hiddenActivation\" : \"sigmoid\"") && config.contains("\"loss\" : \"bce\""), "\(config)")
        // More fine-tuning epochs: the stages are done, only the fine-tuning continues.
        let resumed = try runTool(["train", "--resume", run, "--epochs", "2"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(!resumed.stdout.contains("stage 1/3") && resumed.stdout.contains("epoch 2/2"), "\(resumed.stdout)")

        let dae = try runTool(["train", "--layers", "784,16,4", "--pretrain", "dae", "--pretrain-noise", "masking:0.5",
                               "--pretrain-epochs", "1", "--epochs", "1", "--run-dir", folder + "/dae"])
        #expect(dae.status == 0 && dae.stdout.contains("noise masking:0.5"), "\(dae.stdout)\(dae.stderr)")
    }

    /// The linear baseline of the 2-D code figure: the test split's two principal components.
    @Test func pcaScatterOfTheTestSplit() throws {
        let folder = try makeScratchFolder("pcascatter")
        let inspect = try runTool(["inspect", "--data", "mnist-sample", "--pca-scatter", folder + "/pca.png"])
        #expect(inspect.status == 0 && inspect.stdout.contains("PCA scatter: "), "\(inspect.stderr)")
        let plot = try PNGCodec.read(path: folder + "/pca.png")
        #expect(plot.width > 300 && plot.height > 200 && plot.layout == .rgb)
        // Coloured by label: each digit's palette colour is drawn (unlabelled points take one colour).
        let palette: [[UInt16]] = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
                                   [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]]
        let drawn = Set(stride(from: 0, to: plot.samples.count, by: 3).map { Array(plot.samples[$0..<($0 + 3)]) })
        #expect(palette.allSatisfy(drawn.contains), "colours drawn: \(drawn.count)")
        try FileManager.default.createDirectory(atPath: folder + "/mixed", withIntermediateDirectories: true)
        for side in [10, 12] {
            try PNGCodec.write(PNGImage(width: side, height: side, layout: .gray, bitDepth: 8,
                                        samples: [UInt16](repeating: 100, count: side * side)),
                               to: folder + "/mixed/\(side).png")
        }
        let mixed = try runTool(["inspect", "--data", folder + "/mixed", "--pca-scatter", folder + "/mixed.png"])
        #expect(mixed.status != 0 && mixed.stderr.contains("differ in size"), "\(mixed.stderr)")
    }

    @Test func refusesFlagsAStackCannotTake() throws {
        let folder = try makeScratchFolder("pretrainrefused")
        for (flags, message) in [
            (["--pretrain", "rbm", "--model", "conv"], "--model deep"),
            (["--pretrain", "rbm", "--activation", "relu"], "logistic"),
            (["--pretrain", "rbm", "--tied"], "untied"),
            (["--pretrain", "rbm", "--layers", "784,30"], "at least one hidden layer"),
            (["--pretrain-epochs", "3"], "needs --pretrain"),
            (["--pretrain", "rbm", "--pretrain-noise", "masking:0.3"], "--pretrain dae"),
            (["--pretrain", "cae", "--pretrain-contractive", "0"], "positive"),
            (["--pretrain", "rbm", "--patch", "8"], "whole images"),
        ] {
            let refused = try runTool(["train", "--epochs", "1", "--run-dir", folder + "/x"] + flags)
            #expect(refused.status != 0 && refused.stderr.contains(message), "\(flags): \(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: folder + "/x"), "\(flags) left a run folder")
        }
    }
}
