// Feature-disentangling autoencoder with a split latent: the encoder writes a free code, the
// decoder reads it next to the sample's label one-hot (at every layer), and an adversary (a classifier on the free
// code) is fought so that the free code carries no label (Lample et al.'s Fader networks, with a
// multi-class adversary). The label then lives only in the one-hot: decoding one sample's free
// code with another's label swaps the label and keeps the rest (a digit's handwriting, an
// utterance's content). Two ways to fight the adversary:
// - alternating: an adversary phase trains the classifier on the codes; the autoencoder phase
//   adds lambda times the cross-entropy of the classifier's prediction against the uniform
//   distribution (the classifier is left with nothing to read);
// - reversal: one phase; the classifier minimises its cross-entropy and the gradient reaching the
//   code is reversed and scaled by lambda (Ganin & Lempitsky 2015).
// Rows may also be variable-length sequences (steps x features, zero-padded, then the length):
// the loss then covers each row's valid steps only.
// Scatter penalty (`scatterWeight` > 0): the free code's means of each class over the batch (a
// statistic summed over the shards) are pulled to the batch's mean, so that no linear read-out
// tells the classes apart by their means.
// Swap critic (`swapWeight` > 0, images, alternating): a classifier of the label, trained on real
// images in the adversary's phase, scores decodes of each free code next to another label; the
// autoencoder also minimises its cross-entropy against that label. The decoder is made to follow
// the one-hot by this loss instead of by a narrow bottleneck on the free code, so the free code
// can keep more of the image.

import Foundation
import Kernels
import Layers

public enum AdversaryKind: String, Sendable, Codable, CaseIterable {
    case alternating, reversal
}

/// The code layout of a disentangling model: which columns should carry no label and which carry it.
public protocol DisentanglingModel: LatentModel {
    /// Columns of the code that should hold no label (the free code).
    var freeColumns: Range<Int> { get }
    /// Columns that hold the label (its one-hot, or a learned style code).
    var labelledColumns: Range<Int> { get }
    /// Classes of the label.
    var classes: Int { get }
}

public struct DisentanglingAutoencoderConfig: Sendable, Equatable, Codable {
    /// Encoder widths from input to the free code, e.g. [784, 512, 256, 16]; the decoder mirrors
    /// them from the free code plus the label one-hot.
    public var widths: [Int]
    /// Classes of the label (filled in from the data).
    public var classes = 0
    public var adversary: AdversaryKind = .alternating
    /// Hidden widths of the adversary (its output is one logit per class).
    public var adversaryWidths: [Int] = [256]
    /// lambda: weight of the adversarial term in the autoencoder's objective.
    public var adversaryWeight: Float = 0.05
    /// Steps over which lambda rises linearly from 0 (0: none).
    public var adversaryWarmup = 0
    /// Split form: from this epoch on (counting from 1; 0: never) only the decoder trains, on
    /// reconstruction alone (from the free code's draws next to the label, as before), the
    /// encoder (so what the free code holds) and the adversary frozen.
    public var decoderOnlyFrom = 0
    public var activation: ActivationKind = .relu
    /// beta of a variational free code (0: a deterministic code; default 0.25). Above 0 the encoder gives a mean
    /// and a log-variance, training decodes a draw, and beta x KL(q || N(0, I)) joins the objective
    /// in the reconstruction's units: a bottleneck that leaves the label to the one-hot.
    public var kl: Float = 0.25
    /// bce: logits out, images in [0, 1]; mse: a sigmoid output for images, linear for sequences.
    public var loss: LossKind = .bce
    /// Sequences: steps per row and values per step (0 for images).
    public var steps = 0
    public var features = 0
    public var initializer: Initializer = .pytorchDefault
    /// split: one encoder, the label at the decoder, an adversary; adain: content and style
    /// encoders with instance normalisation (the fields below; `widths` gives only the input).
    public var form: DisentanglingForm = .split
    /// AdaIN form: channels of the convolution blocks.
    public var channels = 32
    /// AdaIN form: channels of the content code at each position.
    public var contentChannels = 4
    /// AdaIN form: width of the style vector.
    public var styleWidth = 16
    /// AdaIN form, sequences: kernel of the 1-D convolutions over time (odd).
    public var kernel = 5
    /// Weight of the swap critic's cross-entropy on decodes with a swapped label (split form) or on
    /// conversions (AdaIN form) (0: off).
    public var swapWeight: Float = 0
    /// Hidden widths of the swap critic (a classifier of data rows; its output is one logit per class).
    public var criticWidths: [Int] = [256]
    /// Split form: weight of the between-class scatter of the free code's means over the batch
    /// (each labelled row's squared distance from its class's mean to the batch's mean; 0: off).
    public var scatterWeight: Float = 0
    /// AdaIN form, images: the image shape (from the data).
    public var imageChannels = 0
    public var imageHeight = 0
    public var imageWidth = 0

    public init(widths: [Int]) {
        self.widths = widths
    }

    public var codeWidth: Int { widths.last ?? 0 }
    public var isSequence: Bool { steps > 0 }
    /// Values of a row that carry data (a sequence row ends in its length).
    public var dataWidth: Int { isSequence ? steps * features : (widths.first ?? 0) }

