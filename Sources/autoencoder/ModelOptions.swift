// Options that define a model and its optimizer, shared by train and bench.

import ArgumentParser
import Foundation
import Layers
import Models
import Training

extension ModelFamily: ExpressibleByArgument {}
extension PretrainPlan.Kind: ExpressibleByArgument {}
extension ActivationKind: ExpressibleByArgument {}
extension LossKind: ExpressibleByArgument {}
extension Initializer: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension SequenceDecoderInput: ExpressibleByArgument {}
extension AdversaryKind: ExpressibleByArgument {}
extension DisentanglingForm: ExpressibleByArgument {}
extension HiddenUnits: ExpressibleByArgument {}

/// A comma-separated list of positive integers, e.g. `784,1000,500,250,30`.
struct IntList: ExpressibleByArgument, CustomStringConvertible {
    /// As written on the command line (`--help` shows defaults this way).
    var description: String { values.map(String.init).joined(separator: ",") }
    var values: [Int]
    init?(argument: String) {
        let parts = argument.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil && $0! > 0 }) else { return nil }
        values = parts.map { $0! }
    }
}

/// A comma-separated list of activations, e.g. `relu,tanh,elu`.
struct ActivationList: ExpressibleByArgument {
    var values: [ActivationKind]
    init?(argument: String) {
        let parts = argument.split(separator: ",").map { ActivationKind(rawValue: String($0)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        values = parts.map { $0! }
    }
}

/// The model flags more than one family takes, and `--model`.
struct SharedModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Model family: dense (one hidden code layer), deep, sparse, denoising, dropout, "
        + "contractive, conv (convolutional), denoiser (fully convolutional, any image size), lstm and gru "
        + "(sequence-to-sequence over image rows or sequence files), vae (variational), aae (adversarial), disentangle "
        + "(a free code with no label plus the label, or --form adain: content and style encoders), rbm (restricted "
        + "Boltzmann machine, CD-k). Default: deep, or the "
        + "family of --config."))
    var model: ModelFamily?

    @Option(help: ArgumentHelp("Encoder widths from input to code; the decoder mirrors them "
        + "(default per family, e.g. deep: IN,1000,500,250,30; vae: IN,400,20 with the latent last; aae: "
        + "IN,1000,1000,2); lstm/gru: "
        + "the number of stacked layers.", valueName: "IN,...,CODE"))
    var layers: IntList?

    @Option(help: "Hidden activation: relu, leaky-relu, elu, sigmoid, tanh, softplus, identity (default relu).")
    var activation: ActivationKind?

    @Option(help: ArgumentHelp("Loss: mse (per-pixel mean), bce (on logits), gaussian-nll (mean and "
        + "log-variance heads), l1 (absolute error), charbonnier (smooth l1, eps 1e-3; the denoiser takes mse, l1 "
        + "or charbonnier). Default: mse; bce for conv."))
    var loss: LossKind?

    @Option(help: ArgumentHelp("conv and vae --architecture conv: output channels of the encoder convolutions, "
        + "input side first (conv default 16,8,8, the last is the code; vae default 32,64).", valueName: "c1,..."))
    var filters: IntList?

    @Option(help: ArgumentHelp("conv: pooled (max-pool down, nearest upsampling up) or strided (stride-2 "
        + "convolutions down, transposed convolutions up); vae: dense or conv."))
    var architecture: String?

    @Option(help: ArgumentHelp("Weight initialiser: default (PyTorch nn.Linear/nn.Conv2d), he-uniform, he-normal, "
        + "xavier-uniform, xavier-normal (default: he-uniform for denoiser)."))
    var initializer: Initializer?

    /// The given flags, in the order `--help` lists them.
    var givenFlags: [String] {
        flagsGiven([("--layers", layers != nil), ("--activation", activation != nil), ("--loss", loss != nil),
                    ("--filters", filters != nil), ("--architecture", architecture != nil),
                    ("--initializer", initializer != nil)])
    }
}

/// The optimizer's flags.
struct OptimizerOptions: ParsableArguments {
    @Option(help: "Optimizer: sgd, adam, adamw (default adam).")
    var optimizer: OptimizerKind?

    @Option(parsing: .unconditional, help: "Learning rate (default 1e-3).")
    var lr: Float?

    @Option(parsing: .unconditional, help: "SGD momentum (rbm default 0.9).")
    var momentum: Float?

