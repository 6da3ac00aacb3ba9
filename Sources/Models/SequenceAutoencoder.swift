// Sequence-to-sequence autoencoders (Srivastava et al. 2015): a recurrent encoder reads the
// sequence; its last layer's final hidden state (optionally through a linear bottleneck) is the
// code; a recurrent decoder unrolled for T steps and a per-step Linear reconstruct the sequence.
// M3/M4 of the benchmark are the LSTM/GRU forms with hidden 128, the decoder fed the code at every
// step and a sigmoid output. Parameter names follow that reference (`enc`, `dec`, `out`).

import Kernels
import Layers

/// What the decoder reads at each step.
public enum SequenceDecoderInput: String, Sendable, Codable, CaseIterable {
    /// The code at every step, zero initial state (the unconditioned decoder).
    case code
    /// The previous step's value, initial state from the code (the conditioned decoder). Training
    /// feeds the true previous value with probability `teacherForcing`, else the decoder's own
    /// prediction; evaluation always feeds its own predictions.
    case previous
}

/// The per-step output layer's activation.
public enum SequenceOutput: String, Sendable, Codable, CaseIterable {
    /// Values in [0, 1], e.g. image rows.
    case sigmoid
    /// Real values, e.g. standardized sequence files.
    case linear
}

public struct SequenceAutoencoderConfig: Sendable, Equatable, Codable {
    public var cell: RecurrentCell = .lstm
    public var steps: Int
    /// Values per step.
    public var features: Int
    /// Channels when the steps are the rows of a CHW image (features = channels x width), else 1.
    public var imageChannels: Int = 1
    public var hidden: Int = 128
    public var layers: Int = 1
    public var bidirectional: Bool = false
    /// Width of a linear bottleneck after the encoder; 0: the code is the final hidden state.
    public var code: Int = 0
    public var decoderInput: SequenceDecoderInput = .code
    /// Probability of feeding the true previous value to a conditioned decoder in training.
    public var teacherForcing: Float = 1
    /// Reconstruct the sequence last step first.
    public var reverse: Bool = false
    public var output: SequenceOutput = .sigmoid
    /// Rows carry one extra value after the steps: the sequence's length (zero-padded after it).
    public var variableLength: Bool = false

    public init(cell: RecurrentCell = .lstm, steps: Int, features: Int) {
        self.cell = cell
        self.steps = steps
        self.features = features
    }

    public func validationError() -> String? {
        if steps < 1 || features < 1 { return "sequences need at least one step and one feature" }
        if hidden < 1 || layers < 1 { return "--hidden and --layers must be positive" }
        if code < 0 { return "--code must be 0 (no bottleneck) or positive" }
        if !(0...1).contains(teacherForcing) { return "--teacher-forcing is a probability in [0, 1]" }
        if teacherForcing < 1 && decoderInput != .previous {
            return "--teacher-forcing applies to the conditioned decoder (--decoder-input previous)"
        }
        if imageChannels < 1 || features % imageChannels != 0 {
            return "image rows of \(features) values do not split into \(imageChannels) channels"
        }
        return nil
    }

    /// Width of the code: the bottleneck, or the encoder's last layer (both directions).
    public var codeWidth: Int { code > 0 ? code : hidden * (bidirectional ? 2 : 1) }
}

public struct SequenceAutoencoder: AutoencoderModel, LossReportingModel, NonFiniteDiagnosis, BenchmarkShapes {
    public let config: SequenceAutoencoderConfig
    public let layout: ParameterLayout
    public let encoder: RecurrentLayer
    public let bottleneck: Dense?
    /// Code -> the conditioned decoder's initial hidden state (all layers).
    public let bridge: Dense?
    public let decoder: RecurrentLayer
    public let output: Dense
    public let inputWidth: Int
    public let workspaceColumns: Int
    public let phases: [Phase]
    let inputRegion: Region, targetRegion: Region
    /// The input as (T, D) steps: a copy when rows carry a length or channels are planar.
    let sequence: Region
    let copiesInput: Bool
    let lengthRegion: Region
    let encoderOutput: Region, encoderState: Region, encoderCache: Region
    let code: Region
    let decoderInputRegion: Region, decoderState: Region
    let decoderOutput: Region, decoderCache: Region
    /// Output layer: pre-activations and values (output step order).
    let logits: Region, values: Region
    /// The reconstruction in the data's layout (`targetWidth` columns).
    let reconstructionRegion: Region
    let dLogits: Region, dDecoderOutput: Region, dCode: Region, dDecoderState: Region, dEncoderState: Region

