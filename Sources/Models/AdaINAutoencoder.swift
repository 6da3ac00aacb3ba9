// The two-encoder disentangling autoencoder after Chou, Yeh and Lee (2019, "One-shot voice
// conversion by separating speaker and content representations with instance normalization"):
// - a content encoder whose convolution blocks end in instance normalisation without affine
//   parameters, which removes each channel's global mean and spread (what stays the same over a
//   whole utterance or image: the speaker, the stroke), leaving a per-position content code, with
//   an optional KL term (a variational content code);
// - a style encoder: convolution blocks, an average over positions and a dense layer, giving one
//   vector per sample;
// - a decoder from the content code whose blocks end in adaptive instance normalisation (AdaIN):
//   instance normalisation, then a per-channel scale 1 + gamma and shift beta predicted from the
//   style vector by one dense layer.
// Trained on reconstruction alone (no labels): decoding one sample's content with another's style
// converts it. Images use 2-D convolutions (two stride-2 blocks down, transposed convolutions
// up); sequence rows (steps x features, zero-padded, then the length) use 1-D convolutions over
// time, and every statistic covers the row's own steps only, so a sequence's code and output do
// not depend on how far it was padded.
// Conversion critic (`swapWeight` > 0, labelled data): a classifier of the label (the speaker of
// a sequence, the class of an image), trained on real rows in its own phase, scores conversions:
// each row decoded with the labelled part (style of a sequence, content of an image) of another
// row of the shard whose label differs. The autoencoder also minimises its cross-entropy against
// that row's label, through the critic and the decoder into both encoders.

import Foundation
import Kernels
import Layers

/// One decoding of codes: the decoder's blocks, the AdaIN parameters from the style vector, each
/// block's statistics and (sequences) the step-major output.
struct DecoderPass: Sendable {
    let blocks: [Network]
    let adain: Network
    let stats: [Region]
    let sequenceOutput: Region
}

public enum DisentanglingForm: String, Sendable, Codable, CaseIterable {
    /// One encoder, the label one-hot at the decoder, an adversary on the free code.
    case split
    /// Content and style encoders, instance normalisation and AdaIN (unsupervised).
    case adain
}

public struct AdaINAutoencoder: AutoencoderModel, LossReportingModel, NonFiniteDiagnosis, BenchmarkShapes {
    public let config: DisentanglingAutoencoderConfig
    public let layout: ParameterLayout
    /// Blocks of the content encoder; instance normalisation follows each but the last (the code head).
    public let content: [Network]
    /// Blocks of the style encoder; the last is averaged over positions into `styleHead`.
    public let style: [Network]
    public let styleHead: Network
    /// Style vector -> (gamma, beta) of every AdaIN, block by block.
    public let adainParameters: Network
    /// Blocks of the decoder; AdaIN follows each but the last.
    public let decoder: [Network]
    /// (channels, positions) of each content, style and decoder block's output.
    let contentShapes: [(channels: Int, positions: Int)]
    let styleShapes: [(channels: Int, positions: Int)]
    let decoderShapes: [(channels: Int, positions: Int)]
    let contentStats: [Region]
    let decoderStats: [Region]
    let rawInput: Region
    /// Channel-major input of both encoders (the raw input itself for images).
    let convInput: Region
    let codeRegion: Region
    let epsilonRegion: Region
    /// Sequences: the output step-major (as the data), then the length.
    let sequenceOutput: Region
    let targetRegion: Region
    let probabilities: Region
    public let workspaceColumns: Int
    public let phases: [Phase]
    public let inputWidth: Int
    /// Channels and positions of the content code.
    public let contentChannels: Int
    public let contentPositions: Int
    public let styleWidth: Int
    let hidden: Int
    let dataWidth: Int
    let steps: Int
    let features: Int
    let mainPass: DecoderPass
    /// Conversion critic: the classifier on real rows (its own phase) and on conversions (the same
    /// parameters), the decoder again (own activations) for the conversions, their codes, and each
    /// row's partner (the row whose labelled part it takes; -1: none).
    public let criticReal: Network?
    public let criticSwap: Network?
    let swapPass: DecoderPass?
    let swapCodeRegion: Region
    let swapPartner: Region

