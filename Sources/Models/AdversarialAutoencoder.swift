// Adversarial autoencoder (Makhzani et al. 2015): a deterministic encoder q(z|x) whose codes a
// discriminator learns to tell from draws of a prior, and which learns in turn to fool it. Three
// phases per step, each with its own optimizer: reconstruction (encoder and decoder),
// discriminator (its own parameters), generator (the encoder, through the discriminator).
// Priors: Gaussian, a mixture of K Gaussians, uniform; label-conditioned (the label chooses the
// component and the discriminator sees it one-hot); and the unsupervised clustering form (a
// softmax head of K clusters next to the style code, one discriminator for each part). For
// clustering, two terms make the clusters follow what the images show rather than how they are
// drawn: consistency (the clusters of two randomly shifted views of an image agree) and balance
// (confident assignments, every cluster used).

import Foundation
import Kernels
import Layers

public struct AdversarialAutoencoderConfig: Sendable, Equatable, Codable {
    /// Encoder widths from input to the (style) code, e.g. [784, 1000, 1000, 2]; the decoder mirrors them.
    public var widths: [Int]
    /// Hidden widths of each discriminator (its output is one logit).
    public var discriminator: [Int] = [500, 500]
    public var activation: ActivationKind = .relu
    public var prior: LatentPrior = .gaussian
    /// The label picks the mixture component of its real codes and the discriminator sees it one-hot.
    public var conditional = false
    /// Unsupervised clustering: a softmax head of this many clusters next to the style code (0: off).
    public var clusters = 0
    /// bce: the decoder outputs logits; mse: a sigmoid output.
    public var loss: LossKind = .bce
    public var initializer: Initializer = .pytorchDefault
    /// Moves each training input by up to this many pixels in each direction (an offset per
    /// sample and epoch, zeros shifted in); evaluation reads the inputs as they are.
    public var shift = 0
    /// Turns each training input by up to this many degrees either way about its centre (with
    /// `shift`'s move; bilinear, zeros outside).
    public var rotate: Float = 0
    /// Clustering: weight of the cross-entropy of the cluster probabilities of a second shifted
    /// view against those of the first (held fixed), added to the reconstruction phase.
    public var consistency: Float = 0
    /// Clustering: weight of (mean entropy of q(y|x) - entropy of the mean q(y|x) over each
    /// shard's rows), added to the reconstruction phase.
    public var balance: Float = 0
    /// The image shape the rows hold (set from the data; needed by `shift`).
    public var imageChannels = 0
    public var imageHeight = 0
    public var imageWidth = 0

    /// Whether training moves the inputs (shift or rotate).
    public var movesInputs: Bool { shift > 0 || rotate > 0 }

    public init(widths: [Int]) {
        self.widths = widths
    }

    public var styleWidth: Int { widths.last ?? 0 }
    /// What the decoder reads: the cluster probabilities (if any), then the style code.
    public var codeWidth: Int { clusters + styleWidth }
    /// Columns of the one-hot label the style discriminator reads next to the code.
    public var labelColumns: Int { conditional ? prior.components : 0 }

    public func validationError() -> String? {
        if widths.count < 2 || widths.contains(where: { $0 <= 0 }) {
            return "layers need at least an input and a code width, all positive (got \(widths))"
        }
        if discriminator.isEmpty || discriminator.contains(where: { $0 <= 0 }) {
            return "the discriminator needs at least one hidden width, all positive (got \(discriminator))"
        }
        if conditional && prior.components == 0 {
            return "a label-conditioned prior needs a mixture prior (--prior mixture:K, K = the number of classes)"
        }
        if clusters == 1 || clusters < 0 { return "clusters must be 0 (off) or at least 2" }
        if clusters > 0 && conditional { return "the clustering form learns its own categories; drop --conditional" }
        if ![.bce, .mse].contains(loss) { return "the adversarial autoencoder reconstructs with bce or mse" }
        if shift < 0 { return "--shift must be 0 (off) or a number of pixels" }
        if !(rotate >= 0 && rotate <= 180) { return "--rotate takes degrees from 0 (off) to 180" }
        if !(consistency >= 0) || !(balance >= 0) { return "--consistency and --balance take weights of 0 or more" }
        if (consistency > 0 || balance > 0) && clusters == 0 { return "--consistency and --balance need --clusters" }
        if consistency > 0 && !movesInputs {
            return "--consistency compares two moved views of each image; give --shift (e.g. 2)"
        }
        if movesInputs && imageHeight > 0 {
            if imageChannels * imageHeight * imageWidth != widths[0] {
                return "--shift, --rotate: \(imageChannels)x\(imageHeight)x\(imageWidth) images do not fill "
                    + "\(widths[0]) inputs"
            }
            if shift >= min(imageHeight, imageWidth) {
                return "--shift \(shift) moves \(imageWidth)x\(imageHeight) images out of the frame"
            }
        }
        return nil
    }
}

