// Reporting of a run: evaluation figures of the test split (loss parts, PSNR for denoisers),
// clean | corrupted | reconstruction grids and sequence plots, the loss plot, metrics and the
// log file.

import Datasets
import Engine
import Foundation
import Images
import Kernels
import Layers
import Models

extension TrainingRun {
    /// The training objective in its reported unit (per value, or per sample for likelihood
    /// models) plus penalties.
    func objective(_ sums: LossSums, rows: Int) -> Double {
        sums.objective / Double(rows * objectiveDivisor) + sums.penalty
    }

    /// Values per sample that the objective's sum is divided by (1 for a per-sample objective).
    var objectiveDivisor: Int { reporting.objectiveUnit == .perValue ? reporting.valuesPerTarget : 1 }

    /// The model's named loss parts as per-sample means over `samples` rows.
    func partList(_ parts: LossParts, samples: Int) -> [(name: String, value: Double)] {
        reporting.lossPartNames.enumerated().map { ($0.element, parts[$0.offset] / Double(max(samples, 1))) }
    }

    func partDictionary(_ list: [(name: String, value: Double)]) -> [String: Double]? {
        list.isEmpty ? nil : Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0.value) })
    }

    public struct Evaluation: Sendable {
        public var objective: Double
        public var squaredErrorPerImage: Double
        public var msePerPixel: Double
        /// BCE nats per image (BCE models), else nil.
        public var bcePerImage: Double?
        /// Mean PSNR (`ImageMetrics.reportedPSNR`) of the reconstructions and of the corrupted
        /// inputs against the clean images, per image then averaged (denoisers), else nil.
        public var psnr: Double?
        public var psnrNoisy: Double?
        /// The model's named loss parts per sample.
        public var parts: [(name: String, value: Double)] = []
    }

    /// `ImageMetrics.reportedPSNR` of the rows in `range` of two arrays.
    static func reportedPSNR(_ reference: [Float], _ image: [Float], _ range: Range<Int>,
                             _ kind: ImageMetrics.ScoredImage) -> Double {
        reference.withUnsafeBufferPointer { a in
            image.withUnsafeBufferPointer { b in
                ImageMetrics.reportedPSNR(a.baseAddress! + range.lowerBound, b.baseAddress! + range.lowerBound,
                                          count: range.count, scoring: kind)
            }
        }
    }

    /// Loss figures over `indices` of the test set (or of `source`; fixed evaluation noise), in
    /// batches; PSNR for denoisers, or for any image model with `psnr`.
    public func evaluate(indices: [Int], source: (any BatchSource)? = nil, psnr: Bool = false) -> Evaluation {
        let testSource = source ?? self.testSource
        var total = LossSums()
        var penaltyBatches = 0.0
        var start = 0
        let measurePSNR = (isDenoiser || psnr) && !isSequenceData
        let width = model.targetWidth
        var clean = [Float](repeating: 0, count: measurePSNR ? config.batchSize * width : 0)
        var noisy = clean, recon = clean
        var psnrSum = 0.0, psnrNoisySum = 0.0
        while start < indices.count {
            let end = min(start + config.batchSize, indices.count)
            let sums: LossSums
            if measurePSNR {
                sums = indices[start..<end].withUnsafeBufferPointer { ids in
                    testSource.fill(indices: ids, epoch: evaluationEpoch, clean: &clean, corrupted: nil)
                    return trainer.evaluate(testSource, indices: ids, epoch: evaluationEpoch,
                                            reconstructions: &recon, inputs: &noisy)
                }
                for r in 0..<(end - start) {
                    let range = (r * width)..<((r + 1) * width)
                    psnrSum += Self.reportedPSNR(clean, recon, range, .output)
                    psnrNoisySum += Self.reportedPSNR(clean, noisy, range, .input)
                }
            } else {
                sums = indices[start..<end].withUnsafeBufferPointer {
                    trainer.evaluate(testSource, indices: $0, epoch: evaluationEpoch)
                }
            }
            total.objective += sums.objective
            total.squaredError += sums.squaredError
            total.parts += sums.parts
            total.penalty += sums.penalty * Double(end - start)
            penaltyBatches += Double(end - start)
            start = end
        }
        let n = Double(indices.count), d = Double(reporting.valuesPerTarget)
        return Evaluation(objective: total.objective / (n * Double(objectiveDivisor)) + total.penalty / max(penaltyBatches, 1),
                          squaredErrorPerImage: total.squaredError / n, msePerPixel: total.squaredError / (n * d),
                          bcePerImage: config.loss == .bce && reporting.objectiveUnit == .perValue ? total.objective / n : nil,
                          psnr: measurePSNR ? psnrSum / n : nil, psnrNoisy: measurePSNR ? psnrNoisySum / n : nil,
                          parts: partList(total.parts, samples: indices.count))
    }

    /// The first `count` hidden units' weights over the image (rows of 10), each stretched over
    /// its own mean +- 3 standard deviations (black to white).
    public func writeFilters(of model: any FilterModel, to path: String, count: Int = 100) throws {
        try Self.writeFilterGrid(trainer.params.pointer + model.filterOffset, count: min(count, model.filterCount),
                                 shape: try gridShape(), to: path)
    }

    /// `count` filters of `shape.count` values each, back to back, as a grid of tiles (rows of
    /// 10), each stretched over its own mean +- 3 standard deviations (black to white, clipped):
    /// a min-max stretch let one extreme weight (a pixel that is almost never on) gray out the rest.
    static func writeFilterGrid(_ filters: UnsafePointer<Float>, count: Int, shape: ImageShape, to path: String) throws {
        let width = shape.count
        var grid = ImageGrid(tileWidth: shape.width, tileHeight: shape.height, channels: shape.channels)
        var row: [Float] = []
        for j in 0..<count {
            let filter = UnsafeBufferPointer(start: filters + j * width, count: width)
            let mean = filter.reduce(0, +) / Float(width)
            let spread = 3 * (filter.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(width)).squareRoot()
            let low = max(filter.min() ?? 0, mean - spread), high = min(filter.max() ?? 0, mean + spread)
            row += filter.map { high > low ? min(max(($0 - low) / (high - low), 0), 1) : 0.5 }
            if (j + 1) % 10 == 0 || j == count - 1 {
                grid.addRow(label: nil, tiles: row)
                row.removeAll(keepingCapacity: true)
            }
        }
        try PNGCodec.write(grid.render(), to: path)
    }

    /// True for the fully convolutional denoiser (PSNR figures, "denoised" grid rows).
    var isDenoiser: Bool { config.model.specification.denoisesWholeImages }

    /// True when the run reads sequence files (standardized values, not images).
    public var isSequenceData: Bool { testSequences != nil }

    /// The test split's indices (the held-out part for single-split sources).
    public var testSampleCount: Int { testIndices.count }

    /// Evaluation over the whole test split.
    public func evaluateTestSplit(psnr: Bool = false) -> Evaluation { evaluate(indices: testIndices, psnr: psnr) }

    /// Writes a clean | corrupted | reconstruction grid of the first `count` test samples
    /// (rows of up to 10 samples); for sequence data, a plot of original vs reconstruction per
    /// feature of the first few test sequences, in the data's units. `scale` nil: a readable
    /// one for the tile size (`ImageGrid.readableScale`).
    public func writeGrid(to path: String, count: Int, scale: Int? = nil, caption: String? = nil) throws {
        try writeGrid(gridRows(count: count), to: path, scale: scale, caption: caption)
    }

    /// `count` test samples (3 sequences at most), clean, corrupted and reconstructed; collective
    /// under MPI (every rank evaluates its shards' rows).
    public func gridRows(count: Int) -> GridRows {
        let shown = testSequences == nil ? count : min(count, 3)
        let ids = gridSamples(min(shown, config.batchSize))
        let width = model.targetWidth
        var clean = [Float](repeating: 0, count: ids.count * width)
        var noisy = clean, recon = clean
        ids.withUnsafeBufferPointer { p in
            clean.withUnsafeMutableBufferPointer { c in
                testSource.fill(indices: p, epoch: evaluationEpoch, clean: c.baseAddress!, corrupted: nil)
            }
            noisy.withUnsafeMutableBufferPointer { n in
                recon.withUnsafeMutableBufferPointer { r in
                    _ = trainer.evaluate(testSource, indices: p, epoch: evaluationEpoch,
                                         reconstructions: r.baseAddress!, inputs: n.baseAddress!)
                }
            }
        }
        return GridRows(ids: ids, clean: clean, noisy: noisy, reconstructions: recon)
    }

    /// The test samples a grid shows: the first of each class in turn where the data has labels
    /// (a split sorted by class folder would otherwise show one class), else the first ones.
    func gridSamples(_ count: Int) -> [Int] {
        var labels = [Int32](repeating: -1, count: testIndices.count)
        testIndices.withUnsafeBufferPointer { ids in
            labels.withUnsafeMutableBufferPointer { testSource.fillLabels(indices: ids, into: $0.baseAddress!) }
        }
        var pools: [Int32: [Int]] = [:]
        for (position, label) in labels.enumerated() where label >= 0 { pools[label, default: []].append(position) }
        guard pools.count > 1 else { return Array(testIndices.prefix(count)) }
        var chosen: [Int] = [], depth = 0
        let classes = pools.keys.sorted()
        while chosen.count < min(count, testIndices.count) {
            for label in classes where chosen.count < count {
                if let pool = pools[label], depth < pool.count { chosen.append(testIndices[pool[depth]]) }
            }
            depth += 1
            if chosen.count < count && classes.allSatisfy({ depth >= pools[$0]!.count }) {
                // Unlabelled samples fill what the classes leave.
                chosen += testIndices.indices.filter { labels[$0] < 0 }.prefix(count - chosen.count).map { testIndices[$0] }
                break
            }
        }
        return chosen
    }

    /// Draws `rows` as a grid (images of 1 or 3 channels; nothing for others) or a sequence plot.
    public func writeGrid(_ rows: GridRows, to path: String, scale: Int? = nil, caption: String? = nil) throws {
        let ids = rows.ids, width = model.targetWidth
        let (clean, noisy, recon) = (rows.clean, rows.noisy, rows.reconstructions)
        if let sequences = testSequences?.sequences {
            var plot = SequencePlot(featureNames: sequences.featureNames)
            let d = sequences.features
            for (r, id) in ids.enumerated() {
                let n = sequences.length(of: id)
                var original = Array(clean[(r * width)..<(r * width + n * d)])
                var reconstruction = Array(recon[(r * width)..<(r * width + n * d)])
                if let standardization = config.standardization {
                    original = standardization.inverted(original)
                    reconstruction = standardization.inverted(reconstruction)
                }
                var caption = sequences.files?[id] ?? "sequence \(id + 1)"
                if let labels = sequences.labels {
                    caption += " (class " + (sequences.classNames?[Int(labels[id])] ?? "\(labels[id])") + ")"
                }
                plot.add(caption + ": \(n) steps", original: original, reconstruction: reconstruction)
            }
            try plot.write(to: path)
            return
        }
        guard let shape = testImages?.rowShape, shape.channels == 1 || shape.channels == 3 else { return }
        var grid = ImageGrid(tileWidth: shape.width, tileHeight: shape.height, channels: shape.channels)
        grid.scale = scale ?? ImageGrid.readableScale(tileHeight: shape.height)
        grid.caption = caption
        let perRow = 10
        for start in stride(from: 0, to: ids.count, by: perRow) {
            let range = (start * width)..<(min(start + perRow, ids.count) * width)
            grid.addRow(label: "clean", tiles: Array(clean[range]))
            if !corruption.isNone { grid.addRow(label: "noisy", tiles: Array(noisy[range])) }
            grid.addRow(label: isDenoiser ? "denoised" : "recon", tiles: Array(recon[range]))
        }
        try PNGCodec.write(grid.render(), to: path)
    }

    /// The loss per epoch so far (log scale), train, test and the model's test loss parts.
    func writePlot(to path: String) throws {
        var series: [(String, (UInt8, UInt8, UInt8), [(x: Double, y: Double)])] = [
            ("train", (31, 119, 180), progress.history.map { (Double($0.epoch), $0.trainLoss) }),
            ("test", (214, 39, 40), progress.history.compactMap { r in r.testLoss.map { (Double(r.epoch), $0) } }),
        ]
        let colors: [(UInt8, UInt8, UInt8)] = [(44, 160, 44), (148, 103, 189), (140, 86, 75), (227, 119, 194)]
        for (i, name) in reporting.lossPartNames.enumerated() {
            series.append(("test " + name, colors[i % colors.count],
                           progress.history.compactMap { r in r.testParts?[name].map { (Double(r.epoch), $0) } }))
        }
        // A log axis only when every value can be drawn on it (an RBM's free energy goes negative).
        let logScale = series.allSatisfy { $0.2.allSatisfy { !$0.y.isFinite || $0.y > 0 } }
        let unit = reporting.objectiveUnit == .perSample ? "per sample" : "per value"
        let yLabel = "objective " + unit + (logScale ? ", log scale" : "")
        var plot = LinePlot(title: "loss per epoch", xLabel: "epoch", yLabel: yLabel, logScaleY: logScale)
        for (name, color, points) in series { plot.add(name, color: color, points: points) }
        try PNGCodec.write(plot.render(), to: path)
    }

    func metrics(wallSeconds: Double, samples: Int) -> [String: Double] {
        var m: [String: Double] = ["epochs_done": Double(progress.history.count), "steps": Double(trainer.step),
                                   "wall_seconds": wallSeconds,
                                   "train_samples_per_second": Double(samples) / max(wallSeconds, 1e-9)]
        if let last = progress.history.last {
            m["train_loss"] = last.trainLoss
            m["test_loss"] = last.testLoss
            m["test_squared_error_per_image"] = last.testSquaredErrorPerImage
            m["test_mse_per_pixel"] = last.testMSEPerPixel
            m["test_psnr"] = last.testPSNR
            m["test_psnr_noisy"] = last.testPSNRNoisy
            for (name, value) in last.trainParts ?? [:] { m["train_" + name] = value }
            for (name, value) in last.testParts ?? [:] { m["test_" + name] = value }
        }
        if let best = progress.history.filter({ $0.testSquaredErrorPerImage != nil })
            .min(by: { $0.testSquaredErrorPerImage! < $1.testSquaredErrorPerImage! }) {
            m["best_epoch"] = Double(best.epoch)
            m["best_test_squared_error_per_image"] = best.testSquaredErrorPerImage
            m["best_test_mse_per_pixel"] = best.testMSEPerPixel
        }
        if let best = progress.history.filter({ $0.testLoss != nil }).min(by: { $0.testLoss! < $1.testLoss! }) {
            m["best_test_loss"] = best.testLoss
            m["best_test_loss_epoch"] = Double(best.epoch)
        }
        if let best = progress.history.filter({ $0.testPSNR != nil }).max(by: { $0.testPSNR! < $1.testPSNR! }) {
            m["best_test_psnr"] = best.testPSNR
            m["best_test_psnr_noisy"] = best.testPSNRNoisy
        }
        return m
    }
}

