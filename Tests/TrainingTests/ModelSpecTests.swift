// The model specification: configs of format version 1 (written before it) are read and
// converted, a newer version is refused naming it, and every family round-trips through JSON.

import Engine
import Foundation
import Layers
import Models
import Testing
import TestSupport
import Training

@Suite struct ModelSpecTests {
    func fixture(_ name: String) throws -> String {
        try String(contentsOfFile: repositoryRoot + "/Tests/TrainingTests/Fixtures/config-v1-\(name).json", encoding: .utf8)
    }

    @Test func version1ConfigsAreConverted() throws {
        let sparse = try TrainingConfig.from(json: fixture("sparse"))
        #expect(sparse.family == .sparse && sparse.formatVersion == 2)
        guard let dense = sparse.model.as(DenseAutoencoderConfig.self) else { Issue.record("not dense"); return }
        #expect(dense.widths == [784, 16] && dense.codeActivation == .sigmoid)
        #expect(dense.sparsity == .kl(target: 0.05, weight: 0.001, momentum: 0))

        let conv = try TrainingConfig.from(json: fixture("conv"))
        guard let c = conv.model.as(ConvAutoencoderConfig.self) else { Issue.record("not conv"); return }
        #expect(c.filters == [4, 4] && c.height == 28 && c.loss == .bce)

        let gru = try TrainingConfig.from(json: fixture("gru"))
        guard let g = gru.model.as(SequenceAutoencoderConfig.self) else { Issue.record("not sequence"); return }
        #expect(g.cell == .gru && g.hidden == 4 && g.variableLength && gru.standardization != nil)

        let denoiser = try TrainingConfig.from(json: fixture("denoiser"))
        guard let d = denoiser.model.as(ConvDenoiserConfig.self) else { Issue.record("not denoiser"); return }
        #expect(d.depth == 1 && d.width == 4 && denoiser.patch == 16 && denoiser.noise == "gaussian:0.1")
        // Converted configs write version 2 and read back the same.
        for config in [sparse, conv, gru, denoiser] {
            #expect(config.jsonString().contains("\"formatVersion\":2"))
            #expect(try TrainingConfig.from(json: config.jsonString()) == config)
        }
    }

    @Test func newerFormatIsRefusedNamingTheVersion() throws {
        var object = try JSONSerialization.jsonObject(with: Data(TrainingConfig(family: .vae, data: "x").jsonString().utf8))
            as! [String: Any]
        object["formatVersion"] = 7
        let json = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        do {
            _ = try TrainingConfig.from(json: json)
            Issue.record("a version 7 config was read")
        } catch let error as TrainingError {
            #expect(error.message.contains("version 7") && error.message.contains("(2)"))
        }
    }

    @Test(arguments: ModelFamily.allCases)
    func everyPresetRoundTrips(_ family: ModelFamily) throws {
        let config = TrainingConfig(family: family, data: "mnist-sample")
        #expect(try TrainingConfig.from(json: config.jsonString(pretty: true)) == config)
    }

    @Test func presetsLiveInTheLibrary() {
        guard let sparse = ModelFamily.sparse.preset.as(DenseAutoencoderConfig.self),
              let contractive = ModelFamily.contractive.preset.as(DenseAutoencoderConfig.self),
              let dropout = ModelFamily.dropout.preset.as(DenseAutoencoderConfig.self) else {
            Issue.record("dense presets expected")
            return
        }
        #expect(sparse.codeActivation == .sigmoid && sparse.sparsity != .none)
        #expect(contractive.contractive > 0 && dropout.dropout > 0)
        #expect(TrainingConfig(family: .denoising, data: "x").noise == "gaussian:0.3+clip")
        #expect(TrainingConfig(family: .denoiser, data: "x").patch == 48)
    }

    /// The automatic split: threads per shard only where shards would get fewer rows than the
    /// model runs best with alone (dense 64, recurrent 8, convolutional never).
    @Test func automaticSplitFollowsEachModelsRows() {
        let cores = CoreSplit.cores
        guard cores >= 2 else { return }
        let dense = ModelSpec.dense(DenseAutoencoderConfig(widths: [784, 64]))
        let lstm = ModelSpec.sequence(SequenceAutoencoderConfig(cell: .lstm, steps: 28, features: 28))
        let conv = ModelSpec.conv(ConvAutoencoderConfig())
        #expect(CoreSplit.threads(model: dense, batch: 16 * cores) > 1)
        #expect(CoreSplit.threads(model: dense, batch: 64 * cores) == 1)
        #expect(CoreSplit.threads(model: lstm, batch: 4 * cores) > 1)
        #expect(CoreSplit.threads(model: lstm, batch: 8 * cores) == 1)
        #expect(CoreSplit.threads(model: conv, batch: 1) == 1)
        #expect(CoreSplit.threads(shards: cores, model: lstm, batch: 4 * cores) == 1)
        #expect(CoreSplit.threads(shards: 1, model: lstm, batch: 4 * cores) == cores)
        #expect(CoreSplit.threads(shards: 1, model: conv, batch: 4) == 1)
    }
}

@Suite struct HoldoutTests {
    /// The held-out part: 10% by default; a whole-image denoiser keeps at least 4 images (or a
    /// quarter of a small folder), so its best epoch is not picked on one photograph.
    @Test func denoisersHoldOutSeveralImages() throws {
        let dense = TrainingConfig(family: .dense, data: "x"), denoiser = TrainingConfig(family: .denoiser, data: "x")
        for (count, denseHeld, denoiserHeld) in [(12, 1, 3), (24, 2, 4), (400, 40, 40), (3, 1, 1), (2, 1, 1)] {
            let a = try RunData.split(count: count, testCount: nil, config: dense, source: "x")
            let b = try RunData.split(count: count, testCount: nil, config: denoiser, source: "x")
            #expect(a.test.count == denseHeld && b.test.count == denoiserHeld, "\(count)")
            #expect(Set(b.train + b.test) == Set(0..<count) && Set(b.train).isDisjoint(with: b.test))
        }
        // A count is taken as given, for a denoiser too.
        var one = denoiser
        one.holdout = 1
        #expect(try RunData.split(count: 12, testCount: nil, config: one, source: "x").test.count == 1)
    }
}

@Suite struct EpochSizingTests {
    /// A run whose epochs were not chosen takes about 1,000 steps on small data (the family's 10
    /// epochs at least, 100 at most).
    @Test func defaultEpochsFollowTheData() {
        #expect(TrainingRun.epochsForData(samplesPerEpoch: 5000, batch: 256, preset: 10) == 50)  // the bundled sample
        #expect(TrainingRun.epochsForData(samplesPerEpoch: 60000, batch: 256, preset: 10) == 10)  // full MNIST
        #expect(TrainingRun.epochsForData(samplesPerEpoch: 400, batch: 256, preset: 10) == 100)  // capped
        #expect(TrainingRun.epochsForData(samplesPerEpoch: 400, batch: 16, preset: 10) == 40)
        #expect(TrainingRun.epochsForData(samplesPerEpoch: 5000, batch: 256, preset: 300) == 300)
    }
}
