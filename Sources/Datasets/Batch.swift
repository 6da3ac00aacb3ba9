// Minibatch assembly: writes the clean rows (whole images, or random patches for denoisers) and
// the corrupted rows of given sample indices into caller-provided memory; no allocation.

import Files
import Kernels

/// Something that writes minibatch rows for given sample indices: clean targets and inputs.
public protocol BatchSource: Sendable {
    /// Floats per row.
    var rowWidth: Int { get }
    func fill(indices: UnsafeBufferPointer<Int>, epoch: Int, clean: UnsafeMutablePointer<Float>,
              corrupted: UnsafeMutablePointer<Float>?)
    /// Writes the label of each sample of `indices` (-1 where the data has none).
    func fillLabels(indices: UnsafeBufferPointer<Int>, into labels: UnsafeMutablePointer<Int32>)
    /// Number of classes of the labels (0 when the data has none).
    var classCount: Int { get }
}

extension BatchSource {
    public func fillLabels(indices: UnsafeBufferPointer<Int>, into labels: UnsafeMutablePointer<Int32>) {
        labels.update(repeating: -1, count: indices.count)
    }
    public var classCount: Int { 0 }
}

/// Fills rows of a minibatch from a dataset. Shards call `fill` on their own row ranges.
public struct BatchAssembler: BatchSource {
    public let dataset: Dataset
    public let corruption: Corruption
    public let seed: UInt64
    /// Patch size (height, width) cut at a random position per (seed, epoch, sample); nil for
    /// whole images (then the dataset must have a fixed shape).
    public let patch: (height: Int, width: Int)?
    /// Patches cut from each image per epoch: sample index `k * dataset.count + i` is the k-th
    /// patch of image i, with its own crop and noise.
    public let patchesPerImage: Int
    /// Dynamic binarization (targets too): each value v becomes 1 with probability v, else 0,
    /// drawn per (seed, epoch, sample); with `binarizeEpoch` set, always that epoch's draw, so a
    /// test split is binarized once.
    public var binarize = false
    public var binarizeEpoch: Int?
    /// Each square row is drawn in one of the 8 orientations of the square (flips and quarter
    /// turns), chosen afresh per sample and epoch: data augmentation for training sources.
    public var augment = false

    /// - Throws: `InputError` when sizes vary without a patch size, or a patch exceeds an image.
    public init(dataset: Dataset, corruption: Corruption = .none, seed: UInt64,
                patch: (height: Int, width: Int)? = nil, patchesPerImage: Int = 1) throws {
        if let patch {
            let smallest = dataset.minimumSize
            guard patch.height > 0, patch.width > 0, patch.height <= smallest.height,
                  patch.width <= smallest.width else {
                throw InputError(.tooSmall, path: dataset.source, "patch \(patch.width)x"
                    + "\(patch.height) does not fit the smallest image "
                    + "(\(smallest.width)x\(smallest.height))")
            }
        } else if dataset.fixedShape == nil {
            throw InputError(.mixedSizes, path: dataset.source,
                             "images differ in size: pass a patch size, --resize or --crop")
        }
        self.dataset = dataset
        self.corruption = corruption
        self.seed = seed
        self.patch = patch
        self.patchesPerImage = max(1, patchesPerImage)
    }

    /// Sample indices of the given images, each repeated `patchesPerImage` times.
    public func sampleIndices(images: [Int]) -> [Int] {
        (0..<patchesPerImage).flatMap { k in images.map { k * dataset.count + $0 } }
    }

    /// Shape of one row.
    public var rowShape: ImageShape {
        if let patch { return ImageShape(channels: dataset.channels, height: patch.height, width: patch.width) }
        return dataset.fixedShape!
    }

    /// Floats per row.
    public var rowWidth: Int { rowShape.count }

    public func fillLabels(indices: UnsafeBufferPointer<Int>, into labels: UnsafeMutablePointer<Int32>) {
        guard let known = dataset.labels else {
            labels.update(repeating: -1, count: indices.count)
            return
        }
        for r in 0..<indices.count { labels[r] = known[indices[r] % dataset.count] }
    }

    public var classCount: Int { dataset.classCount }

    /// Puts each plane of a square `row` in orientation `k` of the square's symmetry group, in
    /// place: bit 0 mirrors left-right, bit 1 top-bottom, bit 2 transposes (after both), so the
    /// 8 values give the 4 quarter turns and their mirror images.
    public static func orient(_ row: UnsafeMutablePointer<Float>, shape: ImageShape, as k: Int) {
        let n = shape.width
        precondition(shape.height == n, "orientations need square rows")
        for c in 0..<shape.channels {
            let p = row + c * n * n
            if k & 1 != 0 {
                for y in 0..<n { for x in 0..<(n / 2) { swap(p, y * n + x, y * n + n - 1 - x) } }
            }
            if k & 2 != 0 {
                for y in 0..<(n / 2) { for x in 0..<n { swap(p, y * n + x, (n - 1 - y) * n + x) } }
            }
            if k & 4 != 0 {
                for y in 0..<n { for x in (y + 1)..<n { swap(p, y * n + x, x * n + y) } }
            }
        }
    }

    static func swap(_ p: UnsafeMutablePointer<Float>, _ i: Int, _ j: Int) {
        let t = p[i]
        p[i] = p[j]
        p[j] = t
    }

    /// Writes samples `indices` of `epoch` as rows of `clean` and, when given, `corrupted`
    /// (both `indices.count * rowWidth` floats). The clean rows are never corrupted.
    public func fill(indices: UnsafeBufferPointer<Int>, epoch: Int, clean: UnsafeMutablePointer<Float>,
                     corrupted: UnsafeMutablePointer<Float>?) {
        let width = rowWidth
        for r in 0..<indices.count {
            let sample = indices[r]
            let image = dataset.storedImage(sample % dataset.count)
            let row = clean + r * width
            if let patch {
                let shape = dataset.shape(of: image)
                var rng = SplitMix64(key: seed, UInt64(epoch), UInt64(sample), RandomPurpose.patch)
                let top = Int(rng.next() % UInt64(shape.height - patch.height + 1))
                let left = Int(rng.next() % UInt64(shape.width - patch.width + 1))
                dataset.copyPatch(image, top: top, left: left, height: patch.height,
                                  width: patch.width, into: row)
            } else {
                dataset.copySample(image, into: row)
            }
            if augment {
                var rng = SplitMix64(key: seed, UInt64(epoch), UInt64(sample), RandomPurpose.augment)
                Self.orient(row, shape: rowShape, as: Int(rng.next() % 8))
            }
            if binarize {
                var rng = SplitMix64(key: seed, UInt64(binarizeEpoch ?? epoch), UInt64(sample), RandomPurpose.binarize)
                for i in 0..<width { row[i] = rng.nextUniform() < row[i] ? 1 : 0 }
            }
            if let corrupted {
                let noisy = corrupted + r * width
                noisy.update(from: row, count: width)
                corruption.apply(to: noisy, count: width, seed: seed, epoch: epoch, sampleIndex: sample)
            }
        }
    }
}