    public init(_ config: DisentanglingAutoencoderConfig) {
        precondition(config.form == .adain && config.validationError() == nil, config.validationError() ?? "not the adain form")
        self.config = config
        var layout = ParameterLayout()
        let h = config.channels, cz = config.contentChannels, s = config.styleWidth
        let sequence = config.isSequence
        let inChannels = sequence ? config.features : config.imageChannels
        let height = config.imageHeight, width = config.imageWidth
        // Positions at each level: full, half and quarter size for images; all steps for sequences.
        let levels = sequence ? [config.steps, config.steps, config.steps]
            : [height * width, height * width / 4, height * width / 16]
        let side = sequence ? [] : [(height, width), (height / 2, width / 2), (height / 4, width / 4)]
        func conv(_ i: Int, _ o: Int, level: Int, down: Bool = false, up: Bool = false, pointwise: Bool = false,
                  _ name: String) -> any Layer {
            if sequence {
                return Conv1D(inChannels: i, outChannels: o, length: config.steps, kernel: pointwise ? 1 : config.kernel,
                              name: name, layout: &layout, initializer: config.initializer)
            }
            let (y, x) = side[level]
            if up {
                return ConvTranspose2D(inChannels: i, outChannels: o, height: y, width: x, kernel: 4, stride: 2, padding: 1,
                                       name: name, layout: &layout, initializer: config.initializer)
            }
            return Conv2D(inChannels: i, outChannels: o, height: y, width: x, kernel: down ? 4 : pointwise ? 1 : 3,
                          stride: down ? 2 : 1, padding: down || !pointwise ? 1 : 0, name: name, layout: &layout,
                          initializer: config.initializer)
        }
        func act(_ level: Int) -> any Layer { Activation(config.activation, width: h * levels[level]) }
        let variational = config.kl > 0
        var contentLayers: [[any Layer]] = [], styleLayers: [[any Layer]] = []
        for (name, isContent) in [("content", true), ("style", false)] {
            var blocks: [[any Layer]] = []
            for k in 0..<3 {
                blocks.append([conv(k == 0 ? inChannels : h, h, level: max(k - 1, 0), down: k > 0, "\(name).\(k)"), act(k)])
            }
            if isContent {
                blocks.append([conv(h, variational ? 2 * cz : cz, level: 2, pointwise: true, "content.3")])
                contentLayers = blocks
            } else {
                styleLayers = blocks
            }
        }
        let styleDense = Dense(h, s, name: "style.3", layout: &layout, initializer: config.initializer)
        let adainDense = Dense(s, 2 * h * 3, name: "adain", layout: &layout, initializer: config.initializer)
        let outputs = sequence ? config.features : config.imageChannels
        var last: [any Layer] = [act(0), conv(h, outputs, level: 0, "decoder.3")]
        if config.loss == .mse && !sequence { last.append(Activation(.sigmoid, width: outputs * levels[0])) }
        let decoderLayers: [[any Layer]] = [
            [conv(cz, h, level: 2, pointwise: true, "decoder.0")],
            [act(2), conv(h, h, level: 2, up: true, "decoder.1")],
            [act(1), conv(h, h, level: 1, up: true, "decoder.2")],
            last,
        ]

        var allocator = RegionAllocator()
        let dataWidth = sequence ? config.steps * config.features : inChannels * height * width
        let swapping = config.swapWeight > 0, criticStart = layout.count
        let criticLayers = swapping
            ? perceptronLayers("critic", input: dataWidth, hidden: config.criticWidths, output: config.classes,
                               activation: config.activation, layout: &layout, initializer: config.initializer) : []
        rawInput = allocator.take(sequence ? dataWidth + 1 : dataWidth)
        convInput = sequence ? allocator.take(dataWidth) : rawInput
        func chain(_ blocks: [[any Layer]], input: Region, gradient: Bool) -> [Network] {
            var networks: [Network] = []
            for (k, layers) in blocks.enumerated() {
                let from = k == 0 ? input : allocator.take(layers[0].inputWidth)
                networks.append(Network(layers, allocator: &allocator, input: from,
                                        inputGradient: k > 0 || gradient ? allocator.take(layers[0].inputWidth) : nil))
            }
            return networks
        }
        content = chain(contentLayers, input: convInput, gradient: false)
        style = chain(styleLayers, input: convInput, gradient: false)
        styleHead = Network([styleDense], allocator: &allocator, inputGradient: true)
        adainParameters = Network([adainDense], allocator: &allocator, inputGradient: true)
        decoder = chain(decoderLayers, input: allocator.take(cz * levels[2]), gradient: true)
        contentShapes = [(h, levels[0]), (h, levels[1]), (h, levels[2]), ((variational ? 2 : 1) * cz, levels[2])]
        styleShapes = [(h, levels[0]), (h, levels[1]), (h, levels[2])]
        decoderShapes = [(h, levels[2]), (h, levels[1]), (h, levels[0]), (outputs, levels[0])]
        contentStats = (0..<3).map { _ in allocator.take(2 * h) }
        decoderStats = (0..<3).map { _ in allocator.take(2 * h) }
        contentChannels = cz
        contentPositions = levels[2]
        styleWidth = s
        codeRegion = allocator.take(cz * levels[2] + s + (sequence ? 1 : 0))
        epsilonRegion = allocator.take(variational ? cz * levels[2] : 0)
        sequenceOutput = allocator.take(sequence ? dataWidth + 1 : 0)
        targetRegion = allocator.take(rawInput.cols)
        probabilities = allocator.take(rawInput.cols)
        mainPass = DecoderPass(blocks: decoder, adain: adainParameters, stats: decoderStats,
                               sequenceOutput: sequenceOutput)
        swapCodeRegion = allocator.take(swapping ? codeRegion.cols : 0)
        swapPartner = allocator.take(swapping ? 1 : 0)
        if swapping {
            swapPass = DecoderPass(blocks: chain(decoderLayers, input: allocator.take(cz * levels[2]), gradient: true),
                                   adain: Network([adainDense], allocator: &allocator, inputGradient: true),
                                   stats: (0..<3).map { _ in allocator.take(2 * h) },
                                   sequenceOutput: allocator.take(sequence ? dataWidth + 1 : 0))
            criticReal = Network(criticLayers, allocator: &allocator)
            criticSwap = Network(criticLayers, allocator: &allocator, inputGradient: true)
        } else {
            swapPass = nil
            criticReal = nil
            criticSwap = nil
        }
        workspaceColumns = allocator.columns
        self.layout = layout
        inputWidth = rawInput.cols
        hidden = h
        self.dataWidth = dataWidth
        steps = config.steps
        features = config.features
        // The critic first: it changes only itself, and the autoencoder phase encodes afterwards.
        phases = swapping
            ? [Phase(name: "critic", group: criticStart..<layout.count, spills: 0..<0),
               Phase(name: "autoencoder", group: 0..<criticStart, spills: criticStart..<layout.count)]
            : [Phase(name: "autoencoder", group: 0..<layout.count)]
    }

