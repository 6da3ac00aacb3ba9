// LSTM and GRU layers matching PyTorch's nn.LSTM / nn.GRU with batch_first=True: stacked layers,
// bidirectional, variable lengths with pack_padded_sequence semantics. Backward through time is
// hand-written: one GEMM projects the input of all steps, one small GEMM per step adds
// h_{t-1} W_hh^T, the gate math runs in C (CKernels/recurrent.c), and the weight gradients are
// a few large GEMMs over all (sample, step) rows after the time loop.

import CKernels
import Kernels

/// A stack of LSTM or GRU layers over sequences of `steps` steps (PyTorch layout and names).
///
/// `x: (B, T*D)` (or `(B, D)` fed at every step when `repeatedInput`), `y: (B, T*dirs*H)` the
/// last layer's hidden state at every step (both directions side by side), states
/// `(B, layers*dirs*H)` ordered `[layer][direction][H]` (PyTorch's h_n, batch first).
public struct RecurrentLayer: Sendable {
    /// The four tensors of one layer and direction, in PyTorch's state_dict order.
    public struct Weights: Sendable {
        /// (G*H, in): in = D for layer 0, dirs*H above.
        public let inputWeight: ParameterSlot
        /// (G*H, H)
        public let hiddenWeight: ParameterSlot
        public let inputBias: ParameterSlot
        public let hiddenBias: ParameterSlot
    }

    public let cell: RecurrentCell
    public let inputSize: Int
    public let hiddenSize: Int
    public let steps: Int
    public let layers: Int
    public let bidirectional: Bool
    /// The same input (B, D) at every step (e.g. a decoder fed the code): projected once per sample.
    public let repeatedInput: Bool
    /// Indexed `layer * directions + direction`.
    public let weights: [Weights]

    public init(cell: RecurrentCell, inputSize: Int, hiddenSize: Int, steps: Int, layers: Int = 1,
                bidirectional: Bool = false, repeatedInput: Bool = false, name: String,
                layout: inout ParameterLayout) {
        precondition(inputSize > 0 && hiddenSize > 0 && steps > 0 && layers > 0,
                     "recurrent layer needs positive sizes, got D \(inputSize) H \(hiddenSize) T \(steps) L \(layers)")
        self.cell = cell
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.steps = steps
        self.layers = layers
        self.bidirectional = bidirectional
        self.repeatedInput = repeatedInput
        let gates = cell.gateCount * hiddenSize
        var weights: [Weights] = []
        for k in 0..<layers {
            let width = k == 0 ? inputSize : (bidirectional ? 2 : 1) * hiddenSize
            for d in 0..<(bidirectional ? 2 : 1) {
                let suffix = "_l\(k)" + (d == 1 ? "_reverse" : "")
                weights.append(Weights(
                    inputWeight: layout.reserve("\(name).weight_ih\(suffix)", shape: [gates, width]),
                    hiddenWeight: layout.reserve("\(name).weight_hh\(suffix)", shape: [gates, hiddenSize]),
                    inputBias: layout.reserve("\(name).bias_ih\(suffix)", shape: [gates]),
                    hiddenBias: layout.reserve("\(name).bias_hh\(suffix)", shape: [gates])))
            }
        }
        self.weights = weights
    }

    public var directions: Int { bidirectional ? 2 : 1 }
    public var inputWidth: Int { repeatedInput ? inputSize : steps * inputSize }
    public var outputWidth: Int { steps * directions * hiddenSize }
    public var stateWidth: Int { layers * directions * hiddenSize }

    /// Per sample: every (layer, direction) keeps its gates for all steps (GRU: input and hidden
    /// parts apart, since r multiplies the hidden n part), LSTM cell states for T+1 steps and a
    /// copy of h0; a repeated input keeps its projection; every layer keeps its hidden states in
    /// B*T + 2 rows (reserved as T+2 per sample, see `Buffers`); then dh, dc and, with
    /// several layers, the gradient of a layer's output.
    public var cacheWidth: Int {
        let (H, T, G) = (hiddenSize, steps, cell.gateCount * hiddenSize)
        let run = T * G + (cell == .gru ? T * G : (T + 1) * H) + H
        return layers * directions * run + (repeatedInput ? directions * G : 0)
            + layers * (T + 2) * directions * H + 2 * H + (layers > 1 ? T * directions * H : 0)
    }