    public func validationError() -> String? {
        if form == .adain { return adainValidationError() }
        if widths.count < 2 || widths.contains(where: { $0 <= 0 }) {
            return "layers need at least an input and a code width, all positive (got \(widths))"
        }
        if adversaryWidths.contains(where: { $0 <= 0 }) { return "adversary widths must be positive (got \(adversaryWidths))" }
        if classes < 2 { return "the label needs at least 2 classes (got \(classes))" }
        if decoderOnlyFrom < 0 { return "the epoch the decoder trains alone from must be >= 0 (got \(decoderOnlyFrom))" }
        if !(swapWeight >= 0) { return "the swap weight must be >= 0" }
        if swapWeight > 0 && (isSequence || adversary != .alternating) {
            return "--swap-weight: the split form's swap critic needs images (not sequences) and --adversary "
                + "alternating (the AdaIN form takes sequences)"
        }
        if criticWidths.contains(where: { $0 <= 0 }) { return "critic widths must be positive (got \(criticWidths))" }
        if !(scatterWeight >= 0) { return "the scatter weight must be >= 0" }
        if !(adversaryWeight >= 0) || !(kl >= 0) || adversaryWarmup < 0 {
            return "the adversary weight, its warm-up and the KL weight must be >= 0"
        }
        if ![.bce, .mse].contains(loss) { return "the disentangling autoencoder reconstructs with bce or mse" }
        if isSequence && loss == .bce { return "sequences (standardized values) reconstruct with mse" }
        if isSequence && widths[0] != steps * features + 1 { return "a sequence row is steps x features + 1 wide" }
        return nil
    }

    func adainValidationError() -> String? {
        if channels <= 0 || contentChannels <= 0 || styleWidth <= 0 {
            return "the AdaIN form needs positive channels, content channels and style width"
        }
        if !(kl >= 0) { return "the KL weight must be >= 0" }
        if ![.bce, .mse].contains(loss) { return "the disentangling autoencoder reconstructs with bce or mse" }
        if !(swapWeight >= 0) { return "the swap weight must be >= 0" }
        if swapWeight > 0 && classes < 2 {
            return "--swap-weight: the conversion critic needs labels (at least 2 classes)"
        }
        if criticWidths.contains(where: { $0 <= 0 }) { return "critic widths must be positive (got \(criticWidths))" }
        if isSequence {
            if loss == .bce { return "sequences (standardized values) reconstruct with mse" }
            if kernel <= 0 || kernel % 2 == 0 { return "the 1-D convolution kernel must be odd and positive (got \(kernel))" }
            if widths.first != steps * features + 1 { return "a sequence row is steps x features + 1 wide" }
            return nil
        }
        if imageChannels <= 0 || imageHeight < 4 || imageWidth < 4 || imageHeight % 4 != 0 || imageWidth % 4 != 0 {
            return "the AdaIN form halves images twice: height and width must be multiples of 4 "
                + "(got \(imageChannels)x\(imageHeight)x\(imageWidth)); --resize to a multiple of 4"
        }
        if widths.first != imageChannels * imageHeight * imageWidth { return "the input width must be channels x height x width" }
        return nil
    }
}

public struct DisentanglingAutoencoder: AutoencoderModel, LossReportingModel, PhaseScheduledModel, NonFiniteDiagnosis, BenchmarkShapes {
    public let config: DisentanglingAutoencoderConfig
    public let layout: ParameterLayout
    /// Input -> free code.
    public let encoder: Network
    /// (free code | label one-hot) -> reconstruction (logits or values), in stages: each stage
    /// is one dense layer (and its activation) whose input is the stage below's output next to
    /// the label one-hot, so every layer of the decoder sees the label (as Fader networks do).
    public let decoderStages: [Network]
    /// Each stage's input and input gradient after the first (hidden | one-hot).
    let stageInputs: [(input: Region, gradient: Region)]
    /// Free code -> class logits.
    public let adversary: Network
    /// Swap critic: the classifier on real images (its own phase) and on swapped decodes (the
    /// same parameters), and the decoder's stages again (own activations) for the swapped codes.
    public let criticReal: Network?
    public let criticSwap: Network?
    let swapStages: [Network]
    let swapStageInputs: [(input: Region, gradient: Region)]
    let swapCodeRegion: Region
    let swapCodeGradient: Region
    /// Scatter penalty's scratch (row 0), when a shard runs without the batch statistic: the
    /// statistic's layout (class means of the free code, their mean, the class counts).
    let scatterRegion: Region
    let codeRegion: Region
    let codeGradient: Region
    let epsilonRegion: Region
    let adversaryGradient: Region
    let targetRegion: Region
    let probabilities: Region
    public let workspaceColumns: Int
    public let phases: [Phase]
    public let inputWidth: Int
    /// Width of the free code.
    public let freeWidth: Int
    public let classes: Int
    /// Values of a row that carry data; a sequence row's last value is its length.
    let dataWidth: Int
    let features: Int
    /// The phase that trains the decoder alone (`decoderOnlyFrom`), if any.
    let decoderPhase: Int?