    public init(_ config: SequenceAutoencoderConfig) {
        precondition(config.validationError() == nil, config.validationError() ?? "")
        self.config = config
        let t = config.steps, d = config.features, h = config.hidden
        var layout = ParameterLayout()
        encoder = RecurrentLayer(cell: config.cell, inputSize: d, hiddenSize: h, steps: t, layers: config.layers,
                                 bidirectional: config.bidirectional, name: "enc", layout: &layout)
        let lastLayerWidth = h * encoder.directions
        bottleneck = config.code > 0
            ? Dense(lastLayerWidth, config.code, name: "bottleneck", layout: &layout) : nil
        let z = config.codeWidth
        switch config.decoderInput {
        case .code:
            decoder = RecurrentLayer(cell: config.cell, inputSize: z, hiddenSize: h, steps: t, layers: config.layers,
                                     repeatedInput: true, name: "dec", layout: &layout)
            bridge = nil
        case .previous:
            decoder = RecurrentLayer(cell: config.cell, inputSize: d, hiddenSize: h, steps: t, layers: config.layers,
                                     name: "dec", layout: &layout)
            bridge = Dense(z, decoder.stateWidth, name: "bridge", layout: &layout)
        }
        output = Dense(h, d, name: "out", layout: &layout)
        self.layout = layout
        inputWidth = t * d + (config.variableLength ? 1 : 0)
        var allocator = RegionAllocator()
        inputRegion = allocator.take(inputWidth)
        targetRegion = allocator.take(inputWidth)
        copiesInput = config.variableLength || config.imageChannels > 1
        sequence = copiesInput ? allocator.take(t * d) : Region(start: inputRegion.start, cols: t * d)
        lengthRegion = allocator.take(config.variableLength ? 1 : 0)
        encoderOutput = allocator.take(encoder.outputWidth)
        encoderState = allocator.take(encoder.stateWidth)
        encoderCache = allocator.take(encoder.cacheWidth)
        code = allocator.take(z)
        decoderInputRegion = allocator.take(config.decoderInput == .previous ? t * d : 0)
        decoderState = allocator.take(config.decoderInput == .previous ? decoder.stateWidth : 0)
        decoderOutput = allocator.take(decoder.outputWidth)
        decoderCache = allocator.take(decoder.cacheWidth)
        logits = allocator.take(t * d)
        values = config.output == .sigmoid ? allocator.take(t * d) : logits
        reconstructionRegion = allocator.take(inputWidth)
        dLogits = allocator.take(t * d)
        dDecoderOutput = allocator.take(decoder.outputWidth)
        dCode = allocator.take(z)
        dDecoderState = allocator.take(config.decoderInput == .previous ? decoder.stateWidth : 0)
        dEncoderState = allocator.take(encoder.stateWidth)
        workspaceColumns = allocator.columns
        phases = [Phase(name: "autoencoder", group: 0..<layout.count)]
    }

    public var targetWidth: Int { inputWidth }
    /// Values that carry data per row (the length column is not one).
    public var valuesPerTarget: Int { config.steps * config.features }
    public var codeWidth: Int { config.codeWidth }

    public func initialize(params: Arena, seed: UInt64) {
        var rng = SplitMix64(key: seed, 0x696E_6974)
        encoder.initialize(params: params, rng: &rng)
        bottleneck?.initialize(params: params, rng: &rng)
        bridge?.initialize(params: params, rng: &rng)
        decoder.initialize(params: params, rng: &rng)
        output.initialize(params: params, rng: &rng)
    }

    public func input(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(inputRegion, rows: rows) }
    public func target(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(targetRegion, rows: rows) }

    /// Per-row lengths in steps (nil for fixed-length rows), read from the input's last column.
    func lengths(_ ws: Workspace, rows: Int) -> UnsafeMutablePointer<Int32>? {
        guard config.variableLength else { return nil }
        // The region holds nothing but these lengths, so it is bound to Int32 for good.
        return UnsafeMutableRawPointer(ws.matrix(lengthRegion, rows: rows).base).bindMemory(to: Int32.self,
                                                                                           capacity: rows)
    }

    @inline(__always)
    func length(_ lengths: UnsafeMutablePointer<Int32>?, _ row: Int) -> Int {
        lengths.map { Int($0[row]) } ?? config.steps
    }

    /// The data step that output step `t` reconstructs, for a sequence of `n` steps.
    @inline(__always)
    func sourceStep(_ t: Int, length n: Int) -> Int { config.reverse ? n - 1 - t : t }

