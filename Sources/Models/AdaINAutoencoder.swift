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

import Foundation
import Kernels
import Layers

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
        workspaceColumns = allocator.columns
        self.layout = layout
        inputWidth = rawInput.cols
        hidden = h
        self.dataWidth = dataWidth
        steps = config.steps
        features = config.features
        phases = [Phase(name: "autoencoder", group: 0..<layout.count)]
    }

    public var targetWidth: Int { inputWidth }
    public var valuesPerTarget: Int { dataWidth }
    public var lossPartNames: [String] { config.kl > 0 ? ["reconstruction", "kl"] : ["reconstruction"] }
    var contentWidth: Int { contentChannels * contentPositions }

    public func initialize(params: Arena, seed: UInt64) {
        var rng = SplitMix64(key: seed, 0x696E_6974)
        for network in content + style + [styleHead, adainParameters] + decoder { network.initialize(params: params, rng: &rng) }
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

    public func forward(_ context: StepContext, _ ws: Workspace, rows: Int, params: Arena,
                        statistic: UnsafeMutablePointer<Float>?) {
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
        guard let grads else { return sums }
        if config.isSequence {
            // Step-major gradient -> the last block's (features, steps) output gradient.
            let from = ws.matrix(probabilities, rows: rows), to = decoder.last!.outputGradient(ws, rows: rows)
            for r in 0..<rows {
                let a = from.row(r), b = to.row(r)
                for t in 0..<steps { for f in 0..<features { b[f * steps + t] = a[t * features + f] } }
            }
        }
        let gammas = adainParameters.output(ws, rows: rows), dGammas = adainParameters.outputGradient(ws, rows: rows)
        dGammas.fill(0)
        for k in stride(from: decoder.count - 1, through: 0, by: -1) {
            if k < decoder.count - 1 {
                normalizeBackward(dy: decoder[k + 1].gradient(0, ws, rows: rows)!, x: decoder[k].output(ws, rows: rows),
                                  dx: decoder[k].outputGradient(ws, rows: rows), stats: ws.matrix(decoderStats[k], rows: rows),
                                  shape: decoderShapes[k], ws: ws, fromCode: true,
                                  affine: (gammas, dGammas, 2 * hidden * k))
            }
            decoder[k].backward(ws, rows: rows, params: params, grads: grads)
        }
        adainParameters.backward(ws, rows: rows, params: params, grads: grads)
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
        return adainParameters.firstNonFiniteLayer(ws, rows: rows).map { _ in "adain" }
    }

    public var gemmShapes: [(m: Int, k: Int, n: Int)] {
        convolutionShapes((content + style + decoder).flatMap(\.layers))
            + [styleHead, adainParameters].flatMap(\.layers).compactMap { $0 as? Dense }.map { (1, $0.inputWidth, $0.outputWidth) }
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
        let code = ws.matrix(codeRegion, rows: rows), x = decoder[0].input(ws, rows: rows)
        let styleInput = adainParameters.input(ws, rows: rows)
        for r in 0..<rows {
            x.row(r).update(from: code.row(r), count: contentWidth)
            styleInput.row(r).update(from: code.row(r) + contentWidth, count: styleWidth)
        }
        adainParameters.forward(ws, rows: rows, params: params, training: false)
        let gammas = adainParameters.output(ws, rows: rows)
        for (k, block) in decoder.enumerated() {
            block.forward(ws, rows: rows, params: params, training: false)
            guard k < decoder.count - 1 else { break }
            normalize(block.output(ws, rows: rows), into: decoder[k + 1].input(ws, rows: rows),
                      stats: ws.matrix(decoderStats[k], rows: rows), shape: decoderShapes[k], ws: ws, fromCode: true,
                      affine: (gammas, 2 * hidden * k))
        }
        guard config.isSequence else { return }
        // (features, steps) -> step-major rows, zero past the code's length, then the length.
        let y = decoder.last!.output(ws, rows: rows), out = ws.matrix(sequenceOutput, rows: rows)
        for r in 0..<rows {
            let a = y.row(r), b = out.row(r), n = codeLength(ws, r, positions: steps)
            for t in 0..<steps { for f in 0..<features { b[t * features + f] = t < n ? a[f * steps + t] : 0 } }
            b[dataWidth] = Float(n)
        }
    }
}