    public init(_ config: DisentanglingAutoencoderConfig) {
        precondition(config.validationError() == nil, config.validationError() ?? "")
        self.config = config
        var layout = ParameterLayout()
        let w = config.widths, c = config.codeWidth, k = config.classes, d = config.dataWidth
        var encoderLayers: [any Layer] = []
        let variational = config.kl > 0
        for i in 0..<(w.count - 1) {
            let out = i == w.count - 2 && variational ? 2 * w[i + 1] : w[i + 1]
            encoderLayers.append(Dense(w[i], out, name: "encoder.\(encoderLayers.count)", layout: &layout,
                                       initializer: config.initializer))
            if i < w.count - 2 { encoderLayers.append(Activation(config.activation, width: w[i + 1])) }
        }
        let encoderEnd = layout.count
        var stageLayers: [[any Layer]] = []
        for i in stride(from: w.count - 1, to: 0, by: -1) {
            let isOutput = i == 1
            var stage: [any Layer] = [Dense((i == w.count - 1 ? c : w[i]) + k, isOutput ? d : w[i - 1],
                                            name: "decoder.\(2 * stageLayers.count)", layout: &layout,
                                            initializer: config.initializer)]
            if !isOutput { stage.append(Activation(config.activation, width: w[i - 1])) }
            if isOutput && config.loss == .mse && !config.isSequence { stage.append(Activation(.sigmoid, width: d)) }
            stageLayers.append(stage)
        }
        let autoencoderEnd = layout.count
        let adversaryLayers = perceptronLayers("adversary", input: c, hidden: config.adversaryWidths, output: k,
                                               activation: config.activation, layout: &layout, initializer: config.initializer)
        let criticLayers = config.swapWeight > 0
            ? perceptronLayers("critic", input: d, hidden: config.criticWidths, output: k, activation: config.activation,
                               layout: &layout, initializer: config.initializer) : []
        var allocator = RegionAllocator()
        encoder = Network(encoderLayers, allocator: &allocator)
        codeRegion = allocator.take(c + k)
        codeGradient = allocator.take(c + k)
        epsilonRegion = allocator.take(variational ? c : 0)
        // The decoder's stages from a code region; each later stage reads its own (hidden | one-hot) input.
        func stageChain(code: Region, gradient: Region) -> ([Network], [(input: Region, gradient: Region)]) {
            var stages = [Network(stageLayers[0], allocator: &allocator, input: code, inputGradient: gradient)]
            var inputs: [(input: Region, gradient: Region)] = []
            for layers in stageLayers.dropFirst() {
                let width = layers[0].inputWidth
                let pair = (input: allocator.take(width), gradient: allocator.take(width))
                inputs.append(pair)
                stages.append(Network(layers, allocator: &allocator, input: pair.input, inputGradient: pair.gradient))
            }
            return (stages, inputs)
        }
        (decoderStages, stageInputs) = stageChain(code: codeRegion, gradient: codeGradient)
        adversaryGradient = allocator.take(c)
        adversary = Network(adversaryLayers, allocator: &allocator, input: allocator.take(c), inputGradient: adversaryGradient)
        let swapping = config.swapWeight > 0
        swapCodeRegion = allocator.take(swapping ? c + k : 0)
        swapCodeGradient = allocator.take(swapping ? c + k : 0)
        if swapping {
            (swapStages, swapStageInputs) = stageChain(code: swapCodeRegion, gradient: swapCodeGradient)
            criticReal = Network(criticLayers, allocator: &allocator)
            criticSwap = Network(criticLayers, allocator: &allocator, inputGradient: true)
        } else {
            swapStages = []
            swapStageInputs = []
            criticReal = nil
            criticSwap = nil
        }
        scatterRegion = allocator.take(config.scatterWeight > 0 ? (k + 1) * c + k : 0)  // see scatterStatisticWidth
        targetRegion = allocator.take(w[0])
        probabilities = allocator.take(w[0])
        workspaceColumns = allocator.columns
        self.layout = layout
        inputWidth = w[0]
        freeWidth = c
        classes = k
        dataWidth = d
        features = config.features
        var phases: [Phase]
        switch config.adversary {
        case .alternating:
            // The adversary first (as Fader networks): it changes only itself, so the autoencoder
            // phase that follows reuses its encoding of the batch.
            phases = [Phase(name: "adversary", group: autoencoderEnd..<layout.count, spills: 0..<0),
                      Phase(name: "autoencoder", group: 0..<autoencoderEnd, spills: autoencoderEnd..<layout.count)]
        case .reversal:
            phases = [Phase(name: "autoencoder", group: 0..<layout.count)]
        }
        decoderPhase = config.decoderOnlyFrom > 0 ? phases.count : nil
        // The swap critic's share of the decoder phase's gradient falls on the critic: discarded.
        if config.decoderOnlyFrom > 0 {
            phases.append(Phase(name: "decoder", group: encoderEnd..<autoencoderEnd,
                                spills: config.swapWeight > 0 ? autoencoderEnd..<layout.count : 0..<0))
        }
        self.phases = phases
    }

    public var targetWidth: Int { inputWidth }
    public var valuesPerTarget: Int { dataWidth }
    public var lossPartNames: [String] {
        (config.adversary == .alternating ? ["reconstruction", "adversary", "confusion"] : ["reconstruction", "adversary"])
            + (config.kl > 0 ? ["kl"] : []) + (config.swapWeight > 0 ? ["critic", "swap"] : [])
            + (config.scatterWeight > 0 ? ["scatter"] : [])
    }

    /// Where the scatter penalty is reported.
    var scatterPart: Int { criticPart + (config.swapWeight > 0 ? 2 : 0) }

