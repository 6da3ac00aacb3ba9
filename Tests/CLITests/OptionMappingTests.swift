// In process: the options of `train` parsed by the command's own parser and mapped to the run's
// config, without starting a process or a run. Each case checks that a flag lands in the field it
// names, that the family's preset fills what was not given, and that a wrong flag is refused.
// Debug builds only: release builds do not compile the executable for testing.

#if DEBUG

import Engine
import Foundation
import Layers
import Models
import Testing
import Training
@testable import autoencoder

@Suite struct OptionMappingTests {
    func config(_ arguments: [String]) throws -> TrainingConfig {
        try Train.parse(["--data", "mnist-sample"] + arguments).makeConfig()
    }

    @Test func optimizerGrammars() throws {
        let c = try config(["--model", "vae", "--lr", "2e-3", "--schedule", "cosine:0.1", "--warmup", "100",
                            "--weight-decay", "0.01", "--optimizer", "adamw"])
        #expect(c.family == .vae && c.model.as(VariationalAutoencoderConfig.self) != nil)
        #expect(c.optimizer.kind == .adamw && c.optimizer.learningRate == 2e-3 && c.optimizer.weightDecay == 0.01)
        #expect(c.optimizer.schedule.kind == .cosine && c.optimizer.schedule.minFactor == 0.1)
        #expect(c.optimizer.schedule.warmupSteps == 100)
        let step = try config(["--schedule", "step:500:0.5"]).optimizer.schedule
        #expect(step.kind == .step && step.every == 500 && step.gamma == 0.5 && step.warmupSteps == 0)
    }

    @Test func phaseOptimizersStartFromTheBaseAndAccumulate() throws {
        let c = try config(["--model", "aae", "--lr", "1e-3", "--phase-optimizer", "discriminator:lr=2e-4,beta1=0.5",
                            "--phase-optimizer", "discriminator:beta2=0.9", "--phase-optimizer", "generator:optimizer=sgd"])
        let d = try #require(c.phaseOptimizers?["discriminator"])
        #expect(d.learningRate == 2e-4 && d.beta1 == 0.5 && d.beta2 == 0.9 && d.kind == c.optimizer.kind)
        let g = try #require(c.phaseOptimizers?["generator"])
        #expect(g.kind == .sgd && g.learningRate == 1e-3)
    }

    @Test func initialMomentumOverridesThePreset() throws {
        let preset = try config(["--model", "rbm"]).optimizer
        #expect(preset.kind == .sgd && preset.initialMomentum == 0.5 && preset.initialMomentumEpochs == 5)
        let none = try config(["--model", "rbm", "--initial-momentum", "0:0"]).optimizer
        #expect(none.initialMomentum == nil && none.initialMomentumEpochs == nil && none.momentum == preset.momentum)
        let given = try config(["--model", "rbm", "--initial-momentum", "0.3:2"]).optimizer
        #expect(given.initialMomentum == 0.3 && given.initialMomentumEpochs == 2)
    }

    @Test func familyFlagsLandInTheirConfig() throws {
        let denoiser = try #require(try config(["--model", "denoiser", "--depth", "3", "--width", "48", "--loss", "l1"])
            .model.as(ConvDenoiserConfig.self))
        #expect(denoiser.depth == 3 && denoiser.width == 48 && denoiser.loss?.rawValue == "l1")
        let gru = try #require(try config(["--model", "gru", "--hidden", "64", "--code", "16", "--bidirectional"])
            .model.as(SequenceAutoencoderConfig.self))
        #expect(gru.cell == .gru && gru.hidden == 64 && gru.code == 16 && gru.bidirectional)
        let rbm = try #require(try config(["--model", "rbm", "--cd-steps", "3"]).model.as(RBMConfig.self))
        #expect(rbm.cdSteps == 3)
        let vae = try #require(try config(["--model", "vae", "--beta", "4", "--kl-warmup", "1000"])
            .model.as(VariationalAutoencoderConfig.self))
        #expect(vae.beta == 4 && vae.warmupSteps == 1000)
        let dense = try #require(try config(["--model", "deep", "--layers", "784,256,16", "--activation", "elu", "--tied"])
            .model.as(DenseAutoencoderConfig.self))
        #expect(dense.widths == [784, 256, 16] && dense.hiddenActivation == .elu && dense.tiedWeights)
    }

    @Test func aFamilysFlagIsRefusedByAnother() throws {
        #expect(throws: (any Error).self) { try config(["--model", "deep", "--beta", "2"]) }
        #expect(throws: (any Error).self) { try config(["--model", "vae", "--loss", "bce"]) }
        #expect(throws: (any Error).self) { try config(["--model", "gru", "--cd-steps", "2"]) }
    }

    @Test func givenOptionsOverrideAConfigFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("option-mapping-\(getpid())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var base = try config(["--model", "vae", "--beta", "3", "--epochs", "7", "--schedule", "cosine"])
        base.seed = 42
        try base.jsonString(pretty: true).write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        // The file's model and settings, with the given epochs on top.
        let merged = try config(["--config", folder, "--epochs", "2", "--lr", "5e-4"])
        #expect(merged.family == .vae && merged.model.as(VariationalAutoencoderConfig.self)?.beta == 3)
        #expect(merged.seed == 42 && merged.epochs == 2 && merged.optimizer.learningRate == 5e-4)
        #expect(merged.optimizer.schedule.kind == .cosine)
        // A different --model starts from that family's preset.
        let other = try config(["--config", folder, "--model", "deep"])
        #expect(other.family == .deep && other.model.as(DenseAutoencoderConfig.self) != nil && other.seed == 42)
    }
}
#endif
