// A restricted Boltzmann machine trained by contrastive divergence (CD-k), as in Hinton and
// Salakhutdinov's code (2006): binary visible units (grey values taken as probabilities) and
// binary hidden units, or linear hidden units with unit-variance Gaussian noise (their top
// layer). Each shard computes the CD statistics of its rows into its gradient slab, signed so
// that descending them raises the likelihood; the engine sums them over shards like gradients and
// SGD with momentum applies them. Gibbs samples come from each row's key, so any shard count
// draws the same samples. Evaluation reconstructs by one mean-field up-down pass.

import Foundation
import Kernels
import Layers

public enum HiddenUnits: String, Sendable, Codable, CaseIterable {
    /// Bernoulli units: p = sigmoid(x), samples 0 or 1.
    case binary
    /// Linear units with unit-variance Gaussian noise: mean x, samples x + N(0, 1).
    case gaussian
}

public struct RBMConfig: Sendable, Equatable, Codable {
    /// Visible units (0 until the data sets it) and hidden units.
    public var visible: Int
    public var hidden: Int
    public var hiddenUnits: HiddenUnits = .binary
    /// Gibbs steps of contrastive divergence.
    public var cdSteps = 1
    /// L2 cost on the weights (not the biases), added to their CD statistic.
    public var weightCost: Float = 0.0002

    public init(visible: Int, hidden: Int) {
        self.visible = visible
        self.hidden = hidden
    }

    public func validationError() -> String? {
        if visible <= 0 || hidden <= 0 { return "an RBM needs positive visible and hidden widths (got \(visible), \(hidden))" }
        if cdSteps < 1 { return "contrastive divergence needs at least 1 Gibbs step (got \(cdSteps))" }
        if !(weightCost >= 0) { return "the weight cost must be >= 0 (got \(weightCost))" }
        return nil
    }

    /// Keys missing from a stored config take their defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(visible: try c.decode(Int.self, forKey: .visible), hidden: try c.decode(Int.self, forKey: .hidden))
        hiddenUnits = try c.decodeIfPresent(HiddenUnits.self, forKey: .hiddenUnits) ?? hiddenUnits
        cdSteps = try c.decodeIfPresent(Int.self, forKey: .cdSteps) ?? cdSteps
        weightCost = try c.decodeIfPresent(Float.self, forKey: .weightCost) ?? weightCost
    }
}

public struct RestrictedBoltzmannMachine: AutoencoderModel, LossReportingModel, BenchmarkShapes, FilterModel {
    public let config: RBMConfig
    public let layout: ParameterLayout
    /// (hidden, visible), as the encoder layer it unrolls into.
    public let weight: ParameterSlot
    public let visibleBias: ParameterSlot
    public let hiddenBias: ParameterSlot
    let visibleRegion: Region
    let targetRegion: Region
    /// The hidden units' input x = W v0 + c, then their probabilities (or means) given v0.
    let hiddenInput: Region
    let hiddenData: Region
    /// The last Gibbs sample of the hidden units, the negative visible probabilities and hidden
    /// probabilities (means) given them.
    let hiddenSample: Region
    let visibleModel: Region
    let hiddenModel: Region
    public let workspaceColumns: Int
    public let phases: [Phase]

    public init(_ config: RBMConfig) {
        precondition(config.validationError() == nil, config.validationError() ?? "")
        self.config = config
        var layout = ParameterLayout()
        let v = config.visible, h = config.hidden
        weight = layout.reserve("rbm.weight", shape: [h, v])
        visibleBias = layout.reserve("rbm.visible_bias", shape: [v])
        hiddenBias = layout.reserve("rbm.hidden_bias", shape: [h])
        self.layout = layout
        var allocator = RegionAllocator()
        visibleRegion = allocator.take(v)
        targetRegion = allocator.take(v)
        hiddenInput = allocator.take(h)
        hiddenData = allocator.take(h)
        hiddenSample = allocator.take(h)
        visibleModel = allocator.take(v)
        hiddenModel = allocator.take(h)
        workspaceColumns = allocator.columns
        phases = [Phase(name: "rbm", group: 0..<layout.count)]
    }

    public var inputWidth: Int { config.visible }
    public var targetWidth: Int { config.visible }
    public var lossPartNames: [String] { ["free_energy"] }
    /// The free energy gap between held-out and training data shows overfitting (Hinton's guide).
    public var reportsTrainingGap: Bool { true }

    /// Weights from N(0, 0.1^2) and zero biases, as the reference code.
    public func initialize(params: Arena, seed: UInt64) {
        var rng = SplitMix64(key: seed, 0x6962_6D72)
        rng.fillGaussian(params[weight], count: weight.count, scale: 0.1)
        params[visibleBias].update(repeating: 0, count: visibleBias.count)
        params[hiddenBias].update(repeating: 0, count: hiddenBias.count)
    }