    /// Where the swap critic's parts are reported: its cross-entropy on real images, then on swapped decodes.
    var criticPart: Int { klPart + (config.kl > 0 ? 1 : 0) }

    /// Where the KL part is reported.
    var klPart: Int { config.adversary == .alternating ? 3 : 2 }

    public func initialize(params: Arena, seed: UInt64) {
        var rng = SplitMix64(key: seed, 0x696E_6974)
        encoder.initialize(params: params, rng: &rng)
        for stage in decoderStages { stage.initialize(params: params, rng: &rng) }
        adversary.initialize(params: params, rng: &rng)
        criticReal?.initialize(params: params, rng: &rng)
    }

    public func input(_ ws: Workspace, rows: Int) -> Matrix { encoder.input(ws, rows: rows) }
    public func target(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(targetRegion, rows: rows) }
    /// What the decoder reads: (free code | label one-hot).
    public func codeMatrix(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(codeRegion, rows: rows) }

    @inline(__always)
    func label(_ ws: Workspace, _ r: Int) -> Int {
        let label = Int(ws.labels[r])
        return label < classes ? label : -1
    }

    /// Whether `context` is the alternating form's adversary phase (the first of a step).
    @inline(__always)
    func isAdversaryPhase(_ context: StepContext) -> Bool {
        context.training && config.adversary == .alternating && context.phase == 0
    }

    @inline(__always)
    func isDecoderPhase(_ context: StepContext) -> Bool { context.training && context.phase == decoderPhase }

    /// From `decoderOnlyFrom` on, the decoder's phase alone; before it, every other phase.
    public func runsPhase(_ phase: Int, epoch: Int) -> Bool {
        guard let decoderPhase else { return true }
        return (epoch + 1 >= config.decoderOnlyFrom) == (phase == decoderPhase)
    }

    /// Alternating training: the adversary phase encodes (a draw of the code when variational)
    /// and scores the means; the autoencoder phase right after it on the same rows keeps that
    /// encoding (the adversary phase changed only the adversary), decodes and scores again.
    public func forward(_ context: StepContext, _ ws: Workspace, rows: Int, params: Arena,
                        statistic: UnsafeMutablePointer<Float>?) {
        if context.training && config.adversary == .alternating && context.phase == 1 {
            if let statistic, config.scatterWeight > 0 { addScatterSums(ws, rows: rows, into: statistic) }
            decode(ws, rows: rows, params: params)
            adversary.forward(ws, rows: rows, params: params, training: false)
            forwardSwap(ws, rows: rows, params: params)
            return
        }
        encoder.forward(ws, rows: rows, params: params, training: context.training)
        let head = encoder.output(ws, rows: rows), code = codeMatrix(ws, rows: rows)
        let adversaryInput = adversary.input(ws, rows: rows)
        let eps = ws.matrix(epsilonRegion, rows: rows)
        for r in 0..<rows {
            let row = code.row(r), y = label(ws, r), h = head.row(r)
            if config.kl > 0 && context.training {
                // z = mean + e^(logVar/2) eps, eps from the row's key; evaluation decodes the mean.
                var rng = SplitMix64(key: ws.rowKeys[r], 0x6570_7369)
                let e = eps.row(r)
                rng.fillGaussian(e, count: freeWidth)
                for j in 0..<freeWidth { row[j] = h[j] + expf(0.5 * Self.logVariance(h[freeWidth + j])) * e[j] }
            } else {
                row.update(from: h, count: freeWidth)
            }
            for j in 0..<classes { row[freeWidth + j] = j == y ? 1 : 0 }
            // The adversary reads the mean: what `encode` writes and a probe reads (sampling noise
            // would hide from it what the mean still holds).
            adversaryInput.row(r).update(from: h, count: freeWidth)
        }
        if let statistic, config.scatterWeight > 0 { addScatterSums(ws, rows: rows, into: statistic) }
        if !isAdversaryPhase(context) { decode(ws, rows: rows, params: params) }
        if !isDecoderPhase(context) { adversary.forward(ws, rows: rows, params: params, training: false) }
        // Evaluation scores the critic too (the test log's parts); inference skips it.
        let scoring = !context.training && context.scoring
        if let criticReal, isAdversaryPhase(context) || scoring {
            criticReal.input(ws, rows: rows).copy(from: target(ws, rows: rows))
            criticReal.forward(ws, rows: rows, params: params, training: false)
        }
        if scoring || isDecoderPhase(context) { forwardSwap(ws, rows: rows, params: params) }
    }

    /// The label a row's free code is decoded with for the swap critic: another class, from the row's key.
    @inline(__always)
    public func swappedLabel(_ ws: Workspace, _ r: Int) -> Int {
        let y = label(ws, r)
        guard y >= 0 else { return -1 }
        var rng = SplitMix64(key: ws.rowKeys[r], 0x7377_6170)
        return (y + 1 + Int(rng.next() % UInt64(classes - 1))) % classes
    }

