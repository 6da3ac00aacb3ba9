// `autoencoder inspect`: what a data source holds. PNG folders are read header by header unless
// --decode asks for every file to be decoded (a full check, pixel statistics); other sources are
// always read whole.

import ArgumentParser
import Datasets
import Engine
import Files
import Foundation
import Training

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a data source and print what it holds.",
        discussion: "Exits 0 and prints counts for a good source; exits 1 with a one-line reason otherwise.")

    @OptionGroup var dataOptions: DataOptions

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @Flag(help: ArgumentHelp("PNG folders: decode every file (a full check, pixel statistics and the "
        + "transparency warning) instead of reading only each file's header."))
    var decode = false

    @Option(help: ArgumentHelp("Also write the 2-component PCA of the test split (else the training split) as a "
        + "scatter coloured by label: the linear baseline for a 2-D code.", valueName: "png"))
    var pcaScatter: String?

    struct SplitSummary: Codable {
        var split: String
        var count: Int
        var width: Int?
        var height: Int?
        var minWidth: Int
        var minHeight: Int
        var channels: Int
        var bitDepth: Int
        /// Nil when only headers were read.
        var pixelMean: Double?
        var pixelStd: Double?
        var maxWidth: Int?
        var maxHeight: Int?
        var labels: [String: Int]?
        var source: String
    }

    struct Summary: Codable {
        var path: String
        var kind: String
        var total: Int
        var splits: [SplitSummary]
        var skipped: [String]
        /// False when only headers were read (PNG folders without --decode).
        var decoded = true
    }

    struct SequenceSplitSummary: Codable {
        var split: String
        var count: Int
        var features: Int
        var featureNames: [String]
        var minLength: Int
        var maxLength: Int
        var steps: Int
        var labels: [String: Int]?
        var source: String
    }

    struct SequenceSummary: Codable {
        var path: String
        var kind: String
        var total: Int
        var splits: [SequenceSplitSummary]
    }

    func run() throws {
        if SequenceSource.looksLikeSequences(dataOptions.data) { return try inspectSequences() }
        if !decode && pcaScatter == nil, try inspectHeaders() { return }
        if pcaScatter == nil, try inspectDecodingEachFile() { return }
        let started = Date()
        let source = try dataOptions.load(allowMixedSizes: true)
        let seconds = Date().timeIntervalSince(started)
        var splits = [("train", source.train)]
        if let test = source.test { splits.append(("test", test)) }
        let summaries = splits.map { name, dataset in
            let stats = dataset.pixelStatistics()
            let labels = Self.labelCounts(dataset.labelHistogram(), names: dataset.classNames)
            let minimum = dataset.minimumSize
            return SplitSummary(split: name, count: dataset.count, width: dataset.fixedShape?.width,
                                height: dataset.fixedShape?.height, minWidth: minimum.width,
                                minHeight: minimum.height, channels: dataset.channels,
                                bitDepth: dataset.bitDepth, pixelMean: stats.mean, pixelStd: stats.std,
                                maxWidth: nil, maxHeight: nil, labels: labels, source: dataset.source)
        }
        let summary = Summary(path: source.path, kind: source.kind.rawValue,
                              total: summaries.reduce(0) { $0 + $1.count }, splits: summaries,
                              skipped: source.skipped.map { $0.description })
        if let pcaScatter {
            let (name, dataset) = splits.last!
            try TrainingRun.writePCAScatter(of: dataset, to: pcaScatter,
                                            title: "2-component PCA, \(name) split (\(dataset.count) samples)")
        }
        if json {
            try Self.printJSON(summary)
            return
        }
        print("\(source.path): \(source.kind.rawValue), \(summary.total) images "
            + "(decoded in \(String(format: "%.2f", seconds)) s, "
            + "\(Int(Double(summary.total) / max(seconds, 1e-9))) images/s)")
        for (s, (_, dataset)) in zip(summaries, splits) {
            Self.printDecoded(s)
            Self.printLabels(dataset.labelHistogram(), names: dataset.classNames)
        }
        for file in source.skipped {
            print("  skipped \(file.path): \(file.reason)")
        }
        if let pcaScatter { print("PCA scatter: \(pcaScatter)") }
    }

    /// A decoded split's line of size, channels and depth, and its pixel statistics.
    static func printDecoded(_ s: SplitSummary) {
        let size = s.width.map { "\($0)x\(s.height!)" } ?? "sizes vary, smallest \(s.minWidth)x\(s.minHeight)"
        print("  \(s.split): \(s.count) images, \(size), \(s.channels) channel\(s.channels == 1 ? "" : "s"), \(s.bitDepth)-bit")
        print("    pixels: mean \(String(format: "%.4f", s.pixelMean ?? 0)), std \(String(format: "%.4f", s.pixelStd ?? 0))")
    }

    /// Samples per class, in label order ("labels: none" without labels).
    static func printLabels(_ histogram: [Int], names: [String]?) {
        guard !histogram.isEmpty else { return print("    labels: none") }
        let classes = histogram.enumerated().filter { $0.element > 0 }
        print("    labels: \(classes.count) classes | "
            + classes.map { "\(names?[$0.offset] ?? String($0.offset)): \($0.element)" }.joined(separator: " "))
    }

    /// Samples per class name (nil without labels).
    static func labelCounts(_ histogram: [Int], names: [String]?) -> [String: Int]? {
        guard !histogram.isEmpty else { return nil }
        var counts: [String: Int] = [:]
        for (label, count) in histogram.enumerated() where count > 0 { counts[names?[label] ?? String(label)] = count }
        return counts
    }

    static func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// A PNG folder from its files' headers alone (nothing decoded); false when the data is not a
    /// PNG folder.
    func inspectHeaders() throws -> Bool {
        let started = Date()
        let found = try DataSource.index(dataOptions.data, options: dataOptions.folderOptions(allowMixedSizes: true))
        guard let found else { return false }
        let seconds = Date().timeIntervalSince(started)
        var splits = [("train", found.train)]
        if let test = found.test { splits.append(("test", test)) }
        let summaries = splits.map { name, index in
            let labels = Self.labelCounts(index.labelHistogram(), names: index.classNames)
            let range = index.sizeRange
            return SplitSummary(split: name, count: index.files.count, width: index.fixedSize?.width,
                                height: index.fixedSize?.height, minWidth: range.smallest.width,
                                minHeight: range.smallest.height, channels: index.channels, bitDepth: index.bitDepth,
                                pixelMean: nil, pixelStd: nil, maxWidth: range.largest.width,
                                maxHeight: range.largest.height, labels: labels, source: index.folder)
        }
        let skipped = splits.flatMap { $0.1.skipped }
        let summary = Summary(path: found.path, kind: DataSource.Kind.pngFolder.rawValue,
                              total: summaries.reduce(0) { $0 + $1.count }, splits: summaries,
                              skipped: skipped.map(\.description), decoded: false)
        if json {
            try Self.printJSON(summary)
            return true
        }
        print("\(found.path): \(summary.kind), \(summary.total) images (headers read in "
            + "\(String(format: "%.2f", seconds)) s; --decode checks every file fully)")
        for (s, (_, index)) in zip(summaries, splits) {
            let size = s.width.map { "\($0)x\(s.height!)" }
                ?? "sizes vary, \(s.minWidth)x\(s.minHeight) to \(s.maxWidth!)x\(s.maxHeight!)"
            print("  \(s.split): \(s.count) images, \(size), \(s.channels) channel"
                + "\(s.channels == 1 ? "" : "s"), \(s.bitDepth)-bit")
            Self.printLabels(index.labelHistogram(), names: index.classNames)
        }
        let bytes = splits.reduce(0) { $0 + $1.1.totalSampleBytes }
        let budget = TrainingConfig.defaultCacheMemory
        print("  decoded: \(ImageCache.format(bytes)) of samples; " + (bytes <= budget
            ? "train loads them whole (they fit in the default --cache-memory of \(ImageCache.format(budget)))"
            : "train streams them through --cache-memory (default \(ImageCache.format(budget)))"))
        for file in skipped { print("  skipped \(file.path): \(file.reason)") }
        return true
    }

    /// A PNG folder decoded file by file (one image per core at a time, nothing kept but a
    /// histogram), so a folder of any size is checked; false when the data is not a PNG folder.
    func inspectDecodingEachFile() throws -> Bool {
        let started = Date()
        let options = dataOptions.folderOptions(allowMixedSizes: true)
        let found = try DataSource.index(dataOptions.data, options: options)
        guard let found else { return false }
        var splits = [("train", found.train)]
        if let test = found.test { splits.append(("test", test)) }
        let total = splits.reduce(0) { $0 + $1.1.files.count }
        let terminal = isatty(2) != 0
        var scans: [PNGFolder.Scan] = []
        var before = 0
        for (_, index) in splits {
            let offset = before
            scans.append(PNGFolder.scan(index, options: options) { done in
                if terminal { FileHandle.standardError.write(Data("\rdecoded \(offset + done)/\(total) files".utf8)) }
            })
            before += index.files.count
        }
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        let seconds = Date().timeIntervalSince(started)
        let failures = (splits.flatMap { $0.1.skipped } + scans.flatMap(\.failures)).sorted { $0.path < $1.path }
        if !dataOptions.skipBad, let first = failures.first {
            throw CommandFailure(message: InputError(.corrupt, path: first.path, first.reason).description)
        }
        var summaries: [SplitSummary] = []
        var labelHistograms: [(histogram: [Int], names: [String]?)] = []
        for ((name, index), scan) in zip(splits, scans) {
            let kept = index.files.indices.filter { scan.decoded[$0] }
            let stats = Dataset.statistics(histogram: scan.histogram, bitDepth: index.bitDepth)
            let sub = index.subset(kept)
            let fixed = kept.isEmpty ? nil : sub.fixedSize
            let smallest = kept.isEmpty ? (height: 0, width: 0) : sub.sizeRange.smallest
            summaries.append(SplitSummary(split: name, count: kept.count, width: fixed?.width, height: fixed?.height,
                                          minWidth: smallest.width, minHeight: smallest.height, channels: index.channels,
                                          bitDepth: index.bitDepth, pixelMean: stats.mean, pixelStd: stats.std,
                                          maxWidth: nil, maxHeight: nil,
                                          labels: Self.labelCounts(sub.labelHistogram(), names: sub.classNames),
                                          source: index.folder))
            labelHistograms.append((sub.labelHistogram(), sub.classNames))
        }
        let transparent = scans.reduce(0) { $0 + $1.transparentImages }
        if dataOptions.backgroundLevel == nil, let warning = DataSource.transparencyWarning(
            count: transparent, path: found.path, background: dataOptions.background) {
            FileHandle.standardError.write(Data(("warning: " + warning + "\n").utf8))
        }
        let summary = Summary(path: found.path, kind: DataSource.Kind.pngFolder.rawValue,
                              total: summaries.reduce(0) { $0 + $1.count }, splits: summaries,
                              skipped: failures.map(\.description))
        if json {
            try Self.printJSON(summary)
            return true
        }
        print("\(found.path): \(summary.kind), \(summary.total) images (decoded in \(String(format: "%.2f", seconds)) s, "
            + "\(Int(Double(summary.total) / max(seconds, 1e-9))) images/s, one at a time per core)")
        for (s, labels) in zip(summaries, labelHistograms) {
            Self.printDecoded(s)
            Self.printLabels(labels.histogram, names: labels.names)
        }
        for file in failures { print("  skipped \(file.path): \(file.reason)") }
        return true
    }

    /// Sequence files (CSV folder, CSV with an id column, UEA .ts): counts, lengths, classes.
    func inspectSequences() throws {
        let splits = try SequenceSource.loadSplits(dataOptions.data, idColumn: dataOptions.sequenceID,
                                                   labelColumn: dataOptions.sequenceLabel)
        var named = [("train", splits.train)]
        if let test = splits.test { named.append(("test", test)) }
        let summaries = named.map { name, set in
            let labels = Self.labelCounts(set.labelHistogram(), names: set.classNames)
            return SequenceSplitSummary(split: name, count: set.count, features: set.features,
                                        featureNames: set.featureNames, minLength: set.minLength,
                                        maxLength: set.maxLength, steps: set.totalSteps, labels: labels,
                                        source: set.source)
        }
        let summary = SequenceSummary(path: dataOptions.data, kind: "sequences",
                                      total: summaries.reduce(0) { $0 + $1.count }, splits: summaries)
        if json {
            try Self.printJSON(summary)
            return
        }
        print("\(dataOptions.data): sequences, \(summary.total) in all")
        for s in summaries {
            let names = s.featureNames.prefix(6).joined(separator: ",") + (s.features > 6 ? ",..." : "")
            print("  \(s.split): \(s.count) sequences (\(s.source)), \(s.features) features (\(names)), "
                + "\(s.minLength)-\(s.maxLength) steps, \(s.steps) steps in all")
            if let labels = s.labels {
                let parts = labels.sorted { $0.key.localizedStandardCompare($1.key) == .orderedAscending }
                print("    labels: \(labels.count) classes | " + parts.map { "\($0.key): \($0.value)" }.joined(separator: " "))
            } else {
                print("    labels: none")
            }
        }
    }
}
