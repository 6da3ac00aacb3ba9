// Latent-space tools for every model with a code: encode a split, decode given codes, and the
// grids built from them (prior samples, interpolations, traversals, a 2-D manifold) and the
// latent scatter plot (PCA to 2-D when the code is wider), coloured by label.

import Datasets
import Engine
import Foundation
import Images
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
            indices[start..<end].withUnsafeBufferPointer { _ = evaluate(source, indices: $0, epoch: epoch) }
            let plan = plan(rows: end - start)
            for s in localShards where !plan.ranges[s].isEmpty {
                let range = plan.ranges[s]
                let code = latent.code(workspace(s), rows: range.count)
                for r in 0..<range.count {
                    for j in 0..<z { codes[(start + range.lowerBound + r) * z + j] = code.row(r)[j] }
                }
            }
            if let group {
                let rowBlocks = rankBlocks.map { plan.ranges[$0.lowerBound].lowerBound..<plan.ranges[$0.upperBound - 1].upperBound }
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

/// Codes and grids of a trained run's test split.
extension TrainingRun {
    /// The model as a latent model, or a one-line reason why it has no code to work with.
    public func latentModel() throws -> any LatentModel {
        guard let latent = model as? any LatentModel else {
            throw TrainingError("the \(config.family.rawValue) model has no code these tools can decode "
                + "(they take dense, deep, sparse, denoising, dropout, contractive, conv, vae and aae checkpoints)")
        }
        return latent
    }

    /// Codes of the test split (rows x codeWidth) and its labels (-1 where unlabelled).
    public func encodeTestSplit() throws -> (codes: [Float], labels: [Int32], width: Int) {
        let latent = try latentModel()
        let codes = trainer.encode(testSource, indices: testIndices, epoch: evaluationEpoch)
        var labels = [Int32](repeating: -1, count: testIndices.count)
        testIndices.withUnsafeBufferPointer { ids in
            labels.withUnsafeMutableBufferPointer { testSource.fillLabels(indices: ids, into: $0.baseAddress!) }
        }
        return (codes, labels, latent.codeWidth)
    }

    /// The test images of `indices` (positions in the test split), clean.
    func testImages(_ positions: [Int]) -> [Float] {
        let ids = positions.map { testIndices[$0] }
        var clean = [Float](repeating: 0, count: ids.count * model.targetWidth)
        ids.withUnsafeBufferPointer { p in
            clean.withUnsafeMutableBufferPointer { testSource.fill(indices: p, epoch: evaluationEpoch, clean: $0.baseAddress!, corrupted: nil) }
        }
        return clean
    }

    /// The image shape of a row, for grids; nil for sequence data.
    func gridShape() throws -> ImageShape {
        guard let shape = testImages?.rowShape, shape.channels == 1 || shape.channels == 3 else {
            throw TrainingError("grids need image data of 1 or 3 channels")
        }
        return shape
    }

    func writeRows(_ rows: [(label: String?, images: [Float])], to path: String) throws {
        let shape = try gridShape()
        var grid = ImageGrid(tileWidth: shape.width, tileHeight: shape.height, channels: shape.channels)
        for row in rows { grid.addRow(label: row.label, tiles: row.images.map { min(max($0, 0), 1) }) }
        try PNGCodec.write(grid.render(), to: path)
    }

    /// `count` decoded draws from the model's prior (spread scaled by `temperature`): rows of 10,
    /// or one labelled row per component for a prior with components (mixture, clusters).
    public func writeSamples(to path: String, count: Int, seed: UInt64, temperature: Float = 1) throws {
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
        try writeRows(rows, to: path)
    }

    /// Rows between pairs of test images (0-1, 2-3, ...): the first image, `steps` decoded codes
    /// from one code to the other (spherical for a VAE, linear otherwise), the second image.
    public func writeInterpolations(to path: String, pairs: Int, steps: Int) throws {
        let latent = try latentModel()
        let available = min(2 * pairs, testIndices.count) / 2
        guard available > 0 else { throw TrainingError("interpolation needs at least 2 test samples") }
        let positions = Array(0..<(2 * available))
        let ids = positions.map { testIndices[$0] }
        let codes = trainer.encode(testSource, indices: ids, epoch: evaluationEpoch)
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
        try writeRows(rows, to: path)
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
    public func writeTraversal(to path: String, dimensions: Int, steps: Int, range: Float) throws {
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
        try writeRows(rows, to: path)
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

    /// The test split's codes (rows x `z`, from `encodeTestSplit`) as a scatter plot coloured by
    /// label; codes wider than 2 are projected on their first two principal components.
    public func writeLatentScatter(codes: [Float], labels: [Int32], width z: Int, to path: String, title: String) throws {
        var drawn: [(x: Double, y: Double)] = []
        if z == 2, let latent = model as? any LatentModel, latent.prior != nil {
            // Draws of the prior behind the codes, so a plot shows how well the codes match it.
            var rng = SplitMix64(key: 0x706C_6F74)
            var draw: [Float] = [0, 0]
            drawn = (0..<2000).map { _ -> (x: Double, y: Double) in
                draw.withUnsafeMutableBufferPointer {
                    latent.drawCode(into: $0.baseAddress!, rng: &rng, component: -1, temperature: 1)
                }
                return (Double(draw[0]), Double(draw[1]))
            }
        }
        try Self.writeScatter(Self.projectTo2D(codes, width: z), labels: labels, title: title,
                              axes: z == 2 ? ("z0", "z1") : (z == 1 ? ("sample", "z0") : ("PC 1", "PC 2")),
                              prior: drawn, to: path)
    }

    /// The first two principal components of `dataset`'s samples (all of them), coloured by
    /// label: the linear baseline a 2-D code is compared with.
    /// - Throws: `TrainingError` for images of mixed sizes; the PNG writer's errors.
    public static func writePCAScatter(of dataset: Dataset, to path: String, title: String) throws {
        guard let shape = dataset.fixedShape else {
            throw TrainingError("\(dataset.source): images differ in size; a PCA needs one size (--resize)")
        }
        var values = [Float](repeating: 0, count: dataset.count * shape.count)
        values.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<dataset.count { dataset.copySample(i, into: buffer.baseAddress! + i * shape.count) }
        }
        let labels = dataset.labels ?? [Int32](repeating: -1, count: dataset.count)
        try writeScatter(projectTo2D(values, width: shape.count), labels: labels, title: title, axes: ("PC 1", "PC 2"),
                         to: path)
    }

    /// Points coloured by label (up to 20 classes; one colour when unlabelled), over light grey
    /// `prior` draws when given.
    static func writeScatter(_ points: [(x: Double, y: Double)], labels: [Int32], title: String,
                             axes: (x: String, y: String), prior: [(x: Double, y: Double)] = [], to path: String) throws {
        var plot = LinePlot(title: title, xLabel: axes.x, yLabel: axes.y)
        plot.connectsPoints = false
        plot.markerRadius = 1
        let palette: [(UInt8, UInt8, UInt8)] = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40),
                                                (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127),
                                                (188, 189, 34), (23, 190, 207)]
        let classes = Set(labels.filter { $0 >= 0 }).sorted()
        if !prior.isEmpty { plot.add("prior", color: (200, 200, 200), points: prior) }
        if classes.isEmpty {
            plot.add("test codes", color: palette[0], points: points)
            plot.showsLegend = false
        } else {
            for label in classes.prefix(20) {
                let chosen = points.indices.filter { labels[$0] == label }.map { points[$0] }
                plot.add("\(label)", color: palette[Int(label) % palette.count], points: chosen)
            }
        }
        try PNGCodec.write(plot.render(), to: path)
    }

    /// 2-D points from codes (rows x width): the code itself when width is 2, (index, code) when
    /// 1, else the projection on the first two principal components (power iteration, double).
    public static func projectTo2D(_ codes: [Float], width z: Int) -> [(x: Double, y: Double)] {
        let n = codes.count / max(z, 1)
        if z == 1 { return (0..<n).map { (Double($0), Double(codes[$0])) } }
        if z == 2 { return (0..<n).map { (Double(codes[2 * $0]), Double(codes[2 * $0 + 1])) } }
        var mean = [Double](repeating: 0, count: z)
        for r in 0..<n { for j in 0..<z { mean[j] += Double(codes[r * z + j]) / Double(n) } }
        // The covariance as one GEMM of the centred codes (a loop in Double took seconds for
        // 10,000 codes of 1,000 units); single precision is plenty for a plot's axes.
        let centred = FloatBuffer(count: n * z), product = FloatBuffer(count: z * z)
        for r in 0..<n { for j in 0..<z { centred[r * z + j] = Float(Double(codes[r * z + j]) - mean[j]) } }
        withExtendedLifetime(centred) {
            let x = Matrix(centred.pointer, rows: n, cols: z)
            gemm(x, transposeA: true, x, into: Matrix(product.pointer, rows: z, cols: z))
        }
        let cov = (0..<(z * z)).map { Double(product[$0]) }
        var components: [[Double]] = []
        for k in 0..<2 {
            var v = (0..<z).map { Double(($0 * 7 + k * 3) % 5 + 1) }
            for _ in 0..<200 {
                var w = [Double](repeating: 0, count: z)
                for i in 0..<z { for j in 0..<z { w[i] += cov[i * z + j] * v[j] } }
                for c in components {
                    let dot = zip(w, c).reduce(0) { $0 + $1.0 * $1.1 }
                    for i in 0..<z { w[i] -= dot * c[i] }
                }
                let norm = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
                guard norm > 1e-12 else { break }
                v = w.map { $0 / norm }
            }
            components.append(v)
        }
        return (0..<n).map { r in
            var p = (0.0, 0.0)
            for j in 0..<z {
                let a = Double(codes[r * z + j]) - mean[j]
                p.0 += a * components[0][j]
                p.1 += a * components[1][j]
            }
            return (p.0, p.1)
        }
    }
}
