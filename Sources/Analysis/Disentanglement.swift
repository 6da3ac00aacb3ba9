// What a disentangling model separated, measured: linear probes of the label from the free code
// (lower is better) and from the labelled part, and swap consistency (a classifier trained on
// real training data labels the outputs decoded from one sample's free code and another's
// label; how often it names the intended label). The swap grid and, for sequences, conversion
// plots show the same swaps.

import Datasets
import Engine
import Foundation
import Images
import Kernels
import Models
import Training

extension TrainingRun {
    public struct Disentanglement: Sendable {
        public var classes: Int
        /// 1 / the test split's classes: what a probe that learned nothing scores.
        public var chance: Double
        /// Linear-probe balanced accuracy (mean per-class recall) of the label from the free code
        /// (test split; lower is better).
        public var freeProbe: Double
        /// The same from the labelled part of the code.
        public var labelledProbe: Double
        /// How often the classifier gives swapped outputs the label they were decoded with.
        public var swapConsistency: Double
        /// The classifier's accuracy on real test data (the ceiling of swap consistency).
        public var classifierAccuracy: Double
        public var swaps: Int
    }

    public func disentanglingModel() throws -> any DisentanglingModel {
        guard let model = model as? any DisentanglingModel else {
            throw TrainingError("the \(config.family.rawValue) model does not separate a label (train --model disentangle)")
        }
        return model
    }

    /// Labels of `indices` (-1 where unknown).
    func labels(_ source: any BatchSource, _ indices: [Int]) -> [Int32] {
        var labels = [Int32](repeating: -1, count: indices.count)
        indices.withUnsafeBufferPointer { ids in
            labels.withUnsafeMutableBufferPointer { source.fillLabels(indices: ids, into: $0.baseAddress!) }
        }
        return labels
    }

    /// Clean rows (targets) of `indices`.
    func cleanRows(_ source: any BatchSource, _ indices: [Int]) -> [Float] {
        var rows = [Float](repeating: 0, count: indices.count * model.targetWidth)
        indices.withUnsafeBufferPointer { ids in
            rows.withUnsafeMutableBufferPointer {
                source.fill(indices: ids, epoch: evaluationEpoch, clean: $0.baseAddress!, corrupted: nil)
            }
        }
        return rows
    }

    /// Columns `range` of each code row.
    static func columns(_ codes: [Float], width: Int, _ range: Range<Int>) -> [Float] {
        let count = codes.count / width
        var result: [Float] = []
        result.reserveCapacity(count * range.count)
        for r in 0..<count { result += codes[(r * width + range.lowerBound)..<(r * width + range.upperBound)] }
        return result
    }

    /// Codes decoded from row `a`'s free columns and row `b`'s labelled columns, for each pair.
    func swappedCodes(_ codes: [Float], width: Int, model: any DisentanglingModel, pairs: [(a: Int, b: Int)]) -> [Float] {
        var result: [Float] = []
        result.reserveCapacity(pairs.count * width)
        for (a, b) in pairs {
            var code = Array(codes[(a * width)..<((a + 1) * width)])
            for j in model.labelledColumns { code[j] = codes[b * width + j] }
            result += code
        }
        return result
    }

    /// Decoded sequence rows take the length of the sequence whose free code they carry (the
    /// content), zero after it, as the data's rows.
    func shapeSequenceRows(_ rows: inout [Float], lengthsFrom sources: [Float]) {
        guard let size = config.model.specification.sequenceSize else { return }
        let width = model.targetWidth, data = size.steps * size.features
        for r in 0..<(rows.count / width) {
            let length = sources[r * width + data]
            rows[r * width + data] = length
            for i in (min(max(Int(length), 0), size.steps) * size.features)..<data { rows[r * width + i] = 0 }
        }
    }

    /// Probes and swap consistency on the test split. The classifier (one hidden layer of 256)
    /// trains `classifierEpochs` passes over the clean training rows.
    public func measureDisentanglement(classifierEpochs: Int = 5, seed: UInt64 = 1) throws -> Disentanglement {
        let latent = try disentanglingModel()
        let classes = latent.classes, width = latent.codeWidth
        let trainLabels = labels(trainSource, trainIndices), testLabels = labels(testSource, testIndices)
        guard testLabels.contains(where: { $0 >= 0 }) else {
            throw TrainingError("measuring disentanglement needs labels in the test split of \(config.data)")
        }
        let trainCodes = trainer.encode(trainSource, indices: trainIndices, epoch: evaluationEpoch)
        let testCodes = trainer.encode(testSource, indices: testIndices, epoch: evaluationEpoch)
        func probe(_ range: Range<Int>) -> Double {
            let probe = Probe(inputWidth: range.count, classes: classes, seed: seed)
            probe.fit(features: Self.columns(trainCodes, width: width, range), labels: trainLabels, seed: seed)
            return probe.balancedAccuracy(Self.columns(testCodes, width: width, range), labels: testLabels)
        }
        let freeProbe = probe(latent.freeColumns), labelledProbe = probe(latent.labelledColumns)

        let classifier = Probe(inputWidth: model.targetWidth, classes: classes, hidden: [256], seed: seed)
        classifier.fit(features: cleanRows(trainSource, trainIndices), labels: trainLabels, epochs: classifierEpochs,
                       learningRate: 1e-3, seed: seed)
        let testRows = cleanRows(testSource, testIndices)
        let classifierAccuracy = classifier.accuracy(testRows, labels: testLabels)

        // Each labelled test sample's free code with the label of the next one (in a seeded
        // order) whose label differs.
        let labelled = testLabels.indices.filter { testLabels[$0] >= 0 }
        var order = labelled
        var rng = SplitMix64(key: seed, 0x7377_6170)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        var pairs: [(a: Int, b: Int)] = []
        for (k, a) in order.enumerated() {
            for step in 1..<order.count {
                let b = order[(k + step) % order.count]
                if testLabels[b] != testLabels[a] {
                    pairs.append((a, b))
                    break
                }
            }
        }
        var swapped = trainer.decode(codes: swappedCodes(testCodes, width: width, model: latent, pairs: pairs))
        let rowWidth = model.targetWidth
        var sources = [Float](repeating: 0, count: pairs.count * rowWidth)
        for (r, pair) in pairs.enumerated() {
            sources.replaceSubrange((r * rowWidth)..<((r + 1) * rowWidth), with: testRows[(pair.a * rowWidth)..<((pair.a + 1) * rowWidth)])
        }
        shapeSequenceRows(&swapped, lengthsFrom: sources)
        let consistency = classifier.accuracy(swapped, labels: pairs.map { testLabels[$0.b] })
        return Disentanglement(classes: classes, chance: Probe.chance(testLabels), freeProbe: freeProbe,
                               labelledProbe: labelledProbe, swapConsistency: consistency,
                               classifierAccuracy: classifierAccuracy, swaps: pairs.count)
    }

