// The GEMM wrapper's route around OpenBLAS's allocating AVX-512 small kernel: `ae_gemm_narrow`
// (b of 1-16 columns; its dot-product form and, for long k, its broadcast form) and `gemm` on the
// shapes it routes (A B with n % 16 in 1...8, k >= 32, m n k <= 100^3) match a double-precision
// product, with and without beta, under whatever kernels OpenBLAS runs.

import CKernels
import Kernels
import Testing

@Suite struct NarrowGEMMTests {
    func filled(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in Float(Int(rng.next() % 2001) - 1000) / 997 }
    }

    /// alpha a b + beta c in Double, row-major with leading dimensions.
    func reference(m: Int, n: Int, k: Int, alpha: Float, a: [Float], lda: Int, b: [Float], ldb: Int, beta: Float,
                   c: [Float], ldc: Int) -> [Float] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k { sum += Double(a[i * lda + p]) * Double(b[p * ldb + j]) }
                out[i * ldc + j] = Float(Double(alpha) * sum + (beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])))
            }
        }
        return out
    }

    func expectNear(_ actual: [Float], _ expected: [Float], k: Int, _ label: String) {
        var worst: Float = 0
        for i in actual.indices { worst = max(worst, abs(actual[i] - expected[i])) }
        // Values are below 1 in size: k products of float rounding at most.
        #expect(worst <= Float(k) * 3e-7 + 1e-6, "\(label): differs by \(worst)")
    }

    @Test(arguments: [(1, 1, 1), (5, 3, 40), (8, 7, 33), (13, 16, 64), (4, 9, 200), (9, 15, 31), (2, 1, 0), (7, 2, 999),
                      (3, 9, 1000), (11, 16, 600)])
    func narrowMatchesReference(shape: (m: Int, n: Int, k: Int)) {
        let (m, n, k) = shape
        let (lda, ldb, ldc) = (k + 3, n + 5, n + 2)
        let a = filled(m * lda, seed: 1), b = filled(max(k, 1) * ldb, seed: 2)
        for beta: Float in [0, 0.5] {
            // With beta 0, c's old values (NaN here) are never read.
            var c = beta == 0 ? [Float](repeating: .nan, count: m * ldc) : filled(m * ldc, seed: 3)
            let expected = reference(m: m, n: n, k: k, alpha: 0.75, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c,
                                     ldc: ldc)
            let before = c
            c.withUnsafeMutableBufferPointer { cp in
                ae_gemm_narrow(Int32(m), Int32(n), Int32(k), 0.75, a, lda, b, ldb, beta, cp.baseAddress, ldc)
            }
            // Columns past n are left as they were (bit for bit, NaN included).
            let padding = (0..<m).allSatisfy { i in (n..<ldc).allSatisfy {
                c[i * ldc + $0].bitPattern == before[i * ldc + $0].bitPattern } }
            #expect(padding, "\(m)x\(n)x\(k) beta \(beta): wrote past column \(n)")
            let columns = { (v: [Float]) in (0..<m).flatMap { i in (0..<n).map { v[i * ldc + $0] } } }
            expectNear(columns(c), columns(expected), k: k, "\(m)x\(n)x\(k) beta \(beta)")
        }
    }

    /// Shapes of the kind OpenBLAS 0.3.21's AVX-512 small kernel allocates for (and a few it does not).
    @Test(arguments: [(8, 196, 72), (16, 4, 784), (48, 20, 64), (3, 8, 32), (64, 100, 100), (30, 49, 33), (7, 17, 5)])
    func routedProductMatchesReference(shape: (m: Int, n: Int, k: Int)) {
        BLAS.useSingleThread()
        let (m, n, k) = shape
        let a = filled(m * k, seed: 4), b = filled(k * n, seed: 5)
        for beta: Float in [0, 1] {
            let initial = filled(m * n, seed: 6)
            let c = FloatBuffer(count: m * n)
            for i in 0..<(m * n) { c[i] = initial[i] }
            let am = FloatBuffer(count: m * k), bm = FloatBuffer(count: k * n)
            for i in 0..<(m * k) { am[i] = a[i] }
            for i in 0..<(k * n) { bm[i] = b[i] }
            gemm(am.matrix(rows: m, cols: k), bm.matrix(rows: k, cols: n), into: c.matrix(rows: m, cols: n), alpha: 0.5,
                 beta: beta)
            let expected = reference(m: m, n: n, k: k, alpha: 0.5, a: a, lda: k, b: b, ldb: n, beta: beta, c: initial,
                                     ldc: n)
            expectNear(c.array, expected, k: k, "\(m)x\(n)x\(k) beta \(beta) (\(BLAS.coreName))")
        }
    }
}
