// Options that define a model and its optimizer, shared by train and bench.

import ArgumentParser
import Foundation
import Layers
import Models
import Training

extension ModelFamily: ExpressibleByArgument {}
extension ActivationKind: ExpressibleByArgument {}
extension LossKind: ExpressibleByArgument {}
extension Initializer: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension ConvArchitecture: ExpressibleByArgument {}
extension SequenceDecoderInput: ExpressibleByArgument {}

/// A comma-separated list of positive integers, e.g. `784,1000,500,250,30`.
struct IntList: ExpressibleByArgument {
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

struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Model family: dense (one hidden code layer), deep, sparse, denoising, dropout, "
        + "contractive, conv (convolutional), denoiser (fully convolutional, any image size), lstm and gru "
        + "(sequence-to-sequence over image rows or sequence files)."))
    var model: ModelFamily = .deep

    @Option(help: ArgumentHelp("Encoder widths from input to code; the decoder mirrors them "
        + "(default per family, e.g. deep: IN,1000,500,250,30); lstm/gru: the number of stacked layers.",
        valueName: "IN,...,CODE"))
    var layers: IntList?

    @Option(help: "Hidden activation: relu, leaky-relu, elu, sigmoid, tanh, softplus, identity.")
    var activation: ActivationKind = .relu

    @Option(help: ArgumentHelp("Per-layer hidden activations, input side first (the decoder mirrors them).",
                               valueName: "a,b,..."))
    var activations: ActivationList?

    @Option(help: ArgumentHelp("Code activation (default: identity, i.e. a linear code; sigmoid for sparse "
        + "and contractive)."))
    var codeActivation: ActivationKind?

    @Option(help: "Output activation: sigmoid or identity.")
    var outputActivation: ActivationKind = .sigmoid

    @Option(help: ArgumentHelp("Loss: mse (per-pixel mean), bce (on logits), gaussian-nll (mean and "
        + "log-variance heads). Default: mse; bce for conv."))
    var loss: LossKind?

    @Option(help: ArgumentHelp("conv: output channels of the encoder convolutions, input side first; the last "
        + "is the code (default 16,8,8).", valueName: "c1,...,code"))
    var filters: IntList?

    @Option(help: ArgumentHelp("conv: pooled (max-pool down, nearest upsampling up) or strided (stride-2 "
        + "convolutions down, transposed convolutions up)."))
    var architecture: ConvArchitecture = .pooled

    @Option(help: "denoiser: resolution halvings of the encoder-decoder (0 = a plain stack at full resolution).")
    var depth: Int = 2

    @Option(help: "denoiser: filters at full resolution, doubled at each level down.")
    var width: Int = 32

    @Flag(help: "denoiser: predict the clean image instead of the noise (residual learning is the default).")
    var predictImage = false

    @Option(help: "lstm/gru: hidden units per layer.")
    var hidden: Int = 128

    @Option(help: "lstm/gru: width of a linear bottleneck after the encoder (0: the code is the final hidden state).")
    var code: Int = 0

    @Flag(help: "lstm/gru: bidirectional encoder (the code holds both directions' final states).")
    var bidirectional = false

    @Option(help: ArgumentHelp("lstm/gru: decoder input: code (the code at every step) or previous (the previous "
        + "step's value, initial state from the code)."))
    var decoderInput: SequenceDecoderInput = .code

    @Option(help: "lstm/gru with --decoder-input previous: probability of feeding the true previous value in training.")
    var teacherForcing: Float = 1

    @Flag(help: "lstm/gru: reconstruct the sequence in reverse order.")
    var reverse = false

    @Option(help: ArgumentHelp("Weight initialiser: default (PyTorch nn.Linear/nn.Conv2d), he-uniform, he-normal, "
        + "xavier-uniform, xavier-normal (default: he-uniform for denoiser)."))
    var initializer: Initializer?

    @Flag(help: "Tie decoder weights to the transposed encoder weights.")
    var tied = false

    @Option(help: ArgumentHelp("Sparsity penalty on the code: l1:WEIGHT or kl:RHO:WEIGHT[:MOMENTUM] "
        + "(KL toward rate RHO, batch mean over all shards, or a running average with MOMENTUM).",
        valueName: "spec"))
    var sparsity: String?

    @Option(help: "Contractive penalty weight (squared Frobenius norm of the encoder Jacobian).")
    var contractive: Float?

    @Option(help: "Dropout rate after hidden layers.")
    var dropout: Float?

    @Option(help: ArgumentHelp("Hidden layers that get dropout, counted from the input side (default: all).",
                               valueName: "i,j,..."))
    var dropoutLayers: IntList?

    @Option(help: "Dropout rate on the input.")
    var inputDropout: Float = 0

    @Option(help: "Optimizer: sgd, adam, adamw.")
    var optimizer: OptimizerKind = .adam

    @Option(help: "Learning rate.")
    var lr: Float = 1e-3

    @Option(help: "SGD momentum.")
    var momentum: Float = 0

    @Flag(help: "Nesterov momentum (SGD).")
    var nesterov = false

    @Option(help: "Weight decay (L2 for sgd/adam, decoupled for adamw).")
    var weightDecay: Float = 0

    @Option(help: "Clip the gradient's global norm to this value.")
    var clipNorm: Float?

    @Option(help: ArgumentHelp("Learning-rate schedule: constant, step:EVERY:GAMMA (steps), cosine[:MIN_FACTOR] "
        + "(cosine decays over the whole run).", valueName: "spec"))
    var schedule: String = "constant"

    @Option(help: "Linear warm-up steps.")
    var warmup: Int = 0

    @Option(help: ArgumentHelp("Optimizer settings of one phase of a multi-phase model, starting from the options "
        + "above: PHASE:key=value,... with keys optimizer, lr, momentum, beta1, beta2, weight-decay, clip-norm "
        + "(e.g. discriminator:lr=2e-4,beta1=0.5). Repeat for several phases.", valueName: "spec"))
    var phaseOptimizer: [String] = []

    /// The dense model configuration for inputs of `inputWidth` values (nil: decide from data).
    func denseConfig(inputWidth: Int?) throws -> DenseAutoencoderConfig {
        var config = DenseAutoencoderConfig(widths: layers?.values ?? [])
        if config.widths.isEmpty, let inputWidth {
            config.widths = TrainingConfig.defaultWidths(model, inputWidth: inputWidth)
        }
        config.hiddenActivation = activation
        config.hiddenActivations = activations?.values ?? []
        config.outputActivation = outputActivation
        config.loss = loss ?? .mse
        config.initializer = initializer ?? .pytorchDefault
        config.tiedWeights = tied
        config.inputDropout = inputDropout
        let sigmoidCode = model == .sparse || model == .contractive
        config.codeActivation = codeActivation ?? (sigmoidCode ? .sigmoid : .identity)
        if let sparsity {
            config.sparsity = try Self.parseSparsity(sparsity)
        } else if model == .sparse {
            config.sparsity = .kl(target: 0.05, weight: 0.001, momentum: 0)
        }
        config.contractive = contractive ?? (model == .contractive ? 1e-3 : 0)
        config.dropout = dropout ?? (model == .dropout ? 0.2 : 0)
        config.dropoutLayers = dropoutLayers?.values ?? []
        return config
    }

    /// The conv family's model; channels and size are filled in from the data.
    func convConfig() throws -> ConvAutoencoderConfig {
        var config = ConvAutoencoderConfig()
        config.filters = filters?.values ?? [16, 8, 8]
        config.architecture = architecture
        config.loss = loss ?? .bce
        config.activation = activation
        config.initializer = initializer ?? .pytorchDefault
        guard config.loss == .bce || config.loss == .mse else {
            throw ValidationError("--loss \(config.loss.rawValue): the conv family uses bce or mse")
        }
        return config
    }

    /// The denoiser's model; channels are filled in from the data.
    func denoiserConfig() throws -> ConvDenoiserConfig {
        var config = ConvDenoiserConfig(channels: 1)
        config.depth = depth
        config.width = width
        config.residual = !predictImage
        config.activation = activation
        config.initializer = initializer ?? .heUniform
        if let problem = config.validationError() { throw ValidationError(problem) }
        if let loss, loss != .mse { throw ValidationError("--loss \(loss.rawValue): the denoiser trains with mse") }
        return config
    }

    /// The lstm/gru model; steps and features are filled in from the data.
    func sequenceConfig() throws -> SequenceAutoencoderConfig {
        var config = SequenceAutoencoderConfig(cell: model == .gru ? .gru : .lstm, steps: 1, features: 1)
        if let layers {
            guard layers.values.count == 1 else {
                throw ValidationError("--layers for \(model.rawValue) is the number of stacked layers, e.g. --layers 2")
            }
            config.layers = layers.values[0]
        }
        config.hidden = hidden
        config.code = code
        config.bidirectional = bidirectional
        config.decoderInput = decoderInput
        config.teacherForcing = teacherForcing
        config.reverse = reverse
        if let problem = config.validationError() { throw ValidationError(problem) }
        if let loss, loss != .mse { throw ValidationError("--loss \(loss.rawValue): \(model.rawValue) trains with mse") }
        if dropout != nil || inputDropout != 0 || sparsity != nil || contractive != nil || tied {
            throw ValidationError("--dropout, --input-dropout, --sparsity, --contractive and --tied are for the dense "
                + "models; for input dropout on sequences use --noise masking:P (zeroes a fraction P of the values)")
        }
        return config
    }

    static func parseSparsity(_ spec: String) throws -> Sparsity {
        let parts = spec.split(separator: ":").map(String.init)
        let numbers = parts.dropFirst().map { Float($0) }
        guard numbers.allSatisfy({ $0 != nil }) else { throw ValidationError("--sparsity \(spec): numbers expected") }
        let n = numbers.map { $0! }
        switch (parts.first, n.count) {
        case ("l1", 1): return .l1(weight: n[0])
        case ("kl", 2): return .kl(target: n[0], weight: n[1], momentum: 0)
        case ("kl", 3): return .kl(target: n[0], weight: n[1], momentum: n[2])
        default: throw ValidationError("--sparsity \(spec): expected l1:WEIGHT or kl:RHO:WEIGHT[:MOMENTUM]")
        }
    }

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

    func optimizerConfig() throws -> OptimizerConfig {
        var config = OptimizerConfig(kind: optimizer, learningRate: lr)
        config.momentum = momentum
        config.nesterov = nesterov
        config.weightDecay = weightDecay
        config.clipNorm = clipNorm
        var schedule = Schedule()
        let parts = self.schedule.split(separator: ":").map(String.init)
        switch parts.first {
        case "constant" where parts.count == 1:
            schedule.kind = .constant
        case "step" where parts.count == 3:
            guard let every = Int(parts[1]), let gamma = Float(parts[2]), every > 0 else {
                throw ValidationError("--schedule \(self.schedule): expected step:EVERY:GAMMA")
            }
            schedule.kind = .step
            schedule.every = every
            schedule.gamma = gamma
        case "cosine" where parts.count <= 2:
            schedule.kind = .cosine
            schedule.minFactor = parts.count == 2 ? (Float(parts[1]) ?? 0) : 0
        default:
            throw ValidationError("--schedule \(self.schedule): expected constant, step:EVERY:GAMMA or cosine[:MIN]")
        }
        schedule.warmupSteps = warmup
        config.schedule = schedule
        return config
    }
}

/// Default shard count: the cores this process may use.
var activeCores: Int { ProcessInfo.processInfo.activeProcessorCount }
