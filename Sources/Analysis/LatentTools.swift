// Latent-space tools for every model with a code: grids decoded from its codes and prior (samples,
// interpolations, traversals).

import Datasets
import Engine
import Foundation
import Images
import Kernels
import Layers
import Models
import Training

/// Grids decoded from a trained run's codes and its prior.
extension TrainingRun {
    /// The test images of `indices` (positions in the test split), clean.
    func testImages(_ positions: [Int]) -> [Float] {
        let ids = positions.map { testIndices[$0] }
        var clean = [Float](repeating: 0, count: ids.count * model.targetWidth)
        ids.withUnsafeBufferPointer { p in
            clean.withUnsafeMutableBufferPointer { testSource.fill(indices: p, epoch: evaluationEpoch, clean: $0.baseAddress!, corrupted: nil) }
        }
        return clean
    }

    /// `rows` as a grid under `caption` (the model and epoch above it), tiles at `scale` (nil: readable).
    func writeRows(_ rows: [(label: String?, images: [Float])], to path: String, scale: Int?, caption: String) throws {
        let shape = try gridShape()
        var grid = ImageGrid(tileWidth: shape.width, tileHeight: shape.height, channels: shape.channels)
        grid.scale = scale ?? ImageGrid.readableScale(tileHeight: shape.height)
        grid.caption = "\(config.modelDescription), epoch \(progress.epoch)\n" + caption
        for row in rows { grid.addRow(label: row.label, tiles: row.images.map { min(max($0, 0), 1) }) }
        try PNGCodec.write(grid.render(), to: path)
    }

