// The one BLAS call site: single-precision GEMM through OpenBLAS `cblas_sgemm`, row-major. The
// engine parallelises over shards, so OpenBLAS itself runs on one thread.

import COpenBLAS

/// `C = alpha * op(A) * op(B) + beta * C`, row-major; op is identity or transpose.
@inline(__always)
public func gemm(_ a: Matrix, transposeA: Bool = false, _ b: Matrix, transposeB: Bool = false,
                 into c: Matrix, alpha: Float = 1, beta: Float = 0) {
    let m = transposeA ? a.cols : a.rows
    let k = transposeA ? a.rows : a.cols
    let n = transposeB ? b.rows : b.cols
    precondition((transposeB ? b.cols : b.rows) == k, "gemm inner sizes differ: \(k) vs \(transposeB ? b.cols : b.rows)")
    precondition(c.rows == m && c.cols == n, "gemm output is \(c.rows)x\(c.cols), expected \(m)x\(n)")
    if m == 0 || n == 0 { return }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha,
                a.base, Int32(a.stride), b.base, Int32(b.stride), beta, c.base, Int32(c.stride))
}

public enum BLAS {
    /// Pins OpenBLAS to one thread: the shards are the parallelism. Call once at start-up.
    public static func useSingleThread() {
        openblas_set_num_threads(1)
    }

    /// The OpenBLAS build description (kernel family picked for this CPU).
    public static var configuration: String {
        String(cString: openblas_get_config())
    }

    public static var coreName: String {
        String(cString: openblas_get_corename())
    }

    /// OpenBLAS core names that already use AVX2 or AVX-512 kernels.
    static let modernCores: Set<String> = ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"]

    /// The `OPENBLAS_CORETYPE` to ask for on a CPU with these /proc/cpuinfo `flags` when OpenBLAS
    /// picked `current` (it falls back to SSE3 kernels on CPUs it does not know), or nil when its
    /// choice is fine.
    public static func betterCoreType(current: String, cpuFlags: Set<String>) -> String? {
        guard !modernCores.contains(current) else { return nil }
        if cpuFlags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl"]) {
            return cpuFlags.contains("avx512_bf16") ? "Cooperlake" : "SkylakeX"
        }
        if cpuFlags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }
}