public struct AdversarialAutoencoder: AutoencoderModel, LossReportingModel, NonFiniteDiagnosis, BenchmarkShapes, ClusteringModel {
    public let config: AdversarialAutoencoderConfig
    public let layout: ParameterLayout
    /// Input -> (cluster logits | style code).
    public let encoder: Network
    /// Code (cluster probabilities | style) -> logits or probabilities.
    public let decoder: Network
    /// The style discriminator on prior draws and on codes (same parameters, own activations).
    public let styleReal: Network
    public let styleFake: Network
    /// The cluster discriminator on one-hot draws and on cluster probabilities (clustering form).
    public let clusterReal: Network?
    public let clusterFake: Network?
    let codeRegion: Region
    let codeGradient: Region
    let styleFakeGradient: Region
    let clusterFakeGradient: Region?
    let targetRegion: Region
    let probabilities: Region
    /// Where the data's rows go when `shift` moves them on their way to the encoder.
    let dataInput: Region?
    /// The first view's cluster probabilities and the second view before its shift (consistency);
    /// row 0 of `clusterMean`: the shard's mean probabilities (balance).
    package let firstView: Region?
    let secondInput: Region?
    let clusterMean: Region?
    public let workspaceColumns: Int
    public let phases: [Phase]
    public let inputWidth: Int
    public let styleWidth: Int
    public let clusters: Int
    let labelColumns: Int
    let layerNames: [(Network, String)]

