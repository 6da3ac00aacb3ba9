// The vectorised BCE-on-logits kernel against the formula in Double with libm, over logits from
// saturated to tiny and targets in [0, 1].

import CKernels
import Foundation
import Testing

@Suite struct BCEKernelTests {
    @Test func matchesDoublePrecisionReference() {
        var z: [Float] = [], t: [Float] = []
        for i in 0..<2001 {
            z.append(Float(i - 1000) * 0.03)  // -30 ... 30
            t.append(Float(i % 11) / 10)
        }
        z += [-100, 100, 1e-7, -1e-7, 0]
        t += [0, 1, 0.5, 0.5, 0.25]
        var g = [Float](repeating: 0, count: z.count)
        var objective = 0.0, squared = 0.0
        ae_bce_logits(z, t, &g, z.count, 0.5, &objective, &squared)
        var expectedObjective = 0.0, expectedSquared = 0.0
        for i in 0..<z.count {
            let x = Double(z[i]), target = Double(t[i])
            expectedObjective += max(x, 0) - x * target + log1p(exp(-abs(x)))
            let p = 1 / (1 + exp(-x))
            expectedSquared += (p - target) * (p - target)
            #expect(abs(Double(g[i]) - 0.5 * (p - target)) <= 1e-6, "gradient at z = \(x)")
        }
        // Training sums accumulate in float: ~2,000 terms, in 16 lanes when vectorised (release) or
        // one after the other (debug builds compile the C kernels unoptimised).
        #expect(abs(objective - expectedObjective) / expectedObjective < 1e-5)
        #expect(abs(squared - expectedSquared) / expectedSquared < 1e-5)
    }
}
