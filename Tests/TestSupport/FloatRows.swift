// A batch source over literal float rows (fixtures, toy problems): row i of `values` is sample i;
// the input is the clean row plus an optional fixed offset, no randomness.

import Foundation

public struct FloatRows: Sendable {
    public let rowWidth: Int
    public let values: [Float]

    public init(rowWidth: Int, values: [Float]) {
        precondition(values.count % rowWidth == 0, "values must be whole rows")
        self.rowWidth = rowWidth
        self.values = values
    }

    public var count: Int { values.count / rowWidth }

    public func fill(indices: UnsafeBufferPointer<Int>, epoch: Int, clean: UnsafeMutablePointer<Float>,
                     corrupted: UnsafeMutablePointer<Float>?) {
        values.withUnsafeBufferPointer { v in
            for (r, i) in indices.enumerated() {
                (clean + r * rowWidth).update(from: v.baseAddress! + i * rowWidth, count: rowWidth)
                corrupted.map { ($0 + r * rowWidth).update(from: v.baseAddress! + i * rowWidth, count: rowWidth) }
            }
        }
    }
}