    public init(_ config: AdversarialAutoencoderConfig) {
        precondition(config.validationError() == nil, config.validationError() ?? "")
        self.config = config
        var layout = ParameterLayout()
        let w = config.widths, k = config.clusters, z = config.styleWidth
        var encoderLayers: [any Layer] = [], decoderLayers: [any Layer] = []
        for i in 0..<(w.count - 1) {
            let isHead = i == w.count - 2
            encoderLayers.append(Dense(w[i], isHead ? k + z : w[i + 1], name: "encoder.\(encoderLayers.count)",
                                       layout: &layout, initializer: config.initializer))
            if !isHead { encoderLayers.append(Activation(config.activation, width: w[i + 1])) }
        }
        let encoderEnd = layout.count
        for i in stride(from: w.count - 1, to: 0, by: -1) {
            let isOutput = i == 1
            decoderLayers.append(Dense(i == w.count - 1 ? k + z : w[i], isOutput ? w[0] : w[i - 1],
                                       name: "decoder.\(decoderLayers.count)", layout: &layout,
                                       initializer: config.initializer))
            if !isOutput { decoderLayers.append(Activation(config.activation, width: w[i - 1])) }
        }
        if config.loss == .mse { decoderLayers.append(Activation(.sigmoid, width: w[0])) }
        let decoderEnd = layout.count
        func discriminator(_ name: String, input: Int) -> [any Layer] {
            perceptronLayers(name, input: input, hidden: config.discriminator, output: 1, activation: config.activation,
                             layout: &layout, initializer: config.initializer)
        }
        let styleLayers = discriminator("discriminator", input: z + config.labelColumns)
        let clusterLayers = k > 0 ? discriminator("cluster_discriminator", input: k) : nil
        var allocator = RegionAllocator()
        encoder = Network(encoderLayers, allocator: &allocator)
        codeRegion = allocator.take(k + z)
        codeGradient = allocator.take(k + z)
        decoder = Network(decoderLayers, allocator: &allocator, input: codeRegion, inputGradient: codeGradient)
        styleReal = Network(styleLayers, allocator: &allocator)
        styleFakeGradient = allocator.take(z + config.labelColumns)
        styleFake = Network(styleLayers, allocator: &allocator, input: allocator.take(z + config.labelColumns),
                            inputGradient: styleFakeGradient)
        if let clusterLayers {
            clusterReal = Network(clusterLayers, allocator: &allocator)
            let gradient = allocator.take(k)
            clusterFakeGradient = gradient
            clusterFake = Network(clusterLayers, allocator: &allocator, input: allocator.take(k), inputGradient: gradient)
        } else {
            clusterReal = nil
            clusterFake = nil
            clusterFakeGradient = nil
        }
        targetRegion = allocator.take(w[0])
        probabilities = allocator.take(w[0])
        dataInput = config.movesInputs ? allocator.take(w[0]) : nil
        firstView = config.consistency > 0 ? allocator.take(k) : nil
        secondInput = config.consistency > 0 ? allocator.take(w[0]) : nil
        clusterMean = config.balance > 0 ? allocator.take(k) : nil
        workspaceColumns = allocator.columns
        self.layout = layout
        inputWidth = w[0]
        styleWidth = z
        clusters = k
        labelColumns = config.labelColumns
        // Only the generator writes outside its group (into the discriminators, through them).
        phases = [Phase(name: "reconstruction", group: 0..<decoderEnd, spills: 0..<0),
                  Phase(name: "discriminator", group: decoderEnd..<layout.count, spills: 0..<0),
                  Phase(name: "generator", group: 0..<encoderEnd, spills: decoderEnd..<layout.count)]
        layerNames = [(encoder, "encoder"), (decoder, "decoder"), (styleFake, "discriminator")]
            + (clusterFake.map { [($0, "cluster_discriminator")] } ?? [])
    }

    public var targetWidth: Int { inputWidth }
    public var lossPartNames: [String] { ["reconstruction", "discriminator", "generator"] }

    public func initialize(params: Arena, seed: UInt64) {
        var rng = SplitMix64(key: seed, 0x696E_6974)
        encoder.initialize(params: params, rng: &rng)
        decoder.initialize(params: params, rng: &rng)
        styleReal.initialize(params: params, rng: &rng)
        clusterReal?.initialize(params: params, rng: &rng)
    }

    public func input(_ ws: Workspace, rows: Int) -> Matrix {
        dataInput.map { ws.matrix($0, rows: rows) } ?? encoder.input(ws, rows: rows)
    }
    public func target(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(targetRegion, rows: rows) }
    /// What the decoder reads: (cluster probabilities | style code), (B, K + Z).
    public func codeMatrix(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(codeRegion, rows: rows) }

    /// Phase 0 and evaluation: encode and decode. Discriminator phase: encode, draw real codes
    /// and score both. Generator phase: score the codes again. It runs right after the
    /// discriminator phase on the same rows, which changed only the discriminator: the encoder's
    /// activations and the codes it left are still those of the current parameters, so the
    /// generator phase does not encode again (a third of the encoder's forward work).
    public func forward(_ context: StepContext, _ ws: Workspace, rows: Int, params: Arena,
                        statistic: UnsafeMutablePointer<Float>?) {
        let phase = context.training ? context.phase : 0
        if phase == 2 {
            styleFake.forward(ws, rows: rows, params: params, training: false)
            clusterFake?.forward(ws, rows: rows, params: params, training: false)
            return
        }
        if let dataInput {
            // Training phases see the same view of a row (the offset is keyed by the row).
            if context.training {
                moveRows(ws.matrix(dataInput, rows: rows), ws, rows: rows, salt: Self.firstViewSalt)
            } else {
                encoder.input(ws, rows: rows).copy(from: ws.matrix(dataInput, rows: rows))
            }
        }
        encoder.forward(ws, rows: rows, params: params, training: context.training)
        fillCode(ws, rows: rows)
        if phase == 0 { decoder.forward(ws, rows: rows, params: params, training: context.training) }
        if phase == 1 || !context.training {
            drawReal(ws, rows: rows)
            styleReal.forward(ws, rows: rows, params: params, training: false)
            clusterReal?.forward(ws, rows: rows, params: params, training: false)
        }
        if phase == 1 || !context.training {
            fillFake(ws, rows: rows)
            styleFake.forward(ws, rows: rows, params: params, training: false)
            clusterFake?.forward(ws, rows: rows, params: params, training: false)
        }
    }

