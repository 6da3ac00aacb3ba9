// Atomic writes: the target is replaced whole, and temporaries left by killed processes (kill -9
// between write and rename) are removed by the next write of the same file.

import Foundation
import Images
import Testing
import TestSupport

@Suite struct AtomicFileTests {
    @Test func staleTemporariesOfDeadProcessesAreRemoved() throws {
        let folder = try makeScratchFolder("atomic")
        // No process has pid 2^22 + 7 on Linux (pid_max is at most 2^22).
        let stale = folder + "/.last.safetensors.tmp-4194311"
        let other = folder + "/.best.safetensors.tmp-4194311"
        try writeFile(stale, [1, 2, 3])
        try writeFile(other, [1, 2, 3])
        try AtomicFile.write(Data([9, 9]), to: folder + "/last.safetensors")
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(FileManager.default.fileExists(atPath: other), "only the written file's temporaries go")
        #expect(FileManager.default.contents(atPath: folder + "/last.safetensors") == Data([9, 9]))
    }
}
