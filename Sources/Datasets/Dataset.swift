// Decoded samples held in memory once: 8- or 16-bit pixels in planar (C, H, W) order per sample,
// optional integer labels. Rows for training are converted to Float in [0, 1] on demand.

/// Channels, height and width of one image.
public struct ImageShape: Sendable, Equatable, CustomStringConvertible {
    public var channels: Int
    public var height: Int
    public var width: Int

    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels
        self.height = height
        self.width = width
    }

    public var count: Int { channels * height * width }
    public var description: String { "\(width)x\(height)x\(channels)" }
}

/// A set of images (and labels) in memory.
public struct Dataset: Sendable {
    public enum Storage: Sendable {
        case bytes([UInt8])
        case words([UInt16])
        /// Decoded on demand into a bounded cache (a PNG folder larger than memory).
        case streamed(ImageCache)
    }

    /// Where the samples came from (a file or folder path).
    public let source: String
    public let channels: Int
    /// Shape shared by every sample, or nil when sizes vary (patch training).
    public let fixedShape: ImageShape?
    public let storage: Storage
    /// Start of each sample in `storage`; `offsets.count == count + 1`.
    let offsets: [Int]
    let heights: [Int32]
    let widths: [Int32]
    public let labels: [Int32]?
    /// Class names for labels (subfolder names of a PNG folder), index = label.
    public let classNames: [String]?
    /// Source file of each sample, relative to `source`, for PNG folders.
    public let files: [String]?
    /// PNGs with some transparent pixels (composited on the folder's background when loaded).
    public internal(set) var transparentImages = 0

    public var count: Int { offsets.count - 1 }
    public var bitDepth: Int {
        switch storage {
        case .bytes: return 8
        case .words: return 16
        case .streamed(let cache): return cache.index.bitDepth
        }
    }

    /// The cache a streamed dataset reads through (nil when it is in memory).
    public var cache: ImageCache? {
        if case .streamed(let cache) = storage { return cache }
        return nil
    }

    /// The image whose pixels a step reads for `index`: itself, or the stand-in for a file that
    /// failed mid-run (`--skip-bad`).
    @inline(__always)
    public func storedImage(_ index: Int) -> Int {
        if case .streamed(let cache) = storage { return cache.stored(index) }
        return index
    }

    /// A dataset whose samples all have `shape`; `pixels` holds them back to back in CHW order.
    public init(source: String, shape: ImageShape, storage: Storage, labels: [Int32]?,
                classNames: [String]? = nil, files: [String]? = nil) {
        let total: Int
        switch storage {
        case .bytes(let b): total = b.count
        case .words(let w): total = w.count
        case .streamed: preconditionFailure("a streamed dataset is made from its cache")
        }
        precondition(total % shape.count == 0, "storage is not a whole number of samples")
        let n = total / shape.count
        precondition(labels == nil || labels!.count == n, "labels count must match samples")
        self.source = source
        self.channels = shape.channels
        self.fixedShape = shape
        self.storage = storage
        self.offsets = (0...n).map { $0 * shape.count }
        self.heights = [Int32](repeating: Int32(shape.height), count: n)
        self.widths = [Int32](repeating: Int32(shape.width), count: n)
        self.labels = labels
        self.classNames = classNames
        self.files = files
    }

    /// A dataset of images that may differ in size (all with `channels` channels).
    public init(source: String, channels: Int, sizes: [(height: Int, width: Int)], storage: Storage,
                labels: [Int32]?, classNames: [String]? = nil, files: [String]? = nil) {
        var offsets = [0]
        offsets.reserveCapacity(sizes.count + 1)
        for size in sizes { offsets.append(offsets.last! + channels * size.height * size.width) }
        let first = sizes.first
        let uniform = first != nil && sizes.allSatisfy { $0 == first! }
        self.source = source
        self.channels = channels
        self.fixedShape = uniform
            ? ImageShape(channels: channels, height: first!.height, width: first!.width) : nil
        self.storage = storage
        self.offsets = offsets
        self.heights = sizes.map { Int32($0.height) }
        self.widths = sizes.map { Int32($0.width) }
        self.labels = labels
        self.classNames = classNames
        self.files = files
    }

    /// The images of `cache`'s index, read through the cache.
    public init(streaming cache: ImageCache) {
        let index = cache.index
        self.init(source: index.folder, channels: index.channels, sizes: index.sizes, storage: .streamed(cache),
                  labels: index.labels, classNames: index.classNames, files: index.files)
    }

    public func shape(of index: Int) -> ImageShape {
        ImageShape(channels: channels, height: Int(heights[index]), width: Int(widths[index]))
    }

    /// Smallest height and width over all samples.
    public var minimumSize: (height: Int, width: Int) {
        (Int(heights.min() ?? 0), Int(widths.min() ?? 0))
    }

    /// Mean height and width over the samples (rounded).
    public var meanSize: (height: Int, width: Int) {
        guard count > 0 else { return (0, 0) }
        let h = heights.reduce(0) { $0 + Int($1) }, w = widths.reduce(0) { $0 + Int($1) }
        return ((h + count / 2) / count, (w + count / 2) / count)
    }