    /// PyTorch's default: every weight and bias from U(-1/sqrt(H), 1/sqrt(H)).
    public func initialize(params: Arena, rng: inout SplitMix64) {
        for w in weights {
            for slot in [w.inputWeight, w.hiddenWeight, w.inputBias, w.hiddenBias] {
                Initializer.pytorchDefault.fillBias(params[slot], count: slot.count, fanIn: hiddenSize, rng: &rng)
            }
        }
    }

    /// Where the cache parts of `rows` samples lie. Every part holds `rows` times its per-sample
    /// width, so the cache is used as one block (it must be contiguous), not row by row: that
    /// lets gates and hidden states of all (sample, step) pairs form matrices of B*T rows.
    struct Buffers {
        let layer: RecurrentLayer
        let base: UnsafeMutablePointer<Float>
        let rows: Int

        var gateWidth: Int { layer.cell.gateCount * layer.hiddenSize }
        var runWidth: Int {
            let (H, T, G) = (layer.hiddenSize, layer.steps, gateWidth)
            return T * G + (layer.cell == .gru ? T * G : (T + 1) * H) + H
        }

        /// Row (b*T + t) holds the gates of sample b at step t: (B*T, G).
        func gates(_ run: Int) -> UnsafeMutablePointer<Float> { base + rows * run * runWidth }
        /// GRU: the hidden part h W_hh^T + b_hh of the gates, (B*T, G).
        func hiddenGates(_ run: Int) -> UnsafeMutablePointer<Float> { gates(run) + rows * layer.steps * gateWidth }
        /// LSTM: row b*(T+1) + t + 1 - d holds c_t (d = 1: reverse), so c_{t-1} (c_{t+1} in
        /// reverse) and the initial cell are rows of the same sample block.
        func cells(_ run: Int) -> UnsafeMutablePointer<Float> { hiddenGates(run) }
        /// h0 (B, H): the first step's previous state; backward copies it into `hidden`.
        func initial(_ run: Int) -> UnsafeMutablePointer<Float> { gates(run) + rows * (runWidth - layer.hiddenSize) }
        var runsEnd: UnsafeMutablePointer<Float> { base + rows * layer.layers * layer.directions * runWidth }
        /// Repeated input: x W_ih^T per sample, (B, G) per direction; backward reuses it for the
        /// gate gradients summed over steps.
        func projection(_ d: Int) -> UnsafeMutablePointer<Float> { runsEnd + rows * d * gateWidth }
        /// (B*T + 2, dirs*H): row 1 + b*T + t holds layer k's output at (b, t), so rows 1...B*T are
        /// the next layer's input. A direction's previous state is the row above (forward) or
        /// below (reverse), so the previous states of all (b, t) are one strided (B*T, H) matrix
        /// for the weight-gradient GEMM. For a sample's first step that row is a neighbour's output
        /// (or an end row): forward reads h0 from `initial` instead, and backward, which needs no
        /// outputs, copies h0 into those rows before it reads them.
        func hidden(_ k: Int) -> UnsafeMutablePointer<Float> {
            runsEnd + rows * (layer.repeatedInput ? layer.directions * gateWidth : 0)
                + k * (rows * layer.steps + 2) * layer.directions * layer.hiddenSize
        }
        var dh: UnsafeMutablePointer<Float> { hidden(layer.layers) }
        var dc: UnsafeMutablePointer<Float> { dh + rows * layer.hiddenSize }
        /// Gradient of an inner layer's output, (B*T, dirs*H): one buffer serves every layer, since
        /// a layer's dx is written only after its own time loops have read its dy.
        var dLayerOutput: UnsafeMutablePointer<Float> { dc + rows * layer.hiddenSize }
    }
}