    /// `count` decoded draws from the model's prior (spread scaled by `temperature`): rows of 10,
    /// or one labelled row per component for a prior with components (mixture, clusters).
    /// Returns how many draws the grid holds (whole rows per component with a mixture or clusters).
    @discardableResult
    public func writeSamples(to path: String, count: Int, seed: UInt64, temperature: Float = 1,
                             scale: Int? = nil) throws -> Int {
        let latent = try latentModel()
        guard latent.prior != nil else {
            throw TrainingError("the \(config.family.rawValue) model has no prior to sample from (train --model vae or aae)")
        }
        let z = latent.codeWidth, components = latent.priorComponents
        let perRow = components > 0 ? max(1, count / components) : 10
        let total = components > 0 ? perRow * components : count
        var rng = SplitMix64(key: seed, 0x7361_6D70)
        var codes = [Float](repeating: 0, count: total * z)
        codes.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<total {
                latent.drawCode(into: buffer.baseAddress! + i * z, rng: &rng,
                                component: components > 0 ? i / perRow : -1, temperature: temperature)
            }
        }
        let images = trainer.decode(codes: codes)
        let width = model.targetWidth
        var rows: [(String?, [Float])] = []
        for start in stride(from: 0, to: total, by: perRow) {
            rows.append((components > 0 ? "\(start / perRow)" : nil,
                         Array(images[(start * width)..<(min(start + perRow, total) * width)])))
        }
        var caption = "\(total) draws from the prior" + (temperature == 1 ? "" : ", temperature \(temperature)")
        if components > 0 { caption += ", one row per component" }
        try writeRows(rows, to: path, scale: scale, caption: caption)
        return total
    }

    /// Rows between pairs of test images (0-1, 2-3, ...): the first image, `steps` decoded codes
    /// from one code to the other (spherical for a VAE, linear otherwise), the second image.
    public func writeInterpolations(to path: String, pairs: Int, steps: Int, scale: Int? = nil) throws {
        let latent = try latentModel()
        let available = min(2 * pairs, testIndices.count) / 2
        guard available > 0 else { throw TrainingError("interpolation needs at least 2 test samples") }
        let positions = Array(0..<(2 * available))
        let ids = positions.map { testIndices[$0] }
        let codes = trainer.encode(testSource, indices: ids, epoch: evaluationEpoch)
        if testSequences != nil {
            try writeSequenceInterpolations(codes: codes, ids: ids, prior: latent.prior, to: path)
            return
        }
        let originals = testImages(positions)
        let z = latent.codeWidth, width = model.targetWidth
        var rows: [(String?, [Float])] = []
        for p in 0..<available {
            let a = Array(codes[(2 * p * z)..<((2 * p + 1) * z)]), b = Array(codes[((2 * p + 1) * z)..<((2 * p + 2) * z)])
            var path: [Float] = []
            for s in 0..<steps {
                let t = steps == 1 ? 0.5 : Float(s) / Float(steps - 1)
                path += latent.prior == .gaussian ? Self.slerp(a, b, t) : zip(a, b).map { $0 + t * ($1 - $0) }
            }
            let decoded = trainer.decode(codes: path)
            rows.append((nil, Array(originals[(2 * p * width)..<((2 * p + 1) * width)]) + decoded
                + Array(originals[((2 * p + 1) * width)..<((2 * p + 2) * width)])))
        }
        let kind = latent.prior == .gaussian ? "spherical" : "linear"
        try writeRows(rows, to: path, scale: scale,
                      caption: "test image | \(steps) decoded codes, \(kind) path | test image")
    }

    /// Sequences: per pair, a plot of both test sequences and the decode of the code halfway
    /// between theirs (over the first's steps: a code carries no length), per feature, in the
    /// data's units.
    func writeSequenceInterpolations(codes: [Float], ids: [Int], prior: LatentPrior?, to path: String) throws {
        guard let sequences = testSequences?.sequences else { return }
        let z = codes.count / ids.count, d = sequences.features, width = model.targetWidth
        var plot = SequencePlot(featureNames: sequences.featureNames)
        plot.seriesNames = (original: "first", reconstruction: "decoded halfway", reference: "second")
        let clean = cleanRows(testSource, ids)
        func values(_ row: Int, steps: Int) -> [Float] {
            let v = Array(clean[(row * width)..<(row * width + steps * d)])
            return config.standardization?.inverted(v) ?? v
        }
        for p in 0..<(ids.count / 2) {
            let a = Array(codes[(2 * p * z)..<((2 * p + 1) * z)]), b = Array(codes[((2 * p + 1) * z)..<((2 * p + 2) * z)])
            let middle = prior == .gaussian ? Self.slerp(a, b, 0.5) : zip(a, b).map { ($0 + $1) / 2 }
            let n = sequences.length(of: ids[2 * p]), m = sequences.length(of: ids[2 * p + 1])
            let decoded = Array(trainer.decode(codes: middle)[0..<(n * d)])
            plot.add("\(sequences.files?[ids[2 * p]] ?? "sequence \(ids[2 * p] + 1)") to "
                     + "\(sequences.files?[ids[2 * p + 1]] ?? "sequence \(ids[2 * p + 1] + 1)")",
                     original: values(2 * p, steps: n),
                     reconstruction: config.standardization?.inverted(decoded) ?? decoded,
                     reference: values(2 * p + 1, steps: m))
        }
        try plot.write(to: path)
    }

    /// Spherical interpolation (Shoemake), linear when the codes are (anti)parallel.
    public static func slerp(_ a: [Float], _ b: [Float], _ t: Float) -> [Float] {
        let na = sqrt(a.reduce(0) { $0 + Double($1 * $1) }), nb = sqrt(b.reduce(0) { $0 + Double($1 * $1) })
        let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0 * $1.1) } / max(na * nb, 1e-12)
        let omega = acos(min(max(dot, -1), 1))
        guard sin(omega) > 1e-6 else { return zip(a, b).map { $0 + t * ($1 - $0) } }
        let wa = Float(sin((1 - Double(t)) * omega) / sin(omega)), wb = Float(sin(Double(t) * omega) / sin(omega))
        return zip(a, b).map { wa * $0 + wb * $1 }
    }

    /// One row per latent dimension (the first `dimensions`): the code of the first test sample
    /// with that dimension swept over `steps` values, -range...range in prior standard deviations
    /// for a VAE, the test codes' mean +- range standard deviations otherwise. A 2-D code gives a
    /// 2-D manifold grid instead (both dimensions swept; prior quantiles for a VAE).
    public func writeTraversal(to path: String, dimensions: Int, steps: Int, range: Float,
                               scale: Int? = nil) throws {
        let latent = try latentModel()
        let (codes, _, z) = try encodeTestSplit()
        let n = codes.count / z
        var mean = [Float](repeating: 0, count: z), sd = [Float](repeating: 1, count: z)
        let gaussian = latent.prior == .gaussian
        if !gaussian {
            for j in 0..<z {
                var s = 0.0, s2 = 0.0
                for r in 0..<n { let v = Double(codes[r * z + j]); s += v; s2 += v * v }
                mean[j] = Float(s / Double(n))
                sd[j] = Float(max(s2 / Double(n) - (s / Double(n)) * (s / Double(n)), 0).squareRoot())
            }
        }
        func value(_ j: Int, _ s: Int) -> Float {
            let t = steps == 1 ? 0 : -range + 2 * range * Float(s) / Float(steps - 1)
            if gaussian && z == 2 {
                // Quantiles of N(0, 1) over (0, 1), as Kingma and Welling's manifold figure.
                let q = (Double(s) + 0.5) / Double(steps)
                return Float(Self.normalQuantile(q))
            }
            return mean[j] + t * sd[j]
        }
        var rows: [(String?, [Float])] = []
        if z == 2 {
            for row in 0..<steps {
                var path: [Float] = []
                for column in 0..<steps { path += [value(0, column), value(1, steps - 1 - row)] }
                rows.append((nil, trainer.decode(codes: path)))
            }
        } else {
            let base = Array(codes[0..<z])
            for j in 0..<min(dimensions, z) {
                var path: [Float] = []
                for s in 0..<steps {
                    var code = base
                    code[j] = value(j, s)
                    path += code
                }
                rows.append(("z\(j)", trainer.decode(codes: path)))
            }
        }
        let sweep = String(format: "%g", range)
        let caption = z == 2
            ? (gaussian ? "z0 left to right, z1 bottom to top, prior quantiles"
                        : "z0 left to right, z1 bottom to top, mean -\(sweep) to +\(sweep) sd")
            : "rows: one code value swept, " + (gaussian ? "-\(sweep) to +\(sweep) prior sd"
                                                          : "mean -\(sweep) to +\(sweep) sd of the test codes")
        try writeRows(rows, to: path, scale: scale, caption: caption)
    }

    /// The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9).
    public static func normalQuantile(_ p: Double) -> Double {
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
                 -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
                 -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
                 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let low = 0.02425
        if p < low {
            let q = (-2 * log(p)).squareRoot()
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        if p > 1 - low { return -normalQuantile(1 - p) }
        let q = p - 0.5, r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }

}
