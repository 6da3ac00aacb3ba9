// The sequence autoencoders end to end through the binary: image rows of the bundled digits, the
// shipped UEA .ts sample and CSV folder, evaluation from a checkpoint, the M3 benchmark name, and
// one-line errors for malformed sequence files.

import Foundation
import Images
import Testing
import TestSupport

@Suite(.serialized) struct SequenceCLITests {
    @Test func imageRowsTrainAndDrawAGrid() throws {
        let folder = try makeScratchFolder("clilstm")
        let run = folder + "/run"
        let result = try runTool(["train", "--model", "lstm", "--hidden", "32", "--epochs", "1", "--batch-size", "64",
                                  "--shards", "2", "--run-dir", run])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("28 steps x 28 features"))
        let grid = try PNGCodec.read(path: run + "/grids/reconstruction-epoch-001.png")
        // Clean and recon rows of 28x28 tiles at 2x, under the caption wrapped to the grid's width in 2 lines.
        #expect(grid.height == GridCLITests.height(rows: 2, scale: 2, lines: 2), "\(grid.height)")
    }

    @Test func ueaTimeSeriesTrainEvaluateAndPlot() throws {
        let folder = try makeScratchFolder("cligru")
        let run = folder + "/run"
        let result = try runTool(["train", "--model", "gru", "--data", "japanese-vowels", "--hidden", "16",
                                  "--epochs", "2", "--batch-size", "32", "--shards", "2", "--noise", "gaussian:0.1",
                                  "--run-dir", run])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("29 steps x 12 features"), "\(result.stdout)")
        // Standardization fitted on the training split travels with the run.
        let config = try String(contentsOfFile: run + "/config.json", encoding: .utf8)
        #expect(config.contains("\"standardization\""))
        let plot = try PNGCodec.read(path: run + "/grids/reconstruction-epoch-002.png")
        #expect(plot.width > 400 && plot.height > 300)
        let evaluation = try runTool(["evaluate", "--checkpoint", run, "--json"])
        #expect(evaluation.status == 0, "\(evaluation.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(evaluation.stdout.utf8)) as? [String: Any]
        let mse = try #require(object?["mse_per_pixel"] as? Double)
        // Standardized values: predicting the mean scores about 1; two epochs do better.
        #expect(mse > 0 && mse < 1)
        #expect(object?["psnr"] == nil, "no PSNR for standardized values")
        // Codes: one row of 16 (the final hidden state) per test utterance, speakers as labels; a
        // scatter of them each epoch; interpolations drawn as plots; image grids refused by name.
        #expect(FileManager.default.fileExists(atPath: run + "/plots/latent-epoch-002.png"))
        let encode = try runTool(["encode", "--checkpoint", run, "--out", folder + "/codes.csv"])
        #expect(encode.status == 0, "\(encode.stderr)")
        let lines = try String(contentsOfFile: folder + "/codes.csv", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 371 && lines[0].hasPrefix("z0,") && lines[0].hasSuffix("z15,label"), "\(lines[0])")
        #expect(Set(lines.dropFirst().map { $0.split(separator: ",").last! }).count == 9)
        let interpolate = try runTool(["interpolate", "--checkpoint", run, "--pairs", "2", "--out", folder + "/i.png"])
        #expect(interpolate.status == 0, "\(interpolate.stderr)")
        #expect(try PNGCodec.read(path: folder + "/i.png").height > 300)
        let traverse = try runTool(["traverse", "--checkpoint", run, "--out", folder + "/t.png"])
        #expect(traverse.status != 0 && traverse.stderr.contains("for sequences encode and interpolate"), "\(traverse.stderr)")
    }

    @Test func inspectDescribesSequenceSplits() throws {
        let result = try runTool(["inspect", "--data", "japanese-vowels", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let splits = try #require(object["splits"] as? [[String: Any]])
        #expect(splits.map { $0["count"] as? Int } == [270, 370])
        #expect(splits.map { $0["max_length"] as? Int ?? $0["maxLength"] as? Int } == [26, 29])
        #expect(splits[1]["features"] as? Int == 12)
    }

    @Test func csvFolderTrainsWithBidirectionalEncoderAndBottleneck() throws {
        let folder = try makeScratchFolder("clicsv")
        let result = try runTool(["train", "--model", "lstm", "--data", "japanese-vowels-csv", "--hidden", "8",
                                  "--layers", "2", "--bidirectional", "--code", "4", "--decoder-input", "previous",
                                  "--teacher-forcing", "0.5", "--reverse", "--epochs", "1", "--batch-size", "8",
                                  "--run-dir", folder + "/run"])
        #expect(result.status == 0, "\(result.stderr)")
        for part in ["2 x 8 hidden (bidirectional encoder)", "code 4", "the previous step", "reversed"] {
            #expect(result.stdout.contains(part), "\(part): \(result.stdout)")
        }
        #expect(!result.stdout.lowercased().contains("nan"))
    }

    @Test func malformedSequenceFilesFailWithOneLine() throws {
        let folder = try makeScratchFolder("clibadseq")
        try "a,b\n1,2\n3,4\n".write(toFile: folder + "/one.csv", atomically: true, encoding: .utf8)
        try "a,b\n1,2\n3,x\n".write(toFile: folder + "/two.csv", atomically: true, encoding: .utf8)
        let bad = try runTool(["train", "--model", "lstm", "--data", folder, "--epochs", "1", "--run-dir",
                               folder + "/run"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("two.csv") && bad.stderr.contains("line 3"), "\(bad.stderr)")
        #expect(bad.stderr.split(separator: "\n").count == 1)
        let single = folder + "/all.csv"
        try "id,a\n1,0.5\n1,0.25\n2,1\n".write(toFile: single, atomically: true, encoding: .utf8)
        let noID = try runTool(["train", "--model", "gru", "--data", single, "--epochs", "1", "--run-dir",
                                folder + "/run2"])
        #expect(noID.status != 0 && noID.stderr.contains("--sequence-id"), "\(noID.stderr)")
        let withID = try runTool(["train", "--model", "gru", "--data", single, "--sequence-id", "id", "--hidden", "4",
                                  "--epochs", "1", "--batch-size", "2", "--run-dir", folder + "/run3"])
        #expect(withID.status == 0, "\(withID.stderr)")
    }

    @Test func benchNamesTheReferenceModels() throws {
        let m3 = try runTool(["bench", "--model", "lstm", "--hidden", "128", "--batch-size", "32", "--shards", "1",
                              "--min-time", "0", "--warmup-steps", "1", "--json"])
        #expect(m3.status == 0, "\(m3.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(m3.stdout.utf8)) as? [[String: Any]])
        #expect(rows.first?["model"] as? String == "M3")
        let other = try runTool(["bench", "--model", "gru", "--hidden", "16", "--batch-size", "32", "--shards", "1",
                                 "--min-time", "0", "--warmup-steps", "1", "--json"])
        let otherRows = try #require(try JSONSerialization.jsonObject(with: Data(other.stdout.utf8)) as? [[String: Any]])
        #expect(otherRows.first?["model"] as? String != "M4")
    }
}