    @Option(help: ArgumentHelp("SGD: the momentum of the first epochs, M:EPOCHS (rbm default 0.5:5; 0:0 for none).",
                               valueName: "M:EPOCHS"))
    var initialMomentum: String?




    @Flag(help: "Nesterov momentum (SGD).")
    var nesterov = false

    @Option(parsing: .unconditional, help: "Weight decay (L2 for sgd/adam, decoupled for adamw).")
    var weightDecay: Float?

    @Option(parsing: .unconditional, help: "Clip the gradient's global norm to this value.")
    var clipNorm: Float?

    @Option(help: ArgumentHelp("Learning-rate schedule: constant, step:EVERY:GAMMA (steps), cosine[:MIN_FACTOR] "
        + "(cosine decays over the whole run).", valueName: "spec"))
    var schedule: String?

    @Option(parsing: .unconditional, help: "Linear warm-up steps.")
    var warmup: Int?

    @Option(help: ArgumentHelp("Optimizer settings of one phase of a multi-phase model, starting from the options "
        + "above: PHASE:key=value,... with keys optimizer, lr, momentum, beta1, beta2, weight-decay, clip-norm "
        + "(e.g. discriminator:lr=2e-4,beta1=0.5). Repeat for several phases.", valueName: "spec"))
    var phaseOptimizer: [String] = []

    func validate() throws {
        try checkOption(lr, "--lr", { $0 > 0 }, "a positive number")
        try checkOption(momentum, "--momentum", { $0 >= 0 && $0 < 1 }, "in [0, 1)")
        try checkOption(weightDecay, "--weight-decay", { $0 >= 0 }, ">= 0")
        try checkOption(clipNorm, "--clip-norm", { $0 > 0 }, "a positive number")
        if let warmup, warmup < 0 { throw ValidationError("--warmup must be >= 0, got \(warmup)") }
    }
}

struct ModelOptions: ParsableArguments {
    @OptionGroup(title: "Model") var shared: SharedModelOptions
    @OptionGroup(title: "Dense families (dense, deep, sparse, denoising, dropout, contractive)") var dense: DenseOptions
    @OptionGroup(title: "conv") var conv: ConvOptions
    @OptionGroup(title: "denoiser") var denoiser: DenoiserOptions
    @OptionGroup(title: "lstm, gru") var sequence: SequenceOptions
    @OptionGroup(title: "vae") var vae: VAEOptions
    @OptionGroup(title: "aae") var aae: AAEOptions
    @OptionGroup(title: "disentangle") var disentangle: DisentangleOptions
    @OptionGroup(title: "rbm") var rbm: RBMOptions
    @OptionGroup(title: "Optimizer") var optimization: OptimizerOptions

    /// Every family's option group: adding a family adds its group above and here.
    var families: [any FamilyOptions] { [dense, conv, denoiser, sequence, vae, aae, disentangle, rbm] }

    var model: ModelFamily? { shared.model }
    var loss: LossKind? { shared.loss }
    var activation: ActivationKind? { shared.activation }

    /// The model flags the user gave (shared ones first), for refusing them where they do not apply.
    var givenModelFlags: [String] { shared.givenFlags + families.flatMap(\.givenFlags) }

    /// Refuses, in one line, a model flag the family does not take.
    /// - Throws: `CommandFailure` naming the flag and the family.
    func refuseForeignFlags(family: ModelFamily) throws {
        let preset = family.preset
        var foreign: [String] = []
        for group in families {
            if group.owns(preset) {
                foreign += shared.givenFlags.filter { !type(of: group).sharedFlags.contains($0) }
            } else {
                foreign += group.givenFlags
            }
        }
        guard let flag = givenModelFlags.first(where: foreign.contains) else { return }
        var hint = ""
        if flag == "--loss" && family == .vae { hint = " (the vae's likelihood is --decoder)" }
        if flag == "--loss" && [.lstm, .gru].contains(family) { hint = " (it trains with mse)" }
        if [.lstm, .gru].contains(family) && ["--dropout", "--input-dropout"].contains(flag) {
            hint = " (for input dropout on sequences use --noise masking:P)"
        }
        // One line, no usage block: the flag and the family say it all.
        throw CommandFailure(message: "\(flag) does not apply to --model \(family.rawValue)\(hint)")
    }

    /// The model of `family` with the given flags applied on top of `base` (default: the preset).
    func modelSpec(family: ModelFamily, base: ModelSpec? = nil) throws -> ModelSpec {
        try refuseForeignFlags(family: family)
        var model = base ?? family.preset
        for group in families { try group.applyIfOwner(shared, family: family, to: &model) }
        return model
    }

