// Named parameter slots in one flat buffer (PyTorch-style dotted names and layouts), and the
// non-owning Arena view that turns a slot into a pointer into params, grads or optimizer state.

import Kernels

/// One tensor's place in the flat parameter vector.
public struct ParameterSlot: Sendable, Equatable {
    public let name: String
    public let offset: Int
    public let shape: [Int]
    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<(offset + count) }
}

/// The slots of a model, in the order they were reserved. Each sub-network reserves its slots
/// together, so a parameter group (encoder, decoder, discriminator) is one contiguous range.
public struct ParameterLayout: Sendable {
    public private(set) var slots: [ParameterSlot] = []
    public private(set) var count = 0

    public init() {}

    public mutating func reserve(_ name: String, shape: [Int]) -> ParameterSlot {
        precondition(!slots.contains { $0.name == name }, "parameter \(name) reserved twice")
        let slot = ParameterSlot(name: name, offset: count, shape: shape)
        slots.append(slot)
        count += slot.count
        return slot
    }

    public func slot(named name: String) -> ParameterSlot? {
        slots.first { $0.name == name }
    }

    /// The contiguous range covering every slot whose name starts with `prefix`.
    public func range(prefix: String) -> Range<Int> {
        let matching = slots.filter { $0.name.hasPrefix(prefix) }
        precondition(!matching.isEmpty, "no parameters start with \(prefix)")
        let range = matching.first!.offset..<matching.last!.range.upperBound
        precondition(matching.reduce(0) { $0 + $1.count } == range.count,
                     "parameters starting with \(prefix) are not contiguous")
        return range
    }
}

/// A view of a flat buffer laid out by a `ParameterLayout` (params, grads, or moments).
// @unchecked Sendable: a view; writes follow FloatBuffer's rule (one writer per slab or chunk).
public struct Arena: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>

    @inline(__always)
    public init(_ base: UnsafeMutablePointer<Float>) {
        self.base = base
    }

    public init(_ buffer: FloatBuffer) {
        base = buffer.pointer
    }

    @inline(__always)
    public subscript(slot: ParameterSlot) -> UnsafeMutablePointer<Float> {
        base + slot.offset
    }

    /// A 2-D slot as a matrix (shape[0] rows, the rest flattened).
    @inline(__always)
    public func matrix(_ slot: ParameterSlot) -> Matrix {
        Matrix(base + slot.offset, rows: slot.shape[0], cols: slot.count / slot.shape[0])
    }
}
