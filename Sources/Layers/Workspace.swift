// Per-shard memory, sized once: activations, caches and their gradients in one FloatBuffer
// (regions of `maxRows` rows), a parameter-gradient slab with the parameters' layout, and one
// random key per row for stochastic layers.

import Kernels

/// Columns of a region; its rows live at `start * maxRows` in the workspace buffer.
public struct Region: Sendable, Equatable {
    public let start: Int
    public let cols: Int

    public init(start: Int, cols: Int) {
        self.start = start
        self.cols = cols
    }
}

/// Hands out regions while a model is built, before any memory exists.
public struct RegionAllocator: Sendable {
    public private(set) var columns = 0

    public init() {}

    public mutating func take(_ cols: Int) -> Region {
        defer { columns += cols }
        return Region(start: columns, cols: cols)
    }
}

// @unchecked Sendable: a workspace belongs to one shard (or thread): one thread uses it at a time.
public final class Workspace: @unchecked Sendable {
    public let maxRows: Int
    public let buffer: FloatBuffer
    /// Gradient slab: same layout as the parameters; zeroed by the optimizer after it reads it.
    public let gradients: FloatBuffer
    /// Per-row random keys (hash of seed, epoch, sample index) for dropout and sampling.
    public let rowKeys: UnsafeMutablePointer<UInt64>
    /// Scratch for a model's cross-shard statistic (e.g. summed code activations).
    public let statistics: FloatBuffer
    /// Per-row labels of the batch (-1 where the data has none).
    public let labels: UnsafeMutablePointer<Int32>

    public init(columns: Int, maxRows: Int, parameterCount: Int, statisticWidth: Int = 0) {
        self.maxRows = maxRows
        buffer = FloatBuffer(count: columns * maxRows)
        gradients = FloatBuffer(count: parameterCount)
        rowKeys = .allocate(capacity: max(maxRows, 1))
        rowKeys.initialize(repeating: 0, count: max(maxRows, 1))
        statistics = FloatBuffer(count: statisticWidth)
        labels = .allocate(capacity: max(maxRows, 1))
        labels.initialize(repeating: -1, count: max(maxRows, 1))
    }

    deinit {
        rowKeys.deallocate()
        labels.deallocate()
    }

    /// The first `rows` rows of `region`.
    @inline(__always)
    public func matrix(_ region: Region, rows: Int) -> Matrix {
        precondition(rows <= maxRows, "\(rows) rows exceed the workspace's \(maxRows)")
        return Matrix(buffer.pointer + region.start * maxRows, rows: rows, cols: region.cols)
    }

    /// Rows `range` of `region`.
    @inline(__always)
    public func matrix(_ region: Region, rows range: Range<Int>) -> Matrix {
        precondition(range.upperBound <= maxRows, "rows \(range) exceed the workspace's \(maxRows)")
        return Matrix(buffer.pointer + region.start * maxRows + range.lowerBound * region.cols, rows: range.count,
                      cols: region.cols)
    }

    public var gradientArena: Arena { Arena(gradients) }
}