    func optimizerConfig(base: OptimizerConfig? = nil) throws -> OptimizerConfig {
        try optimization.optimizerConfig(base: base)
    }

    func phaseOptimizers(base: OptimizerConfig) throws -> [String: OptimizerConfig]? {
        try optimization.phaseOptimizers(base: base)
    }
}

extension OptimizerOptions {
    /// The `--phase-optimizer` settings by phase name, each starting from `base`.
    func phaseOptimizers(base: OptimizerConfig) throws -> [String: OptimizerConfig]? {
        guard !phaseOptimizer.isEmpty else { return nil }
        var result: [String: OptimizerConfig] = [:]
        for spec in phaseOptimizer {
            let usage = "--phase-optimizer \(spec): expected PHASE:key=value,... (keys optimizer, lr, momentum, "
                + "beta1, beta2, weight-decay, clip-norm)"
            guard let colon = spec.firstIndex(of: ":"), colon != spec.startIndex else { throw ValidationError(usage) }
            let name = String(spec[..<colon])
            var config = result[name] ?? base
            for pair in spec[spec.index(after: colon)...].split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { throw ValidationError(usage) }
                let number = Float(kv[1])
                switch kv[0] {
                case "optimizer":
                    guard let kind = OptimizerKind(rawValue: kv[1]) else { throw ValidationError(usage) }
                    config.kind = kind
                case "lr" where number != nil: config.learningRate = number!
                case "momentum" where number != nil: config.momentum = number!
                case "beta1" where number != nil: config.beta1 = number!
                case "beta2" where number != nil: config.beta2 = number!
                case "weight-decay" where number != nil: config.weightDecay = number!
                case "clip-norm" where number != nil: config.clipNorm = number!
                default: throw ValidationError(usage)
                }
            }
            result[name] = config
        }
        return result
    }

    /// The optimizer: the given options on top of `base` (default: Adam 1e-3).
    func optimizerConfig(base: OptimizerConfig? = nil) throws -> OptimizerConfig {
        var config = base ?? OptimizerConfig()
        if let optimizer { config.kind = optimizer }
        if let lr { config.learningRate = lr }
        if let momentum { config.momentum = momentum }
        if let spec = initialMomentum {
            let parts = spec.split(separator: ":").map(String.init)
            guard parts.count == 2, let m = Float(parts[0]), let epochs = Int(parts[1]), m >= 0, m < 1, epochs >= 0 else {
                throw ValidationError("--initial-momentum \(spec): expected M:EPOCHS with M in [0, 1) and EPOCHS >= 0")
            }
            config.initialMomentum = epochs > 0 ? m : nil
            config.initialMomentumEpochs = epochs > 0 ? epochs : nil
        }
        if nesterov { config.nesterov = true }
        if let weightDecay { config.weightDecay = weightDecay }
        if let clipNorm { config.clipNorm = clipNorm }
        if let spec = self.schedule {
            var schedule = Schedule()
            let parts = spec.split(separator: ":").map(String.init)
            switch parts.first {
            case "constant" where parts.count == 1:
                schedule.kind = .constant
            case "step" where parts.count == 3:
                guard let every = Int(parts[1]), let gamma = Float(parts[2]), every > 0, gamma > 0, gamma.isFinite else {
                    throw ValidationError("--schedule \(spec): expected step:EVERY:GAMMA (EVERY steps > 0, GAMMA > 0)")
                }
                schedule.kind = .step
                schedule.every = every
                schedule.gamma = gamma
            case "cosine" where parts.count <= 2:
                schedule.kind = .cosine
                if parts.count == 2 {
                    guard let factor = Float(parts[1]), factor >= 0, factor <= 1 else {
                        throw ValidationError("--schedule \(spec): expected cosine:MIN with MIN a number in 0...1")
                    }
                    schedule.minFactor = factor
                }
            default:
                throw ValidationError("--schedule \(spec): expected constant, step:EVERY:GAMMA or cosine[:MIN]")
            }
            schedule.warmupSteps = config.schedule.warmupSteps
            config.schedule = schedule
        }
        if let warmup { config.schedule.warmupSteps = warmup }
        return config
    }
}

/// Default shard count: the cores this process may use.
var activeCores: Int { ProcessInfo.processInfo.activeProcessorCount }
