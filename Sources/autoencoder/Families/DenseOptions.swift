// The dense families' flags (dense, deep, sparse, denoising, dropout, contractive).

import ArgumentParser
import Engine
import Layers
import Models
import Training

struct DenseOptions: FamilyOptions {
    static let sharedFlags: Set<String> = ["--layers", "--activation", "--loss", "--initializer"]

    @Option(help: ArgumentHelp("Per-layer hidden activations, input side first (the decoder mirrors them).",
                               valueName: "a,b,..."))
    var activations: ActivationList?

    @Option(help: ArgumentHelp("Code activation (default: identity, i.e. a linear code; sigmoid for sparse "
        + "and contractive)."))
    var codeActivation: ActivationKind?

    @Option(help: "Output activation: sigmoid or identity (default sigmoid).")
    var outputActivation: ActivationKind?

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

    func validate() throws {
        try checkOption(contractive, "--contractive", { $0 >= 0 }, ">= 0")
        try checkOption(dropout, "--dropout", { $0 >= 0 && $0 < 1 }, "in [0, 1)")
        try checkOption(inputDropout, "--input-dropout", { $0 >= 0 && $0 < 1 }, "in [0, 1)")
    }

    var givenFlags: [String] {
        flagsGiven([
            ("--activations", activations != nil), ("--code-activation", codeActivation != nil),
            ("--output-activation", outputActivation != nil), ("--tied", tied), ("--sparsity", sparsity != nil),
            ("--contractive", contractive != nil), ("--dropout", dropout != nil),
            ("--dropout-layers", dropoutLayers != nil), ("--input-dropout", inputDropout != nil),
        ])
    }

    func apply(_ shared: SharedModelOptions, family: ModelFamily, to config: inout DenseAutoencoderConfig) throws {
        if let layers = shared.layers { config.widths = layers.values }
        if let activation = shared.activation { config.hiddenActivation = activation }
        if let activations { config.hiddenActivations = activations.values }
        if let outputActivation { config.outputActivation = outputActivation }
        if let loss = shared.loss { config.loss = loss }
        if let initializer = shared.initializer { config.initializer = initializer }
        if tied { config.tiedWeights = true }
        if let inputDropout { config.inputDropout = inputDropout }
        if let codeActivation { config.codeActivation = codeActivation }
        if let sparsity {
            guard let parsed = Sparsity(parsing: sparsity) else {
                throw ValidationError("--sparsity \(sparsity): expected l1:WEIGHT or kl:RHO:WEIGHT[:MOMENTUM]")
            }
            config.sparsity = parsed
        }
        if let contractive { config.contractive = contractive }
        if let dropout { config.dropout = dropout }
        if let dropoutLayers { config.dropoutLayers = dropoutLayers.values }
    }
}
