// How one minibatch is split over shards: contiguous row ranges whose sizes differ by at most
// one. Depends only on (rows, shards), so the arithmetic is fixed by the shard count.

/// Contiguous row ranges of one minibatch.
public struct ShardPlan: Sendable, Equatable {
    public let ranges: [Range<Int>]

    public init(rows: Int, shards: Int) {
        precondition(shards > 0, "shards must be positive")
        let base = rows / shards, extra = rows % shards
        var ranges: [Range<Int>] = []
        var start = 0
        for s in 0..<shards {
            let size = base + (s < extra ? 1 : 0)
            ranges.append(start..<(start + size))
            start += size
        }
        self.ranges = ranges
    }

    public var shards: Int { ranges.count }
}