    public var targetWidth: Int { inputWidth }
    public var valuesPerTarget: Int { dataWidth }
    public var lossPartNames: [String] {
        ["reconstruction"] + (config.kl > 0 ? ["kl"] : []) + (criticSwap != nil ? ["critic", "swap"] : [])
    }
    /// Where the critic's parts are reported: its cross-entropy on real rows, then on conversions.
    var criticPart: Int { config.kl > 0 ? 2 : 1 }
    var contentWidth: Int { contentChannels * contentPositions }

    public func initialize(params: Arena, seed: UInt64) {
        var rng = SplitMix64(key: seed, 0x696E_6974)
        for network in content + style + [styleHead, adainParameters] + decoder { network.initialize(params: params, rng: &rng) }
        criticReal?.initialize(params: params, rng: &rng)
    }

    public func input(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(rawInput, rows: rows) }
    public func target(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(targetRegion, rows: rows) }

    /// Positions of row `r` that hold data: its steps (a length stored last in `row`) or all.
    @inline(__always)
    func valid(_ row: UnsafeMutablePointer<Float>, at lengthColumn: Int, positions: Int) -> Int {
        config.isSequence ? min(max(Int(row[lengthColumn]), 0), positions) : positions
    }

    @inline(__always)
    func inputLength(_ ws: Workspace, _ r: Int, positions: Int) -> Int {
        valid(ws.matrix(rawInput, rows: r + 1).row(r), at: dataWidth, positions: positions)
    }

    @inline(__always)
    func codeLength(_ ws: Workspace, _ r: Int, positions: Int) -> Int {
        valid(ws.matrix(codeRegion, rows: r + 1).row(r), at: contentWidth + styleWidth, positions: positions)
    }

    /// Whether `context` is the critic's training phase (the first of a step).
    @inline(__always)
    func isCriticPhase(_ context: StepContext) -> Bool { context.training && criticReal != nil && context.phase == 0 }

