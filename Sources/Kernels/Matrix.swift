// A non-owning row-major view (pointer, rows, cols, row stride) over FloatBuffer memory. Passed
// down into kernels and layers, never stored.

import CKernels

// @unchecked Sendable: a view; writes follow FloatBuffer's rule (one writer per region).
public struct Matrix: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let rows: Int
    public let cols: Int
    /// Floats between the starts of consecutive rows (>= cols).
    public let stride: Int

    @inline(__always)
    public init(_ base: UnsafeMutablePointer<Float>, rows: Int, cols: Int, stride: Int? = nil) {
        self.base = base
        self.rows = rows
        self.cols = cols
        self.stride = stride ?? cols
    }

    public var count: Int { rows * cols }
    public var isContiguous: Bool { stride == cols }

    @inline(__always)
    public func row(_ r: Int) -> UnsafeMutablePointer<Float> { base + r * stride }

    @inline(__always)
    public subscript(r: Int, c: Int) -> Float {
        get { base[r * stride + c] }
        nonmutating set { base[r * stride + c] = newValue }
    }

    /// Rows `range` of this matrix (shares memory).
    @inline(__always)
    public func rows(_ range: Range<Int>) -> Matrix {
        Matrix(base + range.lowerBound * stride, rows: range.count, cols: cols, stride: stride)
    }

    /// The same memory seen with another row width (contiguous only), e.g. (B, T*D) as (B*T, D).
    public func reshaped(rows newRows: Int, cols newCols: Int) -> Matrix {
        precondition(isContiguous && newRows * newCols == count, "reshape needs the same contiguous size")
        return Matrix(base, rows: newRows, cols: newCols)
    }

    /// On the calling shard's team when large (activations and their gradients of a whole chunk).
    public func fill(_ value: Float) {
        ae_team_fill(base, stride, rows, cols, value)
    }

    public func copy(from other: Matrix) {
        precondition(rows == other.rows && cols == other.cols, "copy needs equal shapes")
        for r in 0..<rows { row(r).update(from: other.row(r), count: cols) }
    }

    public var array: [Float] {
        var out: [Float] = []
        out.reserveCapacity(count)
        for r in 0..<rows { out.append(contentsOf: UnsafeBufferPointer(start: row(r), count: cols)) }
        return out
    }
}
