// Matrix.fill on a shard's team (by rows where the layers put them, by cache-line blocks when a
// contiguous matrix has fewer rows than members): every value of the view set, nothing outside it.

import CKernels
import Kernels
import Testing

@Suite struct TeamFillTests {
    /// Views of 1-9 rows of 3,000 values, contiguous and strided (a gap of 5 after each row),
    /// on teams of 2 and 3: small and large enough to wake the team.
    @Test(arguments: [1, 2, 9], [false, true])
    func fillSetsTheViewAndOnlyIt(rows: Int, strided: Bool) {
        let cols = 3_000, stride = strided ? cols + 5 : cols
        for size in [2, 3] {
            let buffer = FloatBuffer(count: rows * stride + 7)
            for i in 0..<buffer.count { buffer[i] = -1 }
            let team = ae_team_create(Int32(size))
            ae_team_set_current(team)
            Matrix(buffer.pointer, rows: rows, cols: cols, stride: stride).fill(2)
            ae_team_set_current(nil)
            let loops = Int(ae_team_loops(team))
            ae_team_destroy(team)
            var wrong = 0
            for i in 0..<buffer.count {
                let inside = i < rows * stride && i % stride < cols
                if buffer[i] != (inside ? 2 : -1) { wrong += 1 }
            }
            #expect(wrong == 0, "\(rows) rows, strided \(strided), team of \(size): \(wrong) values wrong")
            // 16,384 values and more are shared out (but a strided single row has one part).
            let shared = rows * cols >= 16_384 && (rows > 1 || !strided)
            #expect((loops > 0) == shared, "\(rows) rows, strided \(strided), team of \(size): \(loops) team loops")
        }
    }
}
