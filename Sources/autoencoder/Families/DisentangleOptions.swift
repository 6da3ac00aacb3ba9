// The feature-disentangling autoencoder's flags (--form split or adain).

import ArgumentParser
import Engine
import Models
import Training

struct DisentangleOptions: FamilyOptions {
    static let sharedFlags: Set<String> = ["--layers", "--loss", "--activation", "--initializer"]

    @Option(help: ArgumentHelp("split (one encoder, the label one-hot at the decoder, an adversary on the "
        + "free code; default, needs labels) or adain (content and style encoders, instance normalisation and AdaIN "
        + "after Chou et al. 2019; trains without labels).", valueName: "form"))
    var form: DisentanglingForm?

    @Option(parsing: .unconditional, help: ArgumentHelp("--form adain: channels of the convolution blocks "
        + "(default 32).", valueName: "n"))
    var hiddenChannels: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("--form adain: channels of the content code at each "
        + "position (default 4; images have one position per 4x4 pixels, sequences one per step).", valueName: "n"))
    var contentChannels: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("--form adain: width of the style vector (default 16).",
                                                        valueName: "n"))
    var styleWidth: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("--form adain on sequences: kernel of the 1-D "
        + "convolutions over time (odd, default 5).", valueName: "k"))
    var kernel: Int?

    @Option(help: ArgumentHelp("How the encoder fights the adversary on the free code: alternating "
        + "(an adversary phase, then the confusion loss; default) or reversal (gradient reversal, one phase).",
        valueName: "kind"))
    var adversary: AdversaryKind?

    @Option(parsing: .unconditional, help: ArgumentHelp("Lambda, the weight of the adversarial term "
        + "in the autoencoder's objective (default 0.05).", valueName: "lambda"))
    var adversaryWeight: Float?

    @Option(parsing: .unconditional, help: ArgumentHelp("Raise the adversary weight linearly from 0 "
        + "over this many steps (default 0: none).", valueName: "steps"))
    var adversaryWarmup: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("From this epoch on (counting from 1) train the "
        + "decoder alone, on reconstruction from the free code and the label; the encoder and the adversary "
        + "stay as they are (default: never).", valueName: "epoch"))
    var decoderOnlyFrom: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Weight of the swap critic: a classifier of the label, "
        + "trained on real rows, scores each swap (split form, images: a free code decoded with another label; "
        + "AdaIN form: a conversion to another row's label), and the autoencoder learns to make it see the new "
        + "label (default 0: off).", valueName: "w"))
    var swapWeight: Float?

    @Option(parsing: .unconditional, help: ArgumentHelp("Weight of the scatter penalty (split form): the free "
        + "code's mean for each label over the batch is pulled to the batch's mean, so that no linear read-out "
        + "tells the labels apart by them (default 0: off).", valueName: "w"))
    var scatterWeight: Float?

    @Option(help: ArgumentHelp("Hidden widths of the adversary (default 256), or linear (no hidden layer).",
                               valueName: "w1,...|linear"))
    var adversaryLayers: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("The weight of the free code's KL divergence "
        + "from N(0, I), the code being variational (default 0.25; 0: a deterministic code).", valueName: "beta"))
    var kl: Float?

    func validate() throws {
        try checkOption(adversaryWeight, "--adversary-weight", { $0 >= 0 }, ">= 0")
        try checkOption(kl, "--kl", { $0 >= 0 }, ">= 0")
        try checkOption(swapWeight, "--swap-weight", { $0 >= 0 }, ">= 0")
        try checkOption(scatterWeight, "--scatter-weight", { $0 >= 0 }, ">= 0")
        if let adversaryWarmup, adversaryWarmup < 0 {
            throw ValidationError("--adversary-warmup must be >= 0, got \(adversaryWarmup)")
        }
    }

    var givenFlags: [String] {
        flagsGiven([("--adversary", adversary != nil), ("--adversary-weight", adversaryWeight != nil),
                    ("--adversary-warmup", adversaryWarmup != nil), ("--adversary-layers", adversaryLayers != nil),
                    ("--kl", kl != nil), ("--decoder-only-from", decoderOnlyFrom != nil), ("--form", form != nil),
                    ("--hidden-channels", hiddenChannels != nil), ("--content-channels", contentChannels != nil),
                    ("--style-width", styleWidth != nil), ("--kernel", kernel != nil),
                    ("--swap-weight", swapWeight != nil), ("--scatter-weight", scatterWeight != nil)])
    }

    func apply(_ shared: SharedModelOptions, family: ModelFamily, to config: inout DisentanglingAutoencoderConfig) throws {
        if let form { config.form = form }
        let formFlags: [(Bool, String, DisentanglingForm)] = [
            (shared.layers != nil, "--layers", .split), (adversary != nil, "--adversary", .split),
            (adversaryWeight != nil, "--adversary-weight", .split), (adversaryWarmup != nil, "--adversary-warmup", .split),
            (adversaryLayers != nil, "--adversary-layers", .split), (hiddenChannels != nil, "--hidden-channels", .adain),
            (contentChannels != nil, "--content-channels", .adain), (styleWidth != nil, "--style-width", .adain),
            (kernel != nil, "--kernel", .adain), (decoderOnlyFrom != nil, "--decoder-only-from", .split),
            (scatterWeight != nil, "--scatter-weight", .split),
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
        if let layers = shared.layers { config.widths = layers.values }
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
        if let swapWeight { config.swapWeight = swapWeight }
        if let scatterWeight { config.scatterWeight = scatterWeight }
        if let loss = shared.loss {
            guard loss != .gaussianNLL else { throw ValidationError("--loss gaussian-nll: disentangle uses bce or mse") }
            config.loss = loss
        }
        if let activation = shared.activation { config.activation = activation }
        if let initializer = shared.initializer { config.initializer = initializer }
    }
}
