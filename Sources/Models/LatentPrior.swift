// Priors p(z) over a code: what an adversarial autoencoder's discriminator takes as real codes and
// what `sample` decodes. Draws come from a SplitMix64 stream, so a row's draw depends only on
// its key (bit-identical at any shard count).

import Foundation
import Kernels

public enum LatentPrior: Sendable, Equatable, Codable {
    /// N(0, I).
    case gaussian
    /// K Gaussians whose means sit on a circle of radius `mixtureRadius` in the first two
    /// dimensions, each stretched along its radius (std `mixtureRadialSD`) and narrow across it
    /// (`mixtureTangentialSD`): the arms of Makhzani et al.'s figure 4. Further dimensions N(0, 1).
    case mixture(components: Int)
    /// Uniform on [-1, 1] per dimension.
    case uniform

    public static let mixtureRadius: Float = 2
    public static let mixtureRadialSD: Float = 0.5
    public static let mixtureTangentialSD: Float = 0.1

    /// Parses `gaussian`, `mixture[:K]` (default 10) or `uniform`.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":").map(String.init)
        switch (parts.first, parts.count) {
        case ("gaussian", 1): self = .gaussian
        case ("uniform", 1): self = .uniform
        case ("mixture", 1): self = .mixture(components: 10)
        case ("mixture", 2):
            guard let k = Int(parts[1]), k >= 2, k <= 1000 else { return nil }
            self = .mixture(components: k)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .gaussian: "gaussian"
        case .mixture(let k): "mixture:\(k)"
        case .uniform: "uniform"
        }
    }

    /// Components a label can choose (mixture), else 0.
    public var components: Int {
        if case .mixture(let k) = self { return k }
        return 0
    }

    /// Writes one draw of `width` values into `z`: from `component` of a mixture when it is in
    /// range (a label-conditioned prior), else from a component drawn from `rng`. `temperature`
    /// scales the spread around the component's mean (1: the prior itself).
    public func draw(into z: UnsafeMutablePointer<Float>, width: Int, rng: inout SplitMix64, component: Int = -1,
                     temperature: Float = 1) {
        switch self {
        case .gaussian:
            rng.fillGaussian(z, count: width, scale: temperature)
        case .uniform:
            for j in 0..<width { z[j] = temperature * (2 * rng.nextUniform() - 1) }
        case .mixture(let k):
            let c = component >= 0 && component < k ? component : Int(rng.next() % UInt64(k))
            rng.fillGaussian(z, count: width, scale: temperature)
            guard width >= 2 else {
                z[0] = Self.mixtureRadius * (Float(c) - Float(k - 1) / 2) + Self.mixtureRadialSD * z[0]
                return
            }
            let angle = 2 * Float.pi * Float(c) / Float(k)
            let radial = Self.mixtureRadius + Self.mixtureRadialSD * z[0]
            let across = Self.mixtureTangentialSD * z[1]
            z[0] = radial * cosf(angle) - across * sinf(angle)
            z[1] = radial * sinf(angle) + across * cosf(angle)
        }
    }
}
