// Softmax over one row of logits, shifted by the row's maximum so no exp overflows: the
// probability heads of the adversarial autoencoder's clusters and of the probes.

import Foundation

/// `y[j] = exp(x[j] - max x) / sum_i exp(x[i] - max x)` for `j` in `0..<count`; the sum runs in
/// index order. `x` and `y` must not overlap.
public func softmax(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
    precondition(count > 0, "softmax needs at least one value")
    var top = x[0]
    for j in 1..<count { top = max(top, x[j]) }
    var sum: Float = 0
    for j in 0..<count {
        y[j] = expf(x[j] - top)
        sum += y[j]
    }
    for j in 0..<count { y[j] /= sum }
}
