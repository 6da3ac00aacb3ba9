// Instance normalisation (Ulyanov et al. 2016), PyTorch nn.InstanceNorm2d semantics: each
// sample's channel is normalised over its H*W values with the biased variance,
// `y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c]`; no running statistics are kept, so
// training and evaluation agree and no samples mix.

import Kernels

public struct InstanceNorm2D: Layer {
    public let channels: Int
    public let height: Int
    public let width: Int
    public let eps: Float
    /// Per-channel scale and shift, `(C)`; nil when not affine.
    public let weight: ParameterSlot?
    public let bias: ParameterSlot?

    public init(channels: Int, height: Int, width: Int, affine: Bool, eps: Float = 1e-5, name: String,
                layout: inout ParameterLayout) {
        precondition(channels > 0 && height > 0 && width > 0, "instance norm needs a non-empty input")
        precondition(eps > 0, "instance norm eps must be positive, got \(eps)")
        self.channels = channels
        self.height = height
        self.width = width
        self.eps = eps
        weight = affine ? layout.reserve(name + ".weight", shape: [channels]) : nil
        bias = affine ? layout.reserve(name + ".bias", shape: [channels]) : nil
    }

    public var affine: Bool { weight != nil }
    public var inputWidth: Int { channels * height * width }
    public var outputWidth: Int { inputWidth }
    /// Per channel: the mean, then 1/sqrt(var + eps); backward rebuilds the normalised values.
    public var cacheWidth: Int { 2 * channels }

    /// Weight 1 and bias 0, as PyTorch's reset_parameters.
    public func initialize(params: Arena, rng: inout SplitMix64) {
        guard let weight, let bias else { return }
        params[weight].update(repeating: 1, count: channels)
        params[bias].update(repeating: 0, count: channels)
    }

    public func forward(x: Matrix, y: Matrix, cache: Matrix, params: Arena) {
        let n = height * width
        let count = Float(n)
        let w = weight.map { params[$0] }, b = bias.map { params[$0] }
        for r in 0..<x.rows {
            let stats = cache.row(r)
            for c in 0..<channels {
                let xs = x.row(r) + c * n, ys = y.row(r) + c * n
                var sum: Float = 0
                for i in 0..<n { sum += xs[i] }
                let mean = sum / count
                // Two passes: the centred sum of squares does not cancel like E[x^2] - mean^2.
                var squares: Float = 0
                for i in 0..<n {
                    let centred = xs[i] - mean
                    squares += centred * centred
                }
                let invStd = 1 / (squares / count + eps).squareRoot()
                stats[2 * c] = mean
                stats[2 * c + 1] = invStd
                let scale = (w?[c] ?? 1) * invStd, shift = b?[c] ?? 0
                for i in 0..<n { ys[i] = (xs[i] - mean) * scale + shift }
            }
        }
    }

    public func backward(dy: Matrix, x: Matrix, y: Matrix, cache: Matrix, dx: Matrix?, params: Arena,
                         grads: Arena) {
        let n = height * width
        let count = Float(n)
        let w = weight.map { params[$0] }
        let dw = weight.map { grads[$0] }, db = bias.map { grads[$0] }
        for r in 0..<dy.rows {
            let stats = cache.row(r)
            for c in 0..<channels {
                let xs = x.row(r) + c * n, g = dy.row(r) + c * n
                let mean = stats[2 * c], invStd = stats[2 * c + 1]
                // With xhat = (x - mean) * invStd: sum(dy) and sum(dy * xhat) give the affine
                // gradients and, scaled by weight, the two projections in dx.
                var sumG: Float = 0, sumGX: Float = 0
                for i in 0..<n {
                    sumG += g[i]
                    sumGX += g[i] * (xs[i] - mean) * invStd
                }
                // y = xhat * weight + bias: dWeight += sum(dy * xhat), dBias += sum(dy).
                if let dw, let db {
                    dw[c] += sumGX
                    db[c] += sumG
                }
                guard let dx else { continue }
                // xhat = (x - mean) / sqrt(var + eps) with mean and var over the channel:
                // dx = invStd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = weight * dy.
                let gain = w?[c] ?? 1
                let meanG = sumG / count, meanGX = sumGX / count
                let d = dx.row(r) + c * n
                for i in 0..<n {
                    let xhat = (xs[i] - mean) * invStd
                    d[i] += gain * invStd * (g[i] - meanG - xhat * meanGX)
                }
            }
        }
    }
}