    public func forward(_ context: StepContext, _ ws: Workspace, rows: Int, params: Arena,
                        statistic: UnsafeMutablePointer<Float>?) {
        if isCriticPhase(context) {
            forwardCritic(ws, rows: rows, params: params)
            return
        }
        if config.isSequence {
            // (steps, features) as stored -> (features, steps) for the convolutions; padding stays zero.
            let raw = input(ws, rows: rows), x = ws.matrix(convInput, rows: rows)
            for r in 0..<rows {
                let a = raw.row(r), b = x.row(r)
                for t in 0..<steps { for f in 0..<features { b[f * steps + t] = a[t * features + f] } }
            }
        }
        for (k, block) in content.enumerated() {
            block.forward(ws, rows: rows, params: params, training: false)
            guard k < content.count - 1 else { break }
            normalize(block.output(ws, rows: rows), into: content[k + 1].input(ws, rows: rows),
                      stats: ws.matrix(contentStats[k], rows: rows), shape: contentShapes[k], ws: ws, fromCode: false,
                      affine: nil)
        }
        for (k, block) in style.enumerated() {
            block.forward(ws, rows: rows, params: params, training: false)
            let y = block.output(ws, rows: rows), shape = styleShapes[k]
            if k < style.count - 1 {
                let next = style[k + 1].input(ws, rows: rows)
                for r in 0..<rows { maskCopy(from: y.row(r), to: next.row(r), shape: shape, valid: inputLength(ws, r, positions: shape.positions)) }
            } else {
                let pooled = styleHead.input(ws, rows: rows)
                for r in 0..<rows {
                    let n = inputLength(ws, r, positions: shape.positions), from = y.row(r), to = pooled.row(r)
                    for c in 0..<shape.channels {
                        var sum: Float = 0
                        for i in 0..<n { sum += from[c * shape.positions + i] }
                        to[c] = n > 0 ? sum / Float(n) : 0
                    }
                }
            }
        }
        styleHead.forward(ws, rows: rows, params: params, training: false)
        // The code: content (a draw when training a variational code; zero past a sequence's
        // steps), the style vector, then a sequence's length.
        let head = content.last!.output(ws, rows: rows), code = ws.matrix(codeRegion, rows: rows)
        let styleVector = styleHead.output(ws, rows: rows), eps = ws.matrix(epsilonRegion, rows: rows)
        let p = contentPositions
        for r in 0..<rows {
            let hd = head.row(r), z = code.row(r), n = inputLength(ws, r, positions: p)
            let draw = config.kl > 0 && context.training
            if draw {
                // Drawn position by position, so a sequence's draws do not depend on its padding.
                var rng = SplitMix64(key: ws.rowKeys[r], 0x6570_7369)
                let e = eps.row(r)
                var spare: Float = 0
                for i in 0..<p {
                    for c in 0..<contentChannels {
                        let k = i * contentChannels + c
                        if k % 2 == 0 {
                            let (a, b) = rng.nextGaussianPair()
                            e[c * p + i] = a
                            spare = b
                        } else {
                            e[c * p + i] = spare
                        }
                    }
                }
            }
            for c in 0..<contentChannels {
                for i in 0..<p {
                    let j = c * p + i
                    guard i < n else {
                        z[j] = 0
                        continue
                    }
                    z[j] = draw ? hd[j] + expf(0.5 * Self.logVariance(hd[contentWidth + j])) * eps.row(r)[j] : hd[j]
                }
            }
            (z + contentWidth).update(from: styleVector.row(r), count: styleWidth)
            if config.isSequence { z[contentWidth + styleWidth] = Float(n) }
        }
        decode(ws, rows: rows, params: params)
        // Evaluation scores the critic too (the test log's parts); inference skips it.
        guard criticSwap != nil, context.training || context.scoring else { return }
        if !context.training { forwardCritic(ws, rows: rows, params: params) }
        forwardSwap(ws, rows: rows, params: params)
    }

    @inline(__always)
    func label(_ ws: Workspace, _ r: Int) -> Int {
        let label = Int(ws.labels[r])
        return label < config.classes ? label : -1
    }

    /// The row whose labelled part row `r`'s conversion takes: another row of the shard with
    /// another label, the search starting at an offset drawn from the row's key; -1 if none.
    public func partner(_ ws: Workspace, _ r: Int, rows: Int) -> Int {
        let y = label(ws, r)
        guard y >= 0, rows > 1 else { return -1 }
        var rng = SplitMix64(key: ws.rowKeys[r], 0x7377_6170)
        let start = Int(rng.next() % UInt64(rows - 1))
        for k in 0..<(rows - 1) {
            let q = (r + 1 + (start + k) % (rows - 1)) % rows, z = label(ws, q)
            if z >= 0 && z != y { return q }
        }
        return -1
    }

    /// Rows of row `r`'s conversion: content and style (a sequence keeps its content, so its
    /// length, and takes the partner's style; an image keeps its style); nil without a partner.
    @inline(__always)
    func swapSources(_ ws: Workspace, _ r: Int, rows: Int) -> (content: Int, style: Int)? {
        let q = Int(ws.matrix(swapPartner, rows: rows).row(r)[0])
        guard q >= 0 else { return nil }
        return config.isSequence ? (r, q) : (q, r)
    }

    /// The critic on the real rows (the clean targets' data).
    func forwardCritic(_ ws: Workspace, rows: Int, params: Arena) {
        guard let criticReal else { return }
        let t = target(ws, rows: rows), x = criticReal.input(ws, rows: rows)
        for r in 0..<rows { x.row(r).update(from: t.row(r), count: dataWidth) }
        criticReal.forward(ws, rows: rows, params: params, training: false)
    }

