// The variational autoencoder's flags.

import ArgumentParser
import Engine
import Models
import Training

struct VAEOptions: FamilyOptions {
    static let sharedFlags: Set<String> = ["--architecture", "--layers", "--filters", "--activation", "--initializer"]

    @Option(help: ArgumentHelp("The likelihood p(x|z): bernoulli (BCE on logits, default), gaussian[:VARIANCE] "
        + "(fixed variance, default 1) or gaussian-learned (a log-variance per value).", valueName: "kind"))
    var decoder: String?

    @Option(parsing: .unconditional, help: "Weight of the KL term (beta-VAE; 1 is the ELBO).")
    var beta: Float?

    @Option(parsing: .unconditional, help: ArgumentHelp("Raise the KL weight linearly from 0 to beta over this many steps.",
                                                        valueName: "steps"))
    var klWarmup: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Free bits, nats per latent dimension whose batch-mean KL is not penalised.",
                                                        valueName: "nats"))
    var freeBits: Float?

    func validate() throws {
        try checkOption(beta, "--beta", { $0 >= 0 }, ">= 0")
        try checkOption(freeBits, "--free-bits", { $0 >= 0 }, ">= 0")
        if let klWarmup, klWarmup < 0 { throw ValidationError("--kl-warmup must be >= 0, got \(klWarmup)") }
    }

    var givenFlags: [String] {
        flagsGiven([("--decoder", decoder != nil), ("--beta", beta != nil), ("--kl-warmup", klWarmup != nil),
                    ("--free-bits", freeBits != nil)])
    }

    func apply(_ shared: SharedModelOptions, family: ModelFamily, to config: inout VariationalAutoencoderConfig) throws {
        if let architecture = shared.architecture {
            guard let kind = VAEArchitecture(rawValue: architecture) else {
                throw ValidationError("--architecture \(architecture): the vae takes dense or conv")
            }
            config.architecture = kind
        }
        if let layers = shared.layers {
            // Conv: only the latent width counts; a single number is enough.
            config.widths = config.architecture == .conv ? [layers.values.last!] : layers.values
        } else if config.architecture == .conv && config.widths.count > 1 {
            config.widths = [config.latentWidth]
        }
        if let filters = shared.filters { config.filters = filters.values }
        if let decoder {
            guard let kind = VAEDecoder(parsing: decoder) else {
                throw ValidationError("--decoder \(decoder): expected bernoulli, gaussian[:VARIANCE] or gaussian-learned")
            }
            config.decoder = kind
        }
        if let beta { config.beta = beta }
        if let klWarmup { config.warmupSteps = klWarmup }
        if let freeBits { config.freeBits = freeBits }
        if let activation = shared.activation { config.activation = activation }
        if let initializer = shared.initializer { config.initializer = initializer }
        if config.beta < 0 || config.warmupSteps < 0 || config.freeBits < 0 {
            throw ValidationError("--beta, --kl-warmup and --free-bits must be >= 0")
        }
    }
}
