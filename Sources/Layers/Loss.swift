// Reconstruction losses with their gradients, seeded with a caller-given scale (1 / global
// batch, times 1 / features for per-pixel means) so shard results simply add.
// BCE takes logits and uses the stable form max(z,0) - z*t + log(1 + e^-|z|) (CKernels loss.c).

import CKernels
import Foundation
import Kernels

public enum LossKind: String, Sendable, CaseIterable, Codable {
    /// Mean squared error; the objective is the per-pixel mean (nn.MSELoss(reduction='mean')).
    case mse
    /// Binary cross-entropy on logits, per-pixel mean (nn.BCEWithLogitsLoss(reduction='mean')).
    case bce
    /// Gaussian negative log-likelihood with a predicted log-variance per value: the output holds
    /// (mean, logVariance) halves; `0.5 * (log 2 pi + logVar + (t - mean)^2 / e^logVar)`.
    case gaussianNLL = "gaussian-nll"
    /// Absolute error, per-pixel mean (nn.L1Loss); its gradient is sign(o - t), 0 where equal.
    case l1
    /// Charbonnier's smooth L1, `sqrt((o - t)^2 + eps^2)` with eps = 1e-3, per-pixel mean (as
    /// in image restoration papers; the constant eps per value is kept in the objective).
    case charbonnier
}

/// Named loss parts of a step (sums over rows), fixed capacity so a step allocates nothing; the
/// model's `lossPartNames` say what each index holds.
public struct LossParts: Sendable, Equatable {
    public static let capacity = 8
    var values: (Double, Double, Double, Double, Double, Double, Double, Double) = (0, 0, 0, 0, 0, 0, 0, 0)

    public init() {}

    public subscript(index: Int) -> Double {
        get {
            switch index {
            case 0: values.0
            case 1: values.1
            case 2: values.2
            case 3: values.3
            case 4: values.4
            case 5: values.5
            case 6: values.6
            case 7: values.7
            default: preconditionFailure("loss part \(index) beyond capacity \(LossParts.capacity)")
            }
        }
        set {
            switch index {
            case 0: values.0 = newValue
            case 1: values.1 = newValue
            case 2: values.2 = newValue
            case 3: values.3 = newValue
            case 4: values.4 = newValue
            case 5: values.5 = newValue
            case 6: values.6 = newValue
            case 7: values.7 = newValue
            default: preconditionFailure("loss part \(index) beyond capacity \(LossParts.capacity)")
            }
        }
    }

    public static func == (a: LossParts, b: LossParts) -> Bool {
        (0..<capacity).allSatisfy { a[$0] == b[$0] }
    }

    public static func += (a: inout LossParts, b: LossParts) {
        a.values.0 += b.values.0
        a.values.1 += b.values.1
        a.values.2 += b.values.2
        a.values.3 += b.values.3
        a.values.4 += b.values.4
        a.values.5 += b.values.5
        a.values.6 += b.values.6
        a.values.7 += b.values.7
    }
}

public struct LossSums: Sendable, Equatable {
    /// Sum over the rows of the objective per row (sum over features).
    public var objective: Double = 0
    /// Sum over rows of squared error summed over features (of the reconstruction).
    public var squaredError: Double = 0
    /// Regularisation penalties (sparsity, contraction), already in per-batch units.
    public var penalty: Double = 0
    /// Sums over rows of the model's named loss parts (see `AutoencoderModel.lossPartNames`).
    public var parts = LossParts()

    public init(objective: Double = 0, squaredError: Double = 0, penalty: Double = 0) {
        self.objective = objective
        self.squaredError = squaredError
        self.penalty = penalty
    }

    public static func += (a: inout LossSums, b: LossSums) {
        a.objective += b.objective
        a.squaredError += b.squaredError
        a.penalty += b.penalty
        a.parts += b.parts
    }
}

public enum Loss {
    /// Output floats per target float.
    public static func outputsPerTarget(_ kind: LossKind) -> Int { kind == .gaussianNLL ? 2 : 1 }

    /// Adds `scale * d(sum of per-row losses)/d(output)` into `dOutput` (when given) and returns
    /// the sums. `output` is probabilities for MSE (after a sigmoid or identity layer), logits for
    /// BCE, (mean, logVariance) halves for Gaussian NLL.
    public static func evaluate(_ kind: LossKind, output: Matrix, target: Matrix, dOutput: Matrix?,
                                scale: Float) -> LossSums {
        var sums = LossSums()
        let d = target.cols
        for r in 0..<target.rows {
            let o = output.row(r), t = target.row(r)
            let g = dOutput?.row(r)
            var objective = 0.0, squared = 0.0
            switch kind {
            case .mse:
                for i in 0..<d {
                    let e = o[i] - t[i]
                    squared += Double(e * e)
                    g?[i] += scale * 2 * e
                }
                objective = squared
            case .bce:
                // Vectorised in C (one exponential serves the stable loss and the sigmoid).
                ae_bce_logits(o, t, g, d, scale, &objective, &squared)
            case .gaussianNLL:
                let halfLog2Pi = 0.5 * log(2 * Double.pi)
                for i in 0..<d {
                    let mean = o[i], logVar = o[d + i]
                    let e = t[i] - mean
                    let inverse = expf(-logVar)
                    objective += halfLog2Pi + Double(0.5 * (logVar + e * e * inverse))
                    squared += Double(e * e)
                    if let g {
                        g[i] += scale * (-e * inverse)
                        g[d + i] += scale * 0.5 * (1 - e * e * inverse)
                    }
                }
            case .l1:
                for i in 0..<d {
                    let e = o[i] - t[i]
                    squared += Double(e * e)
                    objective += Double(abs(e))
                    g?[i] += e > 0 ? scale : (e < 0 ? -scale : 0)
                }
            case .charbonnier:
                let epsilonSquared: Float = 1e-6
                for i in 0..<d {
                    let e = o[i] - t[i]
                    let root = (e * e + epsilonSquared).squareRoot()
                    squared += Double(e * e)
                    objective += Double(root)
                    g?[i] += scale * e / root
                }
            }
            sums.objective += objective
            sums.squaredError += squared
        }
        return sums
    }
}
