// Elementwise activations with their derivatives written from the output where possible
// (ReLU, sigmoid, tanh, ELU), so no cache is needed; softplus keeps its input `x`.

import Foundation
import Kernels

public enum ActivationKind: String, Sendable, CaseIterable, Codable {
    case relu, leakyRelu = "leaky-relu", elu, sigmoid, tanh, softplus, identity
}

public struct Activation: Layer {
    public let kind: ActivationKind
    public let width: Int
    /// Negative slope of leaky ReLU; alpha of ELU.
    public let slope: Float

    public init(_ kind: ActivationKind, width: Int, slope: Float? = nil) {
        self.kind = kind
        self.width = width
        self.slope = slope ?? (kind == .elu ? 1 : 0.01)
    }

    public var inputWidth: Int { width }
    public var outputWidth: Int { width }

    public func forward(x: Matrix, y: Matrix, cache: Matrix, params: Arena) {
        TeamRows.run(rows: x.rows, width: width, job: ActivationJob(layer: self, x: x, y: y, dy: nil, dx: nil),
                     ActivationJob.task)
    }

    public func backward(dy: Matrix, x: Matrix, y: Matrix, cache: Matrix, dx: Matrix?, params: Arena,
                         grads: Arena) {
        guard let dx else { return }
        TeamRows.run(rows: dy.rows, width: width, job: ActivationJob(layer: self, x: x, y: y, dy: dy, dx: dx),
                     ActivationJob.task)
    }

    func forward(x: Matrix, y: Matrix, rows: Range<Int>) {
        let n = width, a = slope
        for r in rows {
            let xs = x.row(r), ys = y.row(r)
            switch kind {
            case .relu: for i in 0..<n { ys[i] = max(xs[i], 0) }
            case .leakyRelu: for i in 0..<n { ys[i] = xs[i] > 0 ? xs[i] : a * xs[i] }
            case .elu: for i in 0..<n { ys[i] = xs[i] > 0 ? xs[i] : a * (expf(xs[i]) - 1) }
            case .sigmoid: for i in 0..<n { ys[i] = Activation.sigmoid(xs[i]) }
            case .tanh: for i in 0..<n { ys[i] = tanhf(xs[i]) }
            case .softplus: for i in 0..<n { ys[i] = Activation.softplus(xs[i]) }
            case .identity: ys.update(from: xs, count: n)
            }
        }
    }

    func backward(dy: Matrix, x: Matrix, y: Matrix, dx: Matrix, rows: Range<Int>) {
        let n = width, a = slope
        for r in rows {
            let g = dy.row(r), ys = y.row(r), xs = x.row(r), d = dx.row(r)
            switch kind {
            case .relu: for i in 0..<n { d[i] += ys[i] > 0 ? g[i] : 0 }
            case .leakyRelu: for i in 0..<n { d[i] += xs[i] > 0 ? g[i] : a * g[i] }
            // y = a (e^x - 1) for x <= 0, so dy/dx = e^x = y/a + 1 = (y + a)/a... times a: y + a.
            case .elu: for i in 0..<n { d[i] += xs[i] > 0 ? g[i] : g[i] * (ys[i] + a) }
            case .sigmoid: for i in 0..<n { d[i] += g[i] * ys[i] * (1 - ys[i]) }
            case .tanh: for i in 0..<n { d[i] += g[i] * (1 - ys[i] * ys[i]) }
            case .softplus: for i in 0..<n { d[i] += g[i] * Activation.sigmoid(xs[i]) }
            case .identity: for i in 0..<n { d[i] += g[i] }
            }
        }
    }

    @inline(__always)
    public static func sigmoid(_ x: Float) -> Float {
        x >= 0 ? 1 / (1 + expf(-x)) : { let e = expf(x); return e / (1 + e) }()
    }

    /// Logits to probabilities: `y[r][i] = sigmoid(x[r][i])` for the first `count` values of each
    /// row (in place when `y` is `x`); returns `y`.
    @discardableResult
    public static func sigmoid(_ x: Matrix, into y: Matrix, count: Int) -> Matrix {
        for r in 0..<x.rows {
            let a = x.row(r), b = y.row(r)
            for i in 0..<count { b[i] = sigmoid(a[i]) }
        }
        return y
    }

    /// `log(1 + e^x)` without overflow.
    @inline(__always)
    public static func softplus(_ x: Float) -> Float {
        max(x, 0) + log1pf(expf(-abs(x)))
    }
}

/// One activation pass over a block of rows (a C-convention task: starting it allocates nothing).
struct ActivationJob {
    let layer: Activation
    let x, y: Matrix
    let dy, dx: Matrix?

    static let task: TeamRows.Task = { context, block in
        let job = context!.assumingMemoryBound(to: TeamRows.Job<ActivationJob>.self).pointee
        let rows = job.rows(block)
        if let dy = job.work.dy, let dx = job.work.dx {
            job.work.layer.backward(dy: dy, x: job.work.x, y: job.work.y, dx: dx, rows: rows)
        } else {
            job.work.layer.forward(x: job.work.x, y: job.work.y, rows: rows)
        }
    }
}