    /// The decoder's input from the encoder's head: softmax over the cluster logits, then the style.
    func fillCode(_ ws: Workspace, rows: Int) {
        let head = encoder.output(ws, rows: rows), code = codeMatrix(ws, rows: rows), k = clusters
        for r in 0..<rows {
            let h = head.row(r), c = code.row(r)
            if k > 0 { softmax(h, count: k, into: c) }
            (c + k).update(from: h + k, count: styleWidth)
        }
    }

    package static let firstViewSalt: UInt64 = 0x7368_6966, secondViewSalt: UInt64 = 0x7669_6577
    static let noiseSalt: UInt64 = 0x726F_6C6C

    /// The move of a row: an offset of up to `shift` pixels in each direction and an angle of up
    /// to `rotate` degrees either way (radians), keyed by the row's key and `salt`.
    package func move(key: UInt64, salt: UInt64) -> (dy: Int, dx: Int, angle: Float) {
        var rng = SplitMix64(key: key, salt)
        let n = config.shift
        let dy = Int(rng.next() % UInt64(2 * n + 1)) - n, dx = Int(rng.next() % UInt64(2 * n + 1)) - n
        guard config.rotate > 0 else { return (dy, dx, 0) }
        let unit = Float(rng.next() >> 40) / Float(1 << 24) * 2 - 1
        return (dy, dx, unit * config.rotate * .pi / 180)
    }

    /// The encoder's input: each row of `from` moved (`move`); zeros come in at the edges.
    func moveRows(_ from: Matrix, _ ws: Workspace, rows: Int, salt: UInt64) {
        let to = encoder.input(ws, rows: rows)
        let height = config.imageHeight, width = config.imageWidth, plane = height * width
        for r in 0..<rows {
            let (dy, dx, angle) = move(key: ws.rowKeys[r], salt: salt)
            let source = from.row(r), out = to.row(r)
            if angle != 0 {
                rotateRow(source, into: out, dy: dy, dx: dx, angle: angle)
                continue
            }
            for c in 0..<config.imageChannels {
                for y in 0..<height {
                    let line = out + c * plane + y * width, sy = y + dy
                    guard sy >= 0 && sy < height else {
                        line.update(repeating: 0, count: width)
                        continue
                    }
                    let sourceLine = source + c * plane + sy * width
                    for x in 0..<width {
                        let sx = x + dx
                        line[x] = sx >= 0 && sx < width ? sourceLine[sx] : 0
                    }
                }
            }
        }
    }

    /// Each output pixel samples the source bilinearly where turning it by `angle` about the
    /// image's centre, then moving it by (dy, dx), brings it from.
    func rotateRow(_ source: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>, dy: Int, dx: Int,
                   angle: Float) {
        let height = config.imageHeight, width = config.imageWidth, plane = height * width
        let cy = Float(height - 1) / 2, cx = Float(width - 1) / 2, c = cos(angle), s = sin(angle)
        for y in 0..<height {
            for x in 0..<width {
                let u = Float(y) - cy, v = Float(x) - cx
                let sy = c * u - s * v + cy + Float(dy), sx = s * u + c * v + cx + Float(dx)
                let y0 = Int(sy.rounded(.down)), x0 = Int(sx.rounded(.down))
                let fy = sy - Float(y0), fx = sx - Float(x0)
                for ch in 0..<config.imageChannels {
                    let b = source + ch * plane
                    let top = (1 - fx) * Self.pixel(b, y0, x0, height, width)
                        + fx * Self.pixel(b, y0, x0 + 1, height, width)
                    let bottom = (1 - fx) * Self.pixel(b, y0 + 1, x0, height, width)
                        + fx * Self.pixel(b, y0 + 1, x0 + 1, height, width)
                    out[ch * plane + y * width + x] = (1 - fy) * top + fy * bottom
                }
            }
        }
    }

