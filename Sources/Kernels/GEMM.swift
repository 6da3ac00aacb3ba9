// The one BLAS call site: single-precision GEMM through OpenBLAS `cblas_sgemm`, row-major. The
// engine parallelises over shards, so OpenBLAS itself runs on one thread.

import CKernels
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
    if let team = ae_team_current(), m * n * k >= TeamGEMM.smallest {
        var job = TeamGEMM(a: a, transposeA: transposeA, b: b, transposeB: transposeB, c: c, alpha: alpha, beta: beta,
                           m: m, n: n, k: k, members: Int(ae_team_size(team)))
        let parts = job.parts
        if parts > 1 {
            withUnsafeMutablePointer(to: &job) { ae_team_for(team, parts, UnsafeMutableRawPointer($0), TeamGEMM.task) }
            return
        }
    }
    sgemm(transposeA, transposeB, m, n, k, alpha, a.base, a.stride, b.base, b.stride, beta, c.base, c.stride)
}

/// Threads of the calling shard's team (1 when it has none): layers that split their own loops
/// size their work by it.
public var currentTeamSize: Int { Int(ae_team_size(ae_team_current())) }

/// One single-thread `cblas_sgemm`, row-major, except where OpenBLAS would allocate: its AVX-512
/// small-matrix kernel for `A B` (no transposes, `m n k <= 100^3`) mallocs a copy of the last
/// columns' operand on every call when `n % 16` is 1-8 and `k >= 32` (0.3.21's SkylakeX, Cooperlake
/// and SapphireRapids kernels; measured over all shapes up to 200). There those last columns run
/// on `ae_gemm_narrow` instead, so a training step stays free of allocations.
@inline(__always)
func sgemm(_ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
           _ a: UnsafeMutablePointer<Float>, _ lda: Int, _ b: UnsafeMutablePointer<Float>, _ ldb: Int,
           _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    var wide = n
    if BLAS.smallKernelAllocates, !transposeA, !transposeB, (1...8).contains(n % 16), k >= 32, m * n * k <= 1_000_000 {
        wide = n & ~15
        ae_gemm_narrow(Int32(m), Int32(n - wide), Int32(k), alpha, a, lda, b + wide, ldb, beta, c + wide, ldc)
        if wide == 0 { return }
    }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(wide), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// One GEMM split over the threads of a shard's team: blocks of C's columns (or of its rows when
/// it is narrow), one single-thread sgemm each. Every element keeps its own sum over k in the same
/// order, so the result does not depend on the team's size.
struct TeamGEMM {
    /// Multiply-adds below which a GEMM runs on one thread (waking the team costs more).
    static let smallest = 1 << 16
    /// Column blocks are multiples of this (the kernels' widest tile).
    static let alignment = 16

    let a: Matrix, transposeA: Bool, b: Matrix, transposeB: Bool, c: Matrix
    let alpha: Float, beta: Float
    let m: Int, n: Int, k: Int
    /// Split C's columns (true) or rows, in blocks of `block`.
    let byColumns: Bool
    let block: Int
    let parts: Int

    init(a: Matrix, transposeA: Bool, b: Matrix, transposeB: Bool, c: Matrix, alpha: Float, beta: Float,
         m: Int, n: Int, k: Int, members: Int) {
        self.a = a
        self.transposeA = transposeA
        self.b = b
        self.transposeB = transposeB
        self.c = c
        self.alpha = alpha
        self.beta = beta
        self.m = m
        self.n = n
        self.k = k
        byColumns = n >= 2 * Self.alignment || n >= m
        let length = byColumns ? n : m
        let unit = byColumns ? Self.alignment : 1
        let perMember = (length + members - 1) / members
        block = max(unit, (perMember + unit - 1) / unit * unit)
        parts = (length + block - 1) / block
    }

    static let task: @convention(c) (UnsafeMutableRawPointer?, Int) -> Void = { context, part in
        let job = context!.assumingMemoryBound(to: TeamGEMM.self).pointee
        let lower = part * job.block
        if job.byColumns {
            let width = min(job.block, job.n - lower)
            let b = job.transposeB ? job.b.base + lower * job.b.stride : job.b.base + lower
            sgemm(job.transposeA, job.transposeB, job.m, width, job.k, job.alpha, job.a.base, job.a.stride, b,
                  job.b.stride, job.beta, job.c.base + lower, job.c.stride)
        } else {
            let height = min(job.block, job.m - lower)
            let a = job.transposeA ? job.a.base + lower : job.a.base + lower * job.a.stride
            sgemm(job.transposeA, job.transposeB, height, job.n, job.k, job.alpha, a, job.a.stride, job.b.base,
                  job.b.stride, job.beta, job.c.base + lower * job.c.stride, job.c.stride)
        }
    }
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

    /// Whether OpenBLAS runs its AVX-512 kernels, whose small-matrix `A B` allocates (see `sgemm`),
    /// and ours can stand in for it.
    static let smallKernelAllocates = ["SkylakeX", "Cooperlake", "SapphireRapids"].contains(coreName)
        && ae_gemm_products_kernel() == 512

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
