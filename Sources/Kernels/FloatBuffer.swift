// The one owner of float memory: parameters, gradients, optimizer state and activations live in
// a few of these, sized once. Aligned to 64 bytes for vector loads and BLAS.

/// A zero-initialised, fixed-size block of `Float`s.
///
/// `@unchecked Sendable` because the engine's access pattern is race-free by construction:
/// parameters are read-only while shards run, each shard writes only its own workspace and
/// gradient slab, and the optimizer update writes disjoint chunks after the parallel region.
public final class FloatBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        precondition(count >= 0, "buffer size must be non-negative")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit {
        UnsafeMutableRawPointer(pointer).deallocate()
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public func zero() {
        pointer.update(repeating: 0, count: count)
    }

    public subscript(index: Int) -> Float {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }

    /// A `rows` x `cols` view starting at float `offset`.
    public func matrix(rows: Int, cols: Int, offset: Int = 0) -> Matrix {
        precondition(offset + rows * cols <= count, "matrix view outside the buffer")
        return Matrix(pointer + offset, rows: rows, cols: cols)
    }
}
