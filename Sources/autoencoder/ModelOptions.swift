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

struct ModelOptions: ParsableArguments {
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

    @Option(help: ArgumentHelp("Per-layer hidden activations, input side first (the decoder mirrors them).",
                               valueName: "a,b,..."))
    var activations: ActivationList?

    @Option(help: ArgumentHelp("Code activation (default: identity, i.e. a linear code; sigmoid for sparse "
        + "and contractive)."))
    var codeActivation: ActivationKind?

    @Option(help: "Output activation: sigmoid or identity (default sigmoid).")
    var outputActivation: ActivationKind?

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

    @Option(parsing: .unconditional, help: "denoiser: resolution halvings of the encoder-decoder (0 = a plain stack at full resolution; default 2).")
    var depth: Int?

    @Option(parsing: .unconditional, help: "denoiser: filters at full resolution, doubled at each level down (default 32).")
    var width: Int?

    @Flag(help: "denoiser: predict the clean image instead of the noise (residual learning is the default).")
    var predictImage = false

    @Option(parsing: .unconditional, help: "lstm/gru: hidden units per layer (default 128).")
    var hidden: Int?

    @Option(parsing: .unconditional, help: "lstm/gru: width of a linear bottleneck after the encoder (0: the code is the final hidden state).")
    var code: Int?

    @Flag(help: "lstm/gru: bidirectional encoder (the code holds both directions' final states).")
    var bidirectional = false

    @Option(help: ArgumentHelp("lstm/gru: decoder input: code (the code at every step) or previous (the previous "
        + "step's value, initial state from the code)."))
    var decoderInput: SequenceDecoderInput?

    @Option(parsing: .unconditional, help: "lstm/gru with --decoder-input previous: probability of feeding the true previous value in training.")
    var teacherForcing: Float?

    @Flag(help: "lstm/gru: reconstruct the sequence in reverse order.")
    var reverse = false

    @Option(help: ArgumentHelp("vae: the likelihood p(x|z): bernoulli (BCE on logits, default), gaussian[:VARIANCE] "
        + "(fixed variance, default 1) or gaussian-learned (a log-variance per value).", valueName: "kind"))
    var decoder: String?

    @Option(parsing: .unconditional, help: "vae: weight of the KL term (beta-VAE; 1 is the ELBO).")
    var beta: Float?

