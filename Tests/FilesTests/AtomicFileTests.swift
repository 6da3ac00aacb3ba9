// Atomic writes: the target is replaced whole, and temporaries left by killed processes (kill -9
// between write and rename) are removed by the next write into the folder.

import Files
import Foundation
import Testing
import TestSupport

@Suite struct AtomicFileTests {
    @Test func staleTemporariesOfDeadProcessesAreRemoved() throws {
        let folder = try makeScratchFolder("atomic")
        // No process has pid 2^22 + 7 on Linux (pid_max is at most 2^22).
        let stale = folder + "/.last.safetensors.tmp-4194311"
        let other = folder + "/.best.safetensors.tmp-4194311"
        let live = folder + "/.best.safetensors.tmp-\(getppid())"
        try writeFile(stale, [1, 2, 3])
        try writeFile(other, [1, 2, 3])
        try writeFile(live, [1, 2, 3])
        try AtomicFile.write(Data([9, 9]), to: folder + "/last.safetensors")
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(!FileManager.default.fileExists(atPath: other), "every dead process's temporary goes")
        #expect(FileManager.default.fileExists(atPath: live), "a running process's temporary stays")
        #expect(FileManager.default.contents(atPath: folder + "/last.safetensors") == Data([9, 9]))
    }
}