extension RecurrentLayer {
    /// Runs every layer and direction over all steps.
    ///
    /// - Parameters:
    ///   - y: (B, T*dirs*H), 0 at padded steps.
    ///   - finalHidden: (B, stateWidth) h_n: each sample's state after its last valid step.
    ///   - initialHidden, initialCell: (B, stateWidth) h0 and (LSTM) c0; nil means zeros.
    ///   - finalCell: (B, stateWidth) LSTM c_n.
    ///   - lengths: valid steps per sample (1...steps); nil means all.
    public func forward(x: Matrix, y: Matrix, finalHidden: Matrix?, initialHidden: Matrix?, initialCell: Matrix?,
                        finalCell: Matrix? = nil, lengths: UnsafePointer<Int32>?, cache: Matrix, params: Arena) {
        let B = x.rows
        checkShapes(x: x, y: y, cache: cache, finalHidden, initialHidden, initialCell, finalCell)
        precondition(cell == .lstm || (initialCell == nil && finalCell == nil), "a GRU has no cell state")
        if let lengths {
            for b in 0..<B {
                precondition(lengths[b] >= 1 && Int(lengths[b]) <= steps,
                             "length \(lengths[b]) of sample \(b) is outside 1...\(steps)")
            }
        }
        let buffers = Buffers(layer: self, base: cache.base, rows: B)
        for k in 0..<layers {
            for d in 0..<directions {
                forwardRun(layer: k, direction: d, x: x, y: k == layers - 1 ? y : nil, initialHidden: initialHidden,
                           initialCell: initialCell, lengths: lengths, buffers: buffers, params: params)
                copyFinalState(layer: k, direction: d, finalHidden: finalHidden, finalCell: finalCell,
                               buffers: buffers)
            }
        }
    }

    /// Four states as separate arguments: an array of them would allocate on every call.
    func checkShapes(x: Matrix, y: Matrix, cache: Matrix, _ a: Matrix?, _ b: Matrix?, _ c: Matrix?, _ d: Matrix?) {
        let B = x.rows
        precondition(x.cols == inputWidth && y.rows == B && y.cols == outputWidth,
                     "recurrent layer takes (B, \(inputWidth)) to (B, \(outputWidth)), got \(x.cols) and \(y.cols)")
        precondition(repeatedInput || x.isContiguous, "the sequence input must be contiguous: it is read as (B*T, D)")
        precondition(cache.rows == B && cache.cols == cacheWidth && cache.isContiguous,
                     "the cache must be a contiguous (B, \(cacheWidth)) block")
        checkState(a, rows: B)
        checkState(b, rows: B)
        checkState(c, rows: B)
        checkState(d, rows: B)
    }

    func checkState(_ state: Matrix?, rows: Int) {
        guard let state else { return }
        precondition(state.rows == rows && state.cols == stateWidth,
                     "states are (B, \(stateWidth)), got (\(state.rows), \(state.cols))")
    }

    /// Layer k's input as (B*T, width), or the repeated input (B, D).
    func input(layer k: Int, x: Matrix, buffers: Buffers) -> Matrix {
        if k == 0 {
            return repeatedInput ? x : x.reshaped(rows: x.rows * steps, cols: inputSize)
        }
        let width = directions * hiddenSize
        return Matrix(buffers.hidden(k - 1) + width, rows: x.rows * steps, cols: width)
    }