    /// Decodes each row's free code next to its swapped label and scores the images with the critic.
    func forwardSwap(_ ws: Workspace, rows: Int, params: Arena) {
        guard let criticSwap else { return }
        let code = codeMatrix(ws, rows: rows), swapped = ws.matrix(swapCodeRegion, rows: rows)
        for r in 0..<rows {
            let row = swapped.row(r), y = swappedLabel(ws, r)
            row.update(from: code.row(r), count: freeWidth)
            for j in 0..<classes { row[freeWidth + j] = j == y ? 1 : 0 }
        }
        decode(swapStages, inputs: swapStageInputs, code: swapped, ws, rows: rows, params: params)
        let output = swapStages.last!.output(ws, rows: rows), images = criticSwap.input(ws, rows: rows)
        if config.loss == .bce {
            _ = Activation.sigmoid(output, into: images, count: dataWidth)
        } else {
            images.copy(from: output)
        }
        criticSwap.forward(ws, rows: rows, params: params, training: false)
    }

    /// lambda at `step`: raised linearly from 0 over the warm-up (Fader networks), so the
    /// autoencoder learns to reconstruct before the adversary pulls at its code.
    public func adversaryWeight(step: Int) -> Float {
        guard config.adversaryWarmup > 0 else { return config.adversaryWeight }
        return config.adversaryWeight * Float(min(step, config.adversaryWarmup)) / Float(config.adversaryWarmup)
    }

    /// The log-variance head, clamped as the VAE's.
    @inline(__always)
    static func logVariance(_ raw: Float) -> Float { min(max(raw, -30), 20) }

    /// Sums over labelled rows of the adversary's cross-entropy against the label and against the
    /// uniform distribution; writes `scale` times the gradient of the chosen one (by `uniform`)
    /// into the adversary's output gradient when `gradient` is set.
    /// `network` is the adversary (against the label) or a critic (`swapped`: against the swapped label).
    func adversaryLosses(_ ws: Workspace, rows: Int, gradient: Bool, uniform: Bool, scale: Float,
                         network: Network? = nil, swapped: Bool = false) -> (labelled: Double, confusion: Double) {
        let network = network ?? adversary
        let dLogits = gradient ? network.outputGradient(ws, rows: rows) : nil
        return softmaxCrossEntropy(network.output(ws, rows: rows), dLogits: dLogits, rows: rows, classes: classes,
                                   scale: scale, uniform: uniform) {
            swapped ? swappedLabel(ws, $0) : label(ws, $0)
        }
    }

    public func backward(_ context: StepContext, _ ws: Workspace, rows: Int, globalRows: Int, params: Arena,
                         grads: Arena?, statistic: UnsafePointer<Float>?) -> LossSums {
        let perRow = 1 / Float(globalRows)
        let training = grads != nil && context.training
        let lambda = adversaryWeight(step: context.training ? context.step : Int.max)
        var sums = LossSums()
        if isAdversaryPhase(context) {
            let losses = adversaryLosses(ws, rows: rows, gradient: training, uniform: false, scale: perRow)
            sums.parts[1] = losses.labelled
            sums.parts[2] = losses.confusion
            if let grads, training { adversary.backward(ws, rows: rows, params: params, grads: grads) }
            if let criticReal {
                let critic = adversaryLosses(ws, rows: rows, gradient: training, uniform: false, scale: perRow,
                                             network: criticReal)
                sums.parts[criticPart] = critic.labelled
                if let grads, training { criticReal.backward(ws, rows: rows, params: params, grads: grads) }
            }
            return sums
        }
        sums = reconstructionLoss(ws, rows: rows, gradient: grads != nil, scale: perRow / Float(dataWidth))
        sums.parts[0] = sums.objective
        if isDecoderPhase(context) {
            // The decoder alone, on reconstruction and (with the critic) on the swapped decodes.
            if let criticSwap {
                sums.parts[criticPart + 1] = adversaryLosses(ws, rows: rows, gradient: grads != nil, uniform: false,
                                                             scale: config.swapWeight * perRow, network: criticSwap,
                                                             swapped: true).labelled
            }
            if let grads {
                backwardDecoder(ws, rows: rows, params: params, grads: grads)
                backwardSwap(ws, rows: rows, params: params, grads: grads)
            }
            return sums
        }
        let alternating = config.adversary == .alternating
        // Alternating: the autoencoder's term is the confusion loss, through the adversary to the code.
        // Reversal: the adversary learns its cross-entropy; the code receives it reversed.
        let losses = adversaryLosses(ws, rows: rows, gradient: training, uniform: alternating,
                                     scale: alternating ? lambda * perRow : perRow)
        // Alternating training reports the adversary's losses from its own phase (no double count).
        if !(alternating && context.training) {
            sums.parts[1] = losses.labelled
            if alternating { sums.parts[2] = losses.confusion }
        }
        if config.kl > 0 {
            let head = encoder.output(ws, rows: rows)
            var kl = 0.0
            for r in 0..<rows {
                let h = head.row(r)
                for j in 0..<freeWidth {
                    let lv = Self.logVariance(h[freeWidth + j])
                    kl += Double(0.5 * (h[j] * h[j] + expf(lv) - 1 - lv))
                }
            }
            sums.parts[klPart] = kl
            sums.objective += Double(config.kl) * kl
        }
        if let criticSwap {
            if !context.training, let criticReal {
                sums.parts[criticPart] = adversaryLosses(ws, rows: rows, gradient: false, uniform: false, scale: 0,
                                                         network: criticReal).labelled
            }
            sums.parts[criticPart + 1] = adversaryLosses(ws, rows: rows, gradient: training, uniform: false,
                                                         scale: config.swapWeight * perRow, network: criticSwap,
                                                         swapped: true).labelled
        }
        let means = config.scatterWeight > 0 ? scatterMeans(ws, rows: rows, statistic: statistic) : nil
        if let means {
            let scatter = classScatter(ws, rows: rows, means: means)
            sums.parts[scatterPart] = scatter
            sums.objective += Double(config.scatterWeight) * scatter
        }
        guard let grads else { return sums }
        backwardDecoder(ws, rows: rows, params: params, grads: grads)
        if training { backwardSwap(ws, rows: rows, params: params, grads: grads) }
        let dFree = encoder.outputGradient(ws, rows: rows), dCode = ws.matrix(codeGradient, rows: rows)
        if training {
            // Alternating: the adversary's parameter gradients fall outside this phase and are discarded.
            adversary.backward(ws, rows: rows, params: params, grads: grads)
        }
        let dAdversary = ws.matrix(adversaryGradient, rows: rows)
        let factor: Float = alternating ? 1 : -lambda
        let head = encoder.output(ws, rows: rows), eps = ws.matrix(epsilonRegion, rows: rows)
        // KL(N(m, e^lv) || N(0, 1)) per dimension, in the reconstruction's per-value units; the
        // scatter penalty in the same units.
        let klScale = config.kl * perRow / Float(dataWidth)
        let scatterScale = 2 * config.scatterWeight * perRow / Float(dataWidth)
        for r in 0..<rows {
            let g = dFree.row(r), a = dCode.row(r), b = dAdversary.row(r), h = head.row(r), y = label(ws, r)
            for j in 0..<freeWidth {
                var dMean = a[j] + (training ? factor * b[j] : 0)
                if let means, y >= 0 {
                    dMean += scatterScale * (means[y * freeWidth + j] - means[classes * freeWidth + j])
                }
                guard config.kl > 0 else {
                    g[j] = dMean
                    continue
                }
                let raw = h[freeWidth + j], lv = Self.logVariance(raw), inside = raw == lv
                g[j] = dMean + klScale * h[j]
                // Only the decoder read the draw.
                let sampled = context.training ? a[j] * eps.row(r)[j] * 0.5 * expf(0.5 * lv) : 0
                g[freeWidth + j] = inside ? sampled + klScale * 0.5 * (expf(lv) - 1) : 0
            }
        }
        encoder.backward(ws, rows: rows, params: params, grads: grads)
        return sums
    }

