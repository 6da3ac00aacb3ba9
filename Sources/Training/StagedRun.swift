// Greedy layer-wise pretraining, then fine-tuning, in one run folder: stage k trains an RBM
// (Hinton & Salakhutdinov 2006) or a one-layer denoising (Vincent et al. 2010) or contractive
// (Rifai et al. 2011) autoencoder on the codes of stage k-1; the stack is unrolled into the deep
// autoencoder, which is then fine-tuned. Each stage is a run folder under stages/, resumable.

import Datasets
import Engine
import Files
import Foundation
import Kernels
import Layers
import Models

/// What a staged run trains: the stages in order, then the fine-tuned model.
public struct PretrainPlan: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, CaseIterable, Sendable {
        /// Restricted Boltzmann machines (the top one with Gaussian hidden units).
        case rbm
        /// Denoising autoencoders with masking noise.
        case dae
        /// Contractive autoencoders (the linear top layer without the penalty).
        case cae
    }

    public static let currentFormatVersion = 1
    public var formatVersion = PretrainPlan.currentFormatVersion
    public var kind: Kind
    /// One config per stage; the data of stage k > 0 is filled in when it starts (the codes of
    /// stage k - 1).
    public var stages: [TrainingConfig]
    /// The deep autoencoder the stack unrolls into, then fine-tuned.
    public var finetune: TrainingConfig
    /// Seconds after which the run stops at the next epoch end (pretraining included).
    public var timeLimit: Double?
    /// The first stage's input image (channels, height, width), recorded when it starts: the
    /// tile of the per-stage filter grids.
    public var inputShape: [Int]?

    /// The stages for `finetune`'s widths: RBMs with the reference's settings (SGD, learning
    /// rate 0.1, or 0.001 for the Gaussian top), or autoencoders (Adam 1e-3, BCE) with `noise`
    /// (dae, default masking:0.25) or `contractive` (cae, default 1e-3) on every layer but the
    /// linear top. The fine-tuned model gets logistic hidden layers, a linear code and a
    /// logistic output, as the stack it starts from.
    /// - Throws: `TrainingError` when `finetune` is not an untied dense autoencoder with a hidden
    ///   layer, or its layers are not logistic.
    public init(kind: Kind, finetune requested: TrainingConfig, epochs: Int, noise: String? = nil,
                contractive: Float? = nil) throws {
        guard var model = requested.model.as(DenseAutoencoderConfig.self), model.widths.count >= 3 else {
            throw TrainingError("pretraining stacks the layers of a dense autoencoder with at least one hidden layer "
                + "(--model deep --layers IN,H1,...,CODE)")
        }
        guard !model.tiedWeights, model.sparsity == .none, model.contractive == 0, model.loss != .gaussianNLL,
              model.hiddenActivations.allSatisfy({ $0 == .sigmoid }), model.hiddenActivation == .sigmoid,
              model.codeActivation == .identity, model.outputActivation == .sigmoid else {
            throw TrainingError("a pretrained stack unrolls into logistic hidden layers, a linear code and a logistic "
                + "output, untied, without sparsity or contractive penalties")
        }
        guard epochs > 0 else { throw TrainingError("pretraining needs at least one epoch per stage") }
        guard requested.patch == nil else { throw TrainingError("pretraining trains on whole images (no --patch)") }
        model.hiddenActivations = []
        var finetune = requested
        finetune.model = .dense(model)
        let widths = model.widths
        var stages: [TrainingConfig] = []
        for k in 0..<(widths.count - 1) {
            let top = k == widths.count - 2
            var stage: TrainingConfig
            switch kind {
            case .rbm:
                var rbm = RBMConfig(visible: widths[k], hidden: widths[k + 1])
                if top { rbm.hiddenUnits = .gaussian }
                var optimizer = ModelFamily.rbm.defaultOptimizer
                // The reference's rate for the linear top layer, whose units are unbounded.
                if top { optimizer.learningRate = 0.001 }
                stage = TrainingConfig(family: .rbm, model: .rbm(rbm), optimizer: optimizer, data: requested.data)
            case .dae, .cae:
                var layer = DenseAutoencoderConfig(widths: [widths[k], widths[k + 1]])
                layer.codeActivation = top ? .identity : .sigmoid
                layer.loss = .bce
                if kind == .cae && !top { layer.contractive = contractive ?? 1e-3 }
                stage = TrainingConfig(family: kind == .dae ? .denoising : .contractive, model: .dense(layer),
                                       data: requested.data)
                stage.noise = kind == .dae ? noise ?? "masking:0.25" : "none"
            }
            if k > 0 { stage.data = "" }
            for path in [\TrainingConfig.batchSize, \.shards, \.logEvery, \.checkpointEvery] {
                stage[keyPath: path] = requested[keyPath: path]
            }
            stage.seed = requested.seed
            stage.holdout = requested.holdout
            stage.gridCount = requested.gridCount
            stage.epochs = epochs
            if k == 0 {
                stage.channels = requested.channels
                stage.background = requested.background
                stage.resize = requested.resize
                stage.resizeFilter = requested.resizeFilter
                stage.crop = requested.crop
                stage.skipBad = requested.skipBad
                stage.maxPixels = requested.maxPixels
                stage.binarize = requested.binarize
            }
            stages.append(stage)
        }
        self.kind = kind
        self.stages = stages
        self.finetune = finetune
        timeLimit = requested.timeLimit
        self.finetune.timeLimit = nil
    }

    /// Stage folder names, e.g. `rbm-1`, `rbm-2`.
    public var stageNames: [String] { stages.indices.map { "\(kind.rawValue)-\($0 + 1)" } }

    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

