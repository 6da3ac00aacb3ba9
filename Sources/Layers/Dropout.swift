// Inverted dropout (Srivastava et al. 2014): training keeps each value with probability 1 - p
// and scales it by 1/(1 - p); evaluation is the identity. The mask comes from a per-row key, so
// it depends on (seed, epoch, sample), not on the shard or thread.

import Kernels

public struct Dropout: StochasticLayer {
    public let width: Int
    public let rate: Float
    /// A number distinguishing this layer's stream from other dropout layers'.
    public let streamID: UInt64

    public init(rate: Float, width: Int, streamID: UInt64) {
        precondition(rate >= 0 && rate < 1, "dropout rate must be in [0, 1), got \(rate)")
        self.rate = rate
        self.width = width
        self.streamID = streamID
    }

    public var inputWidth: Int { width }
    public var outputWidth: Int { width }
    /// The mask scaled by 1/(1 - p): 0 or 1/(1 - p) per value.
    public var cacheWidth: Int { width }

    public func draw(cache: Matrix, rowKeys: UnsafePointer<UInt64>) {
        let keep = 1 / (1 - rate)
        for r in 0..<cache.rows {
            var rng = SplitMix64(key: rowKeys[r], streamID)
            let m = cache.row(r)
            for i in 0..<width { m[i] = rng.nextUniform() < rate ? 0 : keep }
        }
    }

    /// Training: `y = x * mask` (the mask was drawn into `cache`). Evaluation passes an empty
    /// cache (0 columns) and copies.
    public func forward(x: Matrix, y: Matrix, cache: Matrix, params: Arena) {
        for r in 0..<x.rows {
            let xs = x.row(r), ys = y.row(r)
            if cache.cols == 0 {
                ys.update(from: xs, count: width)
            } else {
                let m = cache.row(r)
                for i in 0..<width { ys[i] = xs[i] * m[i] }
            }
        }
    }

    public func backward(dy: Matrix, x: Matrix, y: Matrix, cache: Matrix, dx: Matrix?, params: Arena,
                         grads: Arena) {
        guard let dx else { return }
        for r in 0..<dy.rows {
            let g = dy.row(r), d = dx.row(r), m = cache.row(r)
            for i in 0..<width { d[i] += g[i] * m[i] }
        }
    }
}
