// The layer contract: a Sendable value holding hyperparameters and parameter slots; all mutable
// state (activations, caches, gradients) comes in as arguments, so one model serves all shards.

import Kernels

/// A layer with a hand-written backward pass. Owns no memory; see `Workspace`.
public protocol Layer: Sendable {
    /// Floats per sample in, e.g. C*H*W.
    var inputWidth: Int { get }
    /// Floats per sample out.
    var outputWidth: Int { get }
    /// Floats per sample kept from forward for backward.
    var cacheWidth: Int { get }
    /// The cache is scratch for each call alone, nothing kept from forward for backward (Winograd
    /// convolutions transform their input again): a network gives all such layers one region.
    var cacheIsScratch: Bool { get }
    /// Sets this layer's parameters (if any) from `rng`.
    func initialize(params: Arena, rng: inout SplitMix64)
    /// `y = f(x)`. `x`, `y`, `cache` all have `rows == B`.
    func forward(x: Matrix, y: Matrix, cache: Matrix, params: Arena)
    /// Adds into `dx` (when non-nil) and into this layer's slots in `grads`.
    func backward(dy: Matrix, x: Matrix, y: Matrix, cache: Matrix, dx: Matrix?, params: Arena,
                  grads: Arena)
}

extension Layer {
    public var cacheWidth: Int { 0 }
    public var cacheIsScratch: Bool { false }
    public func initialize(params: Arena, rng: inout SplitMix64) {}
}

/// A layer that draws random numbers per sample (dropout). Before a training forward, the
/// network calls `draw` with one key per row so masks depend on the sample, never the shard.
public protocol StochasticLayer: Layer {
    func draw(cache: Matrix, rowKeys: UnsafePointer<UInt64>)
}
