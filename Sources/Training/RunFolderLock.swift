// One process trains in a run folder at a time: an exclusive flock(2) on RUN/.lock, held while the
// process lives. The kernel drops it when the process ends, however it ends, so the lock of a
// dead process is taken over by the next run; the file keeps the holder's process id for messages.

import Engine
import Foundation

// @unchecked Sendable: `holders` (and `held`) change only under `heldLock`.
public final class RunFolderLock: @unchecked Sendable {
    public static let fileName = ".lock"
    public let folder: String
    let descriptor: Int32
    /// Acquisitions not yet released (guarded by `heldLock`).
    var holders = 1

    /// Locks held by this process, by folder: a process that locks a folder twice (the CLI, then
    /// the run it starts) shares one lock, released when every holder has released it.
    nonisolated(unsafe) static var held: [String: RunFolderLock] = [:]
    static let heldLock = NSLock()

    private init(folder: String, descriptor: Int32) {
        self.folder = folder
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Locks `folder` (which must exist) for this process, or throws naming the process that
    /// holds it.
    /// - Throws: `TrainingError`.
    public static func acquire(_ folder: String) throws -> RunFolderLock {
        let key = URL(fileURLWithPath: folder).resolvingSymlinksInPath().standardizedFileURL.path
        heldLock.lock()
        defer { heldLock.unlock() }
        if let lock = held[key] {
            lock.holders += 1
            return lock
        }
        let path = (folder as NSString).appendingPathComponent(fileName)
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw TrainingError("\(folder): cannot create its lock file (\(String(cString: strerror(errno))))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            var bytes = [UInt8](repeating: 0, count: 32)
            let count = pread(descriptor, &bytes, bytes.count, 0)
            close(descriptor)
            if reason == EWOULDBLOCK {
                let holder = String(decoding: bytes.prefix(max(count, 0)), as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                throw TrainingError("\(folder): another process" + (holder.isEmpty ? "" : " (\(holder))")
                    + " is training in this run folder; wait for it to finish or choose another --run-dir")
            }
            throw TrainingError("\(folder): cannot lock the run folder (\(String(cString: strerror(reason))))")
        }
        let text = Array("pid \(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, text, text.count, 0)
        let lock = RunFolderLock(folder: folder, descriptor: descriptor)
        held[key] = lock
        return lock
    }

    /// Gives up one acquisition; the last one unlocks the folder for other processes.
    public func release() {
        Self.heldLock.lock()
        defer { Self.heldLock.unlock() }
        holders -= 1
        guard holders == 0 else { return }
        for (key, lock) in Self.held where lock === self { Self.held[key] = nil }
        _ = flock(descriptor, LOCK_UN)
    }
}
