// Which OpenBLAS kernels to ask for when its own CPU detection fell back to old ones.

import Kernels
import Testing

@Suite struct BLASCoreTests {
    @Test func fallbackKernelsAreReplacedByWhatTheCPUSupports() {
        let sapphireRapids: Set = ["sse3", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16"]
        #expect(BLAS.betterCoreType(current: "Prescott", cpuFlags: sapphireRapids) == "Cooperlake")
        #expect(BLAS.betterCoreType(current: "Prescott", cpuFlags: sapphireRapids.subtracting(["avx512_bf16"]))
                == "SkylakeX")
        #expect(BLAS.betterCoreType(current: "Nehalem", cpuFlags: ["avx2", "fma", "avx"]) == "Haswell")
    }

    @Test func goodChoicesAndOldCPUsAreLeftAlone() {
        #expect(BLAS.betterCoreType(current: "Zen", cpuFlags: ["avx2", "fma"]) == nil)
        #expect(BLAS.betterCoreType(current: "SkylakeX", cpuFlags: ["avx512f", "avx512bw", "avx512vl"]) == nil)
        #expect(BLAS.betterCoreType(current: "Prescott", cpuFlags: ["sse3", "ssse3"]) == nil)
        #expect(BLAS.betterCoreType(current: "Sandybridge", cpuFlags: ["avx"]) == nil)
    }
}