    public func input(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(visibleRegion, rows: rows) }
    public func target(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(targetRegion, rows: rows) }
    /// The last hidden sample of a training forward.
    public func hiddenSample(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(hiddenSample, rows: rows) }

    /// `out` = sigmoid or identity of `x W^T + c` (hidden) and `pre` = `x W^T + c` when given.
    func up(_ x: Matrix, into out: Matrix, pre: Matrix?, params: Arena) {
        let w = Matrix(params[weight], rows: config.hidden, cols: config.visible), c = params[hiddenBias]
        let target = pre ?? out
        for r in 0..<x.rows { target.row(r).update(from: c, count: config.hidden) }
        gemm(x, w, transposeB: true, into: target, beta: 1)
        for r in 0..<x.rows {
            let a = target.row(r), b = out.row(r)
            for j in 0..<config.hidden { b[j] = config.hiddenUnits == .binary ? Activation.sigmoid(a[j]) : a[j] }
        }
    }

    /// `out` = sigmoid(`h W + b`): visible probabilities.
    func down(_ h: Matrix, into out: Matrix, params: Arena) {
        let w = Matrix(params[weight], rows: config.hidden, cols: config.visible), b = params[visibleBias]
        for r in 0..<h.rows { out.row(r).update(from: b, count: config.visible) }
        gemm(h, w, into: out, beta: 1)
        Activation.sigmoid(out, into: out, count: config.visible)
    }

    public func forward(_ context: StepContext, _ ws: Workspace, rows: Int, params: Arena,
                        statistic: UnsafeMutablePointer<Float>?) {
        let v0 = input(ws, rows: rows), h0 = ws.matrix(hiddenData, rows: rows)
        up(v0, into: h0, pre: ws.matrix(hiddenInput, rows: rows), params: params)
        let vk = ws.matrix(visibleModel, rows: rows), hk = ws.matrix(hiddenModel, rows: rows)
        guard context.training else {
            down(h0, into: vk, params: params)
            return
        }
        let s = ws.matrix(hiddenSample, rows: rows)
        for step in 0..<config.cdSteps {
            let from = step == 0 ? h0 : hk
            for r in 0..<rows {
                // Each row's own stream per Gibbs step: the same samples at any shard count.
                var rng = SplitMix64(key: ws.rowKeys[r], 0x6962_6D73, UInt64(step))
                let p = from.row(r), out = s.row(r)
                switch config.hiddenUnits {
                case .binary:
                    for j in 0..<config.hidden { out[j] = rng.nextUniform() < p[j] ? 1 : 0 }
                case .gaussian:
                    var j = 0
                    while j < config.hidden {
                        let (a, b) = rng.nextGaussianPair()
                        out[j] = p[j] + a
                        if j + 1 < config.hidden { out[j + 1] = p[j + 1] + b }
                        j += 2
                    }
                }
            }
            // The negative phase uses probabilities, not samples, for the visible units (as the reference).
            down(s, into: vk, params: params)
            up(vk, into: hk, pre: nil, params: params)
        }
    }

    /// F(v) = -b.v - sum_j softplus(x_j) for binary hidden units, -b.v - sum_j x_j^2 / 2 for
    /// Gaussian ones (dropping their constant (H/2) log 2 pi), x = W v + c.
    public func freeEnergy(_ ws: Workspace, row r: Int, params: Arena) -> Double {
        let v = input(ws, rows: r + 1).row(r), x = ws.matrix(hiddenInput, rows: r + 1).row(r), b = params[visibleBias]
        var f = 0.0
        for i in 0..<config.visible { f -= Double(b[i] * v[i]) }
        for j in 0..<config.hidden {
            let a = Double(x[j])
            f -= config.hiddenUnits == .binary ? max(a, 0) + log1p(exp(-abs(a))) : a * a / 2
        }
        return f
    }