    /// Offset of value `f` of step `s` in a data row (planar channels for images).
    @inline(__always)
    func dataOffset(step s: Int, feature f: Int) -> Int {
        let c = config.imageChannels
        guard c > 1 else { return s * config.features + f }
        let w = config.features / c
        return ((f / w) * config.steps + s) * w + f % w
    }

    public func forward(_ context: StepContext, _ ws: Workspace, rows: Int, params: Arena,
                        statistic: UnsafeMutablePointer<Float>?) {
        let t = config.steps, d = config.features
        let x = ws.matrix(inputRegion, rows: rows), xs = ws.matrix(sequence, rows: rows)
        let lengths = lengths(ws, rows: rows)
        if let lengths {
            for r in 0..<rows {
                let raw = x.row(r)[t * d]
                lengths[r] = Int32(min(max(raw.isFinite ? raw.rounded() : 1, 1), Float(t)))
            }
        }
        if copiesInput {
            for r in 0..<rows {
                let src = x.row(r), dst = xs.row(r)
                for s in 0..<t { for f in 0..<d { dst[s * d + f] = src[dataOffset(step: s, feature: f)] } }
            }
        }
        let state = ws.matrix(encoderState, rows: rows)
        encoder.forward(x: xs, y: ws.matrix(encoderOutput, rows: rows), finalHidden: state, initialHidden: nil,
                        initialCell: nil, lengths: lengths, cache: ws.matrix(encoderCache, rows: rows), params: params)
        let last = lastLayer(state)
        let z = ws.matrix(code, rows: rows)
        if let bottleneck {
            bottleneck.forward(x: last, y: z, cache: empty(z), params: params)
        } else {
            z.copy(from: last)
        }
        switch config.decoderInput {
        case .code:
            decode(ws, rows: rows, lengths: lengths, params: params)
        case .previous:
            bridge!.forward(x: z, y: ws.matrix(decoderState, rows: rows), cache: empty(z), params: params)
            // Step 0 reads zeros; later steps the previous value (teacher forcing) ...
            let din = ws.matrix(decoderInputRegion, rows: rows)
            for r in 0..<rows {
                let n = length(lengths, r), row = din.row(r), src = xs.row(r)
                row.update(repeating: 0, count: t * d)
                for step in 1..<max(n, 1) {
                    (row + step * d).update(from: src + sourceStep(step - 1, length: n) * d, count: d)
                }
            }
            decode(ws, rows: rows, lengths: lengths, params: params)
            if context.training && config.teacherForcing >= 1 { break }
            // ... or the decoder's own predictions. In training a second pass mixes them in per step
            // (parallel scheduled sampling, Duckworth et al. 2019); evaluation runs free: pass k fixes
            // step k, so T passes give exactly the step-by-step result.
            let passes = context.training ? 1 : t - 1
            let v = ws.matrix(values, rows: rows)
            for _ in 0..<passes {
                for r in 0..<rows {
                    let n = length(lengths, r), row = din.row(r), own = v.row(r)
                    var rng = SplitMix64(key: ws.rowKeys[r], 0x7465_6163)
                    for step in 1..<max(n, 1) {
                        let feedOwn = !context.training || rng.nextUniform() >= config.teacherForcing
                        if feedOwn { (row + step * d).update(from: own + (step - 1) * d, count: d) }
                    }
                }
                decode(ws, rows: rows, lengths: lengths, params: params)
            }
        }
    }

    /// Decoder, output layer and activation from the code or the decoder input already in place.
    func decode(_ ws: Workspace, rows: Int, lengths: UnsafeMutablePointer<Int32>?, params: Arena) {
        let t = config.steps, d = config.features, h = config.hidden
        let y = ws.matrix(decoderOutput, rows: rows)
        switch config.decoderInput {
        case .code:
            decoder.forward(x: ws.matrix(code, rows: rows), y: y, finalHidden: nil, initialHidden: nil,
                            initialCell: nil, lengths: lengths, cache: ws.matrix(decoderCache, rows: rows),
                            params: params)
        case .previous:
            decoder.forward(x: ws.matrix(decoderInputRegion, rows: rows), y: y, finalHidden: nil,
                            initialHidden: ws.matrix(decoderState, rows: rows), initialCell: nil, lengths: lengths,
                            cache: ws.matrix(decoderCache, rows: rows), params: params)
        }
        let z = ws.matrix(logits, rows: rows).reshaped(rows: rows * t, cols: d)
        output.forward(x: y.reshaped(rows: rows * t, cols: h), y: z, cache: empty(z), params: params)
        if config.output == .sigmoid {
            let v = ws.matrix(values, rows: rows)
            let n = rows * t * d
            for i in 0..<n { v.base[i] = Activation.sigmoid(z.base[i]) }
        }
    }

