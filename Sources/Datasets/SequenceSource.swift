// Resolves what `--data PATH` points at when it holds sequences rather than images: a folder of
// CSV files, one CSV file with a sequence-id column, or a UEA/UCR `.ts` file (whose `_TEST.ts`
// partner beside a `_TRAIN.ts` is the test split).

import Files
import Foundation

public enum SequenceSource {
    /// Names of sequence data shipped in the repository's `data/` folder.
    public static let bundledNames = ["japanese-vowels", "japanese-vowels-csv"]

    /// Maps a bundled name to its folder; other paths are returned as is.
    public static func resolve(_ path: String) -> String {
        if !FileManager.default.fileExists(atPath: path), bundledNames.contains(path) {
            return (DataSource.bundledDataFolder as NSString).appendingPathComponent(path)
        }
        return path
    }

    /// Whether `path` should be read as sequences: a `.ts` or `.csv` file, or a folder holding
    /// `.csv` or `.ts` files and no PNG or IDX images.
    public static func looksLikeSequences(_ path: String) -> Bool {
        let resolved = resolve(path)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isFolder) else { return false }
        if !isFolder.boolValue {
            return ["ts", "csv"].contains((resolved as NSString).pathExtension.lowercased())
        }
        if MNIST.isIDXFolder(resolved) || !PNGFolder.listFiles(in: resolved).isEmpty { return false }
        return !SequenceCSV.listFiles(in: resolved).isEmpty || !tsFiles(in: resolved).isEmpty
    }

    /// Loads the sequences at `path`: a folder → one sequence per CSV file; a `.csv` file → rows
    /// grouped by `idColumn` (required); a `.ts` file → UEA/UCR cases.
    /// - Throws: `InputError` naming the file and the problem.
    public static func load(_ path: String, idColumn: String? = nil, labelColumn: String? = nil) throws
        -> SequenceSet {
        let resolved = resolve(path)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isFolder) else {
            throw InputError(.notFound, path: path, "no such file or folder (bundled sequence data: "
                + "\(bundledNames.joined(separator: ", ")))")
        }
        if isFolder.boolValue {
            if SequenceCSV.listFiles(in: resolved).isEmpty, let first = tsFiles(in: resolved).first {
                throw InputError(.badOption, path: resolved, "holds .ts files, not CSV files: "
                    + "give one of them, e.g. \((resolved as NSString).appendingPathComponent(first))")
            }
            if idColumn != nil || labelColumn != nil {
                throw InputError(.badOption, path: resolved, "a folder holds one sequence per CSV file: "
                    + "a sequence-id or label column applies only to a single CSV file")
            }
            return try SequenceCSV.loadFolder(resolved)
        }
        switch (resolved as NSString).pathExtension.lowercased() {
        case "csv":
            guard let idColumn else {
                throw InputError(.badOption, path: resolved, "one CSV file holds many sequences: name the "
                    + "column that says which sequence a row belongs to (--sequence-id COLUMN), or give a "
                    + "folder with one CSV file per sequence")
            }
            return try SequenceCSV.load(resolved, idColumn: idColumn, labelColumn: labelColumn)
        case "ts":
            if idColumn != nil || labelColumn != nil {
                throw InputError(.badOption, path: resolved, "a .ts file has no columns: "
                    + "sequence-id and label columns apply only to a CSV file")
            }
            return try TSFile.load(resolved)
        default:
            throw InputError(.badOption, path: resolved, "not a sequence file: expected a folder of CSV "
                + "files, a .csv file with a sequence-id column, or a UEA/UCR .ts file")
        }
    }

    /// Loads `path` as the training split, with a test split when one is beside it: for
    /// `NAME_TRAIN.ts` the file `NAME_TEST.ts` in the same folder. A folder holding exactly one
    /// `*_TRAIN.ts` file (and no CSV files) is read the same way.
    /// - Throws: `InputError` as `load` does, or when the test split's features or classes
    ///   differ from the training split's.
    public static func loadSplits(_ path: String, idColumn: String? = nil, labelColumn: String? = nil)
        throws -> (train: SequenceSet, test: SequenceSet?) {
        var trainPath = resolve(path)
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: trainPath, isDirectory: &isFolder), isFolder.boolValue,
           SequenceCSV.listFiles(in: trainPath).isEmpty {
            let trainFiles = tsFiles(in: trainPath).filter { $0.uppercased().hasSuffix("_TRAIN.TS") }
            if trainFiles.count == 1 { trainPath = (trainPath as NSString).appendingPathComponent(trainFiles[0]) }
        }
        let train = try load(trainPath, idColumn: idColumn, labelColumn: labelColumn)
        guard let testPath = testPartner(of: trainPath) else { return (train, nil) }
        let test = try load(testPath, idColumn: idColumn, labelColumn: labelColumn)
        guard test.featureNames == train.featureNames else {
            throw InputError(.countMismatch, path: testPath, "\(test.features) features "
                + "(\(test.featureNames.joined(separator: ","))), the training split \(trainPath) has "
                + "\(train.features) (\(train.featureNames.joined(separator: ",")))")
        }
        guard test.classNames == nil || train.classNames == nil || test.classNames == train.classNames else {
            throw InputError(.countMismatch, path: testPath, "classes \(test.classNames!.joined(separator: " ")) "
                + "differ from the training split's \(train.classNames!.joined(separator: " "))")
        }
        return (train, test)
    }

    /// `NAME_TEST.ts` beside `NAME_TRAIN.ts`, when it exists.
    static func testPartner(of path: String) -> String? {
        let name = (path as NSString).lastPathComponent
        guard name.uppercased().hasSuffix("_TRAIN.TS") else { return nil }
        let stem = name.dropLast("_TRAIN.ts".count)
        let folder = (path as NSString).deletingLastPathComponent
        for suffix in ["_TEST.ts", "_TEST.TS", "_test.ts"] {
            let candidate = (folder as NSString).appendingPathComponent(stem + suffix)
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// `.ts` files directly in `folder`, sorted.
    static func tsFiles(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { ($0 as NSString).pathExtension.lowercased() == "ts" }.sorted()
    }
}