    /// Adds each labelled row's free-code mean (the encoder's means) to its class's sum and counts
    /// it, in the scatter statistic's layout: class sums (classes x free width), then the mean of
    /// all labelled rows (filled in by `finishScatter`), then the class counts.
    func addScatterSums(_ ws: Workspace, rows: Int, into statistic: UnsafeMutablePointer<Float>) {
        let head = encoder.output(ws, rows: rows), counts = statistic + (classes + 1) * freeWidth
        for r in 0..<rows {
            let y = label(ws, r), h = head.row(r)
            guard y >= 0 else { continue }
            counts[y] += 1
            for j in 0..<freeWidth { statistic[y * freeWidth + j] += h[j] }
        }
    }

    /// Class sums -> class means, and the mean of all labelled rows.
    func finishScatter(_ statistic: UnsafeMutablePointer<Float>) {
        let all = statistic + classes * freeWidth, counts = all + freeWidth
        var labelled: Float = 0
        for j in 0..<freeWidth { all[j] = 0 }
        for y in 0..<classes {
            labelled += counts[y]
            for j in 0..<freeWidth { all[j] += statistic[y * freeWidth + j] }
        }
        for j in 0..<freeWidth { all[j] = labelled > 0 ? all[j] / labelled : 0 }
        for y in 0..<classes where counts[y] > 0 {
            for j in 0..<freeWidth { statistic[y * freeWidth + j] /= counts[y] }
        }
    }

    /// The finished scatter statistic: the batch's (summed over shards by the engine) or, when a
    /// caller runs one shard alone without one, this shard's, in `scatterRegion`.
    func scatterMeans(_ ws: Workspace, rows: Int, statistic: UnsafePointer<Float>?) -> UnsafePointer<Float> {
        if let statistic { return statistic }
        let scratch = ws.matrix(scatterRegion, rows: 1).row(0)
        for i in 0..<scatterStatisticWidth { scratch[i] = 0 }
        addScatterSums(ws, rows: rows, into: scratch)
        finishScatter(scratch)
        return UnsafePointer(scratch)
    }

    var scatterStatisticWidth: Int { config.scatterWeight > 0 ? (classes + 1) * freeWidth + classes : 0 }

    /// This shard's part of the scatter penalty: the squared distances from the class means of its
    /// labelled rows to the mean of all (over the batch, the between-class scatter). Its gradient
    /// on row r of class c is 2 (mean_c - mean): the deviations, weighted by the counts, sum to zero.
    func classScatter(_ ws: Workspace, rows: Int, means: UnsafePointer<Float>) -> Double {
        let all = means + classes * freeWidth
        var scatter = 0.0
        for r in 0..<rows {
            let y = label(ws, r)
            guard y >= 0 else { continue }
            var squared: Float = 0
            for j in 0..<freeWidth {
                let d = means[y * freeWidth + j] - all[j]
                squared += d * d
            }
            scatter += Double(squared)
        }
        return scatter
    }

