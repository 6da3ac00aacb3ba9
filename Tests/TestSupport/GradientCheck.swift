// Central-difference gradient checks: perturb sampled coordinates of a tensor by +-epsilon,
// recompute the scalar loss (summed in Double), compare with the analytic gradient.

import Kernels
import Testing

/// Checks `analytic[i]` against `(loss(x + e) - loss(x - e)) / 2e` for `samples` coordinates
/// of `values` (chosen by a seeded generator). Records an issue at the caller for each mismatch
/// beyond `tolerance` relative error (with `floor` as the smallest denominator).
public func checkGradient(_ name: String, values: UnsafeMutablePointer<Float>, count: Int,
                          analytic: [Float], samples: Int = 16, epsilon: Float = 1e-2,
                          tolerance: Double = 1e-2, floor: Double = 1e-3, seed: UInt64 = 1,
                          loss: () -> Double, sourceLocation: SourceLocation = #_sourceLocation) {
    precondition(analytic.count == count, "analytic gradient size differs")
    var rng = SplitMix64(key: seed, UInt64(count))
    let picks = count <= samples ? Array(0..<count) : (0..<samples).map { _ in Int(rng.next() % UInt64(count)) }
    for i in picks {
        let saved = values[i]
        values[i] = saved + epsilon
        let plus = loss()
        values[i] = saved - epsilon
        let minus = loss()
        values[i] = saved
        let numeric = (plus - minus) / (2 * Double(epsilon))
        let a = Double(analytic[i])
        let error = abs(numeric - a) / max(abs(numeric), abs(a), floor)
        if error > tolerance {
            Issue.record(Comment(rawValue: "\(name)[\(i)]: analytic \(a), numeric \(numeric), relative error \(error)"),
                         sourceLocation: sourceLocation)
        }
    }
}

/// Reference matrix product C = A (m x k) * B (k x n), row-major, in Double.
public func naiveMatmul(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k { s += Double(a[i * k + p]) * Double(b[p * n + j]) }
            c[i * n + j] = Float(s)
        }
    }
    return c
}

/// Fills rows of an input and its target with the same values, uniform in (0.1, 0.9), from
/// `rng`: inputs away from a sigmoid's flat ends for the models' gradient checks.
public func fillSameRows(_ x: Matrix, _ t: Matrix, rows: Int, rng: inout SplitMix64) {
    for r in 0..<rows {
        for i in 0..<x.cols {
            let v = 0.1 + 0.8 * rng.nextUniform()
            x.row(r)[i] = v
            t.row(r)[i] = v
        }
    }
}
