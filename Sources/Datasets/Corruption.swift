// Input corruption for denoising autoencoders (Vincent et al. 2008/2010): additive Gaussian,
// salt-and-pepper and masking noise, drawn from a counter-based RNG keyed by
// (seed, epoch, sample index, step) so noise is fresh every epoch yet independent of batching.

import Files
import Foundation
import Kernels

/// A sequence of noise steps applied in order, optionally clipped to [0, 1].
///
/// Spec syntax: steps joined by `+`, e.g. `gaussian:0.3`, `gaussian:25/255`, `salt-pepper:0.1`,
/// `masking:0.25`, `masking:0.2+gaussian:0.1+clip`; `none` for no corruption. `gaussian:5/255..55/255`
/// draws each sample's sigma uniformly from that range (one model for unknown noise levels).
public struct Corruption: Sendable, Equatable, CustomStringConvertible {
    public enum Step: Sendable, Equatable {
        /// Adds N(0, std^2) to every value.
        case gaussian(std: Float)
        /// Adds N(0, s^2) with s uniform in [low, high], drawn per sample.
        case gaussianRange(low: Float, high: Float)
        /// Sets each value to 0 or 1 (even odds) with probability `fraction`.
        case saltAndPepper(fraction: Float)
        /// Sets each value to 0 with probability `fraction`.
        case masking(fraction: Float)
    }

    public var steps: [Step]
    public var clip: Bool

    public init(steps: [Step] = [], clip: Bool = false) {
        self.steps = steps
        self.clip = clip
    }

    public static let none = Corruption()
    public var isNone: Bool { steps.isEmpty && !clip }

    /// Parses a spec such as `gaussian:0.3` or `masking:0.2+gaussian:25/255+clip`.
    /// - Throws: `InputError` of kind `.badOption` saying what is wrong with the spec.
    public init(parsing spec: String) throws {
        self.init()
        let trimmed = spec.trimmingCharacters(in: .whitespaces)
        if trimmed.lowercased() == "none" || trimmed.isEmpty { return }
        func fail(_ why: String) -> InputError {
            InputError(.badOption, path: "", "noise spec '\(spec)': \(why)")
        }
        for part in trimmed.split(separator: "+", omittingEmptySubsequences: false) {
            let fields = part.split(separator: ":", maxSplits: 1).map(String.init)
            let kind = fields.first?.lowercased() ?? ""
            if kind == "clip" {
                guard fields.count == 1 else { throw fail("'clip' takes no value") }
                clip = true
                continue
            }
            guard ["gaussian", "salt-pepper", "masking"].contains(kind) else {
                throw fail("unknown kind '\(kind)' (expected gaussian, salt-pepper, masking or clip)")
            }
            if kind == "gaussian", fields.count == 2, fields[1].contains("..") {
                let bounds = fields[1].components(separatedBy: "..")
                guard bounds.count == 2, let low = Corruption.parseNumber(bounds[0]),
                      let high = Corruption.parseNumber(bounds[1]), low >= 0, high >= low else {
                    throw fail("a sigma range is LOW..HIGH with 0 <= LOW <= HIGH, e.g. gaussian:5/255..55/255")
                }
                steps.append(.gaussianRange(low: low, high: high))
                continue
            }
            guard fields.count == 2, let value = Corruption.parseNumber(fields[1]) else {
                throw fail("'\(kind)' needs a number, e.g. \(kind):0.1 or \(kind):25/255")
            }
            switch kind {
            case "gaussian":
                guard value >= 0 else { throw fail("gaussian sigma must be >= 0, got \(value)") }
                steps.append(.gaussian(std: value))
            default:
                guard (0...1).contains(value) else {
                    throw fail("\(kind) fraction must be in [0, 1], got \(value)")
                }
                steps.append(kind == "masking" ? .masking(fraction: value)
                                               : .saltAndPepper(fraction: value))
            }
        }
    }

    /// A level as it was most likely written: a short decimal (0.2) as is, a long one that is a
    /// whole number of 8-bit steps as `25/255` (exactly the float `parseNumber` makes of that, so
    /// the text reads back the same), else the float.
    static func format(_ value: Float) -> String {
        let decimal = "\(value)", steps = (value * 255).rounded()
        guard decimal.count > 6, steps >= 1, steps <= 255, steps / 255 == value else { return decimal }
        return "\(Int(steps))/255"
    }

    /// `0.3`, `25/255` or `1e-2`.
    static func parseNumber(_ text: String) -> Float? {
        let pieces = text.split(separator: "/", omittingEmptySubsequences: false)
        switch pieces.count {
        case 1:
            return Float(pieces[0]).flatMap { $0.isFinite ? $0 : nil }
        case 2:
            guard let a = Float(pieces[0]), let b = Float(pieces[1]), b != 0 else { return nil }
            let value = a / b
            return value.isFinite ? value : nil
        default:
            return nil
        }
    }

    public var description: String {
        if isNone { return "none" }
        var parts = steps.map { step -> String in
            switch step {
            case .gaussian(let std): "gaussian:\(Self.format(std))"
            case .gaussianRange(let low, let high): "gaussian:\(Self.format(low))..\(Self.format(high))"
            case .saltAndPepper(let fraction): "salt-pepper:\(fraction)"
            case .masking(let fraction): "masking:\(fraction)"
            }
        }
        if clip { parts.append("clip") }
        return parts.joined(separator: "+")
    }

    /// Corrupts `count` values in place. The noise depends only on
    /// (`seed`, `epoch`, `sampleIndex`) and the step position, never on batch or thread.
    public func apply(to row: UnsafeMutablePointer<Float>, count: Int, seed: UInt64, epoch: Int,
                      sampleIndex: Int) {
        for position in 0..<steps.count {
            let step = steps[position]
            var rng = SplitMix64(key: seed, UInt64(epoch), UInt64(sampleIndex),
                                 RandomPurpose.noise &+ UInt64(position))
            var drawn: Float?
            if case .gaussianRange(let low, let high) = step { drawn = low + (high - low) * rng.nextUniform() }
            switch step {
            case .gaussian, .gaussianRange:
                let std: Float
                if case .gaussian(let fixed) = step { std = fixed } else { std = drawn! }
                var i = 0
                while i + 1 < count {
                    let (a, b) = rng.nextGaussianPair()
                    row[i] += std * a
                    row[i + 1] += std * b
                    i += 2
                }
                if i < count { row[i] += std * rng.nextGaussianPair().0 }
            case .saltAndPepper(let fraction):
                for i in 0..<count {
                    let u = rng.nextUniform()
                    if u < fraction { row[i] = u < fraction / 2 ? 0 : 1 }
                }
            case .masking(let fraction):
                for i in 0..<count where rng.nextUniform() < fraction { row[i] = 0 }
            }
        }
        if clip {
            for i in 0..<count { row[i] = min(max(row[i], 0), 1) }
        }
    }
}

/// Stream identifiers so noise, patch positions and epoch order never share random numbers.
public enum RandomPurpose {
    public static let order: UInt64 = 0x6F72_6465_7200_0000
    public static let patch: UInt64 = 0x7061_7463_6800_0000
    public static let noise: UInt64 = 0x6E6F_6973_6500_0000
    public static let binarize: UInt64 = 0x6269_6E61_7200_0000
    public static let augment: UInt64 = 0x6175_676D_6500_0000
    public static let window: UInt64 = 0x7769_6E64_6F77_0000
}
