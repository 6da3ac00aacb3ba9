// Importance-sampled log-likelihood of a variational autoencoder (Burda et al. 2016, eq. 10):
// log p(x) ~ logsumexp_k(log p(x|z_k) + log p(z_k) - log q(z_k|x)) - log K with z_k ~ q(z|x).
// Draw k uses the evaluation epoch `base + k`, so every draw has its own epsilon per sample and
// the estimate is the same at any shard count; the log-sum-exp runs in double precision.

import Datasets
import Engine
import Foundation
import Models
import Training

extension Trainer {
    /// -log p(x) (nats) of each sample of `indices` with `samples` importance draws.
    /// - Precondition: the model is a `LikelihoodModel`; `source` yields the same rows at
    ///   every epoch (no noise; binarization fixed).
    public func negativeLogLikelihoods(_ source: any BatchSource, indices: [Int], samples: Int,
                                       epochBase: Int = 1 << 20) -> [Double] {
        guard let vae = model as? any LikelihoodModel else {
            preconditionFailure("importance sampling needs a model with a likelihood (a variational autoencoder)")
        }
        precondition(samples > 0, "need at least one importance sample")
        precondition(group == nil, "importance sampling runs in one process")
        var result = [Double](repeating: 0, count: indices.count)
        var weights = [Double](repeating: 0, count: maxBatch * samples)
        var scratch = [Double](repeating: 0, count: maxBatch)
        var start = 0
        while start < indices.count {
            let end = min(start + maxBatch, indices.count)
            let rows = end - start
            for k in 0..<samples {
                indices[start..<end].withUnsafeBufferPointer { ids in
                    _ = evaluate(source, indices: ids, epoch: epochBase + k)
                }
                let plan = plan(rows: rows)
                for s in 0..<shards where !plan.ranges[s].isEmpty {
                    let range = plan.ranges[s]
                    scratch.withUnsafeMutableBufferPointer {
                        vae.logImportanceWeights(workspace(s), rows: range.count, into: $0.baseAddress!)
                    }
                    for r in 0..<range.count { weights[(range.lowerBound + r) * samples + k] = scratch[r] }
                }
            }
            for r in 0..<rows {
                let row = weights[(r * samples)..<((r + 1) * samples)]
                let top = row.max()!
                let sum = row.reduce(0.0) { $0 + exp($1 - top) }
                result[start + r] = -(top + log(sum) - log(Double(samples)))
            }
            start = end
        }
        return result
    }
}

extension TrainingRun {
    /// Importance-sampled negative log-likelihood (nats per sample) of the test split with
    /// `samples` draws per sample: the mean, and each sample's.
    /// - Throws: `TrainingError` for a model without a likelihood or corrupted inputs.
    public func importanceSampledNLL(samples: Int) throws -> (mean: Double, perSample: [Double]) {
        guard model is any LikelihoodModel else {
            throw TrainingError("importance-sampled likelihoods need a vae checkpoint (this is \(config.family.rawValue))")
        }
        guard corruption.isNone else {
            throw TrainingError("importance sampling scores the clean inputs; pass --noise none (the run used \(config.noise))")
        }
        guard samples > 0 else { throw TrainingError("--nll-samples must be positive") }
        let values = trainer.negativeLogLikelihoods(testSource, indices: testIndices, samples: samples)
        return (values.reduce(0, +) / Double(max(values.count, 1)), values)
    }
}