/// A staged run: `pretrain.json`, `stages/<name>/` (each a run folder), `grids/filters-stage-K.png`
/// and the fine-tuning run in the folder itself.
public final class StagedRun {
    public static let planFile = "pretrain.json"
    public private(set) var plan: PretrainPlan
    public let runDirectory: String
    /// The fine-tuning run once it has started.
    public private(set) var finetuneRun: TrainingRun?

    /// A new staged run of `plan` in `runDirectory`.
    public init(plan: PretrainPlan, runDirectory: String) {
        self.plan = plan
        self.runDirectory = runDirectory
    }

    /// Whether `folder` holds a staged run.
    public static func isStaged(_ folder: String) -> Bool {
        FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent(planFile))
    }

    /// The staged run in `folder`, to continue; `epochs` changes the fine-tuning's epoch count.
    /// - Throws: `TrainingError` when the plan is missing or unreadable.
    public static func resuming(_ folder: String, epochs: Int? = nil) throws -> StagedRun {
        let file = (folder as NSString).appendingPathComponent(planFile)
        guard let data = FileManager.default.contents(atPath: file) else {
            throw TrainingError("\(file): cannot read the staged run's plan")
        }
        var plan: PretrainPlan
        do { plan = try JSONDecoder().decode(PretrainPlan.self, from: data) } catch {
            throw TrainingError("\(file): not a plan of this tool (\(error.localizedDescription))")
        }
        guard plan.formatVersion <= PretrainPlan.currentFormatVersion else {
            throw TrainingError("\(file): plan format version \(plan.formatVersion) is newer than this tool's")
        }
        if let epochs { plan.finetune.epochs = epochs }
        return StagedRun(plan: plan, runDirectory: folder)
    }

    func stageFolder(_ k: Int) -> String {
        URL(fileURLWithPath: runDirectory).appendingPathComponent("stages/" + plan.stageNames[k]).standardizedFileURL.path
    }

    /// Whether stage `k` has finished (its last checkpoint holds every epoch).
    func stageFinished(_ k: Int) -> Bool {
        guard let contents = try? Checkpoint.load(stageFolder(k) + "/checkpoints/last.safetensors") else { return false }
        return contents.progress.epoch >= contents.config.epochs
    }

    /// Trains what is left: unfinished stages, then the fine-tuning. Returns the fine-tuning's
    /// metrics, or the metrics so far when stopped (`stopped` says so); `log` gets a line per
    /// stage and epoch, `report` the step reports of whichever run is training.
    /// `hooks` are passed to every stage and the fine-tuning; a time limit of the plan stops
    /// the run at the first epoch end after it.
    public func run(report: @escaping (StepReport) -> Void, log: @escaping (String) -> Void,
                    hooks given: RunHooks = RunHooks()) throws -> (metrics: [String: Double], stopped: Bool) {
        let started = Date()
        try FileManager.default.createDirectory(atPath: runDirectory + "/grids", withIntermediateDirectories: true)
        try AtomicFile.write(Data(plan.jsonString().utf8), to: runDirectory + "/" + Self.planFile)
        var hooks = given
        hooks.resumeFolder = runDirectory
        var halted = false
        hooks.stopsAfterEpoch = { [plan] in
            let timeUp = plan.timeLimit.map { Date().timeIntervalSince(started) >= $0 } ?? false
            if timeUp || given.stopsAfterEpoch?() == true { halted = true }
            return halted
        }
        var metrics: [String: Double] = [:]
        func stopped(_ run: TrainingRun, _ what: String) -> Bool {
            guard stopRequested != 0 || run.stopThisRun || halted else { return false }
            log("\(what) stopped at epoch \(run.progress.epoch) of \(run.config.epochs); continue with --resume \(runDirectory)")
            return true
        }
        var stageSeconds = 0.0
        for k in plan.stages.indices where !stageFinished(k) {
            let folder = stageFolder(k)
            let stageStart = Date()
            let run: TrainingRun
            if FileManager.default.fileExists(atPath: folder + "/checkpoints/last.safetensors") {
                run = try TrainingRun(config: plan.stages[k], runDirectory: folder, resume: folder)
            } else {
                var config = plan.stages[k]
                if k > 0 { config.data = StageFeatures.prefix + stageFolder(k - 1) }
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                run = try TrainingRun(config: config, runDirectory: folder)
            }
            if k == 0, plan.inputShape == nil, let shape = try? run.gridShape() {
                plan.inputShape = [shape.channels, shape.height, shape.width]
                try AtomicFile.write(Data(plan.jsonString().utf8), to: runDirectory + "/" + Self.planFile)
            }
            log("stage \(k + 1)/\(plan.stages.count) (\(plan.stageNames[k])): \(run.config.modelDescription), "
                + "\(run.config.optimizer.kind.rawValue) lr \(run.config.optimizer.learningRate), noise \(run.config.noise)")
            metrics = try run.run(report: report, log: { log("  " + $0) }, hooks: hooks)
            stageSeconds += Date().timeIntervalSince(stageStart)
            if stopped(run, "stage \(plan.stageNames[k])") { return (metrics, true) }
            try writeFilters(upTo: k)
        }
        let finetune: TrainingRun
        if FileManager.default.fileExists(atPath: runDirectory + "/checkpoints/last.safetensors") {
            finetune = try TrainingRun(config: plan.finetune, runDirectory: runDirectory, resume: runDirectory,
                                       epochs: plan.finetune.epochs)
        } else {
            finetune = try TrainingRun(config: plan.finetune, runDirectory: runDirectory)
            try unroll(into: finetune)
            let before = finetune.evaluateTestSplit()
            log(String(format: "unrolled %@ stack before fine-tuning: test squared error/image %.3f, test loss %.5f",
                       plan.kind.rawValue, before.squaredErrorPerImage, before.objective))
            try AtomicFile.write(LogFile.json(["test_squared_error_per_image": before.squaredErrorPerImage,
                                               "test_loss": before.objective], pretty: true),
                                 to: runDirectory + "/stages/unrolled.json")
        }
        finetuneRun = finetune
        log("fine-tuning: \(finetune.config.modelDescription), \(finetune.config.optimizer.kind.rawValue) lr "
            + "\(finetune.config.optimizer.learningRate)")
        metrics = try finetune.run(report: report, log: log, hooks: hooks)
        if stageSeconds > 0 { metrics["pretrain_seconds"] = stageSeconds }
        return (metrics, stopped(finetune, "fine-tuning") && finetune.progress.epoch < finetune.config.epochs)
    }

    /// The first `count` stages' models with their parameters, from their last checkpoints.
    func stageModels(_ count: Int) throws -> [(model: any AutoencoderModel, trainer: Trainer)] {
        try (0..<count).map { k in
            let contents = try Checkpoint.load(stageFolder(k) + "/checkpoints/last.safetensors")
            let widths: Int
            if let rbm = contents.config.model.as(RBMConfig.self) {
                widths = rbm.visible
            } else if let dense = contents.config.model.as(DenseAutoencoderConfig.self) {
                widths = dense.widths[0]
            } else {
                throw TrainingError("\(stageFolder(k)): not a pretraining stage")
            }
            let model = contents.config.makeModel(rowShape: ImageShape(channels: 1, height: 1, width: widths))
            let trainer = Trainer(evaluating: model, shards: 1, maxBatch: 1, seed: contents.config.seed)
            try Checkpoint.restore(contents, into: trainer, optimizer: false)
            return (model, trainer)
        }
    }

    /// Copies the stack into the fine-tuning run's parameters.
    func unroll(into run: TrainingRun) throws {
        guard let deep = run.model as? DenseAutoencoder else { preconditionFailure("the fine-tuned model is dense") }
        let stack = try stageModels(plan.stages.count)
        let params = Arena(run.trainer.params)
        // Arenas are raw pointers: the stages' buffers must outlive the copy (a release build
        // frees them after their last use as Swift values, which the arenas are not).
        withExtendedLifetime(stack) {
            switch plan.kind {
            case .rbm:
                RestrictedBoltzmannMachine.unroll(stack.map { ($0.model as! RestrictedBoltzmannMachine, Arena($0.trainer.params)) },
                                                  into: deep, params: params)
            case .dae, .cae:
                DenseAutoencoder.stack(stack.map { ($0.model as! DenseAutoencoder, Arena($0.trainer.params)) },
                                       into: deep, params: params)
            }
        }
    }

    /// `grids/filters-stage-K.png`: what the first 100 units of stage k respond to in the input,
    /// the product of the stages' weights W_k ... W_1 (rows of 10 tiles, each stretched over
    /// its own mean +- 3 standard deviations); for stage 1 the first layer's filters themselves.
    func writeFilters(upTo k: Int) throws {
        guard let s = plan.inputShape, s.count == 3 else { return }
        let shape = ImageShape(channels: s[0], height: s[1], width: s[2])
        let stack = try stageModels(k + 1)
        // The weights are read through raw pointers: keep the stages' buffers alive meanwhile.
        try withExtendedLifetime(stack) {
            var weights: [(pointer: UnsafeMutablePointer<Float>, rows: Int, cols: Int)] = []
            for (model, trainer) in stack {
                if let rbm = model as? RestrictedBoltzmannMachine {
                    weights.append((trainer.params.pointer + rbm.weight.offset, rbm.config.hidden, rbm.config.visible))
                } else if let dense = (model as? DenseAutoencoder)?.network.layers.first(where: { $0 is Dense }) as? Dense {
                    weights.append((trainer.params.pointer + dense.weight.offset, dense.outputWidth, dense.inputWidth))
                }
            }
            let shown = min(100, weights.last!.rows)
            // product = W_k[0..<shown] (shown x in_k), then times W_{k-1}, ... down to the pixels.
            var product = [Float](UnsafeBufferPointer(start: weights.last!.pointer, count: shown * weights.last!.cols))
            for w in weights.dropLast().reversed() {
                var next = [Float](repeating: 0, count: shown * w.cols)
                product.withUnsafeMutableBufferPointer { p in
                    next.withUnsafeMutableBufferPointer { q in
                        gemm(Matrix(p.baseAddress!, rows: shown, cols: w.rows), Matrix(w.pointer, rows: w.rows, cols: w.cols),
                             into: Matrix(q.baseAddress!, rows: shown, cols: w.cols))
                    }
                }
                product = next
            }
            guard shape.count == weights[0].cols else { return }
            try product.withUnsafeBufferPointer {
                try TrainingRun.writeFilterGrid($0.baseAddress!, count: shown, shape: shape,
                                                to: runDirectory + "/grids/filters-stage-\(k + 1).png")
            }
        }
    }
}
