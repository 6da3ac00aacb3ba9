// Resolves what `--data PATH` points at: a folder of MNIST-style IDX pairs (train and test
// splits), a single IDX images file, a folder of PNG images, or the name of bundled data.

import Files
import Foundation

/// The splits found at a path, ready for training or inspection.
public struct DataSource: Sendable {
    public enum Kind: String, Sendable {
        case idxFolder = "IDX folder"
        case idxFile = "IDX file"
        case pngFolder = "PNG folder"
        /// Codes of a trained pretraining stage (the next stage's inputs).
        case stageFeatures = "stage features"
    }

    public let path: String
    public let kind: Kind
    public let train: Dataset
    public let test: Dataset?
    /// Files left out with `--skip-bad`.
    public let skipped: [SkippedFile]

    public init(path: String, kind: Kind, train: Dataset, test: Dataset?, skipped: [SkippedFile] = []) {
        self.path = path
        self.kind = kind
        self.train = train
        self.test = test
        self.skipped = skipped
    }

    /// A warning when images with transparent pixels were composited on a black background
    /// (the default), which is rarely what icon-like images want; nil otherwise.
    public func transparencyWarning(background: Float) -> String? {
        Self.transparencyWarning(count: train.transparentImages + (test?.transparentImages ?? 0), path: path,
                                 background: background)
    }

    /// The warning for `count` images of `path` with transparent pixels, on `background`.
    public static func transparencyWarning(count: Int, path: String, background: Float) -> String? {
        guard count > 0 && background == 0 else { return nil }
        return "\(count) image(s) in \(path) have transparent pixels, composited on black (background 0); "
            + "pass --background 1 for white or --background 0.5 for gray"
    }

    /// Names of data shipped in the repository's `data/` folder.
    public static let bundledNames = ["mnist-sample"]

    /// The `data/` folder of bundled data: the current directory's when it has one (a checkout run
    /// from its root, whichever binary), else the repository's this binary was built from.
    public static var bundledDataFolder: String {
        let here = FileManager.default.currentDirectoryPath + "/data"
        if bundledNames.contains(where: { FileManager.default.fileExists(atPath: here + "/" + $0) }) { return here }
        let fromSource = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("data").path
        if FileManager.default.fileExists(atPath: fromSource) { return fromSource }
        return here
    }

    /// Maps a bundled name (e.g. `mnist-sample`) to its folder; other paths are returned as is.
    public static func resolve(_ path: String) -> String {
        if !FileManager.default.fileExists(atPath: path), bundledNames.contains(path) {
            return (bundledDataFolder as NSString).appendingPathComponent(path)
        }
        return path
    }

    /// Loads the data at `path`.
    /// - Throws: `InputError` naming the file and the problem.
    public static func load(_ path: String, options: PNGFolderOptions = PNGFolderOptions()) throws
        -> DataSource {
        let resolved = resolve(path)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isFolder) else {
            var hint = bundledNames.contains(path) ? "" :
                " (bundled data: \(bundledNames.joined(separator: ", ")))"
            let name = (path as NSString).lastPathComponent.lowercased()
            if name.contains("mnist") && !bundledNames.contains(path) {
                hint = "; full MNIST is not in the repository: tools/fetch-mnist downloads it into data/mnist/ "
                    + "(or use the bundled sample: --data mnist-sample)"
            }
            throw InputError(.notFound, path: path, "no such file or folder\(hint)")
        }
        if !isFolder.boolValue {
            let kind = FileKind.describe(leadingBytes: FileKind.leadingBytes(of: resolved))
            if let kind, kind.hasSuffix("image"), !resolved.lowercased().hasSuffix(".gz") {
                throw InputError(.badMagic, path: path, "is \(kind); --data takes a folder of PNG images (class "
                    + "subfolders or train/ and test/ folders too), MNIST-format IDX files or a folder of them, or "
                    + "sequence files (.ts, .csv)")
            }
            let labels = MNIST.labelsPath(forImages: resolved)
            let dataset = try MNIST.load(images: resolved, labels: labels)
            return DataSource(path: resolved, kind: .idxFile, train: dataset, test: nil, skipped: [])
        }
        if MNIST.isIDXFolder(resolved) {
            let (train, test) = try MNIST.loadFolder(resolved)
            // A folder with only the test pair serves it as the one split.
            let first = train ?? test!
            return DataSource(path: resolved, kind: .idxFolder, train: first,
                              test: train == nil ? nil : test, skipped: [])
        }
        if let splits = try splitFolders(resolved) {
            // train/ and test/ (or val/) folders, each with its class folders below.
            let (train, trainSkipped) = try PNGFolder.load(splits.train, options: options)
            var testOptions = options
            testOptions.classNames = train.classNames
            let test = try splits.test.map { try PNGFolder.load($0, options: testOptions) }
            return DataSource(path: resolved, kind: .pngFolder, train: train, test: test?.dataset,
                              skipped: trainSkipped + (test?.skipped ?? []))
        }
        let (dataset, skipped) = try PNGFolder.load(resolved, options: options)
        return DataSource(path: resolved, kind: .pngFolder, train: dataset, test: nil, skipped: skipped)
    }

    /// Names of split folders (any case): the training split, and the test split (a validation
    /// folder serves when there is no test folder).
    static let trainNames: Set<String> = ["train", "training"]
    static let testNames: Set<String> = ["test", "testing"]
    static let validationNames: Set<String> = ["val", "valid", "validation"]

    /// The training and test folders when `folder` holds split folders, nil when it does not.
    /// - Throws: `InputError` when PNGs sit beside the split folders (which split would they be?).
    static func splitFolders(_ folder: String) throws -> (train: String, test: String?)? {
        let fm = FileManager.default
        let entries = ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        func isFolder(_ name: String) -> Bool {
            var flag: ObjCBool = false
            return fm.fileExists(atPath: (folder as NSString).appendingPathComponent(name), isDirectory: &flag)
                && flag.boolValue
        }
        let folders = entries.filter(isFolder)
        guard let train = folders.first(where: { trainNames.contains($0.lowercased()) }) else { return nil }
        let test = folders.first { testNames.contains($0.lowercased()) }
            ?? folders.first { validationNames.contains($0.lowercased()) }
        let splits = Set([train, test].compactMap { $0 })
        let allSplitNames = trainNames.union(testNames).union(validationNames)
        for entry in entries where !splits.contains(entry) && !allSplitNames.contains(entry.lowercased()) {
            let path = (folder as NSString).appendingPathComponent(entry)
            let holdsPNGs = isFolder(entry) ? !PNGFolder.listFiles(in: path).isEmpty : entry.lowercased().hasSuffix(".png")
            if holdsPNGs {
                throw InputError(.badOption, path: path, "PNGs beside the split folders (\(splits.sorted().joined(separator: ", "))); "
                    + "move them into a split or point --data at one split")
            }
        }
        return ((folder as NSString).appendingPathComponent(train), test.map { (folder as NSString).appendingPathComponent($0) })
    }
}
