// Codes of a model with one: encode samples in batches over the shards (collective under MPI),
// decode given codes on the first shard's workspace.

import Datasets
import Kernels
import Layers
import Models

extension Trainer {
    /// The codes (rows x codeWidth, a VAE's posterior means) of `indices`, encoded in batches.
    public func encode(_ source: any BatchSource, indices: [Int], epoch: Int) -> [Float] {
        guard let latent = model as? any LatentModel else { preconditionFailure("the model has no code") }
        let z = latent.codeWidth
        var codes = [Float](repeating: 0, count: indices.count * z)
        var start = 0
        while start < indices.count {
            let end = min(start + maxBatch, indices.count)
            indices[start..<end].withUnsafeBufferPointer { infer(source, indices: $0, epoch: epoch) }
            let plan = plan(rows: end - start)
            for s in localShards where !plan.ranges[s].isEmpty {
                let range = plan.ranges[s]
                let code = latent.code(workspace(s), rows: range.count)
                for r in 0..<range.count {
                    for j in 0..<z { codes[(start + range.lowerBound + r) * z + j] = code.row(r)[j] }
                }
            }
            if let group {
                let rowBlocks = rankRows(plan)
                codes.withUnsafeMutableBufferPointer {
                    group.allgather($0.baseAddress! + start * z, blocks: rowBlocks, stride: z * MemoryLayout<Float>.stride)
                }
            }
            start = end
        }
        return codes
    }

    /// Decodes `codes` (rows x codeWidth) into reconstructions (rows x targetWidth), in batches on
    /// the first shard's workspace.
    public func decode(codes: [Float]) -> [Float] {
        guard let latent = model as? any LatentModel else { preconditionFailure("the model has no code") }
        let z = latent.codeWidth, width = model.targetWidth
        let count = codes.count / z
        var images = [Float](repeating: 0, count: count * width)
        let ws = workspaces[0]
        var start = 0
        while start < count {
            let rows = min(ws.maxRows, count - start)
            let input = latent.latentInput(ws, rows: rows)
            for r in 0..<rows { for j in 0..<z { input.row(r)[j] = codes[(start + r) * z + j] } }
            latent.decode(ws, rows: rows, params: Arena(params))
            let out = model.reconstruction(ws, rows: rows)
            for r in 0..<rows { for i in 0..<width { images[(start + r) * width + i] = out.row(r)[i] } }
            start += rows
        }
        return images
    }
}
