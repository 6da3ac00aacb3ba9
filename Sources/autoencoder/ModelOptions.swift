// Options that define a model and its optimizer, shared by train and bench.

import ArgumentParser
import Engine
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
                               valueName: "M:EPOCHS"), transform: InitialMomentum.init(parsing:))
    var initialMomentum: InitialMomentum?

    @Flag(help: "Nesterov momentum (SGD).")
    var nesterov = false

    @Option(parsing: .unconditional, help: "Weight decay (L2 for sgd/adam, decoupled for adamw).")
    var weightDecay: Float?

    @Option(parsing: .unconditional, help: "Clip the gradient's global norm to this value.")
    var clipNorm: Float?

    @Option(help: ArgumentHelp("Learning-rate schedule: constant, step:EVERY:GAMMA (steps), cosine[:MIN_FACTOR] "
        + "(cosine decays over the whole run).", valueName: "spec"), transform: Schedule.init(parsing:))
    var schedule: Schedule?

    @Option(parsing: .unconditional, help: "Linear warm-up steps.")
    var warmup: Int?

    @Option(help: ArgumentHelp("Optimizer settings of one phase of a multi-phase model, starting from the options "
        + "above: PHASE:key=value,... with keys optimizer, lr, momentum, beta1, beta2, weight-decay, clip-norm "
        + "(e.g. discriminator:lr=2e-4,beta1=0.5). Repeat for several phases.", valueName: "spec"),
            transform: PhaseOptimizerSetting.init(parsing:))
    var phaseOptimizer: [PhaseOptimizerSetting] = []

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
        // One line, no usage block: the flag and the family say it all; a usage error's status.
        throw usageFailure("\(flag) does not apply to --model \(family.rawValue)\(hint)")
    }

    /// The model of `family` with the given flags applied on top of `base` (default: the preset).
    func modelSpec(family: ModelFamily, base: ModelSpec? = nil) throws -> ModelSpec {
        try refuseForeignFlags(family: family)
        var model = base ?? family.preset
        for group in families { try group.applyIfOwner(shared, family: family, to: &model) }
        return model
    }

    func optimizerConfig(base: OptimizerConfig? = nil) -> OptimizerConfig {
        optimization.optimizerConfig(base: base)
    }

    func phaseOptimizers(base: OptimizerConfig) -> [String: OptimizerConfig]? {
        optimization.phaseOptimizers(base: base)
    }
}

extension OptimizerOptions {
    /// The `--phase-optimizer` settings by phase name, each starting from `base`.
    func phaseOptimizers(base: OptimizerConfig) -> [String: OptimizerConfig]? {
        phaseOptimizer.isEmpty ? nil : OptimizerConfig.phases(phaseOptimizer, base: base)
    }

    /// The optimizer: the given options on top of `base` (default: Adam 1e-3).
    func optimizerConfig(base: OptimizerConfig? = nil) -> OptimizerConfig {
        var config = base ?? OptimizerConfig()
        if let optimizer { config.kind = optimizer }
        if let lr { config.learningRate = lr }
        if let momentum { config.momentum = momentum }
        if let initialMomentum { config.setInitialMomentum(initialMomentum) }
        if nesterov { config.nesterov = true }
        if let weightDecay { config.weightDecay = weightDecay }
        if let clipNorm { config.clipNorm = clipNorm }
        if var schedule {
            schedule.warmupSteps = config.schedule.warmupSteps
            config.schedule = schedule
        }
        if let warmup { config.schedule.warmupSteps = warmup }
        return config
    }
}

/// Default shard count: the cores this process may use.
var activeCores: Int { ProcessInfo.processInfo.activeProcessorCount }