    @Option(parsing: .unconditional, help: ArgumentHelp("vae: raise the KL weight linearly from 0 to beta over this many steps.",
                               valueName: "steps"))
    var klWarmup: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("vae: free bits, nats per latent dimension whose batch-mean KL is not penalised.",
                               valueName: "nats"))
    var freeBits: Float?

    @Option(help: ArgumentHelp("aae: the prior the codes are matched to: gaussian (N(0, I), default), mixture[:K] "
        + "(K Gaussians on a circle in the first two dimensions, default 10) or uniform (on [-1, 1]).", valueName: "kind"))
    var prior: String?

    @Flag(help: "aae: label-conditioned prior (the label picks the mixture component; the discriminator sees it one-hot).")
    var conditional = false

    @Option(parsing: .unconditional, help: ArgumentHelp("aae: unsupervised clustering, a softmax head of K clusters next to the style "
        + "code (the last --layers width), each with its own discriminator.", valueName: "K"))
    var clusters: Int?

    @Option(help: ArgumentHelp("aae: hidden widths of the discriminator (default 500,500).", valueName: "w1,..."))
    var discriminator: IntList?

    @Option(help: ArgumentHelp("disentangle: split (one encoder, the label one-hot at the decoder, an adversary on the "
        + "free code; default, needs labels) or adain (content and style encoders, instance normalisation and AdaIN "
        + "after Chou et al. 2019; trains without labels).", valueName: "form"))
    var form: DisentanglingForm?

    @Option(parsing: .unconditional, help: ArgumentHelp("disentangle --form adain: channels of the convolution blocks "
        + "(default 32).", valueName: "n"))
    var hiddenChannels: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("disentangle --form adain: channels of the content code at each "
        + "position (default 4; images have one position per 4x4 pixels, sequences one per step).", valueName: "n"))
    var contentChannels: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("disentangle --form adain: width of the style vector (default 16).",
                                                        valueName: "n"))
    var styleWidth: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("disentangle --form adain on sequences: kernel of the 1-D "
        + "convolutions over time (odd, default 5).", valueName: "k"))
    var kernel: Int?

    @Option(help: ArgumentHelp("disentangle: how the encoder fights the adversary on the free code: alternating "
        + "(an adversary phase, then the confusion loss; default) or reversal (gradient reversal, one phase).",
        valueName: "kind"))
    var adversary: AdversaryKind?

    @Option(parsing: .unconditional, help: ArgumentHelp("disentangle: lambda, the weight of the adversarial term "
        + "in the autoencoder's objective (default 0.05).", valueName: "lambda"))
    var adversaryWeight: Float?

    @Option(parsing: .unconditional, help: ArgumentHelp("disentangle: raise the adversary weight linearly from 0 "
        + "over this many steps (default 0: none).", valueName: "steps"))
    var adversaryWarmup: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("disentangle: from this epoch on (counting from 1) train the "
        + "decoder alone, on reconstruction from the free code and the label; the encoder and the adversary "
        + "stay as they are (default: never).", valueName: "epoch"))
    var decoderOnlyFrom: Int?

    @Option(help: ArgumentHelp("disentangle: hidden widths of the adversary (default 256), or linear (no hidden layer).",
                               valueName: "w1,...|linear"))
    var adversaryLayers: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("disentangle: the weight of the free code's KL divergence "
        + "from N(0, I), the code being variational (default 0.25; 0: a deterministic code).", valueName: "beta"))
    var kl: Float?

    @Option(help: ArgumentHelp("Weight initialiser: default (PyTorch nn.Linear/nn.Conv2d), he-uniform, he-normal, "
        + "xavier-uniform, xavier-normal (default: he-uniform for denoiser)."))
    var initializer: Initializer?

    @Flag(help: "Tie decoder weights to the transposed encoder weights.")
    var tied = false

    @Option(help: ArgumentHelp("Sparsity penalty on the code: l1:WEIGHT or kl:RHO:WEIGHT[:MOMENTUM] "
        + "(KL toward rate RHO, batch mean over all shards, or a running average with MOMENTUM).",
        valueName: "spec"))
    var sparsity: String?

    @Option(parsing: .unconditional, help: "Contractive penalty weight (squared Frobenius norm of the encoder Jacobian).")
    var contractive: Float?

    @Option(parsing: .unconditional, help: "Dropout rate after hidden layers.")
    var dropout: Float?

    @Option(help: ArgumentHelp("Hidden layers that get dropout, counted from the input side (default: all).",
                               valueName: "i,j,..."))
    var dropoutLayers: IntList?

    @Option(parsing: .unconditional, help: "Dropout rate on the input.")
    var inputDropout: Float?

    @Option(help: "Optimizer: sgd, adam, adamw (default adam).")
    var optimizer: OptimizerKind?

    @Option(parsing: .unconditional, help: "Learning rate (default 1e-3).")
    var lr: Float?

    @Option(parsing: .unconditional, help: "SGD momentum (rbm default 0.9).")
    var momentum: Float?

    @Option(help: ArgumentHelp("SGD: the momentum of the first epochs, M:EPOCHS (rbm default 0.5:5; 0:0 for none).",
                               valueName: "M:EPOCHS"))
    var initialMomentum: String?

    @Option(help: ArgumentHelp("rbm: hidden units, binary (default) or gaussian (linear with unit-variance noise, "
        + "as the top layer of Hinton and Salakhutdinov's deep autoencoder).", valueName: "kind"))
    var hiddenUnits: HiddenUnits?

    @Option(parsing: .unconditional, help: ArgumentHelp("rbm: Gibbs steps of contrastive divergence (default 1).",
                                                        valueName: "k"))
    var cdSteps: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("rbm: L2 cost on the weights (default 0.0002).", valueName: "cost"))
    var weightCost: Float?

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
        func check(_ value: Float?, _ flag: String, _ valid: (Float) -> Bool, _ what: String) throws {
            if let value, !(value.isFinite && valid(value)) { throw ValidationError("\(flag) must be \(what), got \(value)") }
        }
        try check(lr, "--lr", { $0 > 0 }, "a positive number")
        try check(momentum, "--momentum", { $0 >= 0 && $0 < 1 }, "in [0, 1)")
        try check(weightDecay, "--weight-decay", { $0 >= 0 }, ">= 0")
        try check(clipNorm, "--clip-norm", { $0 > 0 }, "a positive number")
        try check(beta, "--beta", { $0 >= 0 }, ">= 0")
        try check(freeBits, "--free-bits", { $0 >= 0 }, ">= 0")
        try check(adversaryWeight, "--adversary-weight", { $0 >= 0 }, ">= 0")
        try check(kl, "--kl", { $0 >= 0 }, ">= 0")
        try check(weightCost, "--weight-cost", { $0 >= 0 }, ">= 0")
        if let cdSteps, cdSteps < 1 { throw ValidationError("--cd-steps must be at least 1, got \(cdSteps)") }
        try check(contractive, "--contractive", { $0 >= 0 }, ">= 0")
        try check(dropout, "--dropout", { $0 >= 0 && $0 < 1 }, "in [0, 1)")
        try check(inputDropout, "--input-dropout", { $0 >= 0 && $0 < 1 }, "in [0, 1)")
        try check(teacherForcing, "--teacher-forcing", { $0 >= 0 && $0 <= 1 }, "in [0, 1]")
        for (value, flag) in [(warmup, "--warmup"), (klWarmup, "--kl-warmup"), (adversaryWarmup, "--adversary-warmup")]
        where (value ?? 0) < 0 {
            throw ValidationError("\(flag) must be >= 0, got \(value!)")
        }
        for (value, flag) in [(hidden, "--hidden"), (depth.map { $0 + 1 }, "--depth"), (width, "--width"),
                              (code.map { $0 + 1 }, "--code")] where (value ?? 1) <= 0 {
            throw ValidationError("\(flag) must be \(flag == "--depth" || flag == "--code" ? ">= 0" : "positive")")
        }
    }

    /// The model flags the user gave, each with the families it applies to.
    var givenModelFlags: [(flag: String, families: Set<ModelFamily>)] {
        let dense: Set<ModelFamily> = [.dense, .deep, .sparse, .denoising, .dropout, .contractive]
        let sequence: Set<ModelFamily> = [.lstm, .gru]
        // Every family but the recurrent ones and the RBM (logistic units, its own initialisation).
        let images = Set(ModelFamily.allCases).subtracting(sequence).subtracting([.rbm])
        let candidates: [(Bool, String, Set<ModelFamily>)] = [
            (layers != nil, "--layers", dense.union(sequence).union([.vae, .aae, .disentangle, .rbm])),
            (activation != nil, "--activation", images),
            (activations != nil, "--activations", dense),
            (codeActivation != nil, "--code-activation", dense),
            (outputActivation != nil, "--output-activation", dense),
            (loss != nil, "--loss", dense.union([.conv, .aae, .disentangle, .denoiser])),
            (filters != nil, "--filters", [.conv, .vae]),
            (architecture != nil, "--architecture", [.conv, .vae]),
            (depth != nil, "--depth", [.denoiser]),
            (width != nil, "--width", [.denoiser]),
            (predictImage, "--predict-image", [.denoiser]),
            (hidden != nil, "--hidden", sequence),
            (code != nil, "--code", sequence),
            (bidirectional, "--bidirectional", sequence),
            (decoderInput != nil, "--decoder-input", sequence),
            (teacherForcing != nil, "--teacher-forcing", sequence),
            (reverse, "--reverse", sequence),
            (decoder != nil, "--decoder", [.vae]),
            (beta != nil, "--beta", [.vae]),
            (klWarmup != nil, "--kl-warmup", [.vae]),
            (freeBits != nil, "--free-bits", [.vae]),
            (prior != nil, "--prior", [.aae]),
            (conditional, "--conditional", [.aae]),
            (clusters != nil, "--clusters", [.aae]),
            (discriminator != nil, "--discriminator", [.aae]),
            (adversary != nil, "--adversary", [.disentangle]),
            (adversaryWeight != nil, "--adversary-weight", [.disentangle]),
            (adversaryWarmup != nil, "--adversary-warmup", [.disentangle]),
            (adversaryLayers != nil, "--adversary-layers", [.disentangle]),
            (kl != nil, "--kl", [.disentangle]),
            (hiddenUnits != nil, "--hidden-units", [.rbm]),
            (cdSteps != nil, "--cd-steps", [.rbm]),
            (weightCost != nil, "--weight-cost", [.rbm]),
            (decoderOnlyFrom != nil, "--decoder-only-from", [.disentangle]),
            (form != nil, "--form", [.disentangle]),
            (hiddenChannels != nil, "--hidden-channels", [.disentangle]),
            (contentChannels != nil, "--content-channels", [.disentangle]),
            (styleWidth != nil, "--style-width", [.disentangle]),
            (kernel != nil, "--kernel", [.disentangle]),
            (initializer != nil, "--initializer", images),
            (tied, "--tied", dense),
            (sparsity != nil, "--sparsity", dense),
            (contractive != nil, "--contractive", dense),
            (dropout != nil, "--dropout", dense),
            (dropoutLayers != nil, "--dropout-layers", dense),
            (inputDropout != nil, "--input-dropout", dense),
        ]
        return candidates.filter(\.0).map { ($0.1, $0.2) }
    }

    /// Refuses, in one line, a model flag the family does not take.
    /// - Throws: `CommandFailure` naming the flag and the family.
    func refuseForeignFlags(family: ModelFamily) throws {
        for (flag, families) in givenModelFlags where !families.contains(family) {
            var hint = ""
            if flag == "--loss" && family == .vae { hint = " (the vae's likelihood is --decoder)" }
            if flag == "--loss" && [.lstm, .gru].contains(family) { hint = " (it trains with mse)" }
            if [.lstm, .gru].contains(family) && ["--dropout", "--input-dropout"].contains(flag) {
                hint = " (for input dropout on sequences use --noise masking:P)"
            }
            // One line, no usage block: the flag and the family say it all.
            throw CommandFailure(message: "\(flag) does not apply to --model \(family.rawValue)\(hint)")
        }
    }

    /// The model of `family` with the given flags applied on top of `base` (default: the preset).
    func modelSpec(family: ModelFamily, base: ModelSpec? = nil) throws -> ModelSpec {
        try refuseForeignFlags(family: family)
        switch base ?? family.preset {
        case .dense(var config):
            if let layers { config.widths = layers.values }
            if let activation { config.hiddenActivation = activation }
            if let activations { config.hiddenActivations = activations.values }
            if let outputActivation { config.outputActivation = outputActivation }
            if let loss { config.loss = loss }
            if let initializer { config.initializer = initializer }
            if tied { config.tiedWeights = true }
            if let inputDropout { config.inputDropout = inputDropout }
            if let codeActivation { config.codeActivation = codeActivation }
            if let sparsity { config.sparsity = try Self.parseSparsity(sparsity) }
            if let contractive { config.contractive = contractive }
            if let dropout { config.dropout = dropout }
            if let dropoutLayers { config.dropoutLayers = dropoutLayers.values }
            return .dense(config)
        case .conv(var config):
            if let filters { config.filters = filters.values }
            if let architecture {
                guard let kind = ConvArchitecture(rawValue: architecture) else {
                    throw ValidationError("--architecture \(architecture): the conv family takes pooled or strided")
                }
                config.architecture = kind
            }
            if let loss {
                guard loss == .bce || loss == .mse else {
                    throw ValidationError("--loss \(loss.rawValue): the conv family uses bce or mse")
                }
                config.loss = loss
            }
            if let activation { config.activation = activation }
            if let initializer { config.initializer = initializer }
            return .conv(config)
        case .denoiser(var config):
            if let depth { config.depth = depth }
            if let width { config.width = width }
            if predictImage { config.residual = false }
            if let loss { config.loss = loss }
            if let activation { config.activation = activation }
            if let initializer { config.initializer = initializer }
            if let problem = config.validationError() { throw ValidationError(problem) }
            return .denoiser(config)
        case .sequence(var config):
            config.cell = family == .gru ? .gru : .lstm
            if let layers {
                guard layers.values.count == 1 else {
                    throw ValidationError("--layers for \(family.rawValue) is the number of stacked layers, e.g. --layers 2")
                }
                config.layers = layers.values[0]
            }
            if let hidden { config.hidden = hidden }
            if let code { config.code = code }
            if bidirectional { config.bidirectional = true }
            if let decoderInput { config.decoderInput = decoderInput }
            if let teacherForcing { config.teacherForcing = teacherForcing }
            if reverse { config.reverse = true }
            if let problem = config.validationError() { throw ValidationError(problem) }
            return .sequence(config)
        case .vae(var config):
            if let architecture {
                guard let kind = VAEArchitecture(rawValue: architecture) else {
                    throw ValidationError("--architecture \(architecture): the vae takes dense or conv")
                }
                config.architecture = kind
            }
            if let layers {
                // Conv: only the latent width counts; a single number is enough.
                config.widths = config.architecture == .conv ? [layers.values.last!] : layers.values
            } else if config.architecture == .conv && config.widths.count > 1 {
                config.widths = [config.latentWidth]
            }
            if let filters { config.filters = filters.values }
            if let decoder {
                guard let kind = VAEDecoder(parsing: decoder) else {
                    throw ValidationError("--decoder \(decoder): expected bernoulli, gaussian[:VARIANCE] or gaussian-learned")
                }
                config.decoder = kind
            }
            if let beta { config.beta = beta }
            if let klWarmup { config.warmupSteps = klWarmup }
            if let freeBits { config.freeBits = freeBits }
            if let activation { config.activation = activation }
            if let initializer { config.initializer = initializer }
            if config.beta < 0 || config.warmupSteps < 0 || config.freeBits < 0 {
                throw ValidationError("--beta, --kl-warmup and --free-bits must be >= 0")
            }
            return .vae(config)
        case .aae(var config):
            if let layers { config.widths = layers.values }
            if let prior {
                guard let kind = LatentPrior(parsing: prior) else {
                    throw ValidationError("--prior \(prior): expected gaussian, mixture[:K] (K from 2 to 1000) or uniform")
                }
                config.prior = kind
            }
            if conditional { config.conditional = true }
            if let clusters { config.clusters = clusters }
            if let discriminator { config.discriminator = discriminator.values }
            if let loss { config.loss = loss }
            if let activation { config.activation = activation }
            if let initializer { config.initializer = initializer }
            if config.widths.first != 0, let problem = config.validationError() { throw ValidationError(problem) }
            return .aae(config)
        case .disentangle(var config):
            if let form { config.form = form }
            let formFlags: [(Bool, String, DisentanglingForm)] = [
                (layers != nil, "--layers", .split), (adversary != nil, "--adversary", .split),
                (adversaryWeight != nil, "--adversary-weight", .split), (adversaryWarmup != nil, "--adversary-warmup", .split),
                (adversaryLayers != nil, "--adversary-layers", .split), (hiddenChannels != nil, "--hidden-channels", .adain),
                (contentChannels != nil, "--content-channels", .adain), (styleWidth != nil, "--style-width", .adain),
                (kernel != nil, "--kernel", .adain), (decoderOnlyFrom != nil, "--decoder-only-from", .split),
            ]
            for (given, flag, owner) in formFlags where given && owner != config.form {
                throw ValidationError("\(flag) applies to --form \(owner.rawValue), not --form \(config.form.rawValue)")
            }
            if let hiddenChannels { config.channels = hiddenChannels }
            if let contentChannels { config.contentChannels = contentChannels }
            if let styleWidth { config.styleWidth = styleWidth }
            if let kernel { config.kernel = kernel }
            if config.form == .adain, let problem = [config.channels, config.contentChannels, config.styleWidth]
                .contains(where: { $0 <= 0 }) ? "--hidden-channels, --content-channels and --style-width must be positive"
                : config.kernel <= 0 || config.kernel % 2 == 0 ? "--kernel \(config.kernel): expected an odd positive kernel" : nil {
                throw ValidationError(problem)
            }
            if let layers { config.widths = layers.values }
            if let adversary { config.adversary = adversary }
            if let adversaryWeight { config.adversaryWeight = adversaryWeight }
            if let adversaryWarmup { config.adversaryWarmup = adversaryWarmup }
            if let decoderOnlyFrom {
                guard decoderOnlyFrom >= 0 else { throw ValidationError("--decoder-only-from \(decoderOnlyFrom): expected an epoch >= 1") }
                config.decoderOnlyFrom = decoderOnlyFrom
            }
            if let adversaryLayers {
                if adversaryLayers == "linear" {
                    config.adversaryWidths = []
                } else {
                    guard let widths = IntList(argument: adversaryLayers) else {
                        throw ValidationError("--adversary-layers \(adversaryLayers): expected positive widths or linear")
                    }
                    config.adversaryWidths = widths.values
                }
            }
            if let kl { config.kl = kl }
            if let loss {
                guard loss != .gaussianNLL else { throw ValidationError("--loss gaussian-nll: disentangle uses bce or mse") }
                config.loss = loss
            }
            if let activation { config.activation = activation }
            if let initializer { config.initializer = initializer }
            return .disentangle(config)
        case .rbm(var config):
            if let layers {
                guard layers.values.count == 2 else {
                    throw ValidationError("--layers \(layers): an RBM takes VISIBLE,HIDDEN (e.g. 784,1000)")
                }
                (config.visible, config.hidden) = (layers.values[0], layers.values[1])
            }
            if let hiddenUnits { config.hiddenUnits = hiddenUnits }
            if let cdSteps { config.cdSteps = cdSteps }
            if let weightCost { config.weightCost = weightCost }
            return .rbm(config)
        }
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