    func forwardRun(layer k: Int, direction d: Int, x: Matrix, y: Matrix?, initialHidden: Matrix?,
                    initialCell: Matrix?, lengths: UnsafePointer<Int32>?, buffers: Buffers, params: Arena) {
        let (B, T, H, W, G) = (x.rows, steps, hiddenSize, directions * hiddenSize, cell.gateCount * hiddenSize)
        let run = k * directions + d, reverse = d == 1
        let w = weights[run]
        let gates = buffers.gates(run), hidden = buffers.hidden(k) + d * H
        let projected = k == 0 && repeatedInput
        // Input part of the gates for every (b, t) row in one GEMM; a repeated input once per sample.
        if projected {
            gemm(x, params.matrix(w.inputWeight), transposeB: true,
                 into: Matrix(buffers.projection(d), rows: B, cols: G))
        } else {
            gemm(input(layer: k, x: x, buffers: buffers), params.matrix(w.inputWeight), transposeB: true,
                 into: Matrix(gates, rows: B * T, cols: G))
        }
        // h0 in its own (B, H) block: the first step reads it from there (see Buffers.hidden).
        let initial = buffers.initial(run)
        for b in 0..<B {
            if let initialHidden {
                (initial + b * H).update(from: initialHidden.row(b) + run * H, count: H)
            } else {
                (initial + b * H).update(repeating: 0, count: H)
            }
            if cell == .lstm {
                let c0 = buffers.cells(run) + (b * (T + 1) + (reverse ? T : 0)) * H
                if let initialCell {
                    c0.update(from: initialCell.row(b) + run * H, count: H)
                } else {
                    c0.update(repeating: 0, count: H)
                }
            }
        }
        let recurrent = params.matrix(w.hiddenWeight)
        let xp = projected ? UnsafePointer(buffers.projection(d)) : nil
        for s in 0..<T {
            let t = reverse ? T - 1 - s : s
            let previous = s == 0 ? Matrix(initial, rows: B, cols: H)
                : Matrix(hidden + (t + (reverse ? 2 : 0)) * W, rows: B, cols: H, stride: T * W)
            let out = hidden + (1 + t) * W
            let stepGates = Matrix(gates + t * G, rows: B, cols: G, stride: T * G)
            let yStep = y.map { $0.base + t * W + d * H }
            let yStride = y?.stride ?? 0
            switch cell {
            case .lstm:
                // gates_t = x_t W_ih^T (already there unless projected) + h_{t-1} W_hh^T.
                gemm(previous, recurrent, transposeB: true, into: stepGates, beta: projected ? 0 : 1)
                let cells = buffers.cells(run)
                ae_lstm_forward_step_team(Int32(B), Int32(H), stepGates.base, T * G, xp, G, params[w.inputBias],
                                          params[w.hiddenBias], cells + (t + d) * H, cells + (t + 1 - d) * H,
                                          (T + 1) * H, previous.base, previous.stride, out, T * W, yStep, yStride,
                                          lengths, Int32(t))
            case .gru:
                let hiddenGates = buffers.hiddenGates(run) + t * G
                gemm(previous, recurrent, transposeB: true, into: Matrix(hiddenGates, rows: B, cols: G, stride: T * G))
                ae_gru_forward_step_team(Int32(B), Int32(H), stepGates.base, T * G, xp, G, hiddenGates, T * G,
                                         params[w.inputBias], params[w.hiddenBias], previous.base, previous.stride, out,
                                         T * W, yStep, yStride, lengths, Int32(t))
            }
        }
    }

    /// h_n (and c_n): the state at the last step processed, which padding left frozen.
    func copyFinalState(layer k: Int, direction d: Int, finalHidden: Matrix?, finalCell: Matrix?, buffers: Buffers) {
        let (B, T, H, W) = (buffers.rows, steps, hiddenSize, directions * hiddenSize)
        let run = k * directions + d, last = d == 1 ? 0 : T - 1
        let hidden = buffers.hidden(k) + d * H, cells = buffers.cells(run)
        for b in 0..<B {
            finalHidden.map { ($0.row(b) + run * H).update(from: hidden + (1 + b * T + last) * W, count: H) }
            finalCell.map { ($0.row(b) + run * H).update(from: cells + (b * (T + 1) + last + 1 - d) * H, count: H) }
        }
    }
}

extension RecurrentLayer {
    /// Backward through time for `dy` (gradient of y; nil when only the final state is used) and
    /// `dFinalHidden` / `dFinalCell` (gradients of h_n / c_n). Adds into `dx`, `dInitialHidden`,
    /// `dInitialCell` (when non-nil) and the parameter gradients. Uses the cache as scratch, so it
    /// runs once per forward.
    public func backward(dy: Matrix?, dFinalHidden: Matrix?, dFinalCell: Matrix? = nil, x: Matrix, y: Matrix,
                         cache: Matrix, dx: Matrix?, dInitialHidden: Matrix?, dInitialCell: Matrix?,
                         lengths: UnsafePointer<Int32>?, params: Arena, grads: Arena) {
        checkShapes(x: x, y: y, cache: cache, dFinalHidden, dFinalCell, dInitialHidden, dInitialCell)
        precondition(dy.map { $0.rows == x.rows && $0.cols == outputWidth } ?? true, "dy must be shaped like y")
        precondition(dx.map { $0.rows == x.rows && $0.cols == inputWidth && (repeatedInput || $0.isContiguous) }
                     ?? true, "dx must be shaped like x (contiguous for a sequence input)")
        precondition(cell == .lstm || (dFinalCell == nil && dInitialCell == nil), "a GRU has no cell state")
        let buffers = Buffers(layer: self, base: cache.base, rows: x.rows)
        for k in (0..<layers).reversed() {
            // Both directions read this layer's dy before either writes the layer below's.
            for d in 0..<directions {
                backwardRun(layer: k, direction: d, dy: k == layers - 1 ? dy : nil, dFinalHidden: dFinalHidden,
                            dFinalCell: dFinalCell, dInitialHidden: dInitialHidden, dInitialCell: dInitialCell,
                            lengths: lengths, buffers: buffers, params: params)
            }
            for d in 0..<directions {
                weightGradients(layer: k, direction: d, x: x, dx: dx, buffers: buffers, params: params, grads: grads)
            }
        }
    }

