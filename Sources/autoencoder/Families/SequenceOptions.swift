// The recurrent families' flags (lstm, gru).

import ArgumentParser
import Engine
import Layers
import Models
import Training

struct SequenceOptions: FamilyOptions {
    static let sharedFlags: Set<String> = ["--layers"]

    @Option(parsing: .unconditional, help: "Hidden units per layer (default 128).")
    var hidden: Int?

    @Option(parsing: .unconditional, help: "Width of a linear bottleneck after the encoder (0: the code is the final hidden state).")
    var code: Int?

    @Flag(help: "Bidirectional encoder (the code holds both directions' final states).")
    var bidirectional = false

    @Option(help: ArgumentHelp("Decoder input: code (the code at every step) or previous (the previous "
        + "step's value, initial state from the code)."))
    var decoderInput: SequenceDecoderInput?

    @Option(parsing: .unconditional, help: "With --decoder-input previous: probability of feeding the true previous value in training.")
    var teacherForcing: Float?

    @Flag(help: "Reconstruct the sequence in reverse order.")
    var reverse = false

    func validate() throws {
        try checkOption(teacherForcing, "--teacher-forcing", { $0 >= 0 && $0 <= 1 }, "in [0, 1]")
        if let hidden, hidden <= 0 { throw ValidationError("--hidden must be positive") }
        if let code, code < 0 { throw ValidationError("--code must be >= 0") }
    }

    var givenFlags: [String] {
        flagsGiven([("--hidden", hidden != nil), ("--code", code != nil), ("--bidirectional", bidirectional),
                    ("--decoder-input", decoderInput != nil), ("--teacher-forcing", teacherForcing != nil),
                    ("--reverse", reverse)])
    }

    func apply(_ shared: SharedModelOptions, family: ModelFamily, to config: inout SequenceAutoencoderConfig) throws {
        config.cell = family == .gru ? .gru : .lstm
        if let layers = shared.layers {
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
    }
}