/// Appends one JSON object per line, flushed as it goes.
public final class LogFile {
    let handle: FileHandle
    /// Made once: the log writes a line every --log-every steps.
    let clock: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()

    init(path: String, append: Bool) throws {
        if !append || !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw TrainingError("\(path): cannot open the log for writing")
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    /// Writes `object` with the wall-clock time it was written ("time", ISO 8601, UTC).
    func write(_ object: [String: Any]) {
        var stamped = object
        stamped["time"] = clock.string(from: Date())
        handle.write(LogFile.json(stamped) + Data("\n".utf8))
    }

    /// JSON of `object` with non-finite numbers as null (JSON has no NaN): a diverged loss is
    /// logged, not dropped.
    public static func json(_ object: [String: Any], pretty: Bool = false) -> Data {
        func clean(_ value: Any) -> Any {
            switch value {
            case let d as Double: return d.isFinite ? d : NSNull()
            case let f as Float: return f.isFinite ? Double(f) : NSNull()
            case let dictionary as [String: Any]: return dictionary.mapValues(clean)
            case let array as [Any]: return array.map(clean)
            default: return value
            }
        }
        let options: JSONSerialization.WritingOptions = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
        return (try? JSONSerialization.data(withJSONObject: clean(object), options: options)) ?? Data("{}".utf8)
    }

    deinit { try? handle.close() }
}