    @inline(__always)
    static func pixel(_ plane: UnsafeMutablePointer<Float>, _ y: Int, _ x: Int, _ height: Int, _ width: Int) -> Float {
        y >= 0 && y < height && x >= 0 && x < width ? plane[y * width + x] : 0
    }

    /// The sample's mixture component (its label) when the prior is label-conditioned, else -1.
    @inline(__always)
    func component(_ ws: Workspace, _ r: Int) -> Int {
        guard labelColumns > 0 else { return -1 }
        let label = Int(ws.labels[r])
        return label < labelColumns ? label : -1
    }

    /// One-hot of `component` (zeros when unknown) into `row[0..<labelColumns]`.
    @inline(__always)
    func writeLabel(_ row: UnsafeMutablePointer<Float>, _ component: Int) {
        for j in 0..<labelColumns { row[j] = j == component ? 1 : 0 }
    }

    /// Prior draws for the discriminators, keyed by the row (same draws at any shard count).
    func drawReal(_ ws: Workspace, rows: Int) {
        let real = styleReal.input(ws, rows: rows), z = styleWidth
        for r in 0..<rows {
            var rng = SplitMix64(key: ws.rowKeys[r], 0x7072_696F)
            let c = component(ws, r), row = real.row(r)
            config.prior.draw(into: row, width: z, rng: &rng, component: c)
            writeLabel(row + z, c)
            if let clusterReal {
                let category = Int(rng.next() % UInt64(clusters)), one = clusterReal.input(ws, rows: rows).row(r)
                for j in 0..<clusters { one[j] = j == category ? 1 : 0 }
            }
        }
    }

    /// The codes as the discriminators read them.
    func fillFake(_ ws: Workspace, rows: Int) {
        let code = codeMatrix(ws, rows: rows), fake = styleFake.input(ws, rows: rows), k = clusters, z = styleWidth
        for r in 0..<rows {
            let row = fake.row(r)
            row.update(from: code.row(r) + k, count: z)
            writeLabel(row + z, component(ws, r))
            if let clusterFake { clusterFake.input(ws, rows: rows).row(r).update(from: code.row(r), count: k) }
        }
    }

    /// Sum over rows of BCE(logit, target) = softplus(logit) - target * logit; adds
    /// `scale * (sigmoid(logit) - target)` into `gradient` when given.
    static func logitLoss(_ logits: Matrix, target: Float, gradient: Matrix?, scale: Float) -> Double {
        var sum = 0.0
        for r in 0..<logits.rows {
            let l = logits.row(r)[0]
            sum += Double(Activation.softplus(l) - target * l)
            if let gradient { gradient.row(r)[0] = scale * (Activation.sigmoid(l) - target) }
        }
        return sum
    }

