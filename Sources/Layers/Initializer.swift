// Seeded weight initialisers. `pytorchDefault` is nn.Linear's default (kaiming_uniform with
// a = sqrt(5), i.e. U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for weights and biases), which the
// reference models use; He and Xavier (Glorot) as in He et al. 2015 and Glorot & Bengio 2010.

import Foundation
import Kernels

public enum Initializer: String, Sendable, CaseIterable, Codable {
    case pytorchDefault = "default"
    case heUniform = "he-uniform"
    case heNormal = "he-normal"
    case xavierUniform = "xavier-uniform"
    case xavierNormal = "xavier-normal"

    /// Fills a weight of `count` values with fan-in/fan-out `fanIn`/`fanOut`.
    public func fillWeight(_ p: UnsafeMutablePointer<Float>, count: Int, fanIn: Int, fanOut: Int,
                           rng: inout SplitMix64) {
        switch self {
        case .pytorchDefault: uniform(p, count, bound: 1 / Float(fanIn).squareRoot(), &rng)
        case .heUniform: uniform(p, count, bound: (6 / Float(fanIn)).squareRoot(), &rng)
        case .heNormal: rng.fillGaussian(p, count: count, scale: (2 / Float(fanIn)).squareRoot())
        case .xavierUniform: uniform(p, count, bound: (6 / Float(fanIn + fanOut)).squareRoot(), &rng)
        case .xavierNormal: rng.fillGaussian(p, count: count, scale: (2 / Float(fanIn + fanOut)).squareRoot())
        }
    }

    /// Biases: PyTorch's U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for the default, zero otherwise.
    public func fillBias(_ p: UnsafeMutablePointer<Float>, count: Int, fanIn: Int, rng: inout SplitMix64) {
        if self == .pytorchDefault {
            uniform(p, count, bound: 1 / Float(fanIn).squareRoot(), &rng)
        } else {
            p.update(repeating: 0, count: count)
        }
    }

    func uniform(_ p: UnsafeMutablePointer<Float>, _ count: Int, bound: Float, _ rng: inout SplitMix64) {
        for i in 0..<count { p[i] = (2 * rng.nextUniform() - 1) * bound }
    }
}
