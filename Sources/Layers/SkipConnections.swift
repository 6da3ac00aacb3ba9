// Helpers for encoder-decoder skip connections (U-Net concatenation, ResNet addition). They join
// two activations rather than map one, so they are plain functions a model calls, not chain layers.
// Rows are samples; in NCHW, channel concatenation is concatenating the two rows.

import Kernels

public enum Skip {
    /// `y = [a, b]` per row: `a: (B, Ca*H*W)`, `b: (B, Cb*H*W)`, `y: (B, (Ca + Cb)*H*W)`, i.e.
    /// torch.cat([a, b], dim=1).
    public static func concatChannels(_ a: Matrix, _ b: Matrix, into y: Matrix) {
        precondition(a.rows == y.rows && b.rows == y.rows, "concat needs equal row counts")
        precondition(a.cols + b.cols == y.cols, "concat output has \(y.cols) columns, not \(a.cols) + \(b.cols)")
        for r in 0..<y.rows {
            y.row(r).update(from: a.row(r), count: a.cols)
            (y.row(r) + a.cols).update(from: b.row(r), count: b.cols)
        }
    }

    /// The adjoint of `concatChannels`: `da += dy[:, ..<Ca]`, `db += dy[:, Ca...]`.
    public static func splitChannels(_ dy: Matrix, addingInto da: Matrix, _ db: Matrix) {
        precondition(da.rows == dy.rows && db.rows == dy.rows, "split needs equal row counts")
        precondition(da.cols + db.cols == dy.cols, "split input has \(dy.cols) columns, not \(da.cols) + \(db.cols)")
        for r in 0..<dy.rows {
            let g = dy.row(r), d = da.row(r), e = db.row(r), offset = da.cols
            for i in 0..<da.cols { d[i] += g[i] }
            for i in 0..<db.cols { e[i] += g[offset + i] }
        }
    }

    /// `y = a + b` (a residual connection). Its backward passes dy to both: `accumulate` it twice.
    public static func add(_ a: Matrix, _ b: Matrix, into y: Matrix) {
        precondition(a.rows == y.rows && b.rows == y.rows && a.cols == y.cols && b.cols == y.cols,
                     "add needs equal shapes")
        for r in 0..<y.rows {
            let p = a.row(r), q = b.row(r), s = y.row(r)
            for i in 0..<y.cols { s[i] = p[i] + q[i] }
        }
    }

    /// `d += dy`, for gradients that reach one activation along several paths.
    public static func accumulate(_ dy: Matrix, into d: Matrix) {
        precondition(dy.rows == d.rows && dy.cols == d.cols, "accumulate needs equal shapes")
        for r in 0..<d.rows {
            let g = dy.row(r), s = d.row(r)
            for i in 0..<d.cols { s[i] += g[i] }
        }
    }
}