    public func backward(_ context: StepContext, _ ws: Workspace, rows: Int, globalRows: Int, params: Arena,
                         grads: Arena?, statistic: UnsafePointer<Float>?) -> LossSums {
        let perRow = 1 / Float(globalRows)
        var sums = LossSums()
        let phase = context.training ? context.phase : 0
        if phase == 0 {
            let output = decoder.output(ws, rows: rows)
            let dOutput = grads == nil ? nil : decoder.outputGradient(ws, rows: rows)
            dOutput?.fill(0)
            sums = Loss.evaluate(config.loss, output: output, target: target(ws, rows: rows), dOutput: dOutput,
                                 scale: perRow / Float(inputWidth))
            sums.parts[0] = sums.objective
            let dCode = ws.matrix(codeGradient, rows: rows)
            if let grads { decoder.backward(ws, rows: rows, params: params, grads: grads) }
            // The clustering terms train the encoder only, and only in training.
            if context.training && clusterMean != nil {
                sums.penalty += addBalance(ws, rows: rows, into: grads == nil ? nil : dCode, perRow: perRow)
            }
            if let grads { backwardCode(ws, rows: rows, params: params, grads: grads, from: dCode) }
            if context.training, let firstView {
                let first = ws.matrix(firstView, rows: rows), code = codeMatrix(ws, rows: rows)
                for r in 0..<rows { first.row(r).update(from: code.row(r), count: clusters) }
                sums.penalty += consistencyTerm(ws, rows: rows, params: params, grads: grads, perRow: perRow)
            }
        }
        if phase == 1 || !context.training {
            // Real codes are 1, the encoder's are 0.
            let train = grads != nil && context.training
            var d = Self.logitLoss(styleReal.output(ws, rows: rows), target: 1,
                                   gradient: train ? styleReal.outputGradient(ws, rows: rows) : nil, scale: perRow)
            d += Self.logitLoss(styleFake.output(ws, rows: rows), target: 0,
                                gradient: train ? styleFake.outputGradient(ws, rows: rows) : nil, scale: perRow)
            if let clusterReal, let clusterFake {
                d += Self.logitLoss(clusterReal.output(ws, rows: rows), target: 1,
                                    gradient: train ? clusterReal.outputGradient(ws, rows: rows) : nil, scale: perRow)
                d += Self.logitLoss(clusterFake.output(ws, rows: rows), target: 0,
                                    gradient: train ? clusterFake.outputGradient(ws, rows: rows) : nil, scale: perRow)
            }
            sums.parts[1] = d
            if train, let grads {
                // One by one: an array of the networks would allocate every step.
                styleReal.backward(ws, rows: rows, params: params, grads: grads)
                styleFake.backward(ws, rows: rows, params: params, grads: grads)
                clusterReal?.backward(ws, rows: rows, params: params, grads: grads)
                clusterFake?.backward(ws, rows: rows, params: params, grads: grads)
            }
        }
        if phase == 2 || !context.training {
            // Non-saturating generator loss: the encoder's codes labelled real.
            let train = grads != nil && context.training
            var g = Self.logitLoss(styleFake.output(ws, rows: rows), target: 1,
                                   gradient: train ? styleFake.outputGradient(ws, rows: rows) : nil, scale: perRow)
            if let clusterFake {
                g += Self.logitLoss(clusterFake.output(ws, rows: rows), target: 1,
                                    gradient: train ? clusterFake.outputGradient(ws, rows: rows) : nil, scale: perRow)
            }
            sums.parts[2] = g
            if train, let grads {
                // The discriminators' parameter gradients land outside this phase's group: discarded.
                styleFake.backward(ws, rows: rows, params: params, grads: grads)
                clusterFake?.backward(ws, rows: rows, params: params, grads: grads)
                let dCode = ws.matrix(codeGradient, rows: rows), dStyle = ws.matrix(styleFakeGradient, rows: rows)
                let dCluster = clusterFakeGradient.map { ws.matrix($0, rows: rows) }
                for r in 0..<rows {
                    let row = dCode.row(r)
                    if let dCluster { row.update(from: dCluster.row(r), count: clusters) }
                    (row + clusters).update(from: dStyle.row(r), count: styleWidth)
                }
                backwardCode(ws, rows: rows, params: params, grads: grads, from: dCode)
            }
        }
        return sums
    }

    /// `balance` x (mean entropy of the rows' cluster probabilities - entropy of their mean over
    /// this shard), as this shard's part of the batch mean; adds its gradient with respect to the
    /// probabilities into `dCode`. Per row i and cluster j it is balance / B x (log p_j - log q_ij).
    func addBalance(_ ws: Workspace, rows: Int, into dCode: Matrix?, perRow: Float) -> Double {
        guard let clusterMean else { return 0 }
        let code = codeMatrix(ws, rows: rows), k = clusters, mean = ws.matrix(clusterMean, rows: 1).row(0)
        mean.update(repeating: 0, count: k)
        for r in 0..<rows {
            let q = code.row(r)
            for j in 0..<k { mean[j] += q[j] }
        }
        var marginal = 0.0, conditional = 0.0
        for j in 0..<k {
            mean[j] /= Float(rows)
            let p = max(mean[j], 1e-12)
            marginal -= Double(p * log(p))
            mean[j] = log(p)
        }
        let weight = config.balance * perRow
        for r in 0..<rows {
            let q = code.row(r), d = dCode?.row(r)
            for j in 0..<k {
                let logQ = log(max(q[j], 1e-12))
                conditional -= Double(q[j] * logQ)
                d?[j] += weight * (mean[j] - logQ)
            }
        }
        return Double(weight) * (conditional - Double(rows) * marginal)
    }

