// Writes that never leave a half-written file: write a temporary file beside the target, flush
// it to disk, then rename over the target (rename is atomic within one file system).

import Foundation

/// A file that could not be written; names the path and the reason.
public struct FileWriteError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

public enum AtomicFile {
    /// Writes `data` to `path` atomically, creating parent folders as needed.
    /// - Throws: `FileWriteError` naming the path when the folder or file cannot be written.
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw FileWriteError(path: path, reason: "cannot create folder \(folder.path)")
        }
        removeStaleTemporaries(of: url.lastPathComponent, in: folder.path)
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil),
              let handle = FileHandle(forWritingAtPath: temporary.path) else {
            throw FileWriteError(path: path, reason: "cannot create \(temporary.path)")
        }
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: temporary)
            throw FileWriteError(path: path, reason: "write failed: \(error.localizedDescription)")
        }
        guard rename(temporary.path, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw FileWriteError(path: path, reason: "rename failed: \(reason)")
        }
    }

    /// Deletes `.NAME.tmp-PID` files in `folder` left by processes that no longer run (killed
    /// mid-write); temporaries of running processes are theirs.
    static func removeStaleTemporaries(of name: String, in folder: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for entry in entries where entry.hasPrefix(".") {
            guard let marker = entry.range(of: ".tmp-", options: .backwards),
                  let pid = Int32(entry[marker.upperBound...]), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(entry))
            }
        }
    }
}