    /// Backward through the decoder's stages, from its output gradient down to the code's.
    func backwardDecoder(_ ws: Workspace, rows: Int, params: Arena, grads: Arena) {
        backwardStages(decoderStages, inputs: stageInputs, ws, rows: rows, params: params, grads: grads)
    }

    func backwardStages(_ stages: [Network], inputs: [(input: Region, gradient: Region)], _ ws: Workspace, rows: Int,
                        params: Arena, grads: Arena) {
        for i in stride(from: stages.count - 1, through: 0, by: -1) {
            stages[i].backward(ws, rows: rows, params: params, grads: grads)
            guard i > 0 else { continue }
            // The hidden part of this stage's input gradient belongs to the stage below.
            let g = ws.matrix(inputs[i - 1].gradient, rows: rows), below = stages[i - 1].outputGradient(ws, rows: rows)
            for r in 0..<rows { below.row(r).update(from: g.row(r), count: below.cols) }
        }
    }

    /// The swap critic's gradient (already in its output gradient): through the critic (its own
    /// parameters' share is discarded), the output sigmoid and the swapped decoder, into the
    /// decoder's parameters and, added to the decoder's code gradient, the free code.
    func backwardSwap(_ ws: Workspace, rows: Int, params: Arena, grads: Arena) {
        guard let criticSwap else { return }
        criticSwap.backward(ws, rows: rows, params: params, grads: grads)
        let dImages = criticSwap.gradient(0, ws, rows: rows)!, images = criticSwap.input(ws, rows: rows)
        let dOutput = swapStages.last!.outputGradient(ws, rows: rows)
        for r in 0..<rows {
            let g = dImages.row(r), p = images.row(r), o = dOutput.row(r)
            if config.loss == .bce {
                for i in 0..<dataWidth { o[i] = g[i] * p[i] * (1 - p[i]) }
            } else {
                o.update(from: g, count: dataWidth)
            }
        }
        backwardStages(swapStages, inputs: swapStageInputs, ws, rows: rows, params: params, grads: grads)
        let dSwap = ws.matrix(swapCodeGradient, rows: rows), dCode = ws.matrix(codeGradient, rows: rows)
        for r in 0..<rows {
            let s = dSwap.row(r), a = dCode.row(r)
            for j in 0..<freeWidth { a[j] += s[j] }
        }
    }

    /// The reconstruction loss over each row's data (a sequence row's valid steps), with its
    /// gradient scaled by `scale` into the decoder's output gradient when `gradient` is set.
    func reconstructionLoss(_ ws: Workspace, rows: Int, gradient: Bool, scale: Float) -> LossSums {
        Models.reconstructionLoss(config.loss, output: decoderOutput(ws, rows: rows), target: target(ws, rows: rows),
                                  dOutput: gradient ? decoderStages.last!.outputGradient(ws, rows: rows) : nil, scale: scale,
                                  steps: config.isSequence ? config.steps : nil, features: features)
    }

    /// Images: probabilities (or the sigmoid output). Sequences: the values, then the row's length.
    public func reconstruction(_ ws: Workspace, rows: Int) -> Matrix {
        let output = decoderOutput(ws, rows: rows)
        if config.loss == .mse && !config.isSequence { return output }
        let p = ws.matrix(probabilities, rows: rows), t = target(ws, rows: rows)
        guard config.isSequence else { return Activation.sigmoid(output, into: p, count: dataWidth) }
        for r in 0..<rows {
            p.row(r).update(from: output.row(r), count: dataWidth)
            p.row(r)[dataWidth] = t.row(r)[dataWidth]
        }
        return p
    }

    public func firstNonFiniteLayer(_ ws: Workspace, rows: Int) -> String? {
        if let i = encoder.firstNonFiniteLayer(ws, rows: rows) { return "encoder.\(i)" }
        // Stage k holds decoder layers 2k (dense) and 2k + 1 (its activation).
        for (k, stage) in decoderStages.enumerated() {
            if let i = stage.firstNonFiniteLayer(ws, rows: rows) { return "decoder.\(2 * k + i)" }
        }
        if let i = adversary.firstNonFiniteLayer(ws, rows: rows) { return "adversary.\(i)" }
        return criticReal?.firstNonFiniteLayer(ws, rows: rows).map { "critic.\($0)" }
    }

    /// Per step: the encoder and decoder once, the adversary once per phase.
    public var gemmShapes: [(m: Int, k: Int, n: Int)] {
        let adversaries = Array(repeating: adversary.layers, count: phases.count).flatMap { $0 }
        return (encoder.layers + decoderStages.flatMap(\.layers) + adversaries).compactMap { $0 as? Dense }
            .map { (1, $0.inputWidth, $0.outputWidth) }
    }
}

/// The scatter penalty couples the rows of a batch: its class means are the batch's.
extension DisentanglingAutoencoder: BatchStatisticModel {
    public var statisticWidth: Int { scatterStatisticWidth }

    public func finishStatistic(_ statistic: UnsafeMutablePointer<Float>, globalRows: Int,
                                state: UnsafeMutablePointer<Float>, training: Bool) {
        finishScatter(statistic)
    }
}

