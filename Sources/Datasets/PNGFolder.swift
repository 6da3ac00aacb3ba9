// A folder of PNG images (searched recursively) as a dataset: decoded once, in parallel, through
// libpng; converted to gray or RGB with alpha composited on a stated background; made one size by
// resizing or centre-cropping, or kept at native sizes for random-patch training.

import Dispatch
import Files
import Foundation
import Images

/// How a PNG folder becomes samples.
public struct PNGFolderOptions: Sendable, Equatable {
    /// 1 (gray) or 3 (RGB); nil picks 3 when any file is in color, else 1.
    public var channels: Int?
    /// Gray level in [0, 1] that transparent pixels are composited on.
    public var background: Float
    /// Resize every image to (width, height).
    public var resize: (width: Int, height: Int)?
    public var resizeFilter: ResizeFilter
    /// Centre-crop every image (after any resize) to (width, height).
    public var crop: (width: Int, height: Int)?
    /// Keep native sizes (random patches are cut at training time).
    public var allowMixedSizes: Bool
    /// Skip files libpng rejects (listed in the result) instead of failing.
    public var skipBad: Bool
    /// Pixels an image may declare (checked before decoding it).
    public var maxPixels = PNGCodec.defaultMaxPixels
    /// Class names that labels index (a test split takes its training split's); nil: the class
    /// folders found, sorted.
    public var classNames: [String]?

    public init(channels: Int? = nil, background: Float = 0, resize: (width: Int, height: Int)? = nil,
                resizeFilter: ResizeFilter = .area, crop: (width: Int, height: Int)? = nil,
                allowMixedSizes: Bool = false, skipBad: Bool = false) {
        self.channels = channels
        self.background = background
        self.resize = resize
        self.resizeFilter = resizeFilter
        self.crop = crop
        self.allowMixedSizes = allowMixedSizes
        self.skipBad = skipBad
    }

    public static func == (a: PNGFolderOptions, b: PNGFolderOptions) -> Bool {
        a.channels == b.channels && a.background == b.background
            && a.resize?.width == b.resize?.width && a.resize?.height == b.resize?.height
            && a.resizeFilter == b.resizeFilter && a.crop?.width == b.crop?.width
            && a.crop?.height == b.crop?.height && a.allowMixedSizes == b.allowMixedSizes
            && a.skipBad == b.skipBad && a.classNames == b.classNames && a.maxPixels == b.maxPixels
    }
}

extension PNGFolderOptions {
    /// These options with a pixel limit (nil keeps the default).
    public func withMaxPixels(_ limit: Int?) -> PNGFolderOptions {
        var options = self
        if let limit { options.maxPixels = limit }
        return options
    }
}

extension PNGFolder {
    /// What the error of a rejected file adds: the way past it.
    static let skipBadHint = "; --skip-bad leaves rejected files out and lists them"
}

/// A file left out of a dataset with `--skip-bad`, and why.
public struct SkippedFile: Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