    /// Columns of the encoder's last layer (both directions) in its final state rows.
    func lastLayer(_ state: Matrix) -> Matrix {
        let width = config.hidden * encoder.directions
        return Matrix(state.base + state.cols - width, rows: state.rows, cols: width, stride: state.stride)
    }

    func empty(_ like: Matrix) -> Matrix { Matrix(like.base, rows: like.rows, cols: 0) }

    public func backward(_ context: StepContext, _ ws: Workspace, rows: Int, globalRows: Int, params: Arena,
                         grads: Arena?, statistic: UnsafePointer<Float>?) -> LossSums {
        let t = config.steps, d = config.features, h = config.hidden
        let lengths = lengths(ws, rows: rows)
        let v = ws.matrix(values, rows: rows), target = ws.matrix(targetRegion, rows: rows)
        let dz = ws.matrix(dLogits, rows: rows)
        let sigmoid = config.output == .sigmoid
        var sums = LossSums()
        // Mean over the global batch of each sequence's mean over its valid values (nn.MSELoss
        // with 'mean' for fixed lengths); padding gets no gradient.
        for r in 0..<rows {
            let n = length(lengths, r)
            let scale = 1 / Float(globalRows * n * d)
            let out = v.row(r), g = dz.row(r), tgt = target.row(r)
            var squared = 0.0
            for step in 0..<n {
                let s = sourceStep(step, length: n)
                for f in 0..<d {
                    let p = out[step * d + f]
                    let e = p - tgt[dataOffset(step: s, feature: f)]
                    squared += Double(e * e)
                    if grads != nil { g[step * d + f] = scale * 2 * e * (sigmoid ? p * (1 - p) : 1) }
                }
            }
            if grads != nil && n < t { (g + n * d).update(repeating: 0, count: (t - n) * d) }
            // Per-row sums in full-length units, so dividing by T x D gives the per-value mean.
            let perValue = squared * Double(t) / Double(n)
            sums.objective += perValue
            sums.squaredError += perValue
        }
        guard let grads else { return sums }
        let y = ws.matrix(decoderOutput, rows: rows), dy = ws.matrix(dDecoderOutput, rows: rows)
        dy.fill(0)
        output.backward(dy: dz.reshaped(rows: rows * t, cols: d), x: y.reshaped(rows: rows * t, cols: h),
                        y: ws.matrix(logits, rows: rows).reshaped(rows: rows * t, cols: d),
                        cache: empty(dz), dx: dy.reshaped(rows: rows * t, cols: h), params: params, grads: grads)
        let z = ws.matrix(code, rows: rows), dzCode = ws.matrix(dCode, rows: rows)
        dzCode.fill(0)
        switch config.decoderInput {
        case .code:
            decoder.backward(dy: dy, dFinalHidden: nil, x: z, y: y, cache: ws.matrix(decoderCache, rows: rows),
                             dx: dzCode, dInitialHidden: nil, dInitialCell: nil, lengths: lengths, params: params,
                             grads: grads)
        case .previous:
            // Inputs fed back from the decoder's own output are constants (no gradient through them).
            let h0 = ws.matrix(decoderState, rows: rows), dh0 = ws.matrix(dDecoderState, rows: rows)
            dh0.fill(0)
            decoder.backward(dy: dy, dFinalHidden: nil, x: ws.matrix(decoderInputRegion, rows: rows), y: y,
                             cache: ws.matrix(decoderCache, rows: rows), dx: nil, dInitialHidden: dh0,
                             dInitialCell: nil, lengths: lengths, params: params, grads: grads)
            bridge!.backward(dy: dh0, x: z, y: h0, cache: empty(z), dx: dzCode, params: params, grads: grads)
        }
        let state = ws.matrix(encoderState, rows: rows), dState = ws.matrix(dEncoderState, rows: rows)
        dState.fill(0)
        if let bottleneck {
            bottleneck.backward(dy: dzCode, x: lastLayer(state), y: z, cache: empty(z), dx: lastLayer(dState),
                                params: params, grads: grads)
        } else {
            lastLayer(dState).copy(from: dzCode)
        }
        encoder.backward(dy: nil, dFinalHidden: dState, x: ws.matrix(sequence, rows: rows),
                         y: ws.matrix(encoderOutput, rows: rows), cache: ws.matrix(encoderCache, rows: rows),
                         dx: nil, dInitialHidden: nil, dInitialCell: nil, lengths: lengths, params: params,
                         grads: grads)
        return sums
    }

