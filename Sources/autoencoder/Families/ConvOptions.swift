// The conv family takes only shared flags (--filters, --architecture, --loss, ...).

import ArgumentParser
import Engine
import Models
import Training

struct ConvOptions: FamilyOptions {
    static let sharedFlags: Set<String> = ["--filters", "--architecture", "--loss", "--activation", "--initializer"]

    var givenFlags: [String] { [] }

    func apply(_ shared: SharedModelOptions, family: ModelFamily, to config: inout ConvAutoencoderConfig) throws {
        if let filters = shared.filters { config.filters = filters.values }
        if let architecture = shared.architecture {
            guard let kind = ConvArchitecture(rawValue: architecture) else {
                throw ValidationError("--architecture \(architecture): the conv family takes pooled or strided")
            }
            config.architecture = kind
        }
        if let loss = shared.loss {
            guard loss == .bce || loss == .mse else {
                throw ValidationError("--loss \(loss.rawValue): the conv family uses bce or mse")
            }
            config.loss = loss
        }
        if let activation = shared.activation { config.activation = activation }
        if let initializer = shared.initializer { config.initializer = initializer }
    }
}
