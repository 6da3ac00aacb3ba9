// MNIST-style IDX pairs: `train-images-idx3-ubyte[.gz]` with `train-labels-idx1-ubyte[.gz]`
// and the `t10k-` test pair (also the `train-images.idx3-ubyte` spelling some mirrors use).

import Files
import Foundation

public enum MNIST {
    /// The images/labels file names of one split, without extension variants.
    static func candidates(split: String, images: Bool) -> [String] {
        let stem = images ? "images" : "labels"
        let dims = images ? "idx3" : "idx1"
        let names = ["\(split)-\(stem)-\(dims)-ubyte", "\(split)-\(stem).\(dims)-ubyte"]
        return names.flatMap { [$0, $0 + ".gz"] }
    }

    /// The first existing file among the candidate names in `folder`.
    static func find(in folder: String, split: String, images: Bool) -> String? {
        for name in candidates(split: split, images: images) {
            let path = (folder as NSString).appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return nil
    }

    /// Whether `folder` holds at least one MNIST-style images file.
    public static func isIDXFolder(_ folder: String) -> Bool {
        find(in: folder, split: "train", images: true) != nil
            || find(in: folder, split: "t10k", images: true) != nil
    }

    /// Loads one images file and, when given, its labels, checking that the counts agree.
    public static func load(images imagesPath: String, labels labelsPath: String?) throws -> Dataset {
        let images = try IDXFile.read(path: imagesPath)
        guard case .images(let count, let rows, let columns) = images.kind else {
            throw InputError(.badMagic, path: imagesPath,
                             "holds labels (magic 0x00000801), expected images (0x00000803)")
        }
        guard count > 0 else {
            throw InputError(.empty, path: imagesPath, "header says 0 images")
        }
        var labels: [Int32]?
        if let labelsPath {
            let file = try IDXFile.read(path: labelsPath)
            guard case .labels(let labelCount) = file.kind else {
                throw InputError(.badMagic, path: labelsPath,
                                 "holds images (magic 0x00000803), expected labels (0x00000801)")
            }
            guard labelCount == count else {
                throw InputError(.countMismatch, path: labelsPath, "\(labelCount) labels but "
                    + "\((imagesPath as NSString).lastPathComponent) holds \(count) images")
            }
            labels = file.bytes.map { Int32($0) }
        }
        return Dataset(source: imagesPath, shape: ImageShape(channels: 1, height: rows, width: columns),
                       storage: .bytes(images.bytes), labels: labels)
    }

    /// The labels file that pairs with an images file, by the MNIST naming scheme, if present.
    public static func labelsPath(forImages path: String) -> String? {
        let folder = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        for (from, to) in [("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1")]
        where name.contains(from) {
            let base = name.replacingOccurrences(of: from, with: to)
            let stem = base.hasSuffix(".gz") ? String(base.dropLast(3)) : base
            for candidate in [stem, stem + ".gz"] {
                let full = (folder as NSString).appendingPathComponent(candidate)
                if FileManager.default.fileExists(atPath: full) { return full }
            }
        }
        return nil
    }

    /// Loads the train and (when present) test splits of an MNIST-style folder.
    public static func loadFolder(_ folder: String) throws -> (train: Dataset?, test: Dataset?) {
        func split(_ name: String) throws -> Dataset? {
            guard let images = find(in: folder, split: name, images: true) else { return nil }
            return try load(images: images, labels: find(in: folder, split: name, images: false))
        }
        let train = try split("train"), test = try split("t10k")
        // A model sized for one split must be able to read the other.
        if let train, let test, let a = train.fixedShape, let b = test.fixedShape, a != b {
            throw InputError(.mixedSizes, path: test.source, "test images are \(b), the training images "
                + "(\(train.source)) are \(a); both splits must have one size")
        }
        return (train, test)
    }
}
