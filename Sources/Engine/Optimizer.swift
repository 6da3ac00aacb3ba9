// Optimizers over flat buffers, matching torch.optim semantics: SGD with momentum/Nesterov and L2
// weight decay, Adam (Kingma & Ba 2015) with L2 decay, AdamW (Loshchilov & Hutter 2019) with
// decoupled decay; global-norm gradient clipping; learning-rate schedules with linear warm-up.

import CKernels
import Foundation

public enum OptimizerKind: String, Sendable, Codable, CaseIterable {
    case sgd, adam, adamw
}

/// Learning rate as a function of the step: warm-up, then constant, step decay or cosine.
public struct Schedule: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case constant, step, cosine
    }

    public var kind: Kind = .constant
    /// `step`: multiply by `gamma` every `every` steps.
    public var every: Int = 1
    public var gamma: Float = 0.1
    /// `cosine`: decay from the base rate to `base * minFactor` over `totalSteps`.
    public var totalSteps: Int = 1
    public var minFactor: Float = 0
    /// Linear warm-up from 0 over this many steps (0: none).
    public var warmupSteps: Int = 0

    public init(kind: Kind = .constant) {
        self.kind = kind
    }

    /// The factor applied to the base learning rate at `step` (0-based count of updates done).
    public func factor(at step: Int) -> Float {
        var f: Float
        switch kind {
        case .constant:
            f = 1
        case .step:
            f = powf(gamma, Float(step / max(every, 1)))
        case .cosine:
            let t = min(Float(step) / Float(max(totalSteps, 1)), 1)
            f = minFactor + (1 - minFactor) * 0.5 * (1 + cosf(Float.pi * t))
        }
        if warmupSteps > 0 && step < warmupSteps {
            f *= Float(step + 1) / Float(warmupSteps)
        }
        return f
    }
}

public struct OptimizerConfig: Sendable, Codable, Equatable {
    public var kind: OptimizerKind = .adam
    public var learningRate: Float = 1e-3
    public var momentum: Float = 0
    public var nesterov = false
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var weightDecay: Float = 0
    /// Clip the gradient's global L2 norm (over the phase's group) to this value; nil: no clipping.
    public var clipNorm: Float?
    public var schedule = Schedule()
    /// SGD: the momentum of the first `initialMomentumEpochs` epochs (an RBM's 0.5 before 0.9).
    public var initialMomentum: Float?
    public var initialMomentumEpochs: Int?

    public init(kind: OptimizerKind = .adam, learningRate: Float = 1e-3) {
        self.kind = kind
        self.learningRate = learningRate
    }

    /// Whether the optimizer keeps a second moment buffer.
    var usesSecondMoment: Bool { kind != .sgd }
}

/// Applies one update to `range` of the parameters from the gradient `g` (already summed over
/// shards and multiplied by `gradientScale`); `m`/`v` are the moment buffers at the same offsets.
/// `t` is the 1-based update count of this parameter group (for Adam's bias correction).
@inline(__always)
public func applyUpdate(_ config: OptimizerConfig, range: Range<Int>, params p: UnsafeMutablePointer<Float>,
                 gradient g: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>,
                 v: UnsafeMutablePointer<Float>, t: Int, learningRate lr: Float, gradientScale: Float) {
    let wd = config.weightDecay
    switch config.kind {
    case .sgd:
        let mu = config.momentum
        for i in range {
            var grad = g[i] * gradientScale + wd * p[i]
            if mu != 0 {
                // torch: buf = mu * buf + grad (buf starts at grad: mu * 0 + grad).
                let buf = mu * m[i] + grad
                m[i] = buf
                grad = config.nesterov ? grad + mu * buf : buf
            }
            p[i] -= lr * grad
            g[i] = 0
        }
    case .adam, .adamw:
        let b1 = config.beta1, b2 = config.beta2, eps = config.epsilon
        let correction1 = 1 - powf(b1, Float(t))
        let correction2 = 1 - powf(b2, Float(t))
        let stepSize = lr / correction1
        let rootCorrection2 = correction2.squareRoot()
        let decoupled = config.kind == .adamw
        let keep = 1 - lr * wd
        for i in range {
            var grad = g[i] * gradientScale
            if decoupled {
                p[i] *= keep
            } else {
                grad += wd * p[i]
            }
            let mi = b1 * m[i] + (1 - b1) * grad
            let vi = b2 * v[i] + (1 - b2) * grad * grad
            m[i] = mi
            v[i] = vi
            // torch.optim.Adam: p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
            p[i] -= stepSize * mi / (vi.squareRoot() / rootCorrection2 + eps)
            g[i] = 0
        }
    }
}

/// The same update through the vectorised C loops (CKernels); `applyUpdate` is its reference.
@inline(__always)
public func applyUpdateFast(_ config: OptimizerConfig, range: Range<Int>, params p: UnsafeMutablePointer<Float>,
                     gradient g: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>,
                     v: UnsafeMutablePointer<Float>, t: Int, learningRate lr: Float, gradientScale: Float) {
    let o = range.lowerBound, n = range.count
    switch config.kind {
    case .sgd:
        ae_sgd_update(p + o, g + o, m + o, n, lr, config.momentum, config.nesterov ? 1 : 0, config.weightDecay,
                      gradientScale)
    case .adam, .adamw:
        let correction1 = 1 - powf(config.beta1, Float(t))
        let correction2 = 1 - powf(config.beta2, Float(t))
        ae_adam_update(p + o, g + o, m + o, v + o, n, config.beta1, config.beta2, lr / correction1,
                       correction2.squareRoot(), config.epsilon, config.weightDecay,
                       config.kind == .adamw ? 1 : 0, 1 - lr * config.weightDecay, gradientScale)
    }
}
