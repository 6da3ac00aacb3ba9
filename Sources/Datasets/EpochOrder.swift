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

/// The order of an epoch's samples when images come through a bounded cache: the images are
/// shuffled per (seed, epoch) and cut into windows of `window` images; each window's samples
/// (every patch of each of its images) are shuffled together. One decode then feeds all of an
/// image's patches of the epoch, and every sample is still visited once per epoch.
public struct WindowedOrder: Sendable {
    public let count: Int
    public let window: Int
    public let seed: UInt64
    /// Positions of each image's samples, image by image (`starts[k]..<starts[k + 1]`).
    let positions: [Int]
    let starts: [Int]

    /// `imageOf[p]`: the image of the sample at position `p` of the sample list.
    public init(imageOf: [Int], window: Int, seed: UInt64) {
        precondition(window > 0, "a window holds at least one image")
        let images = Array(Set(imageOf)).sorted()
        let slot = Dictionary(uniqueKeysWithValues: images.enumerated().map { ($1, $0) })
        var counts = [Int](repeating: 0, count: images.count + 1)
        for image in imageOf { counts[slot[image]! + 1] += 1 }
        for k in 0..<images.count { counts[k + 1] += counts[k] }
        var next = counts, positions = [Int](repeating: 0, count: imageOf.count)
        for (p, image) in imageOf.enumerated() {
            positions[next[slot[image]!]] = p
            next[slot[image]!] += 1
        }
        self.count = imageOf.count
        self.window = window
        self.seed = seed
        self.positions = positions
        self.starts = counts
    }

    /// Writes the order of epoch `epoch` into `indices` (resized to `count` if needed).
    public func fill(_ indices: inout [Int], epoch: Int) {
        if indices.count != count { indices = [Int](repeating: 0, count: count) }
        let images = starts.count - 1
        var shuffled = Array(0..<images)
        var rng = SplitMix64(key: seed, UInt64(epoch), RandomPurpose.window)
        for i in stride(from: images - 1, to: 0, by: -1) { shuffled.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        var out = 0
        for (w, first) in stride(from: 0, to: images, by: window).enumerated() {
            let begin = out
            for k in shuffled[first..<min(first + window, images)] {
                for i in starts[k]..<starts[k + 1] {
                    indices[out] = positions[i]
                    out += 1
                }
            }
            var rng = SplitMix64(key: seed, UInt64(epoch), UInt64(w), RandomPurpose.window &+ 1)
            for i in stride(from: out - 1, to: begin, by: -1) {
                indices.swapAt(i, begin + Int(rng.next() % UInt64(i - begin + 1)))
            }
        }
    }
}

/// How a run orders each epoch: one shuffle of all samples, or shuffles within image windows.
public enum SampleOrder: Sendable {
    case global(EpochOrder)
    case windowed(WindowedOrder)

    public func fill(_ indices: inout [Int], epoch: Int) {
        switch self {
        case .global(let order): order.fill(&indices, epoch: epoch)
        case .windowed(let order): order.fill(&indices, epoch: epoch)
        }
    }
}