    /// Decodes each row's conversion and scores it with the critic.
    func forwardSwap(_ ws: Workspace, rows: Int, params: Arena) {
        guard let criticSwap, let swapPass else { return }
        let code = ws.matrix(codeRegion, rows: rows), swapped = ws.matrix(swapCodeRegion, rows: rows)
        let partners = ws.matrix(swapPartner, rows: rows)
        for r in 0..<rows {
            partners.row(r)[0] = Float(partner(ws, r, rows: rows))
            let (c, s) = swapSources(ws, r, rows: rows) ?? (r, r), row = swapped.row(r)
            row.update(from: code.row(r), count: code.cols)
            row.update(from: code.row(c), count: contentWidth)
            (row + contentWidth).update(from: code.row(s) + contentWidth, count: styleWidth)
        }
        decode(swapPass, code: swapped, ws, rows: rows, params: params)
        let seen = criticSwap.input(ws, rows: rows)
        if config.isSequence {
            let output = ws.matrix(swapPass.sequenceOutput, rows: rows)
            for r in 0..<rows { seen.row(r).update(from: output.row(r), count: dataWidth) }
        } else if config.loss == .bce {
            _ = Activation.sigmoid(swapPass.blocks.last!.output(ws, rows: rows), into: seen, count: dataWidth)
        } else {
            seen.copy(from: swapPass.blocks.last!.output(ws, rows: rows))
        }
        criticSwap.forward(ws, rows: rows, params: params, training: false)
    }

    /// The critic's cross-entropy summed over rows: on real rows against their labels, or on
    /// conversions against their partners' labels; `scale` times its gradient into the critic's
    /// output gradient when `gradient` is set.
    func criticLoss(_ network: Network, _ ws: Workspace, rows: Int, gradient: Bool, scale: Float,
                    swapped: Bool) -> Double {
        let partners = ws.matrix(swapPartner, rows: rows)
        let dLogits = gradient ? network.outputGradient(ws, rows: rows) : nil
        return softmaxCrossEntropy(network.output(ws, rows: rows), dLogits: dLogits, rows: rows,
                                   classes: config.classes, scale: scale) { r in
            guard swapped else { return label(ws, r) }
            let q = Int(partners.row(r)[0])
            return q >= 0 ? label(ws, q) : -1
        }.labelled
    }

    @inline(__always)
    static func logVariance(_ raw: Float) -> Float { min(max(raw, -30), 20) }

    /// Copies the first `valid` positions of each channel, zero after them.
    @inline(__always)
    func maskCopy(from x: UnsafeMutablePointer<Float>, to y: UnsafeMutablePointer<Float>, shape: (channels: Int, positions: Int),
                  valid n: Int) {
        for c in 0..<shape.channels {
            let a = x + c * shape.positions, b = y + c * shape.positions
            b.update(from: a, count: n)
            for i in n..<shape.positions { b[i] = 0 }
        }
    }

    /// Instance normalisation over each row's valid positions, zero past them; with `affine`
    /// (the AdaIN parameters and the offset of this block's gammas), scaled by 1 + gamma and
    /// shifted by beta per channel. `stats` keeps each channel's mean and 1/sqrt(var + eps).
    func normalize(_ x: Matrix, into y: Matrix, stats: Matrix, shape: (channels: Int, positions: Int), ws: Workspace,
                   fromCode: Bool, affine: (parameters: Matrix, offset: Int)?) {
        let p = shape.positions
        for r in 0..<x.rows {
            let n = fromCode ? codeLength(ws, r, positions: p) : inputLength(ws, r, positions: p)
            let st = stats.row(r), g = affine.map { $0.parameters.row(r) + $0.offset }
            for c in 0..<shape.channels {
                let xs = x.row(r) + c * p, ys = y.row(r) + c * p
                var sum: Float = 0
                for i in 0..<n { sum += xs[i] }
                let mean = n > 0 ? sum / Float(n) : 0
                var squares: Float = 0
                for i in 0..<n {
                    let d = xs[i] - mean
                    squares += d * d
                }
                let invStd = 1 / (squares / Float(max(n, 1)) + Self.normEpsilon).squareRoot()
                st[2 * c] = mean
                st[2 * c + 1] = invStd
                let scale = invStd * (1 + (g?[c] ?? 0)), shift = g?[hidden + c] ?? 0
                for i in 0..<n { ys[i] = (xs[i] - mean) * scale + shift }
                for i in n..<p { ys[i] = 0 }
            }
        }
    }

    /// PyTorch's InstanceNorm default.
    static let normEpsilon: Float = 1e-5