    /// Images: a grid whose first row holds `columns` test images, one per label where the split
    /// has them (the label sources), and each further row a test image (the free-code source,
    /// left) followed by its free code decoded with each column's label. Sequences: for `rows`
    /// test sequences, the source, a sequence of another label (the reference) and the source
    /// converted to that label, per feature.
    public func writeSwaps(to path: String, rows: Int, columns: Int, scale: Int? = nil) throws {
        let latent = try disentanglingModel()
        let testLabels = labels(testSource, testIndices)
        let width = latent.codeWidth
        let codes = trainer.encode(testSource, indices: testIndices, epoch: evaluationEpoch)
        let clean = cleanRows(testSource, testIndices), rowWidth = model.targetWidth
        func row(_ p: Int) -> [Float] { Array(clean[(p * rowWidth)..<((p + 1) * rowWidth)]) }
        // One column per label, in label order, then more samples if columns remain.
        var columnPositions: [Int] = []
        for label in 0..<latent.classes where columnPositions.count < columns {
            if let p = testLabels.firstIndex(of: Int32(label)) { columnPositions.append(p) }
        }
        for p in testLabels.indices where columnPositions.count < columns && !columnPositions.contains(p) {
            columnPositions.append(p)
        }
        // Rows take the labels in turn (the next unused sample of each), so they show every class.
        var pools = [[Int]](repeating: [], count: latent.classes + 1)
        for p in testLabels.indices where !columnPositions.contains(p) {
            pools[testLabels[p] >= 0 ? Int(testLabels[p]) : latent.classes].append(p)
        }
        var rowPositions: [Int] = []
        var depth = 0
        while rowPositions.count < rows && pools.contains(where: { $0.count > depth }) {
            for pool in pools where pool.count > depth && rowPositions.count < rows { rowPositions.append(pool[depth]) }
            depth += 1
        }
        guard !columnPositions.isEmpty, !rowPositions.isEmpty else {
            throw TrainingError("a swap needs at least 2 test samples")
        }
        if let sequences = testSequences?.sequences {
            var plot = SequencePlot(featureNames: sequences.featureNames)
            plot.seriesNames = (original: "source", reconstruction: "converted", reference: "target reference")
            let d = sequences.features
            func name(_ label: Int32) -> String { sequences.classNames?[Int(label)] ?? "\(label)" }
            for (k, a) in rowPositions.enumerated() {
                // Targets in turn among the other labels.
                let others = columnPositions.filter { testLabels[$0] != testLabels[a] }
                guard !others.isEmpty else { continue }
                let b = others[k % others.count]
                var converted = trainer.decode(codes: swappedCodes(codes, width: width, model: latent, pairs: [(a, b)]))
                shapeSequenceRows(&converted, lengthsFrom: row(a))
                let n = sequences.length(of: testIndices[a]), m = sequences.length(of: testIndices[b])
                var source = Array(row(a)[0..<(n * d)]), reference = Array(row(b)[0..<(m * d)])
                var output = Array(converted[0..<(n * d)])
                if let standardization = config.standardization {
                    source = standardization.inverted(source)
                    reference = standardization.inverted(reference)
                    output = standardization.inverted(output)
                }
                plot.add("class \(name(testLabels[a])) as class \(name(testLabels[b])): \(n) steps", original: source,
                         reconstruction: output, reference: reference)
            }
            try plot.write(to: path)
            return
        }
        let shape = try gridShape()
        var grid = ImageGrid(tileWidth: shape.width, tileHeight: shape.height, channels: shape.channels)
        grid.scale = scale ?? ImageGrid.readableScale(tileHeight: shape.height)
        let axes = latent is AdaINAutoencoder
            ? "rows: the style of the left image\ncolumns: the content of the top image"
            : "rows: the free code (style) of the left image\ncolumns: the label of the top image"
        grid.caption = "\(config.modelDescription), epoch \(progress.epoch)\n" + axes
        var header = [Float](repeating: 0, count: rowWidth)
        for b in columnPositions { header += row(b) }
        grid.addRow(label: nil, tiles: header.map { min(max($0, 0), 1) })
        for a in rowPositions {
            let decoded = trainer.decode(codes: swappedCodes(codes, width: width, model: latent,
                                                             pairs: columnPositions.map { (a, $0) }))
            grid.addRow(label: nil, tiles: (row(a) + decoded).map { min(max($0, 0), 1) })
        }
        try PNGCodec.write(grid.render(), to: path)
    }
}