    /// `consistency` x the cross-entropy of a second shifted view's cluster probabilities against
    /// the first view's (in `firstView`, held fixed), as this shard's part of the batch mean;
    /// backpropagates it through the encoder when `grads` is given (adding to the first view's).
    package func consistencyTerm(_ ws: Workspace, rows: Int, params: Arena, grads: Arena?, perRow: Float) -> Double {
        guard let firstView, let secondInput, let dataInput else { return 0 }
        let k = clusters, first = ws.matrix(firstView, rows: rows), code = codeMatrix(ws, rows: rows)
        // The clean image with the data's noise moved cyclically by an offset of its own: a new
        // draw of whatever noise the data carries, without knowing its kind.
        let clean = target(ws, rows: rows), noisy = ws.matrix(dataInput, rows: rows)
        let second = ws.matrix(secondInput, rows: rows), width = inputWidth
        for r in 0..<rows {
            var rng = SplitMix64(key: ws.rowKeys[r], Self.noiseSalt)
            let offset = Int(rng.next() % UInt64(width)), x = clean.row(r), y = noisy.row(r), out = second.row(r)
            for i in 0..<width {
                let j = i + offset < width ? i + offset : i + offset - width
                out[i] = x[i] + (y[j] - x[j])
            }
        }
        moveRows(second, ws, rows: rows, salt: Self.secondViewSalt)
        encoder.forward(ws, rows: rows, params: params, training: true)
        fillCode(ws, rows: rows)
        let dHead = encoder.outputGradient(ws, rows: rows), weight = config.consistency * perRow
        var sum = 0.0
        for r in 0..<rows {
            let target = first.row(r), q = code.row(r), d = dHead.row(r)
            for j in 0..<k {
                sum -= Double(target[j] * log(max(q[j], 1e-12)))
                // Softmax cross-entropy: the gradient at the logits is q - target (targets sum to 1).
                d[j] = weight * (q[j] - target[j])
            }
            (d + k).update(repeating: 0, count: styleWidth)
        }
        if let grads { encoder.backward(ws, rows: rows, params: params, grads: grads) }
        return Double(weight) * sum
    }

    /// From the gradient of the code to the encoder's head (softmax Jacobian for the clusters),
    /// then through the encoder.
    func backwardCode(_ ws: Workspace, rows: Int, params: Arena, grads: Arena, from dCode: Matrix) {
        let dHead = encoder.outputGradient(ws, rows: rows), code = codeMatrix(ws, rows: rows), k = clusters
        for r in 0..<rows {
            let g = dCode.row(r), d = dHead.row(r), y = code.row(r)
            if k > 0 {
                var dot: Float = 0
                for j in 0..<k { dot += y[j] * g[j] }
                for j in 0..<k { d[j] = y[j] * (g[j] - dot) }
            }
            (d + k).update(from: g + k, count: styleWidth)
        }
        encoder.backward(ws, rows: rows, params: params, grads: grads)
    }

    public func reconstruction(_ ws: Workspace, rows: Int) -> Matrix {
        let output = decoder.output(ws, rows: rows)
        guard config.loss == .bce else { return output }
        return Activation.sigmoid(output, into: ws.matrix(probabilities, rows: rows), count: inputWidth)
    }

    /// The cluster of each row (argmax of the softmax head) after an evaluation forward.
    public func cluster(_ ws: Workspace, row r: Int) -> Int {
        let code = codeMatrix(ws, rows: r + 1).row(r)
        var best = 0
        for j in 1..<max(clusters, 1) where code[j] > code[best] { best = j }
        return best
    }