extension DisentanglingAutoencoder: DisentanglingModel {
    /// The decoder's input: the free code, then the label one-hot.
    public var codeWidth: Int { freeWidth + classes }
    public var freeColumns: Range<Int> { 0..<freeWidth }
    public var labelledColumns: Range<Int> { freeWidth..<(freeWidth + classes) }
    public func code(_ ws: Workspace, rows: Int) -> Matrix { codeMatrix(ws, rows: rows) }
    public func latentInput(_ ws: Workspace, rows: Int) -> Matrix { codeMatrix(ws, rows: rows) }
    /// Runs the decoder's stages from the code, passing the code's one-hot to every stage.
    public func decode(_ ws: Workspace, rows: Int, params: Arena) {
        decode(decoderStages, inputs: stageInputs, code: codeMatrix(ws, rows: rows), ws, rows: rows, params: params)
    }

    func decode(_ stages: [Network], inputs: [(input: Region, gradient: Region)], code: Matrix, _ ws: Workspace,
                rows: Int, params: Arena) {
        for (i, stage) in stages.enumerated() {
            if i > 0 {
                let x = ws.matrix(inputs[i - 1].input, rows: rows), below = stages[i - 1].output(ws, rows: rows)
                let hidden = below.cols
                for r in 0..<rows {
                    x.row(r).update(from: below.row(r), count: hidden)
                    (x.row(r) + hidden).update(from: code.row(r) + freeWidth, count: classes)
                }
            }
            stage.forward(ws, rows: rows, params: params, training: false)
        }
    }

    func decoderOutput(_ ws: Workspace, rows: Int) -> Matrix { decoderStages.last!.output(ws, rows: rows) }
}

extension DisentanglingAutoencoderConfig {
    /// Keys missing from a stored config take their defaults, so configs written before a field
    /// existed still load.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(widths: try c.decode([Int].self, forKey: .widths))
        classes = try c.decodeIfPresent(Int.self, forKey: .classes) ?? classes
        adversary = try c.decodeIfPresent(AdversaryKind.self, forKey: .adversary) ?? adversary
        adversaryWidths = try c.decodeIfPresent([Int].self, forKey: .adversaryWidths) ?? adversaryWidths
        adversaryWeight = try c.decodeIfPresent(Float.self, forKey: .adversaryWeight) ?? adversaryWeight
        adversaryWarmup = try c.decodeIfPresent(Int.self, forKey: .adversaryWarmup) ?? adversaryWarmup
        decoderOnlyFrom = try c.decodeIfPresent(Int.self, forKey: .decoderOnlyFrom) ?? decoderOnlyFrom
        activation = try c.decodeIfPresent(ActivationKind.self, forKey: .activation) ?? activation
        kl = try c.decodeIfPresent(Float.self, forKey: .kl) ?? 0
        loss = try c.decodeIfPresent(LossKind.self, forKey: .loss) ?? loss
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? steps
        features = try c.decodeIfPresent(Int.self, forKey: .features) ?? features
        initializer = try c.decodeIfPresent(Initializer.self, forKey: .initializer) ?? initializer
        form = try c.decodeIfPresent(DisentanglingForm.self, forKey: .form) ?? form
        channels = try c.decodeIfPresent(Int.self, forKey: .channels) ?? channels
        contentChannels = try c.decodeIfPresent(Int.self, forKey: .contentChannels) ?? contentChannels
        styleWidth = try c.decodeIfPresent(Int.self, forKey: .styleWidth) ?? styleWidth
        kernel = try c.decodeIfPresent(Int.self, forKey: .kernel) ?? kernel
        swapWeight = try c.decodeIfPresent(Float.self, forKey: .swapWeight) ?? swapWeight
        criticWidths = try c.decodeIfPresent([Int].self, forKey: .criticWidths) ?? criticWidths
        scatterWeight = try c.decodeIfPresent(Float.self, forKey: .scatterWeight) ?? scatterWeight
        imageChannels = try c.decodeIfPresent(Int.self, forKey: .imageChannels) ?? imageChannels
        imageHeight = try c.decodeIfPresent(Int.self, forKey: .imageHeight) ?? imageHeight
        imageWidth = try c.decodeIfPresent(Int.self, forKey: .imageWidth) ?? imageWidth
    }
}

/// The reconstruction loss of images (`Loss.evaluate`), or the squared error over each sequence
/// row's valid steps (rows of `steps` x `features` values, then the length); writes `scale` times
/// the gradient into `dOutput` (zero elsewhere) when given.
func reconstructionLoss(_ kind: LossKind, output: Matrix, target: Matrix, dOutput: Matrix?, scale: Float, steps: Int?,
                        features: Int) -> LossSums {
    dOutput?.fill(0)
    guard let steps else { return Loss.evaluate(kind, output: output, target: target, dOutput: dOutput, scale: scale) }
    var sums = LossSums()
    for r in 0..<target.rows {
        let o = output.row(r), t = target.row(r), g = dOutput?.row(r)
        let valid = min(max(Int(t[steps * features]), 0), steps) * features
        var squared = 0.0
        for i in 0..<valid {
            let e = o[i] - t[i]
            squared += Double(e * e)
            g?[i] = scale * 2 * e
        }
        sums.objective += squared
        sums.squaredError += squared
    }
    return sums
}