    /// The time loop in reverse order of forward: per step, the C kernel turns dh (and dc) into
    /// gate gradients, stored over the gates, then dh_{t-1} += dgates W_hh.
    func backwardRun(layer k: Int, direction d: Int, dy: Matrix?, dFinalHidden: Matrix?, dFinalCell: Matrix?,
                     dInitialHidden: Matrix?, dInitialCell: Matrix?, lengths: UnsafePointer<Int32>?,
                     buffers: Buffers, params: Arena) {
        let (B, T, H, W, G) = (buffers.rows, steps, hiddenSize, directions * hiddenSize, cell.gateCount * hiddenSize)
        let run = k * directions + d, reverse = d == 1
        let gates = buffers.gates(run), hidden = buffers.hidden(k) + d * H
        let dh = buffers.dh, dc = buffers.dc
        let firstPrevious = reverse ? T + 1 : 0
        for b in 0..<B {
            if let dFinalHidden {
                (dh + b * H).update(from: dFinalHidden.row(b) + run * H, count: H)
            } else {
                (dh + b * H).update(repeating: 0, count: H)
            }
            if let dFinalCell {
                (dc + b * H).update(from: dFinalCell.row(b) + run * H, count: H)
            } else {
                (dc + b * H).update(repeating: 0, count: H)
            }
            // h0 into the previous-state row of the sample's first step (see Buffers.hidden).
            (hidden + (b * T + firstPrevious) * W).update(from: buffers.initial(run) + b * H, count: H)
        }
        // dy of this layer: the caller's for the top layer, else what the layer above left.
        let dyBase: UnsafeMutablePointer<Float>?, dyStride: Int
        if k == layers - 1 {
            dyBase = dy.map { $0.base + d * H }
            dyStride = dy?.stride ?? 0
        } else {
            dyBase = buffers.dLayerOutput + d * H
            dyStride = T * W
        }
        let recurrent = params.matrix(weights[run].hiddenWeight)
        let dhMatrix = Matrix(dh, rows: B, cols: H)
        for s in 0..<T {
            let t = reverse ? s : T - 1 - s
            let stepGates = gates + t * G
            let dyStep = dyBase.map { $0 + t * W }
            let previous = hidden + (t + (reverse ? 2 : 0)) * W
            // The last step's dh_{t-1} is dh0, needed only for dInitialHidden.
            let needsDh = s < T - 1 || dInitialHidden != nil
            switch cell {
            case .lstm:
                let cells = buffers.cells(run)
                ae_lstm_backward_step_team(Int32(B), Int32(H), stepGates, T * G, cells + (t + d) * H,
                                           cells + (t + 1 - d) * H, (T + 1) * H, dyStep, dyStride, dh, dc, lengths,
                                           Int32(t))
                // gates = x W_ih^T + h_{t-1} W_hh^T + b:  dh_{t-1} += dgates W_hh.
                if needsDh {
                    gemm(Matrix(stepGates, rows: B, cols: G, stride: T * G), recurrent, into: dhMatrix, beta: 1)
                }
            case .gru:
                let hiddenGates = buffers.hiddenGates(run) + t * G
                ae_gru_backward_step_team(Int32(B), Int32(H), stepGates, T * G, hiddenGates, T * G, previous, T * W,
                                          dyStep, dyStride, dh, lengths, Int32(t))
                // gh = h_{t-1} W_hh^T + b_hh:  dh_{t-1} += dgh W_hh.
                if needsDh {
                    gemm(Matrix(hiddenGates, rows: B, cols: G, stride: T * G), recurrent, into: dhMatrix, beta: 1)
                }
            }
        }
        for b in 0..<B {
            if let dInitialHidden {
                let row = dInitialHidden.row(b) + run * H
                for j in 0..<H { row[j] += dh[b * H + j] }
            }
            if let dInitialCell {
                let row = dInitialCell.row(b) + run * H
                for j in 0..<H { row[j] += dc[b * H + j] }
            }
        }
    }

