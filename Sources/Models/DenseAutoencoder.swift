// Dense autoencoders: vanilla/undercomplete, deep/stacked with any widths, sparse (L1 activity or
// KL toward a target rate, Ng's sparse autoencoder notes), denoising (noise comes from the data
// side), dropout, and contractive (Rifai et al. 2011, closed-form Jacobian of a sigmoid encoder),
// optionally with tied decoder weights. Layer names follow nn.Sequential: `encoder.0.weight`.

import Foundation
import Kernels
import Layers

public enum Sparsity: Sendable, Equatable, Codable {
    case none
    /// `weight * mean over rows of sum |code|`.
    case l1(weight: Float)
    /// `weight * sum_j KL(target || rhoHat_j)`, rhoHat the batch-mean code activation (summed over
    /// all shards), or a running average `momentum * old + (1 - momentum) * batch` when
    /// `momentum > 0`. Needs a sigmoid code.
    case kl(target: Float, weight: Float, momentum: Float)

    /// `l1:WEIGHT`, `kl:RHO:WEIGHT` or `kl:RHO:WEIGHT:MOMENTUM`; nil for anything else.
    public init?(parsing spec: String) {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let numbers = parts.dropFirst().map { Float($0) }
        guard numbers.allSatisfy({ $0 != nil }) else { return nil }
        let n = numbers.map { $0! }
        switch (parts.first, n.count) {
        case ("l1", 1): self = .l1(weight: n[0])
        case ("kl", 2): self = .kl(target: n[0], weight: n[1], momentum: 0)
        case ("kl", 3): self = .kl(target: n[0], weight: n[1], momentum: n[2])
        default: return nil
        }
    }
}

public struct DenseAutoencoderConfig: Sendable, Equatable, Codable {
    /// Encoder widths from input to code, e.g. [784, 1000, 500, 250, 30]; the decoder mirrors them.
    public var widths: [Int]
    public var hiddenActivation: ActivationKind = .relu
    /// Per-layer hidden activations of the encoder (input side first), mirrored by the decoder;
    /// empty means `hiddenActivation` everywhere.
    public var hiddenActivations: [ActivationKind] = []
    /// `.identity` gives a linear code.
    public var codeActivation: ActivationKind = .identity
    /// `.sigmoid` or `.identity`; with BCE the sigmoid is folded into the loss.
    public var outputActivation: ActivationKind = .sigmoid
    public var loss: LossKind = .mse
    public var initializer: Initializer = .pytorchDefault
    /// Dropout rate after hidden activations (0: none).
    public var dropout: Float = 0
    /// Which hidden activations get dropout, counted 1... from the input side over encoder and
    /// decoder hidden layers; empty means all of them.
    public var dropoutLayers: [Int] = []
    public var inputDropout: Float = 0
    public var tiedWeights = false
    public var sparsity: Sparsity = .none
    /// Weight of the contractive penalty (needs one sigmoid encoder layer).
    public var contractive: Float = 0

    public init(widths: [Int]) {
        self.widths = widths
    }

    /// The activation after encoder layer `index` (0-based; the decoder layer producing width
    /// `widths[index + 1]` uses the same one).
    public func activation(hidden index: Int) -> ActivationKind {
        hiddenActivations.isEmpty ? hiddenActivation : hiddenActivations[index]
    }

