// The order samples are visited in each epoch: a seeded Fisher-Yates permutation that depends
// only on (seed, epoch), so runs and resumed runs see the same batches.

import Kernels

public struct EpochOrder: Sendable {
    public let count: Int
    public let seed: UInt64
    public let shuffle: Bool

    public init(count: Int, seed: UInt64, shuffle: Bool = true) {
        self.count = count
        self.seed = seed
        self.shuffle = shuffle
    }

    /// Writes the permutation of epoch `epoch` into `indices` (resized to `count` if needed).
    public func fill(_ indices: inout [Int], epoch: Int) {
        if indices.count != count { indices = [Int](repeating: 0, count: count) }
        for i in 0..<count { indices[i] = i }
        guard shuffle, count > 1 else { return }
        var rng = SplitMix64(key: seed, UInt64(epoch), RandomPurpose.order)
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            indices.swapAt(i, j)
        }
    }

    public func permutation(epoch: Int) -> [Int] {
        var indices: [Int] = []
        fill(&indices, epoch: epoch)
        return indices
    }
}