public enum PNGFolder {
    /// Labels from the immediate subfolder of each file (relative paths), when every file sits in
    /// one; nil otherwise.
    /// - Throws: `InputError` for a class that `options.classNames` (the training split's) lacks.
    static func classLabels(_ files: [String], folder: String, options: PNGFolderOptions) throws
        -> (labels: [Int32], names: [String])? {
        let parts = files.map { $0.split(separator: "/", omittingEmptySubsequences: true) }
        guard !parts.isEmpty, parts.allSatisfy({ $0.count >= 2 }) else { return nil }
        let found = Array(Set(parts.map { String($0[0]) })).sorted()
        if let given = options.classNames, let unknown = found.first(where: { !given.contains($0) }) {
            throw InputError(.badOption, path: (folder as NSString).appendingPathComponent(unknown),
                             "class \(unknown) has no training images (training classes: "
                             + "\(given.joined(separator: ", ")))")
        }
        let names = options.classNames ?? found
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, Int32($0)) })
        return (parts.map { index[String($0[0])]! }, names)
    }

    /// PNG files under `folder`, relative paths, sorted; other files are ignored.
    public static func listFiles(in folder: String) -> [String] { filesRecursively(in: folder, withExtension: "png") }

    /// Decodes every PNG under `folder`. The headers come first (`PNGIndex`: sizes, channels,
    /// depth, labels and the memory the result needs, before any pixel is decoded); then each
    /// worker decodes one image at a time and converts, resizes and crops it straight into its
    /// slot of the result, so memory holds the result and one full-size image per worker.
    /// - Throws: `InputError` for an empty folder, a file libpng rejects (unless `skipBad`),
    ///   mixed sizes without resize/crop, or an image smaller than the crop.
    public static func load(_ folder: String, options: PNGFolderOptions = PNGFolderOptions())
        throws -> (dataset: Dataset, skipped: [SkippedFile]) {
        if let channels = options.channels, channels != 1 && channels != 3 {
            throw InputError(.badOption, path: "", "channels must be 1 or 3, got \(channels)")
        }
        // Header failures are reported with the decoder's, the first file's first.
        let index = try PNGIndex.build(folder, options: options, keepingFailures: true)
        try index.checkFitsInMemory()
        return try decode(index, options: options)
    }

    /// Decodes the files of `index` (see `load`); `index.skipped` are reported with the decoder's
    /// failures.
    public static func decode(_ index: PNGIndex, options: PNGFolderOptions) throws
        -> (dataset: Dataset, skipped: [SkippedFile]) {
        let folder = index.folder
        let channels = index.channels, depth = index.bitDepth
        var starts = [0]
        for size in index.sizes { starts.append(starts.last! + channels * size.height * size.width) }
        let offsets = starts, total = starts.last!
        let failures = ParallelSlots<InputError>(count: index.files.count)
        let transparent = ParallelSlots<Bool>(count: index.files.count)
        // Every worker writes only its own image's range of the result.
        func convert(into out: SharedPointer<UInt16>?, _ bytes: SharedPointer<UInt8>?) {
            DispatchQueue.concurrentPerform(iterations: index.files.count) { i in
                let target = out.map { UnsafeMutableRawPointer($0.base + offsets[i]) }
                    ?? UnsafeMutableRawPointer(bytes!.base + offsets[i])
                do {
                    transparent[i] = try decodeSample(index, i, options: options, into: target)
                } catch let error as InputError {
                    failures[i] = error
                } catch {
                    failures[i] = InputError(.corrupt, path: index.path(of: i), "\(error)")
                }
            }
        }
        var words: [UInt16] = [], bytes: [UInt8] = []
        if depth == 16 {
            words = [UInt16](repeating: 0, count: total)
            words.withUnsafeMutableBufferPointer { convert(into: SharedPointer(base: $0.baseAddress!), nil) }
        } else {
            bytes = [UInt8](repeating: 0, count: total)
            bytes.withUnsafeMutableBufferPointer { convert(into: nil, SharedPointer(base: $0.baseAddress!)) }
        }
        // Files refused (by the header pass or libpng): an error, or (--skip-bad) left out.
        var skipped = index.skipped
        var keep: [Int] = []
        for i in index.files.indices {
            if let error = failures[i] {
                skipped.append(SkippedFile(path: error.path, reason: error.reason))
            } else {
                keep.append(i)
            }
        }
        skipped.sort { $0.path < $1.path }
        if !options.skipBad, let first = skipped.first {
            let others = skipped.count > 1 ? " (and \(skipped.count - 1) more)" : ""
            throw InputError(.corrupt, path: first.path, first.reason + others + PNGFolder.skipBadHint)
        }
        guard !keep.isEmpty else {
            throw InputError(.empty, path: folder,
                             "all \(index.files.count + index.skipped.count) PNG files were rejected")
        }
        if keep.count < index.files.count {
            func compact<T>(_ values: [T]) -> [T] { keep.flatMap { values[offsets[$0]..<offsets[$0 + 1]] } }
            if depth == 16 { words = compact(words) } else { bytes = compact(bytes) }
        }
        let kept = keep.map { index.files[$0] }
        let classes = try classLabels(kept, folder: folder, options: options)
        var dataset = Dataset(source: folder, channels: channels, sizes: keep.map { index.sizes[$0] },
                              storage: depth == 16 ? .words(words) : .bytes(bytes), labels: classes?.labels,
                              classNames: classes?.names, files: kept)
        dataset.transparentImages = keep.filter { transparent[$0] == true }.count
        return (dataset, skipped)
    }

    /// What decoding every file of a folder found, with nothing kept but counts.
    public struct Scan: Sendable {
        /// Count of each sample value (256 or 65536 entries, as the index's bit depth).
        public var histogram: [Int]
        /// Whether each file of the index decoded, and those that did not, with libpng's reason.
        public var decoded: [Bool]
        public var failures: [SkippedFile]
        public var transparentImages: Int
    }

    /// Decodes every file of `index` as training would (converted, resized, cropped), one image at a
    /// time per core, keeping only a histogram of the samples: a full check of any folder in
    /// bounded memory. `progress(done)` is called from the workers (serialized) every few files.
    public static func scan(_ index: PNGIndex, options: PNGFolderOptions,
                            progress: (@Sendable (Int) -> Void)? = nil) -> Scan {
        let n = index.files.count, workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, n))
        let values = index.bitDepth == 16 ? 65536 : 256
        let histograms = ParallelSlots<[Int]>(count: workers)
        let failures = ParallelSlots<InputError>(count: n)
        let transparent = ParallelSlots<Bool>(count: n)
        let lock = NSLock()
        nonisolated(unsafe) var done = 0
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var histogram = [Int](repeating: 0, count: values)
            for i in stride(from: w, to: n, by: workers) {
                let bytes = index.sampleBytes(i)
                let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 16)
                defer { scratch.deallocate() }
                do {
                    transparent[i] = try decodeSample(index, i, options: options, into: scratch)
                    if index.bitDepth == 16 {
                        for v in UnsafeBufferPointer(start: scratch.assumingMemoryBound(to: UInt16.self), count: bytes / 2) {
                            histogram[Int(v)] += 1
                        }
                    } else {
                        for v in UnsafeBufferPointer(start: scratch.assumingMemoryBound(to: UInt8.self), count: bytes) {
                            histogram[Int(v)] += 1
                        }
                    }
                } catch let error as InputError {
                    failures[i] = error
                } catch {
                    failures[i] = InputError(.corrupt, path: index.path(of: i), "\(error)")
                }
                lock.lock()
                done += 1
                if done % 50 == 0 || done == n { progress?(done) }
                lock.unlock()
            }
            histograms[w] = histogram
        }
        var histogram = [Int](repeating: 0, count: values)
        for w in 0..<workers { for (v, k) in histograms[w]!.enumerated() { histogram[v] += k } }
        let found = failures.values
        return Scan(histogram: histogram, decoded: found.map { $0 == nil },
                    failures: found.compactMap { $0.map { SkippedFile(path: $0.path, reason: $0.reason) } },
                    transparentImages: transparent.values.filter { $0 == true }.count)
    }

    /// Decodes file `i` of `index` into `out` as its sample: `index.channels` planes, converted,
    /// resized and cropped as `options` say, at `index.bitDepth` bits; memory holds one full-size
    /// image besides the result. Returns whether the file has transparent pixels.
    /// - Throws: `InputError` naming the file, also when it no longer matches its header.
    public static func decodeSample(_ index: PNGIndex, _ i: Int, options: PNGFolderOptions,
                                    into out: UnsafeMutableRawPointer) throws -> Bool {
        let path = index.path(of: i), header = index.headers[i], channels = index.channels
        let image = try PNGCodec.read(path: path, maxPixels: options.maxPixels)
        guard image.width == header.width && image.height == header.height else {
            throw InputError(.corrupt, path: path, "decodes to a \(image.width)x\(image.height) image, its header said "
                + "\(header.width)x\(header.height) (the file changed after it was indexed)")
        }
        var transparent = false
        if image.layout.hasAlpha {
            let k = image.layout.channels, opaque = UInt16(image.maxValue)
            transparent = stride(from: k - 1, to: image.samples.count, by: k).contains { image.samples[$0] < opaque }
        }
        var planar = planarFloats(image, channels: channels, background: options.background)
        var (h, w) = (image.height, image.width)
        if let resize = options.resize {
            planar = Resampling.resize(planar, channels: channels, height: h, width: w, toHeight: resize.height,
                                       toWidth: resize.width, filter: options.resizeFilter)
            (h, w) = (resize.height, resize.width)
        }
        if let crop = options.crop {
            planar = Resampling.centerCrop(planar, channels: channels, height: h, width: w,
                                           toHeight: crop.height, toWidth: crop.width)
        }
        if index.bitDepth == 16 {
            let words = out.assumingMemoryBound(to: UInt16.self)
            for (j, v) in planar.enumerated() { words[j] = UInt16((min(max(v, 0), 1) * 65535).rounded()) }
        } else {
            let bytes = out.assumingMemoryBound(to: UInt8.self)
            for (j, v) in planar.enumerated() { bytes[j] = UInt8((min(max(v, 0), 1) * 255).rounded()) }
        }
        return transparent
    }

    /// Converts decoded samples to planar floats in [0, 1] with `channels` channels, alpha
    /// composited on `background`. Gray from RGB uses ITU-R BT.601 luma (as Pillow's "L").
    public static func planarFloats(_ image: PNGImage, channels: Int, background: Float) -> [Float] {
        let n = image.width * image.height
        let k = image.layout.channels
        let scale = 1 / image.maxValue
        var out = [Float](repeating: 0, count: channels * n)
        image.samples.withUnsafeBufferPointer { s in
            for p in 0..<n {
                var rgb: (Float, Float, Float)
                let base = p * k
                if image.layout.isColor {
                    rgb = (Float(s[base]) * scale, Float(s[base + 1]) * scale, Float(s[base + 2]) * scale)
                } else {
                    let g = Float(s[base]) * scale
                    rgb = (g, g, g)
                }
                if image.layout.hasAlpha {
                    let a = Float(s[base + k - 1]) * scale
                    let rest = (1 - a) * background
                    rgb = (rgb.0 * a + rest, rgb.1 * a + rest, rgb.2 * a + rest)
                }
                if channels == 3 {
                    out[p] = rgb.0
                    out[n + p] = rgb.1
                    out[2 * n + p] = rgb.2
                } else if image.layout.isColor {
                    out[p] = 0.299 * rgb.0 + 0.587 * rgb.1 + 0.114 * rgb.2
                } else {
                    out[p] = rgb.0
                }
            }
        }
        return out
    }
}

/// A pointer that parallel iterations write through, each to its own range.
// @unchecked Sendable: each parallel iteration writes only its own range.
struct SharedPointer<Value>: @unchecked Sendable {
    let base: UnsafeMutablePointer<Value>
}

/// Fixed slots that parallel iterations fill, one each; read after the parallel loop ends.
// @unchecked Sendable: each iteration writes only its own slot, read after the loop.
final class ParallelSlots<Value>: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<Value?>
    let count: Int

    init(count: Int) {
        self.count = count
        storage = .allocate(capacity: count)
        storage.initialize(repeating: nil, count: count)
    }

    deinit {
        storage.deinitialize(count: count)
        storage.deallocate()
    }

    subscript(index: Int) -> Value? {
        get { storage[index] }
        set { storage[index] = newValue }
    }

    var values: [Value?] { (0..<count).map { storage[$0] } }
}