    /// Problems with the configuration, as a user-facing sentence, or nil.
    public func validationError() -> String? {
        if widths.count < 2 || widths.contains(where: { $0 <= 0 }) {
            return "layers need at least an input and a code width, all positive (got \(widths))"
        }
        if ![.sigmoid, .identity].contains(outputActivation) {
            return "output activation must be sigmoid or identity"
        }
        if loss == .bce && outputActivation != .sigmoid {
            return "BCE needs a sigmoid output"
        }
        if loss == .gaussianNLL && (outputActivation != .identity || tiedWeights) {
            return "the Gaussian NLL loss needs an identity output (mean and log-variance heads) and untied weights"
        }
        if !(0..<1).contains(dropout) || !(0..<1).contains(inputDropout) {
            return "dropout rates must be in [0, 1)"
        }
        if case .kl(let target, let weight, let momentum) = sparsity {
            if codeActivation != .sigmoid { return "KL sparsity needs a sigmoid code (--code-activation sigmoid)" }
            if !(target > 0 && target < 1) || weight < 0 || !(0..<1).contains(momentum) {
                return "KL sparsity needs 0 < target < 1, weight >= 0, 0 <= momentum < 1"
            }
        }
        if contractive > 0 && (widths.count != 2 || codeActivation != .sigmoid) {
            return "the contractive penalty needs one sigmoid encoder layer (--layers IN,CODE --code-activation sigmoid)"
        }
        if !hiddenActivations.isEmpty && hiddenActivations.count != widths.count - 2 {
            return "give one hidden activation per hidden layer (\(widths.count - 2)), got \(hiddenActivations.count)"
        }
        let hidden = 2 * (widths.count - 2)
        if let bad = dropoutLayers.first(where: { $0 < 1 || $0 > hidden }) {
            return "dropout layer \(bad) does not exist (hidden layers are 1...\(hidden))"
        }
        return nil
    }
}

public struct DenseAutoencoder: AutoencoderModel, BatchStatisticModel, NonFiniteDiagnosis, BenchmarkShapes {
    public let config: DenseAutoencoderConfig
    public let layout: ParameterLayout
    public let network: Network
    /// Index of the code in `network.activations`.
    public let codeIndex: Int
    /// Index of the encoder's last Dense layer (the contractive penalty's weight).
    let codeDense: Dense
    let targetRegion: Region
    let probabilities: Region
    /// Row 0 holds the contractive penalty's per-unit sums (no allocation in a step).
    let contractiveScratch: Region
    public let workspaceColumns: Int
    public let phases: [Phase]
    /// nn.Sequential-style name of each layer of `network` (`encoder.0`, ..., `decoder.5`).
    public let layerNames: [String]

    public init(_ config: DenseAutoencoderConfig) {
        precondition(config.validationError() == nil, config.validationError() ?? "")
        self.config = config
        var layout = ParameterLayout()
        let w = config.widths
        var dropoutStream: UInt64 = 0
        var hiddenCount = 0
        func addDropout(_ rate: Float, width: Int, to list: inout [any Layer]) {
            dropoutStream += 1
            list.append(Dropout(rate: rate, width: width, streamID: dropoutStream))
        }
        func wantsDropout(_ hidden: Int) -> Bool {
            config.dropout > 0 && (config.dropoutLayers.isEmpty || config.dropoutLayers.contains(hidden))
        }

        var encoder: [any Layer] = []
        var encoderDense: [Dense] = []
        if config.inputDropout > 0 { addDropout(config.inputDropout, width: w[0], to: &encoder) }
        for i in 0..<(w.count - 1) {
            let dense = Dense(w[i], w[i + 1], name: "encoder.\(encoder.count)", layout: &layout,
                              initializer: config.initializer)
            encoderDense.append(dense)
            encoder.append(dense)
            let isCode = i == w.count - 2
            let kind = isCode ? config.codeActivation : config.activation(hidden: i)
            if kind != .identity { encoder.append(Activation(kind, width: w[i + 1])) }
            if !isCode {
                hiddenCount += 1
                if wantsDropout(hiddenCount) { addDropout(config.dropout, width: w[i + 1], to: &encoder) }
            }
        }
        var decoder: [any Layer] = []
        for i in stride(from: w.count - 1, to: 0, by: -1) {
            let name = "decoder.\(decoder.count)"
            // With Gaussian NLL the output layer predicts a mean and a log-variance per value.
            let outputs = i == 1 && config.loss == .gaussianNLL ? 2 * w[0] : w[i - 1]
            let dense = config.tiedWeights
                ? Dense(tiedTo: encoderDense[i - 1], name: name, layout: &layout)
                : Dense(w[i], outputs, name: name, layout: &layout, initializer: config.initializer)
            decoder.append(dense)
            let isOutput = i == 1
            if isOutput {
                // BCE works on logits; the sigmoid lives in the loss.
                if config.outputActivation == .sigmoid && config.loss != .bce {
                    decoder.append(Activation(.sigmoid, width: w[0]))
                }
            } else {
                decoder.append(Activation(config.activation(hidden: i - 2), width: w[i - 1]))
                hiddenCount += 1
                if wantsDropout(hiddenCount) { addDropout(config.dropout, width: w[i - 1], to: &decoder) }
            }
        }
        var allocator = RegionAllocator()
        network = Network(encoder + decoder, allocator: &allocator)
        layerNames = encoder.indices.map { "encoder.\($0)" } + decoder.indices.map { "decoder.\($0)" }
        codeIndex = encoder.count
        codeDense = encoderDense.last!
        targetRegion = allocator.take(w[0])
        probabilities = allocator.take(w[0])
        contractiveScratch = allocator.take(config.contractive > 0 ? 2 * w.last! : 0)
        workspaceColumns = allocator.columns
        self.layout = layout
        codeWidth = w[w.count - 1]
        let encoderRange = layout.range(prefix: "encoder.")
        let decoderRange = layout.range(prefix: "decoder.")
        phases = [Phase(name: "autoencoder", group: encoderRange.lowerBound..<decoderRange.upperBound)]
    }

