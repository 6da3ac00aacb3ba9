// Where a run lives: a new run gets an empty folder of its own (a folder holding another run is
// refused unless the caller asks to overwrite it), a resumed run its old one; the folder is locked
// first, so two trainings never share one. A run that cannot start leaves no empty folder behind.

import Engine
import Foundation

public enum RunFolder {
    /// Checks and claims `folder` before any data is read: a file is refused, and a folder that
    /// holds files only when `resuming` (it is that run) or with `overwrite` (emptied first). The
    /// folder is locked (held until this process ends). Returns whether this call made (or
    /// emptied) the folder, for `removeIfUnused` when the run cannot start.
    /// - Throws: `TrainingError` naming the folder and what to do.
    public static func prepare(_ folder: String, resuming: Bool, overwrite: Bool) throws -> Bool {
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder)
        if exists && !isFolder.boolValue {
            throw TrainingError("\(folder): a file, not a folder; choose another --run-dir")
        }
        if resuming && !exists { return false }
        if !exists {
            do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                throw TrainingError("\(folder): cannot create the run folder (\(error.localizedDescription))")
            }
        }
        _ = try RunFolderLock.acquire(folder)
        guard !resuming else { return false }
        let entries = Self.entries(folder)
        if !entries.isEmpty {
            guard overwrite else {
                throw TrainingError("\(folder): already holds a run (\(entries.prefix(3).joined(separator: ", "))"
                    + "\(entries.count > 3 ? ", ..." : "")); continue it with --resume \(folder), or pass --overwrite "
                    + "to replace it")
            }
            for entry in entries {
                do { try FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(entry)) } catch {
                    throw TrainingError("\(folder): cannot remove the old run (\(error.localizedDescription))")
                }
            }
        }
        return !exists || !entries.isEmpty
    }

    /// What a run folder holds besides its lock file, sorted.
    public static func entries(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0 != RunFolderLock.fileName }.sorted()
    }

    /// Removes a folder that `prepare` made when the run could not start and left nothing in it.
    public static func removeIfUnused(_ folder: String, madeFolder: Bool) {
        if madeFolder && FileManager.default.fileExists(atPath: folder) && entries(folder).isEmpty {
            try? FileManager.default.removeItem(atPath: folder)
        }
    }
}

extension TrainingConfig {
    /// The config in `path`: a config file, or a run folder's config.json.
    /// - Throws: `TrainingError` naming the file.
    public static func read(from path: String) throws -> TrainingConfig {
        var isFolder: ObjCBool = false
        let file = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
            ? (path as NSString).appendingPathComponent("config.json") : path
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw TrainingError("\(file): cannot read the config")
        }
        do {
            return try TrainingConfig.from(json: text)
        } catch let error as TrainingError {
            throw TrainingError("\(file): \(error.message)")
        } catch {
            throw TrainingError("\(file): not a config of this tool (\(error.localizedDescription))")
        }
    }
}
