// Each family's own model flags are one option group, in the family's own file, that applies
// itself to the family's config; `ModelOptions.families` lists the groups (one line per family).

import ArgumentParser
import Engine
import Training

/// A family's own model flags, applied to its config.
protocol FamilyOptions: ParsableArguments {
    associatedtype Specification: ModelSpecification
    /// The shared model flags (`ModelOptions.shared`) this family takes.
    static var sharedFlags: Set<String> { get }
    /// The flags of this group that were given, in the order `--help` lists them.
    var givenFlags: [String] { get }
    /// Applies this group's flags and the shared ones the family takes to `config`.
    func apply(_ shared: SharedModelOptions, family: ModelFamily, to config: inout Specification) throws
}

extension FamilyOptions {
    /// True when `model` is this group's family.
    func owns(_ model: ModelSpec) -> Bool { model.as(Specification.self) != nil }

    /// Applies the flags to `model` when it is this group's family.
    func applyIfOwner(_ shared: SharedModelOptions, family: ModelFamily, to model: inout ModelSpec) throws {
        guard var config = model.as(Specification.self) else { return }
        try apply(shared, family: family, to: &config)
        model = ModelSpec(config)
    }
}

/// The given flags among `candidates` (flag, given).
func flagsGiven(_ candidates: [(String, Bool)]) -> [String] { candidates.filter(\.1).map(\.0) }

/// Refuses a given number outside its range: "FLAG must be WHAT, got VALUE".
func checkOption(_ value: Float?, _ flag: String, _ valid: (Float) -> Bool, _ what: String) throws {
    if let value, !(value.isFinite && valid(value)) { throw ValidationError("\(flag) must be \(what), got \(value)") }
}