    /// Backward of `normalize`: overwrites `dx` from `dy` and adds the gammas' and betas'
    /// gradients into `affine`'s matrix.
    func normalizeBackward(dy: Matrix, x: Matrix, dx: Matrix, stats: Matrix, shape: (channels: Int, positions: Int),
                           ws: Workspace, fromCode: Bool, affine: (parameters: Matrix, gradient: Matrix, offset: Int)?) {
        let p = shape.positions
        for r in 0..<dy.rows {
            let n = fromCode ? codeLength(ws, r, positions: p) : inputLength(ws, r, positions: p)
            let st = stats.row(r), g = affine.map { $0.parameters.row(r) + $0.offset }
            let dg = affine.map { $0.gradient.row(r) + $0.offset }
            for c in 0..<shape.channels {
                let xs = x.row(r) + c * p, gs = dy.row(r) + c * p, d = dx.row(r) + c * p
                let mean = st[2 * c], invStd = st[2 * c + 1]
                var sumG: Float = 0, sumGX: Float = 0
                for i in 0..<n {
                    sumG += gs[i]
                    sumGX += gs[i] * (xs[i] - mean) * invStd
                }
                if let dg {
                    dg[c] += sumGX
                    dg[hidden + c] += sumG
                }
                // dx = invStd * gain * (dy - mean(dy) - xhat * mean(dy * xhat)) over the valid positions.
                let gain = 1 + (g?[c] ?? 0), count = Float(max(n, 1))
                let meanG = sumG / count, meanGX = sumGX / count
                for i in 0..<n { d[i] = gain * invStd * (gs[i] - meanG - (xs[i] - mean) * invStd * meanGX) }
                for i in n..<p { d[i] = 0 }
            }
        }
    }

    public func backward(_ context: StepContext, _ ws: Workspace, rows: Int, globalRows: Int, params: Arena,
                         grads: Arena?, statistic: UnsafePointer<Float>?) -> LossSums {
        let perRow = 1 / Float(globalRows)
        if isCriticPhase(context), let criticReal {
            var sums = LossSums()
            sums.parts[criticPart] = criticLoss(criticReal, ws, rows: rows, gradient: grads != nil, scale: perRow,
                                                swapped: false)
            if let grads { criticReal.backward(ws, rows: rows, params: params, grads: grads) }
            return sums
        }
        let training = grads != nil && context.training
        let output = config.isSequence ? ws.matrix(sequenceOutput, rows: rows) : decoder.last!.output(ws, rows: rows)
        let dOutput = grads == nil ? nil : config.isSequence ? ws.matrix(probabilities, rows: rows)
            : decoder.last!.outputGradient(ws, rows: rows)
        var sums = reconstructionLoss(config.loss, output: output, target: target(ws, rows: rows), dOutput: dOutput,
                                      scale: perRow / Float(dataWidth), steps: config.isSequence ? steps : nil,
                                      features: features)
        sums.parts[0] = sums.objective
        let head = content.last!.output(ws, rows: rows), p = contentPositions
        if config.kl > 0 {
            var kl = 0.0
            for r in 0..<rows {
                let hd = head.row(r), n = inputLength(ws, r, positions: p)
                for c in 0..<contentChannels {
                    for i in 0..<n {
                        let j = c * p + i, lv = Self.logVariance(hd[contentWidth + j])
                        kl += Double(0.5 * (hd[j] * hd[j] + expf(lv) - 1 - lv))
                    }
                }
            }
            sums.parts[1] = kl
            sums.objective += Double(config.kl) * kl
        }
        if let criticSwap, let criticReal {
            if !context.training {
                sums.parts[criticPart] = criticLoss(criticReal, ws, rows: rows, gradient: false, scale: 0,
                                                    swapped: false)
            }
            sums.parts[criticPart + 1] = criticLoss(criticSwap, ws, rows: rows, gradient: training,
                                                    scale: config.swapWeight * perRow, swapped: true)
        }
        guard let grads else { return sums }
        if config.isSequence {
            // Step-major gradient -> the last block's (features, steps) output gradient.
            let from = ws.matrix(probabilities, rows: rows), to = decoder.last!.outputGradient(ws, rows: rows)
            for r in 0..<rows {
                let a = from.row(r), b = to.row(r)
                for t in 0..<steps { for f in 0..<features { b[f * steps + t] = a[t * features + f] } }
            }
        }
        backwardDecoder(mainPass, ws, rows: rows, params: params, grads: grads)
        if training { backwardSwap(ws, rows: rows, params: params, grads: grads) }
        // Style: dense head, the average over positions, then the blocks.
        styleHead.outputGradient(ws, rows: rows).copy(from: adainParameters.gradient(0, ws, rows: rows)!)
        styleHead.backward(ws, rows: rows, params: params, grads: grads)
        let dPooled = styleHead.gradient(0, ws, rows: rows)!
        for k in stride(from: style.count - 1, through: 0, by: -1) {
            let shape = styleShapes[k], dy = style[k].outputGradient(ws, rows: rows)
            for r in 0..<rows {
                let n = inputLength(ws, r, positions: shape.positions), d = dy.row(r)
                if k == style.count - 1 {
                    let g = dPooled.row(r)
                    for c in 0..<shape.channels {
                        let share = n > 0 ? g[c] / Float(n) : 0
                        for i in 0..<shape.positions { d[c * shape.positions + i] = i < n ? share : 0 }
                    }
                } else {
                    maskCopy(from: style[k + 1].gradient(0, ws, rows: rows)!.row(r), to: d, shape: shape, valid: n)
                }
            }
            style[k].backward(ws, rows: rows, params: params, grads: grads)
        }
        // Content: the code's gradient (and the KL's) into the head, then the blocks.
        let dCode = decoder[0].gradient(0, ws, rows: rows)!, dHead = content.last!.outputGradient(ws, rows: rows)
        let eps = ws.matrix(epsilonRegion, rows: rows)
        let klScale = config.kl * perRow / Float(dataWidth)
        for r in 0..<rows {
            let hd = head.row(r), a = dCode.row(r), g = dHead.row(r), n = inputLength(ws, r, positions: p)
            for c in 0..<contentChannels {
                for i in 0..<p {
                    let j = c * p + i
                    guard i < n else {
                        g[j] = 0
                        if config.kl > 0 { g[contentWidth + j] = 0 }
                        continue
                    }
                    guard config.kl > 0 else {
                        g[j] = a[j]
                        continue
                    }
                    let raw = hd[contentWidth + j], lv = Self.logVariance(raw)
                    g[j] = a[j] + klScale * hd[j]
                    let sampled = context.training ? a[j] * eps.row(r)[j] * 0.5 * expf(0.5 * lv) : 0
                    g[contentWidth + j] = raw == lv ? sampled + klScale * 0.5 * (expf(lv) - 1) : 0
                }
            }
        }
        for k in stride(from: content.count - 1, through: 0, by: -1) {
            if k < content.count - 1 {
                normalizeBackward(dy: content[k + 1].gradient(0, ws, rows: rows)!, x: content[k].output(ws, rows: rows),
                                  dx: content[k].outputGradient(ws, rows: rows), stats: ws.matrix(contentStats[k], rows: rows),
                                  shape: contentShapes[k], ws: ws, fromCode: false, affine: nil)
            }
            content[k].backward(ws, rows: rows, params: params, grads: grads)
        }
        return sums
    }