    public var inputWidth: Int { config.widths[0] }
    public var targetWidth: Int { config.widths[0] }
    /// Stored: computed properties over `config.widths` would touch the array in every step.
    public let codeWidth: Int

    public var statisticWidth: Int {
        if case .kl = config.sparsity { return codeWidth }
        return 0
    }

    public var stateWidth: Int {
        if case .kl(_, _, let momentum) = config.sparsity, momentum > 0 { return codeWidth + 1 }
        return 0
    }

    public func initialize(params: Arena, seed: UInt64) {
        var rng = SplitMix64(key: seed, 0x696E_6974)
        network.initialize(params: params, rng: &rng)
    }

    public func input(_ ws: Workspace, rows: Int) -> Matrix { network.input(ws, rows: rows) }
    public func target(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(targetRegion, rows: rows) }
    public func code(_ ws: Workspace, rows: Int) -> Matrix { network.activation(codeIndex, ws, rows: rows) }

    public func forward(_ context: StepContext, _ ws: Workspace, rows: Int, params: Arena,
                        statistic: UnsafeMutablePointer<Float>?) {
        network.forward(ws, rows: rows, params: params, training: context.training)
        if let statistic, statisticWidth > 0 {
            let h = code(ws, rows: rows)
            for r in 0..<rows {
                let row = h.row(r)
                for j in 0..<codeWidth { statistic[j] += row[j] }
            }
        }
    }

    public func finishStatistic(_ statistic: UnsafeMutablePointer<Float>, globalRows: Int,
                                state: UnsafeMutablePointer<Float>, training: Bool) {
        guard case .kl(_, _, let momentum) = config.sparsity else { return }
        for j in 0..<codeWidth { statistic[j] /= Float(globalRows) }
        guard momentum > 0 else { return }
        // state[codeWidth] == 0 until the first batch: start the average at the batch mean.
        let started = state[codeWidth] != 0
        for j in 0..<codeWidth {
            let average = started ? momentum * state[j] + (1 - momentum) * statistic[j] : statistic[j]
            if training { state[j] = average }
            statistic[j] = average
        }
        if training { state[codeWidth] = 1 }
    }

