// Counter-based random numbers: a SplitMix64 stream whose start is a hash of a key such as
// (seed, epoch, sample index), so a sample's noise never depends on batch size, shard or thread.
// Reference: Steele, Lea, Flood, "Fast splittable pseudorandom number generators" (OOPSLA 2014).

import Foundation

/// SplitMix64 generator; `init(key:)` derives an independent stream from a tuple of integers.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    /// A stream keyed by several integers, e.g. `(seed, epoch, sampleIndex, purpose)`.
    /// Each component goes through the finaliser so that nearby keys give unrelated streams.
    /// Fixed arities (no variadic array): these run per sample inside training steps.
    @inline(__always)
    public init(key a: UInt64) {
        state = SplitMix64.absorb(0x6A09_E667_F3BC_C909, a)
    }

    @inline(__always)
    public init(key a: UInt64, _ b: UInt64) {
        state = SplitMix64.absorb(SplitMix64.absorb(0x6A09_E667_F3BC_C909, a), b)
    }

    @inline(__always)
    public init(key a: UInt64, _ b: UInt64, _ c: UInt64) {
        state = SplitMix64.absorb(SplitMix64.absorb(SplitMix64.absorb(0x6A09_E667_F3BC_C909, a), b), c)
    }

    @inline(__always)
    public init(key a: UInt64, _ b: UInt64, _ c: UInt64, _ d: UInt64) {
        state = SplitMix64.absorb(SplitMix64.absorb(SplitMix64.absorb(SplitMix64.absorb(
            0x6A09_E667_F3BC_C909, a), b), c), d)
    }

    @inline(__always)
    static func absorb(_ h: UInt64, _ k: UInt64) -> UInt64 {
        mix(h ^ mix(k &+ 0x9E37_79B9_7F4A_7C15))
    }

    /// The SplitMix64 finaliser (a bijection on 64-bit integers).
    @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// Uniform in `[0, 1)` with 24 random bits.
    @inline(__always)
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in `(0, 1]`, safe for `log`.
    @inline(__always)
    public mutating func nextOpenUniform() -> Float {
        (Float(next() >> 40) + 1) * (1.0 / 16_777_216.0)
    }

    /// Two independent standard normal values (Box-Muller).
    @inline(__always)
    public mutating func nextGaussianPair() -> (Float, Float) {
        let u1 = nextOpenUniform()
        let u2 = nextUniform()
        let r = (-2 * logf(u1)).squareRoot()
        let theta = 2 * Float.pi * u2
        return (r * cosf(theta), r * sinf(theta))
    }

    /// Fills `p[0..<count]` with `scale` times standard normal values, drawn a pair at a time
    /// (`p[i]`, `p[i + 1]`); an odd count leaves the last pair's second value unused.
    public mutating func fillGaussian(_ p: UnsafeMutablePointer<Float>, count: Int, scale: Float = 1) {
        var i = 0
        while i < count {
            let (a, b) = nextGaussianPair()
            p[i] = scale * a
            if i + 1 < count { p[i + 1] = scale * b }
            i += 2
        }
    }
}
