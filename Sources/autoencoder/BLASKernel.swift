// OpenBLAS picks its kernels once, when the library loads, from the CPU it recognises. Debian's
// 0.3.21 does not know recent Xeons and falls back to its SSE3 (Prescott) kernels (measured on a
// 16-core Xeon VM with AVX-512: sgemm on M1's shapes 31 vs 150 GFLOP/s, M1 training 6x slower). When that
// happens on a CPU with AVX2/FMA or AVX-512, the process restarts itself once with
// OPENBLAS_CORETYPE naming the right kernels; a user's own OPENBLAS_CORETYPE is left alone.

import Foundation
import Kernels

enum BLASKernel {
    /// The `flags` of the first processor in /proc/cpuinfo (empty where there is none).
    static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// Restarts this process with better kernels when OpenBLAS fell back to old ones; returns
    /// (and the process goes on as it is) when no restart is needed or possible.
    static func restartIfNeeded() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil,
              let core = BLAS.betterCoreType(current: BLAS.coreName, cpuFlags: cpuFlags()) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        let arguments = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &argv)
        // execv returned: it failed; carry on with the kernels we have.
        unsetenv("OPENBLAS_CORETYPE")
        FileHandle.standardError.write(Data(("warning: OpenBLAS uses its slow \(BLAS.coreName) kernels on this CPU; "
            + "set OPENBLAS_CORETYPE=\(core) for full speed\n").utf8))
    }
}
