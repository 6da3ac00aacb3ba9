// A folder of PNG images (searched recursively) as a dataset: decoded once, in parallel, through
// libpng; converted to gray or RGB with alpha composited on a stated background; made one size by
// resizing or centre-cropping, or kept at native sizes for random-patch training.

import Dispatch
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

/// A file left out of a dataset with `--skip-bad`, and why.
public struct SkippedFile: Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

public enum PNGFolder {
    /// Labels from the immediate subfolder of each file (relative paths), when every file sits in
    /// one; nil otherwise.
    /// - Throws: `DatasetError` for a class that `options.classNames` (the training split's) lacks.
    static func classLabels(_ files: [String], folder: String, options: PNGFolderOptions) throws
        -> (labels: [Int32], names: [String])? {
        let parts = files.map { $0.split(separator: "/", omittingEmptySubsequences: true) }
        guard !parts.isEmpty, parts.allSatisfy({ $0.count >= 2 }) else { return nil }
        let found = Array(Set(parts.map { String($0[0]) })).sorted()
        if let given = options.classNames, let unknown = found.first(where: { !given.contains($0) }) {
            throw DatasetError(.badOption, path: (folder as NSString).appendingPathComponent(unknown),
                               "class \(unknown) has no training images (training classes: "
                               + "\(given.joined(separator: ", ")))")
        }
        let names = options.classNames ?? found
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, Int32($0)) })
        return (parts.map { index[String($0[0])]! }, names)
    }

    /// PNG files under `folder`, relative paths, sorted; other files are ignored.
    public static func listFiles(in folder: String) -> [String] { filesRecursively(in: folder, withExtension: "png") }

    /// Decodes every PNG under `folder`.
    /// - Throws: `DatasetError` for an empty folder, a file libpng rejects (unless `skipBad`),
    ///   mixed sizes without resize/crop, or an image smaller than the crop.
    public static func load(_ folder: String, options: PNGFolderOptions = PNGFolderOptions())
        throws -> (dataset: Dataset, skipped: [SkippedFile]) {
        if let channels = options.channels, channels != 1 && channels != 3 {
            throw DatasetError(.badOption, path: "", "channels must be 1 or 3, got \(channels)")
        }
        let files = listFiles(in: folder)
        guard !files.isEmpty else {
            throw DatasetError(.empty, path: folder, "no PNG files in this folder or below it")
        }
        // Decode all files in parallel; each iteration writes only its own slot.
        let decoded = ParallelSlots<Result<PNGImage, PNGError>>(count: files.count)
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            let path = (folder as NSString).appendingPathComponent(files[i])
            do {
                decoded[i] = .success(try PNGCodec.read(path: path, maxPixels: options.maxPixels))
            } catch let error as PNGError {
                decoded[i] = .failure(error)
            } catch {
                decoded[i] = .failure(PNGError(path: path, reason: "\(error)"))
            }
        }
        var images: [PNGImage] = []
        var kept: [String] = []
        var skipped: [SkippedFile] = []
        for (i, result) in decoded.values.enumerated() {
            switch result! {
            case .success(let image):
                images.append(image)
                kept.append(files[i])
            case .failure(let error):
                guard options.skipBad else {
                    throw DatasetError(.corrupt, path: error.path, error.reason)
                }
                skipped.append(SkippedFile(path: error.path, reason: error.reason))
            }
        }
        guard !images.isEmpty else {
            throw DatasetError(.empty, path: folder, "all \(files.count) PNG files were rejected")
        }
        let channels = options.channels ?? (images.contains { $0.layout.isColor } ? 3 : 1)
        let depth = images.contains { $0.bitDepth == 16 } ? 16 : 8

        // Final size of each image, checked before converting anything.
        var sizes: [(height: Int, width: Int)] = []
        for (i, image) in images.enumerated() {
            var size = (height: image.height, width: image.width)
            if let resize = options.resize { size = (resize.height, resize.width) }
            if let crop = options.crop {
                guard crop.width <= size.width && crop.height <= size.height else {
                    throw DatasetError(.tooSmall, path: (folder as NSString).appendingPathComponent(kept[i]),
                                       "image is \(size.width)x\(size.height), smaller than crop "
                                       + "\(crop.width)x\(crop.height)")
                }
                size = (crop.height, crop.width)
            }
            sizes.append(size)
        }
        if !options.allowMixedSizes, let other = sizes.firstIndex(where: { $0 != sizes[0] }) {
            throw DatasetError(.mixedSizes, path: folder, "mixed sizes: \(kept[0]) is "
                + "\(sizes[0].width)x\(sizes[0].height), \(kept[other]) is "
                + "\(sizes[other].width)x\(sizes[other].height); pass --resize WxH or --crop WxH")
        }

        // Convert in parallel into one planar buffer at the chosen depth, if it fits in memory
        // (a --resize of 100000x100000 must not try to take 40 GB).
        var offsets = [0]
        for size in sizes { offsets.append(offsets.last! + channels * size.height * size.width) }
        let total = offsets.last!
        // Stored samples, plus each parallel conversion's float copies (decoded and resized).
        let largest = sizes.map { channels * $0.height * $0.width }.max() ?? 0
        let converting = min(ProcessInfo.processInfo.activeProcessorCount, images.count)
        let bytesNeeded = Double(total) * (depth == 16 ? 2 : 1) + Double(largest) * 8 * Double(converting)
        let available = Double(ProcessInfo.processInfo.physicalMemory) * 0.75
        guard bytesNeeded <= available else {
            throw DatasetError(.absurdSize, path: folder, String(format: "%d images at this size need %.1f GB, more "
                + "than the %.1f GB this machine can give (choose a smaller --resize or --crop)", images.count,
                bytesNeeded / 1e9, available / 1e9))
        }
        let scale: Float = depth == 16 ? 65535 : 255
        let converted = ParallelSlots<[UInt16]>(count: images.count)
        let decodedImages = images
        DispatchQueue.concurrentPerform(iterations: images.count) { i in
            let images = decodedImages
            var planar = planarFloats(images[i], channels: channels, background: options.background)
            var h = images[i].height, w = images[i].width
            if let resize = options.resize {
                planar = Resampling.resize(planar, channels: channels, height: h, width: w,
                                           toHeight: resize.height, toWidth: resize.width,
                                           filter: options.resizeFilter)
                (h, w) = (resize.height, resize.width)
            }
            if let crop = options.crop {
                planar = Resampling.centerCrop(planar, channels: channels, height: h, width: w,
                                               toHeight: crop.height, toWidth: crop.width)
            }
            converted[i] = planar.map { UInt16((min(max($0, 0), 1) * scale).rounded()) }
        }
        let storage: Dataset.Storage
        if depth == 16 {
            var words = [UInt16](repeating: 0, count: total)
            for (i, values) in converted.values.enumerated() {
                words.replaceSubrange(offsets[i]..<offsets[i + 1], with: values!)
            }
            storage = .words(words)
        } else {
            var bytes = [UInt8](repeating: 0, count: total)
            for (i, values) in converted.values.enumerated() {
                var at = offsets[i]
                for v in values! {
                    bytes[at] = UInt8(v)
                    at += 1
                }
            }
            storage = .bytes(bytes)
        }

        let classes = try classLabels(kept, folder: folder, options: options)
        var dataset = Dataset(source: folder, channels: channels, sizes: sizes, storage: storage,
                              labels: classes?.labels, classNames: classes?.names, files: kept)
        dataset.transparentImages = images.filter { image in
            guard image.layout.hasAlpha else { return false }
            let k = image.layout.channels, opaque = UInt16(image.maxValue)
            return stride(from: k - 1, to: image.samples.count, by: k).contains { image.samples[$0] < opaque }
        }.count
        return (dataset, skipped)
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

/// Fixed slots that parallel iterations fill, one each; read after the parallel loop ends.
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