    /// Backward through a decoding, from its last block's output gradient to the gradients of its
    /// content input and of its style vector (the AdaIN network's input gradient).
    func backwardDecoder(_ pass: DecoderPass, _ ws: Workspace, rows: Int, params: Arena, grads: Arena) {
        let gammas = pass.adain.output(ws, rows: rows), dGammas = pass.adain.outputGradient(ws, rows: rows)
        dGammas.fill(0)
        for k in stride(from: pass.blocks.count - 1, through: 0, by: -1) {
            if k < pass.blocks.count - 1 {
                normalizeBackward(dy: pass.blocks[k + 1].gradient(0, ws, rows: rows)!,
                                  x: pass.blocks[k].output(ws, rows: rows),
                                  dx: pass.blocks[k].outputGradient(ws, rows: rows),
                                  stats: ws.matrix(pass.stats[k], rows: rows), shape: decoderShapes[k], ws: ws,
                                  fromCode: true,
                                  affine: (gammas, dGammas, 2 * hidden * k))
            }
            pass.blocks[k].backward(ws, rows: rows, params: params, grads: grads)
        }
        pass.adain.backward(ws, rows: rows, params: params, grads: grads)
    }

    /// The critic's gradient on the conversions (already in its output gradient): through the
    /// critic (its own parameters' share is discarded), the output sigmoid and the conversions'
    /// decoding, then added to the gradients of the content and style vector they were made of.
    func backwardSwap(_ ws: Workspace, rows: Int, params: Arena, grads: Arena) {
        guard let criticSwap, let swapPass else { return }
        criticSwap.backward(ws, rows: rows, params: params, grads: grads)
        let dSeen = criticSwap.gradient(0, ws, rows: rows)!, seen = criticSwap.input(ws, rows: rows)
        let dOutput = swapPass.blocks.last!.outputGradient(ws, rows: rows)
        for r in 0..<rows {
            let g = dSeen.row(r), o = dOutput.row(r)
            if config.isSequence {
                let n = codeLength(ws, r, positions: steps)
                for t in 0..<steps { for f in 0..<features { o[f * steps + t] = t < n ? g[t * features + f] : 0 } }
            } else if config.loss == .bce {
                let p = seen.row(r)
                for i in 0..<dataWidth { o[i] = g[i] * p[i] * (1 - p[i]) }
            } else {
                o.update(from: g, count: dataWidth)
            }
        }
        backwardDecoder(swapPass, ws, rows: rows, params: params, grads: grads)
        let dContent = swapPass.blocks[0].gradient(0, ws, rows: rows)!
        let dStyle = swapPass.adain.gradient(0, ws, rows: rows)!
        let dCode = decoder[0].gradient(0, ws, rows: rows)!, dStyleMain = adainParameters.gradient(0, ws, rows: rows)!
        for r in 0..<rows {
            guard let (c, s) = swapSources(ws, r, rows: rows) else { continue }
            let a = dCode.row(c), b = dContent.row(r), u = dStyleMain.row(s), v = dStyle.row(r)
            for j in 0..<contentWidth { a[j] += b[j] }
            for j in 0..<styleWidth { u[j] += v[j] }
        }
    }