    public func backward(_ context: StepContext, _ ws: Workspace, rows: Int, globalRows: Int, params: Arena,
                         grads: Arena?, statistic: UnsafePointer<Float>?) -> LossSums {
        let output = network.output(ws, rows: rows)
        let target = self.target(ws, rows: rows)
        let dOutput = grads == nil ? nil : network.outputGradient(ws, rows: rows)
        dOutput?.fill(0)
        // Objective = per-value mean over the global batch (nn.MSELoss / BCEWithLogitsLoss 'mean').
        let scale = 1 / Float(globalRows * targetWidth)
        var sums = Loss.evaluate(config.loss, output: output, target: target, dOutput: dOutput, scale: scale)
        let hasPenalty = config.sparsity != .none || config.contractive > 0
        guard let grads else {
            if hasPenalty { sums.penalty = penalty(ws, rows: rows, globalRows: globalRows, params: params,
                                                   statistic: statistic, dCode: nil, grads: nil) }
            return sums
        }
        if !hasPenalty {
            network.backward(ws, rows: rows, params: params, grads: grads)
            return sums
        }
        let count = network.layers.count
        network.backward(ws, rows: rows, params: params, grads: grads, layers: codeIndex..<count)
        sums.penalty = penalty(ws, rows: rows, globalRows: globalRows, params: params, statistic: statistic,
                               dCode: network.gradient(codeIndex, ws, rows: rows), grads: grads)
        network.backward(ws, rows: rows, params: params, grads: grads, layers: 0..<codeIndex)
        return sums
    }

    /// This shard's share of the penalties; adds their gradients at the code and (contractive)
    /// into the code layer's weight gradient.
    func penalty(_ ws: Workspace, rows: Int, globalRows: Int, params: Arena,
                 statistic: UnsafePointer<Float>?, dCode: Matrix?, grads: Arena?) -> Double {
        let h = code(ws, rows: rows)
        let z = codeWidth
        let perRow = 1 / Float(globalRows)
        var total = 0.0
        switch config.sparsity {
        case .none:
            break
        case .l1(let weight):
            for r in 0..<rows {
                let row = h.row(r), g = dCode?.row(r)
                for j in 0..<z {
                    total += Double(weight * perRow * abs(row[j]))
                    if let g { g[j] += weight * perRow * (row[j] > 0 ? 1 : (row[j] < 0 ? -1 : 0)) }
                }
            }
        case .kl(let rho, let weight, let momentum):
            guard let rhoHat = statistic else { break }
            // The batch-level KL is counted once, by the shard holding global row 0 (rows scaled).
            var kl = 0.0
            for j in 0..<z {
                let q = min(max(rhoHat[j], 1e-6), 1 - 1e-6)
                kl += Double(rho * logf(rho / q) + (1 - rho) * logf((1 - rho) / (1 - q)))
            }
            total += Double(weight) * kl * Double(rows) / Double(globalRows)
            if let dCode {
                // d/dh_ij of weight * KL(rho || rhoHat_j): rhoHat_j = mean_i h_ij (times 1 - momentum).
                let through = 1 - momentum
                for j in 0..<z {
                    let q = min(max(rhoHat[j], 1e-6), 1 - 1e-6)
                    let d = weight * (-rho / q + (1 - rho) / (1 - q)) * perRow * through
                    for r in 0..<rows { dCode.row(r)[j] += d }
                }
            }
        }
        if config.contractive > 0 {
            // ||J||_F^2 = sum_j (h_j (1 - h_j))^2 * S_j with S_j = sum_i W_ji^2 (sigmoid encoder).
            let lambda = config.contractive
            let weight = params.matrix(codeDense.weight)
            let d = config.widths[0]
            let scratch = ws.matrix(contractiveScratch, rows: 1).base
            let squares = scratch, rowSums = scratch + z  // rowSums: sum_rows (h(1-h))^2 per unit
            for j in 0..<z {
                let wRow = weight.row(j)
                var s: Float = 0
                for i in 0..<d { s += wRow[i] * wRow[i] }
                squares[j] = s
            }
            rowSums.update(repeating: 0, count: z)
            for r in 0..<rows {
                let row = h.row(r), g = dCode?.row(r)
                for j in 0..<z {
                    let s = row[j] * (1 - row[j])
                    total += Double(lambda * perRow * s * s * squares[j])
                    rowSums[j] += s * s
                    // d/dh of (h(1-h))^2 = 2 h (1-h) (1-2h).
                    g?[j] += lambda * perRow * 2 * s * (1 - 2 * row[j]) * squares[j]
                }
            }
            if let grads {
                let dWeight = grads.matrix(codeDense.weight)
                for j in 0..<z {
                    let factor = lambda * perRow * rowSums[j] * 2
                    let wRow = weight.row(j), gRow = dWeight.row(j)
                    for i in 0..<d { gRow[i] += factor * wRow[i] }
                }
            }
        }
        return total
    }