    /// The reconstruction in the data's layout: data step order, planar channels for images, the
    /// length column kept and padding zero for variable lengths.
    public func reconstruction(_ ws: Workspace, rows: Int) -> Matrix {
        let t = config.steps, d = config.features
        let lengths = lengths(ws, rows: rows)
        let v = ws.matrix(values, rows: rows), out = ws.matrix(reconstructionRegion, rows: rows)
        let x = ws.matrix(inputRegion, rows: rows)
        for r in 0..<rows {
            let n = length(lengths, r), o = out.row(r), src = v.row(r)
            o.update(repeating: 0, count: out.cols)
            for step in 0..<n {
                let s = sourceStep(step, length: n)
                for f in 0..<d { o[dataOffset(step: s, feature: f)] = src[step * d + f] }
            }
            if config.variableLength { o[t * d] = x.row(r)[t * d] }
        }
        return out
    }

    /// What the conditioned decoder read at each step in the last forward ((T, D) per row, output
    /// step order); nil for a decoder fed the code.
    public func decoderInputs(_ ws: Workspace, rows: Int) -> Matrix? {
        config.decoderInput == .previous ? ws.matrix(decoderInputRegion, rows: rows) : nil
    }

    public func firstNonFiniteLayer(_ ws: Workspace, rows: Int) -> String? {
        let checks: [(String, Region)] = [("enc", encoderState), ("dec", decoderOutput), ("out", logits)]
        for (name, region) in checks {
            let m = ws.matrix(region, rows: rows)
            for r in 0..<rows {
                let row = m.row(r)
                for j in 0..<m.cols where !row[j].isFinite { return name }
            }
        }
        return nil
    }

    /// The forward GEMMs per sample as (rows per sample, k, n): input projections over all steps,
    /// one recurrent product per step, bottleneck, bridge and output layer; for FLOP counts and the
    /// benchmark's sgemm reference.
    public var gemmShapes: [(m: Int, k: Int, n: Int)] {
        let t = config.steps, d = config.features, h = config.hidden, gh = (config.cell == .lstm ? 4 : 3) * h
        var shapes: [(m: Int, k: Int, n: Int)] = []
        var width = d
        for _ in 0..<config.layers {
            for _ in 0..<encoder.directions {
                shapes.append((t, width, gh))
                shapes += Array(repeating: (1, h, gh), count: t)
            }
            width = h * encoder.directions
        }
        if let bottleneck { shapes.append((1, bottleneck.inputWidth, bottleneck.outputWidth)) }
        if let bridge { shapes.append((1, bridge.inputWidth, bridge.outputWidth)) }
        // The unconditioned decoder projects its repeated input once per sequence.
        width = config.decoderInput == .code ? config.codeWidth : d
        for layer in 0..<config.layers {
            shapes.append((layer == 0 && config.decoderInput == .code ? 1 : t, width, gh))
            shapes += Array(repeating: (1, h, gh), count: t)
            width = h
        }
        shapes.append((t, h, d))
        return shapes
    }
}

extension SequenceAutoencoder: LatentModel {
    /// The code: the encoder's final state (its last layer, both directions) or the bottleneck.
    public func code(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(code, rows: rows) }
    public func latentInput(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(code, rows: rows) }

    /// Decodes codes into full-length sequences (a code carries no length): the decoder fed the
    /// code, or the conditioned decoder started from it and fed its own predictions, as evaluation.
    public func decode(_ ws: Workspace, rows: Int, params: Arena) {
        let t = config.steps, d = config.features
        let lengths = lengths(ws, rows: rows)
        if let lengths {
            let x = ws.matrix(inputRegion, rows: rows)
            for r in 0..<rows {
                lengths[r] = Int32(t)
                x.row(r)[t * d] = Float(t)
            }
        }
        guard config.decoderInput == .previous else {
            decode(ws, rows: rows, lengths: lengths, params: params)
            return
        }
        let z = ws.matrix(code, rows: rows)
        bridge!.forward(x: z, y: ws.matrix(decoderState, rows: rows), cache: empty(z), params: params)
        let din = ws.matrix(decoderInputRegion, rows: rows), v = ws.matrix(values, rows: rows)
        for r in 0..<rows { din.row(r).update(repeating: 0, count: t * d) }
        decode(ws, rows: rows, lengths: lengths, params: params)
        // Pass k fixes step k, as the free-running evaluation.
        for _ in 0..<(t - 1) {
            for r in 0..<rows { (din.row(r) + d).update(from: v.row(r), count: (t - 1) * d) }
            decode(ws, rows: rows, lengths: lengths, params: params)
        }
    }
}