    /// Images: probabilities (or the sigmoid output). Sequences: the values, then the row's length.
    public func reconstruction(_ ws: Workspace, rows: Int) -> Matrix {
        if config.isSequence { return ws.matrix(sequenceOutput, rows: rows) }
        let output = decoder.last!.output(ws, rows: rows)
        if config.loss == .mse { return output }
        return Activation.sigmoid(output, into: ws.matrix(probabilities, rows: rows), count: dataWidth)
    }

    public func firstNonFiniteLayer(_ ws: Workspace, rows: Int) -> String? {
        for (name, blocks) in [("content", content), ("style", style), ("decoder", decoder)] {
            for (k, block) in blocks.enumerated() where block.firstNonFiniteLayer(ws, rows: rows) != nil { return "\(name).\(k)" }
        }
        if styleHead.firstNonFiniteLayer(ws, rows: rows) != nil { return "style.3" }
        if adainParameters.firstNonFiniteLayer(ws, rows: rows) != nil { return "adain" }
        return criticReal?.firstNonFiniteLayer(ws, rows: rows).map { "critic.\($0)" }
    }

    /// Per step: both encoders and the decoder; with the critic, the conversions' decoding and
    /// the critic on real rows and on conversions.
    public var gemmShapes: [(m: Int, k: Int, n: Int)] {
        let critic = (criticReal?.layers ?? []) + (criticSwap?.layers ?? [])
        return convolutionShapes((content + style + decoder + (swapPass?.blocks ?? [])).flatMap(\.layers))
            + ([styleHead, adainParameters] + (swapPass.map { [$0.adain] } ?? [])).flatMap(\.layers)
                .compactMap { $0 as? Dense }.map { (1, $0.inputWidth, $0.outputWidth) }
            + critic.compactMap { $0 as? Dense }.map { (1, $0.inputWidth, $0.outputWidth) }
    }
    public var gemmRowsStack: Bool { false }
}

extension AdaINAutoencoder: DisentanglingModel {
    /// The content code (channels x positions), the style vector, then a sequence's length.
    public var codeWidth: Int { contentWidth + styleWidth + (config.isSequence ? 1 : 0) }
    var contentColumns: Range<Int> { 0..<contentWidth }
    var styleColumns: Range<Int> { contentWidth..<(contentWidth + styleWidth) }
    /// The label is the content for images (a digit's class) and the style for sequences (the speaker).
    public var freeColumns: Range<Int> { config.isSequence ? contentColumns : styleColumns }
    public var labelledColumns: Range<Int> { config.isSequence ? styleColumns : contentColumns }
    public var classes: Int { config.classes }
    public func code(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(codeRegion, rows: rows) }
    public func latentInput(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(codeRegion, rows: rows) }

    public func decode(_ ws: Workspace, rows: Int, params: Arena) {
        decode(mainPass, code: ws.matrix(codeRegion, rows: rows), ws, rows: rows, params: params)
    }

    /// Decodes `code` (laid out as `codeRegion`) with `pass`; a sequence row's length is read from
    /// `codeRegion`'s row (a conversion keeps its row's content, so its length).
    func decode(_ pass: DecoderPass, code: Matrix, _ ws: Workspace, rows: Int, params: Arena) {
        let x = pass.blocks[0].input(ws, rows: rows), styleInput = pass.adain.input(ws, rows: rows)
        for r in 0..<rows {
            x.row(r).update(from: code.row(r), count: contentWidth)
            styleInput.row(r).update(from: code.row(r) + contentWidth, count: styleWidth)
        }
        pass.adain.forward(ws, rows: rows, params: params, training: false)
        let gammas = pass.adain.output(ws, rows: rows)
        for (k, block) in pass.blocks.enumerated() {
            block.forward(ws, rows: rows, params: params, training: false)
            guard k < pass.blocks.count - 1 else { break }
            normalize(block.output(ws, rows: rows), into: pass.blocks[k + 1].input(ws, rows: rows),
                      stats: ws.matrix(pass.stats[k], rows: rows), shape: decoderShapes[k], ws: ws, fromCode: true,
                      affine: (gammas, 2 * hidden * k))
        }
        guard config.isSequence else { return }
        // (features, steps) -> step-major rows, zero past the code's length, then the length.
        let y = pass.blocks.last!.output(ws, rows: rows), out = ws.matrix(pass.sequenceOutput, rows: rows)
        for r in 0..<rows {
            let a = y.row(r), b = out.row(r), n = codeLength(ws, r, positions: steps)
            for t in 0..<steps { for f in 0..<features { b[t * features + f] = t < n ? a[f * steps + t] : 0 } }
            b[dataWidth] = Float(n)
        }
    }
}
