// A GEMM split over a shard's team (column or row blocks, one single-thread sgemm each): the same
// bits every time for a given team size, and within float rounding of one sgemm call (OpenBLAS's
// blocking inside each call depends on the block's size, so the bits may differ from one call's).

import CKernels
import Kernels
import Testing

@Suite struct TeamGEMMTests {
    func filled(_ count: Int, seed: Int) -> FloatBuffer {
        let buffer = FloatBuffer(count: count)
        var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1
        for i in 0..<count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            buffer[i] = Float(Int((state >> 40) % 2001) - 1000) / 997
        }
        return buffer
    }

    func product(_ a: Matrix, _ transposeA: Bool, _ b: Matrix, _ transposeB: Bool, initial: FloatBuffer, m: Int, n: Int,
                 beta: Float, team size: Int) -> (c: FloatBuffer, parallelLoops: Int) {
        let c = FloatBuffer(count: m * n)
        for i in 0..<(m * n) { c[i] = initial[i] }
        let team = size > 1 ? ae_team_create(Int32(size)) : nil
        ae_team_set_current(team)
        gemm(a, transposeA: transposeA, b, transposeB: transposeB, into: c.matrix(rows: m, cols: n), alpha: 0.5, beta: beta)
        ae_team_set_current(nil)
        let loops = Int(ae_team_loops(team))
        ae_team_destroy(team)
        return (c, loops)
    }

    @Test(arguments: [(64, 1000, 784), (64, 30, 250), (1000, 784, 64), (7, 45, 301), (300, 17, 129), (33, 512, 5)])
    func teamProductIsRepeatableAndWithinRounding(shape: (m: Int, n: Int, k: Int)) {
        BLAS.useSingleThread()
        let (m, n, k) = shape
        let a = filled(m * k, seed: 1), b = filled(k * n, seed: 2), initial = filled(m * n, seed: 3)
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                for beta: Float in [0, 1] {
                    let am = transposeA ? a.matrix(rows: k, cols: m) : a.matrix(rows: m, cols: k)
                    let bm = transposeB ? b.matrix(rows: n, cols: k) : b.matrix(rows: k, cols: n)
                    let one = product(am, transposeA, bm, transposeB, initial: initial, m: m, n: n, beta: beta, team: 1).c
                    var largest: Float = 0
                    for i in 0..<(m * n) { largest = max(largest, abs(one[i])) }
                    for size in [2, 3, 5] {
                        let (split, loops) = product(am, transposeA, bm, transposeB, initial: initial, m: m, n: n,
                                                     beta: beta, team: size)
                        let again = product(am, transposeA, bm, transposeB, initial: initial, m: m, n: n, beta: beta,
                                            team: size).c
                        var worst: Float = 0, repeats = true
                        for i in 0..<(m * n) {
                            worst = max(worst, abs(one[i] - split[i]))
                            repeats = repeats && split[i].bitPattern == again[i].bitPattern
                        }
                        let label = "\(m)x\(n)x\(k) tA \(transposeA) tB \(transposeB) beta \(beta) team \(size)"
                        // Every shape here is large enough to be split (the team really ran it).
                        #expect(loops == 1, "\(label): \(loops) parallel loops")
                        #expect(repeats, "\(label): not repeatable")
                        #expect(worst <= 1e-5 * largest, "\(label): differs by \(worst) (largest \(largest))")
                    }
                }
            }
        }
    }
}
