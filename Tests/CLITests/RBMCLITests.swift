// `train --model rbm` end to end: the reference defaults (SGD 0.1, momentum 0.5 then 0.9, weight
// cost) recorded in the run, the free energy in the log, the hidden probabilities as codes, and
// the flags it refuses.

import Foundation
import Images
import Testing
import TestSupport

@Suite struct RBMCLITests {
    @Test func trainsWithTheReferenceDefaults() throws {
        let folder = try makeScratchFolder("rbmcli")
        let run = folder + "/rbm"
        let train = try runTool(["train", "--model", "rbm", "--layers", "784,32", "--epochs", "2", "--run-dir", run])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("RBM 784 binary visible - 32 binary hidden, CD-1, weight cost 0.0002"), "\(train.stdout)")
        #expect(train.stdout.contains("sgd lr 0.1") && train.stdout.contains("free_energy"), "\(train.stdout)")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json")))
            as? [String: Any]
        let optimizer = try #require(config?["optimizer"] as? [String: Any])
        #expect(optimizer["momentum"] as? Double == 0.9 && optimizer["initialMomentum"] as? Double == 0.5)
        #expect(optimizer["initialMomentumEpochs"] as? Int == 5)
        let log = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8)
        #expect(log.contains("\"train_free_energy\"") && log.contains("\"test_free_energy\"") && log.contains("\"gap_free_energy\""))
        #expect(train.stdout.contains("free_energy gap"), "\(train.stdout)")
        // The first 32 filters: rows of 10 tiles of 28 + 2 pixels.
        let filters = try PNGCodec.read(path: run + "/grids/filters-epoch-002.png")
        #expect(filters.width == 2 + 10 * 30 && filters.height == 2 + 4 * 30, "\(filters.width)x\(filters.height)")
        let encode = try runTool(["encode", "--checkpoint", run, "--out", folder + "/codes.npy"])
        #expect(encode.status == 0, "\(encode.stderr)")
        let gaussian = try runTool(["train", "--model", "rbm", "--layers", "784,8", "--hidden-units", "gaussian", "--lr", "0.001",
                                    "--cd-steps", "2", "--initial-momentum", "0:0", "--epochs", "1", "--run-dir", folder + "/top"])
        #expect(gaussian.status == 0 && gaussian.stdout.contains("8 gaussian hidden, CD-2"), "\(gaussian.stdout)\(gaussian.stderr)")

        for (flags, message) in [(["--layers", "784,32,16"], "VISIBLE,HIDDEN"), (["--activation", "relu"], "--activation"),
                                 (["--cd-steps", "0"], "--cd-steps"), (["--initial-momentum", "0.5"], "M:EPOCHS")] {
            let refused = try runTool(["train", "--model", "rbm", "--epochs", "1", "--run-dir", folder + "/x"] + flags)
            #expect(refused.status != 0 && refused.stderr.contains(message), "\(flags): \(refused.stderr)")
        }
        let foreign = try runTool(["train", "--model", "dense", "--cd-steps", "2", "--epochs", "1", "--run-dir", folder + "/y"])
        #expect(foreign.status != 0 && foreign.stderr.contains("--cd-steps"), "\(foreign.stderr)")
    }
}
