// softmax against the same formula in Double: probabilities that sum to 1, large logits that
// would overflow an unshifted exp, and ties.

import Foundation
import Kernels
import Testing
import TestSupport

@Suite struct SoftmaxTests {
    @Test(arguments: [[Float(0.5), -1, 2, 0.25], [1000, 999, -1000], [3, 3, 3], [-7]])
    func matchesDoubleReference(logits: [Float]) {
        var p = [Float](repeating: 0, count: logits.count)
        logits.withUnsafeBufferPointer { x in
            p.withUnsafeMutableBufferPointer { softmax(x.baseAddress!, count: logits.count, into: $0.baseAddress!) }
        }
        let top = Double(logits.max()!)
        let e = logits.map { exp(Double($0) - top) }
        let total = e.reduce(0, +)
        expectClose(p, e.map { Float($0 / total) })
        #expect(abs(p.reduce(0, +) - 1) < 1e-6)
    }
}