    public func firstNonFiniteLayer(_ ws: Workspace, rows: Int) -> String? {
        for (network, name) in layerNames {
            if let i = network.firstNonFiniteLayer(ws, rows: rows) { return "\(name).\(i)" }
        }
        return nil
    }

    /// Per step: the encoder twice (the generator phase reuses the discriminator phase's), the
    /// decoder once, the style (and cluster) discriminator three times (real and fake, then fake).
    public var gemmShapes: [(m: Int, k: Int, n: Int)] {
        let dense: ([any Layer]) -> [(m: Int, k: Int, n: Int)] = { $0.compactMap { $0 as? Dense }.map { (1, $0.inputWidth, $0.outputWidth) } }
        let discriminators = dense(styleFake.layers) + dense(clusterFake?.layers ?? [])
        return Array([[(m: Int, k: Int, n: Int)]](repeating: dense(encoder.layers), count: 2).joined())
            + dense(decoder.layers) + Array([[(m: Int, k: Int, n: Int)]](repeating: discriminators, count: 3).joined())
    }
}

extension AdversarialAutoencoder: LatentModel {
    public var codeWidth: Int { clusters + styleWidth }
    public func code(_ ws: Workspace, rows: Int) -> Matrix { codeMatrix(ws, rows: rows) }
    public func latentInput(_ ws: Workspace, rows: Int) -> Matrix { codeMatrix(ws, rows: rows) }
    public func decode(_ ws: Workspace, rows: Int, params: Arena) {
        decoder.forward(ws, rows: rows, params: params, training: false)
    }
    public var prior: LatentPrior? { config.prior }
    public var priorComponents: Int { clusters > 0 ? clusters : config.prior.components }

    /// A code from the prior: a one-hot category (`component`, or drawn) and a style draw for the
    /// clustering form; the prior's draw (from `component` of a mixture) otherwise.
    public func drawCode(into code: UnsafeMutablePointer<Float>, rng: inout SplitMix64, component: Int,
                        temperature: Float) {
        if clusters > 0 {
            let c = component >= 0 && component < clusters ? component : Int(rng.next() % UInt64(clusters))
            for j in 0..<clusters { code[j] = j == c ? 1 : 0 }
            config.prior.draw(into: code + clusters, width: styleWidth, rng: &rng, temperature: temperature)
        } else {
            config.prior.draw(into: code, width: styleWidth, rng: &rng, component: component, temperature: temperature)
        }
    }
}

extension AdversarialAutoencoderConfig {
    /// Keys missing from a stored config take their defaults, so configs written before a field
    /// existed still load.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(widths: try c.decode([Int].self, forKey: .widths))
        discriminator = try c.decodeIfPresent([Int].self, forKey: .discriminator) ?? discriminator
        activation = try c.decodeIfPresent(ActivationKind.self, forKey: .activation) ?? activation
        prior = try c.decodeIfPresent(LatentPrior.self, forKey: .prior) ?? prior
        conditional = try c.decodeIfPresent(Bool.self, forKey: .conditional) ?? conditional
        clusters = try c.decodeIfPresent(Int.self, forKey: .clusters) ?? clusters
        loss = try c.decodeIfPresent(LossKind.self, forKey: .loss) ?? loss
        initializer = try c.decodeIfPresent(Initializer.self, forKey: .initializer) ?? initializer
        shift = try c.decodeIfPresent(Int.self, forKey: .shift) ?? shift
        rotate = try c.decodeIfPresent(Float.self, forKey: .rotate) ?? rotate
        consistency = try c.decodeIfPresent(Float.self, forKey: .consistency) ?? consistency
        balance = try c.decodeIfPresent(Float.self, forKey: .balance) ?? balance
        imageChannels = try c.decodeIfPresent(Int.self, forKey: .imageChannels) ?? imageChannels
        imageHeight = try c.decodeIfPresent(Int.self, forKey: .imageHeight) ?? imageHeight
        imageWidth = try c.decodeIfPresent(Int.self, forKey: .imageWidth) ?? imageWidth
    }
}
