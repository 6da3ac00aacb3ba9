// The restricted Boltzmann machine's flags.

import ArgumentParser
import Engine
import Models
import Training

struct RBMOptions: FamilyOptions {
    static let sharedFlags: Set<String> = ["--layers"]

    @Option(help: ArgumentHelp("Hidden units, binary (default) or gaussian (linear with unit-variance noise, "
        + "as the top layer of Hinton and Salakhutdinov's deep autoencoder).", valueName: "kind"))
    var hiddenUnits: HiddenUnits?

    @Option(parsing: .unconditional, help: ArgumentHelp("Gibbs steps of contrastive divergence (default 1).",
                                                        valueName: "k"))
    var cdSteps: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("L2 cost on the weights (default 0.0002).", valueName: "cost"))
    var weightCost: Float?

    func validate() throws {
        try checkOption(weightCost, "--weight-cost", { $0 >= 0 }, ">= 0")
        if let cdSteps, cdSteps < 1 { throw ValidationError("--cd-steps must be at least 1, got \(cdSteps)") }
    }

    var givenFlags: [String] {
        flagsGiven([("--hidden-units", hiddenUnits != nil), ("--cd-steps", cdSteps != nil),
                    ("--weight-cost", weightCost != nil)])
    }

    func apply(_ shared: SharedModelOptions, family: ModelFamily, to config: inout RBMConfig) throws {
        if let layers = shared.layers {
            guard layers.values.count == 2 else {
                throw ValidationError("--layers \(layers): an RBM takes VISIBLE,HIDDEN (e.g. 784,1000)")
            }
            (config.visible, config.hidden) = (layers.values[0], layers.values[1])
        }
        if let hiddenUnits { config.hiddenUnits = hiddenUnits }
        if let cdSteps { config.cdSteps = cdSteps }
        if let weightCost { config.weightCost = weightCost }
    }
}
