// The adversarial autoencoder's flags.

import ArgumentParser
import Engine
import Models
import Training

struct AAEOptions: FamilyOptions {
    static let sharedFlags: Set<String> = ["--layers", "--loss", "--activation", "--initializer"]

    @Option(help: ArgumentHelp("The prior the codes are matched to: gaussian (N(0, I), default), mixture[:K] "
        + "(K Gaussians on a circle in the first two dimensions, default 10) or uniform (on [-1, 1]).", valueName: "kind"))
    var prior: String?

    @Flag(help: "Label-conditioned prior (the label picks the mixture component; the discriminator sees it one-hot).")
    var conditional = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Unsupervised clustering, a softmax head of K clusters next to the style "
        + "code (the last --layers width), each with its own discriminator.", valueName: "K"))
    var clusters: Int?

    @Option(help: ArgumentHelp("Hidden widths of the discriminator (default 500,500).", valueName: "w1,..."))
    var discriminator: IntList?

    @Option(help: ArgumentHelp("Move each training image by up to N pixels in each direction (a fresh offset per "
        + "image and epoch) before the encoder reads it.", valueName: "N"))
    var shift: Int?

    @Option(help: ArgumentHelp("Turn each training image by up to DEG degrees either way about its centre (a fresh "
        + "angle per image and epoch; bilinear), with --shift's move.", valueName: "DEG"))
    var rotate: Float?

    @Option(help: ArgumentHelp("--clusters: weight of the agreement between the clusters of two shifted views of "
        + "each image (needs --shift or --rotate; e.g. 0.1).", valueName: "W"))
    var consistency: Float?

    @Option(help: ArgumentHelp("--clusters: weight of confident, balanced assignments (mean entropy of q(y|x) "
        + "minus the entropy of its mean over each shard's rows; e.g. 0.02).", valueName: "W"))
    var balance: Float?

    var givenFlags: [String] {
        flagsGiven([("--prior", prior != nil), ("--conditional", conditional), ("--clusters", clusters != nil),
                    ("--discriminator", discriminator != nil), ("--shift", shift != nil),
                    ("--rotate", rotate != nil), ("--consistency", consistency != nil), ("--balance", balance != nil)])
    }

    func apply(_ shared: SharedModelOptions, family: ModelFamily, to config: inout AdversarialAutoencoderConfig) throws {
        if let layers = shared.layers { config.widths = layers.values }
        if let prior {
            guard let kind = LatentPrior(parsing: prior) else {
                throw ValidationError("--prior \(prior): expected gaussian, mixture[:K] (K from 2 to 1000) or uniform")
            }
            config.prior = kind
        }
        if conditional { config.conditional = true }
        if let clusters { config.clusters = clusters }
        if let discriminator { config.discriminator = discriminator.values }
        if let shift { config.shift = shift }
        if let rotate { config.rotate = rotate }
        if let consistency { config.consistency = consistency }
        if let balance { config.balance = balance }
        if let loss = shared.loss { config.loss = loss }
        if let activation = shared.activation { config.activation = activation }
        if let initializer = shared.initializer { config.initializer = initializer }
        if config.widths.first != 0, let problem = config.validationError() { throw ValidationError(problem) }
    }
}
