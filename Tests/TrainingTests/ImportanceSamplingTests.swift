// The importance-sampled likelihood against the exact likelihood of a linear-Gaussian model:
// x = W z + b + noise (variance v), z ~ N(0, I), so p(x) = N(b, W W^T + v I). W has orthogonal
// columns, which makes both the posterior and W W^T + v I diagonal (closed forms below).

import Analysis
import Engine
import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport
import Training

@Suite struct ImportanceSamplingTests {
    let w: [[Double]] = [[1, 0], [0, 2], [0, 0]]  // (3, 2)
    let b: [Double] = [0.1, -0.2, 0.3]
    let v = 0.5
    let xs: [[Float]] = [[0.5, 1.0, -0.4], [-1.2, 0.3, 0.9], [2.0, -3.0, 0.0], [0.1, -0.2, 0.3]]

    func exactNLL(_ x: [Float]) -> Double {
        // Diagonal of W W^T + v I: (1.5, 4.5, 0.5).
        let c = [w[0][0] * w[0][0] + v, w[1][1] * w[1][1] + v, v]
        return (0..<3).reduce(0.0) { $0 + 0.5 * (log(2 * Double.pi * c[$1]) + pow(Double(x[$1]) - b[$1], 2) / c[$1]) }
    }

    /// A trainer whose VAE is the linear-Gaussian model, with the posterior's mean shifted and its
    /// variance widened by `error` (0: the exact posterior).
    func trainer(shards: Int, error: Float) -> Trainer {
        var config = VariationalAutoencoderConfig(widths: [3, 2])
        config.decoder = .gaussian(variance: Float(v))
        let trainer = Trainer(model: VariationalAutoencoder(config), optimizers: [OptimizerConfig()], shards: shards,
                              maxBatch: 4, seed: 7)
        let layout = trainer.model.layout, p = Arena(trainer.params)
        let head = layout.slot(named: "encoder.0.weight")!, headBias = layout.slot(named: "encoder.0.bias")!
        let dw = layout.slot(named: "decoder.0.weight")!, db = layout.slot(named: "decoder.0.bias")!
        for i in 0..<3 {
            for j in 0..<2 { p[dw][i * 2 + j] = Float(w[i][j]) }
            p[db][i] = Float(b[i])
        }
        // Posterior: Sigma = (I + W^T W / v)^-1 (diagonal), mean = Sigma W^T (x - b) / v.
        for j in 0..<2 {
            let sigma = 1 / (1 + (0..<3).reduce(0.0) { $0 + w[$1][j] * w[$1][j] } / v)
            var bias = 0.0
            for i in 0..<3 {
                let m = sigma * w[i][j] / v
                p[head][j * 3 + i] = Float(m)
                p[head][(2 + j) * 3 + i] = 0
                bias -= m * b[i]
            }
            p[headBias][j] = Float(bias) + error
            p[headBias][2 + j] = Float(log(sigma)) + error
        }
        return trainer
    }

    @Test func estimateConvergesToTheExactLikelihood() {
        let source = FloatRows(rowWidth: 3, values: xs.flatMap { $0 })
        let ids = [0, 1, 2, 3]
        let exact = xs.map(exactNLL)
        // The exact posterior makes every weight p(x): one draw is exact.
        let perfect = trainer(shards: 1, error: 0).negativeLogLikelihoods(source, indices: ids, samples: 1)
        for i in 0..<4 { #expect(abs(perfect[i] - exact[i]) < 1e-4, "exact posterior \(perfect[i]) vs \(exact[i])") }
        // A wrong posterior: one draw is biased upward (the ELBO bound); many draws converge.
        // One draw, averaged over 300 independent draws: the negative ELBO, above -log p(x) by KL(q || p(z|x)).
        let single = trainer(shards: 1, error: 0.2)
        var one = [Double](repeating: 0, count: 4)
        for base in 0..<300 {
            let draw = single.negativeLogLikelihoods(source, indices: ids, samples: 1, epochBase: base)
            for i in 0..<4 { one[i] += draw[i] / 300 }
        }
        let many = trainer(shards: 1, error: 0.2).negativeLogLikelihoods(source, indices: ids, samples: 5000)
        let manyTwoShards = trainer(shards: 2, error: 0.2).negativeLogLikelihoods(source, indices: ids, samples: 5000)
        let gapOne = zip(one, exact).map { $0 - $1 }.reduce(0, +) / 4
        let gapMany = zip(many, exact).map { abs($0 - $1) }.max()!
        #expect(gapOne > 0.03, "one draw should sit above the exact NLL (gap \(gapOne))")
        #expect(gapMany < 0.02, "5000 draws within 0.02 nats (worst \(gapMany))")
        #expect(many == manyTwoShards, "the estimate does not depend on the shard count")
    }
}