    /// Weight and input gradients from the gate gradients of all (b, t) rows at once.
    func weightGradients(layer k: Int, direction d: Int, x: Matrix, dx: Matrix?, buffers: Buffers, params: Arena,
                         grads: Arena) {
        let (B, T, H, W, G) = (buffers.rows, steps, hiddenSize, directions * hiddenSize, cell.gateCount * hiddenSize)
        let run = k * directions + d, reverse = d == 1
        let w = weights[run]
        // LSTM: one set of gate gradients; GRU: the hidden part differs in n (r * dn).
        let dInputGates = Matrix(buffers.gates(run), rows: B * T, cols: G)
        let dHiddenGates = cell == .lstm ? dInputGates : Matrix(buffers.hiddenGates(run), rows: B * T, cols: G)
        // dW_hh += dG_h^T H_prev over all (b, t), with H_prev the strided previous-state rows.
        let previous = Matrix(buffers.hidden(k) + d * H + (reverse ? 2 * W : 0), rows: B * T, cols: H, stride: W)
        gemm(dHiddenGates, transposeA: true, previous, into: grads.matrix(w.hiddenWeight), beta: 1)
        ae_column_sums_team(dHiddenGates.base, Int32(B * T), Int32(G), G, grads[w.hiddenBias], 1)
        if k == 0 && repeatedInput {
            // The same x at every step: its gate gradients sum over steps (padded steps add 0).
            let summed = Matrix(buffers.projection(d), rows: B, cols: G)
            for b in 0..<B {
                ae_column_sums_team(dInputGates.base + b * T * G, Int32(T), Int32(G), G, summed.row(b), 0)
            }
            gemm(summed, transposeA: true, x, into: grads.matrix(w.inputWeight), beta: 1)
            ae_column_sums_team(summed.base, Int32(B), Int32(G), G, grads[w.inputBias], 1)
            if let dx { gemm(summed, params.matrix(w.inputWeight), into: dx, beta: 1) }
            return
        }
        let layerInput = input(layer: k, x: x, buffers: buffers)
        gemm(dInputGates, transposeA: true, layerInput, into: grads.matrix(w.inputWeight), beta: 1)
        ae_column_sums_team(dInputGates.base, Int32(B * T), Int32(G), G, grads[w.inputBias], 1)
        if k == 0 {
            if let dx {
                gemm(dInputGates, params.matrix(w.inputWeight), into: dx.reshaped(rows: B * T, cols: inputSize),
                     beta: 1)
            }
        } else {
            // The layer below's dy; the first direction overwrites what this layer's dy was.
            gemm(dInputGates, params.matrix(w.inputWeight), into: Matrix(buffers.dLayerOutput, rows: B * T, cols: W),
                 beta: d == 0 ? 0 : 1)
        }
    }
}

/// Plugs a recurrent layer without states or lengths into a `Network` chain.
extension RecurrentLayer: Layer {
    public func forward(x: Matrix, y: Matrix, cache: Matrix, params: Arena) {
        forward(x: x, y: y, finalHidden: nil, initialHidden: nil, initialCell: nil, lengths: nil, cache: cache,
                params: params)
    }

    public func backward(dy: Matrix, x: Matrix, y: Matrix, cache: Matrix, dx: Matrix?, params: Arena, grads: Arena) {
        backward(dy: dy, dFinalHidden: nil, x: x, y: y, cache: cache, dx: dx, dInitialHidden: nil, dInitialCell: nil,
                 lengths: nil, params: params, grads: grads)
    }
}
