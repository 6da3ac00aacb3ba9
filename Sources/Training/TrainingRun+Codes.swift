// The codes of a run's test split and their scatter plot (drawn at each epoch's end), and the
// PCA baseline of a data set.

import Datasets
import Engine
import Foundation
import Images
import Kernels
import Models

/// Codes of a trained run's test split.
extension TrainingRun {
    /// The model as a latent model, or a one-line reason why it has no code to work with.
    public func latentModel() throws -> any LatentModel {
        guard let latent = model as? any LatentModel else {
            throw TrainingError("the \(config.family.rawValue) model has no code these tools can decode "
                + "(they take dense, deep, sparse, denoising, dropout, contractive, conv, lstm, gru, vae, aae, "
                + "disentangle and rbm checkpoints)")
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

    /// The image shape of a row, for grids; nil for sequence data.
    public func gridShape() throws -> ImageShape {
        guard let shape = testImages?.rowShape, shape.channels == 1 || shape.channels == 3 else {
            throw TrainingError(isSequenceData ? "image grids need image data; for sequences encode and interpolate "
                + "(plots) run, and training plots each epoch's reconstructions"
                : "grids need image data of 1 or 3 channels")
        }
        return shape
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
                              prior: drawn, classNames: classNames, to: path)
    }

    /// Names of the test data's classes (class folders, sequence labels), nil where they are indices.
    public var classNames: [String]? {
        testImages?.dataset.classNames ?? testSequences?.sequences.classNames
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
                         classNames: dataset.classNames, to: path)
    }

    /// Points coloured by label (up to 20 classes; one colour when unlabelled), over light grey
    /// `prior` draws when given; the legend names the classes where `classNames` has them.
    static func writeScatter(_ points: [(x: Double, y: Double)], labels: [Int32], title: String,
                             axes: (x: String, y: String), prior: [(x: Double, y: Double)] = [],
                             classNames: [String]? = nil, to path: String) throws {
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
                let name = classNames.flatMap { Int(label) < $0.count ? $0[Int(label)] : nil } ?? "\(label)"
                plot.add(name, color: palette[Int(label) % palette.count], points: chosen)
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