    public func firstNonFiniteLayer(_ ws: Workspace, rows: Int) -> String? {
        for i in 0..<network.layers.count {
            let y = network.activation(i + 1, ws, rows: rows)
            for r in 0..<rows where !y.row(r).withMemoryRebound(to: Float.self, capacity: y.cols, {
                UnsafeBufferPointer(start: $0, count: y.cols).allSatisfy(\.isFinite)
            }) {
                return layerNames[i]
            }
        }
        return nil
    }

    public func reconstruction(_ ws: Workspace, rows: Int) -> Matrix {
        let output = network.output(ws, rows: rows)
        if config.loss == .gaussianNLL {
            return Matrix(output.base, rows: rows, cols: targetWidth, stride: output.stride)
        }
        guard config.loss == .bce else { return output }
        return Activation.sigmoid(output, into: ws.matrix(probabilities, rows: rows), count: targetWidth)
    }
}

extension DenseAutoencoder {
    /// One (1 x in) x (in x out) product per Dense layer, encoder then decoder.
    public var gemmShapes: [(m: Int, k: Int, n: Int)] {
        network.layers.compactMap { $0 as? Dense }.map { (1, $0.inputWidth, $0.outputWidth) }
    }
}

extension DenseAutoencoder: LatentModel {
    public func latentInput(_ ws: Workspace, rows: Int) -> Matrix { code(ws, rows: rows) }

    public func decode(_ ws: Workspace, rows: Int, params: Arena) {
        network.forward(ws, rows: rows, params: params, training: false, layers: codeIndex..<network.layers.count)
    }
}

extension DenseAutoencoder {
    /// Writes one-hidden-layer autoencoders trained greedily, each on the codes of the one below
    /// (stacked denoising or contractive autoencoders), into a deep autoencoder of their widths:
    /// encoder layer k takes part k's encoder, the mirrored decoder layer its decoder.
    public static func stack(_ parts: [(model: DenseAutoencoder, params: Arena)], into autoencoder: DenseAutoencoder,
                             params: Arena) {
        let dense = autoencoder.network.layers.compactMap { $0 as? Dense }
        precondition(dense.count == 2 * parts.count && !autoencoder.config.tiedWeights,
                     "the autoencoder must have one untied encoder and decoder layer per part")
        for (k, (part, source)) in parts.enumerated() {
            let pair = part.network.layers.compactMap { $0 as? Dense }
            precondition(pair.count == 2 && !part.config.tiedWeights, "part \(k) is not a one-hidden-layer autoencoder")
            for (from, to) in [(pair[0], dense[k]), (pair[1], dense[dense.count - 1 - k])] {
                precondition(from.inputWidth == to.inputWidth && from.outputWidth == to.outputWidth,
                             "part \(k) is \(from.inputWidth) -> \(from.outputWidth), the layer \(to.inputWidth) -> \(to.outputWidth)")
                params[to.weight].update(from: source[from.weight], count: from.inputWidth * from.outputWidth)
                params[to.bias].update(from: source[from.bias], count: from.outputWidth)
            }
        }
    }
}
