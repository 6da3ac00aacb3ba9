// The denoiser's flags (fully convolutional, any image size).

import ArgumentParser
import Engine
import Models
import Training

struct DenoiserOptions: FamilyOptions {
    static let sharedFlags: Set<String> = ["--loss", "--activation", "--initializer"]

    @Option(parsing: .unconditional, help: "Resolution halvings of the encoder-decoder (0 = a plain stack at full resolution; default 2).")
    var depth: Int?

    @Option(parsing: .unconditional, help: "Filters at full resolution, doubled at each level down (default 32).")
    var width: Int?

    @Flag(help: "Predict the clean image instead of the noise (residual learning is the default).")
    var predictImage = false

    func validate() throws {
        if let depth, depth < 0 { throw ValidationError("--depth must be >= 0") }
        if let width, width <= 0 { throw ValidationError("--width must be positive") }
    }

    var givenFlags: [String] {
        flagsGiven([("--depth", depth != nil), ("--width", width != nil), ("--predict-image", predictImage)])
    }

    func apply(_ shared: SharedModelOptions, family: ModelFamily, to config: inout ConvDenoiserConfig) throws {
        if let depth { config.depth = depth }
        if let width { config.width = width }
        if predictImage { config.residual = false }
        if let loss = shared.loss { config.loss = loss }
        if let activation = shared.activation { config.activation = activation }
        if let initializer = shared.initializer { config.initializer = initializer }
        if let problem = config.validationError() { throw ValidationError(problem) }
    }
}
