// The written forms of optimizer settings (`cosine:0.1`, `0.5:5`, `discriminator:lr=2e-4`), parsed
// here so that the command line, config tools and tests read them one way. Each parser throws a
// `TrainingError` saying what form was expected; callers add the flag's name.

extension Schedule {
    /// A schedule from `constant`, `step:EVERY:GAMMA` (multiply by GAMMA every EVERY steps) or
    /// `cosine[:MIN]` (decay to MIN times the base rate over the run). Warm-up is set apart.
    public init(parsing spec: String) throws {
        self.init()
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "constant" where parts.count == 1:
            kind = .constant
        case "step" where parts.count == 3:
            guard let every = Int(parts[1]), let gamma = Float(parts[2]), every > 0, gamma > 0, gamma.isFinite else {
                throw TrainingError("expected step:EVERY:GAMMA (EVERY steps > 0, GAMMA > 0)")
            }
            kind = .step
            self.every = every
            self.gamma = gamma
        case "cosine" where parts.count <= 2:
            kind = .cosine
            if parts.count == 2 {
                guard let factor = Float(parts[1]), factor >= 0, factor <= 1 else {
                    throw TrainingError("expected cosine:MIN with MIN a number in 0...1")
                }
                minFactor = factor
            }
        default:
            throw TrainingError("expected constant, step:EVERY:GAMMA or cosine[:MIN]")
        }
    }
}

/// SGD's momentum for the first epochs, written `M:EPOCHS` (an RBM's `0.5:5`; `0:0` for none).
public struct InitialMomentum: Sendable, Equatable {
    public var momentum: Float
    public var epochs: Int

    public init(parsing spec: String) throws {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, let m = Float(parts[0]), let epochs = Int(parts[1]), m >= 0, m < 1, epochs >= 0 else {
            throw TrainingError("expected M:EPOCHS with M in [0, 1) and EPOCHS >= 0")
        }
        momentum = m
        self.epochs = epochs
    }
}

/// Settings of one phase's optimizer (of a multi-phase model), written `PHASE:key=value,...` with
/// keys optimizer, lr, momentum, beta1, beta2, weight-decay, clip-norm.
public struct PhaseOptimizerSetting: Sendable, Equatable {
    /// The keys that take a number.
    public enum NumberKey: String, Sendable, CaseIterable {
        case lr, momentum, beta1, beta2, weightDecay = "weight-decay", clipNorm = "clip-norm"
    }

    public enum Assignment: Sendable, Equatable {
        case optimizer(OptimizerKind)
        case number(NumberKey, Float)
    }

    public static let keys = ["optimizer"] + NumberKey.allCases.map(\.rawValue)

    public var phase: String
    /// The assignments in the order written (a later one wins).
    public var assignments: [Assignment]

    public init(parsing spec: String) throws {
        let usage = TrainingError("expected PHASE:key=value,... (keys \(Self.keys.joined(separator: ", ")))")
        guard let colon = spec.firstIndex(of: ":"), colon != spec.startIndex else { throw usage }
        phase = String(spec[..<colon])
        assignments = []
        for pair in spec[spec.index(after: colon)...].split(separator: ",", omittingEmptySubsequences: false) {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw usage }
            if kv[0] == "optimizer", let kind = OptimizerKind(rawValue: kv[1]) {
                assignments.append(.optimizer(kind))
            } else if let key = NumberKey(rawValue: kv[0]), let number = Float(kv[1]) {
                assignments.append(.number(key, number))
            } else {
                throw usage
            }
        }
        if assignments.isEmpty { throw usage }
    }

    /// `config` with these settings applied.
    public func apply(to config: inout OptimizerConfig) {
        for assignment in assignments {
            switch assignment {
            case .optimizer(let kind): config.kind = kind
            case .number(.lr, let v): config.learningRate = v
            case .number(.momentum, let v): config.momentum = v
            case .number(.beta1, let v): config.beta1 = v
            case .number(.beta2, let v): config.beta2 = v
            case .number(.weightDecay, let v): config.weightDecay = v
            case .number(.clipNorm, let v): config.clipNorm = v
            }
        }
    }
}

extension OptimizerConfig {
    /// Sets SGD's momentum of the first epochs (none when `initial.epochs` is 0).
    public mutating func setInitialMomentum(_ initial: InitialMomentum) {
        initialMomentum = initial.epochs > 0 ? initial.momentum : nil
        initialMomentumEpochs = initial.epochs > 0 ? initial.epochs : nil
    }

    /// Per-phase optimizers from `settings`, each phase starting from `base` (settings of the same
    /// phase accumulate in order).
    public static func phases(_ settings: [PhaseOptimizerSetting], base: OptimizerConfig) -> [String: OptimizerConfig] {
        var result: [String: OptimizerConfig] = [:]
        for setting in settings {
            var config = result[setting.phase] ?? base
            setting.apply(to: &config)
            result[setting.phase] = config
        }
        return result
    }
}