    /// Writes sample `index` as floats in [0, 1], CHW order, into `row`.
    @inline(__always)
    public func copySample(_ index: Int, into row: UnsafeMutablePointer<Float>) {
        let start = offsets[index], n = offsets[index + 1] - start
        switch storage {
        case .bytes(let pixels):
            pixels.withUnsafeBufferPointer { p in
                for i in 0..<n { row[i] = Float(p[start + i]) * (1 / 255) }
            }
        case .words(let pixels):
            pixels.withUnsafeBufferPointer { p in
                for i in 0..<n { row[i] = Float(p[start + i]) * (1 / 65535) }
            }
        case .streamed(let cache):
            cache.withSamples(of: index) { raw in
                guard let raw else { return row.update(repeating: 0, count: n) }
                if cache.index.bitDepth == 16 {
                    let p = raw.assumingMemoryBound(to: UInt16.self)
                    for i in 0..<n { row[i] = Float(p[i]) * (1 / 65535) }
                } else {
                    let p = raw.assumingMemoryBound(to: UInt8.self)
                    for i in 0..<n { row[i] = Float(p[i]) * (1 / 255) }
                }
            }
        }
    }

    /// Writes the `height` x `width` window at (`top`, `left`) of sample `index` into `row` (CHW).
    public func copyPatch(_ index: Int, top: Int, left: Int, height: Int, width: Int,
                          into row: UnsafeMutablePointer<Float>) {
        let h = Int(heights[index]), w = Int(widths[index])
        precondition(top >= 0 && left >= 0 && top + height <= h && left + width <= w,
                     "patch outside the image")
        let start = offsets[index]
        func copy<T: BinaryInteger>(_ p: UnsafeBufferPointer<T>, _ scale: Float) {
            var out = 0
            for c in 0..<channels {
                for y in 0..<height {
                    let base = start + (c * h + top + y) * w + left
                    for x in 0..<width {
                        row[out] = Float(p[base + x]) * scale
                        out += 1
                    }
                }
            }
        }
        switch storage {
        case .bytes(let pixels): pixels.withUnsafeBufferPointer { copy($0, 1 / 255) }
        case .words(let pixels): pixels.withUnsafeBufferPointer { copy($0, 1 / 65535) }
        case .streamed(let cache):
            let n = offsets[index + 1] - start
            cache.withSamples(of: index) { raw in
                guard let raw else { return row.update(repeating: 0, count: channels * height * width) }
                // The cache holds one image per buffer: offsets within it start at 0.
                if cache.index.bitDepth == 16 {
                    copy(UnsafeBufferPointer(start: raw.assumingMemoryBound(to: UInt16.self) - start, count: start + n), 1 / 65535)
                } else {
                    copy(UnsafeBufferPointer(start: raw.assumingMemoryBound(to: UInt8.self) - start, count: start + n), 1 / 255)
                }
            }
        }
    }

    /// Mean and standard deviation of all pixel values in [0, 1].
    public func pixelStatistics() -> (mean: Double, std: Double) {
        var histogram = [Int](repeating: 0, count: bitDepth == 16 ? 65536 : 256)
        switch storage {
        case .bytes(let pixels): for v in pixels { histogram[Int(v)] += 1 }
        case .words(let pixels): for v in pixels { histogram[Int(v)] += 1 }
        case .streamed(let cache):
            for i in 0..<count {
                cache.withSamples(of: i) { raw in
                    guard let raw else { return }
                    let n = offsets[i + 1] - offsets[i]
                    if bitDepth == 16 {
                        for v in UnsafeBufferPointer(start: raw.assumingMemoryBound(to: UInt16.self), count: n) { histogram[Int(v)] += 1 }
                    } else {
                        for v in UnsafeBufferPointer(start: raw.assumingMemoryBound(to: UInt8.self), count: n) { histogram[Int(v)] += 1 }
                    }
                }
            }
        }
        return Self.statistics(histogram: histogram, bitDepth: bitDepth)
    }

    /// Mean and standard deviation in [0, 1] of the values a histogram of `bitDepth`-bit samples counts.
    public static func statistics(histogram: [Int], bitDepth: Int) -> (mean: Double, std: Double) {
        let scale = bitDepth == 16 ? 65535.0 : 255.0
        var n = 0.0, sum = 0.0, squares = 0.0
        for (value, k) in histogram.enumerated() where k > 0 {
            let x = Double(value) / scale
            n += Double(k)
            sum += Double(k) * x
            squares += Double(k) * x * x
        }
        guard n > 0 else { return (0, 0) }
        let mean = sum / n
        return (mean, max(0, squares / n - mean * mean).squareRoot())
    }

    /// Number of label classes (class names, else the largest label + 1); 0 when unlabelled.
    public var classCount: Int {
        guard let labels else { return 0 }
        return max(classNames?.count ?? 0, Int(labels.max() ?? -1) + 1)
    }

    /// Number of samples per label value (index = label), empty when unlabelled.
    public func labelHistogram() -> [Int] {
        guard let labels, let top = labels.max() else { return [] }
        var counts = [Int](repeating: 0, count: Int(top) + 1)
        for label in labels { counts[Int(label)] += 1 }
        return counts
    }
}