    /// The reconstruction's squared error (training: the CD chain's negative visible
    /// probabilities, as the reference reports it) and each row's free energy; the CD statistics
    /// into `grads` in training.
    public func backward(_ context: StepContext, _ ws: Workspace, rows: Int, globalRows: Int, params: Arena,
                         grads: Arena?, statistic: UnsafePointer<Float>?) -> LossSums {
        let v0 = input(ws, rows: rows), t = target(ws, rows: rows), vk = ws.matrix(visibleModel, rows: rows)
        var sums = LossSums()
        for r in 0..<rows {
            let a = t.row(r), b = vk.row(r)
            var squared = 0.0
            for i in 0..<config.visible {
                let e = Double(a[i] - b[i])
                squared += e * e
            }
            sums.squaredError += squared
            sums.parts[0] += freeEnergy(ws, row: r, params: params)
        }
        sums.objective = sums.squaredError
        guard let grads, context.training else { return sums }
        let scale = 1 / Float(globalRows)
        let h0 = ws.matrix(hiddenData, rows: rows), hk = ws.matrix(hiddenModel, rows: rows)
        let dw = Matrix(grads[weight], rows: config.hidden, cols: config.visible)
        // Descending -(<h v>_data - <h v>_model) raises the log-likelihood's CD estimate.
        gemm(h0, transposeA: true, v0, into: dw, alpha: -scale, beta: 1)
        gemm(hk, transposeA: true, vk, into: dw, alpha: scale, beta: 1)
        // The weight cost, shared out by rows so that the shards' sum adds it once.
        let w = params[weight], share = config.weightCost * Float(rows) * scale, dwp = grads[weight]
        for i in 0..<weight.count { dwp[i] += share * w[i] }
        let db = grads[visibleBias], dc = grads[hiddenBias]
        for r in 0..<rows {
            let a = v0.row(r), b = vk.row(r), p = h0.row(r), q = hk.row(r)
            for i in 0..<config.visible { db[i] -= scale * (a[i] - b[i]) }
            for j in 0..<config.hidden { dc[j] -= scale * (p[j] - q[j]) }
        }
        return sums
    }

    public func reconstruction(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(visibleModel, rows: rows) }

    /// The evaluation pass (up, then down). Benchmarks count training as 3 times it, 6 GEMMs;
    /// CD-k runs 2k + 3 (5 for CD-1: up, k down-up pairs, the two statistics).
    public var filterCount: Int { config.hidden }
    public var filterOffset: Int { weight.offset }
    public var gemmShapes: [(m: Int, k: Int, n: Int)] { [(1, config.visible, config.hidden), (1, config.hidden, config.visible)] }
}

extension RestrictedBoltzmannMachine: LatentModel {
    /// The hidden units' probabilities (or means) given the data.
    public var codeWidth: Int { config.hidden }
    public func code(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(hiddenData, rows: rows) }
    public func latentInput(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(hiddenData, rows: rows) }
    public func decode(_ ws: Workspace, rows: Int, params: Arena) {
        down(ws.matrix(hiddenData, rows: rows), into: ws.matrix(visibleModel, rows: rows), params: params)
    }
}

extension RestrictedBoltzmannMachine {
    /// The deep autoencoder a stack of RBMs (each reading the one below's hidden units) unrolls
    /// into, as Hinton and Salakhutdinov do: the encoder takes each machine's weights, the decoder
    /// their transposes in reverse order; logistic hidden layers, a linear code when the top
    /// machine's hidden units are Gaussian, a logistic output.
    /// - Precondition: each machine's visible width is the hidden width of the one below.
    public static func unrolledConfig(_ stack: [RBMConfig], loss: LossKind = .bce) -> DenseAutoencoderConfig {
        precondition(!stack.isEmpty && zip(stack, stack.dropFirst()).allSatisfy { $0.hidden == $1.visible },
                     "each RBM must read the hidden units of the one below")
        var config = DenseAutoencoderConfig(widths: [stack[0].visible] + stack.map(\.hidden))
        config.hiddenActivation = .sigmoid
        config.codeActivation = stack.last!.hiddenUnits == .gaussian ? .identity : .sigmoid
        config.outputActivation = .sigmoid
        config.loss = loss
        return config
    }

    /// Writes the stack's parameters into `autoencoder`'s (built from `unrolledConfig`): encoder
    /// layer k gets machine k's weights and hidden biases, the mirrored decoder layer its
    /// transposed weights and visible biases.
    public static func unroll(_ stack: [(model: RestrictedBoltzmannMachine, params: Arena)], into autoencoder: DenseAutoencoder,
                              params: Arena) {
        let dense = autoencoder.network.layers.compactMap { $0 as? Dense }
        precondition(dense.count == 2 * stack.count && !autoencoder.config.tiedWeights,
                     "the autoencoder must be the stack's unrolled config")
        for (k, (rbm, source)) in stack.enumerated() {
            let v = rbm.config.visible, h = rbm.config.hidden
            let encoder = dense[k], decoder = dense[dense.count - 1 - k]
            precondition(encoder.inputWidth == v && encoder.outputWidth == h, "layer \(k) is not \(v) -> \(h)")
            params[encoder.weight].update(from: source[rbm.weight], count: h * v)
            params[encoder.bias].update(from: source[rbm.hiddenBias], count: h)
            // The decoder layer maps h -> v: its (v, h) weight is the machine's (h, v) transposed.
            let w = source[rbm.weight], out = params[decoder.weight]
            for i in 0..<v { for j in 0..<h { out[i * h + j] = w[j * v + i] } }
            params[decoder.bias].update(from: source[rbm.visibleBias], count: v)
        }
    }
}
