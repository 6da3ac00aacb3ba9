// Variational autoencoder (Kingma & Welling 2014): a Gaussian encoder q(z|x) = N(mean, diag(e^logVar))
// with one head of 2Z outputs (mean | logVariance, clamped), the reparameterisation z = mean +
// e^(logVar/2) * eps with eps drawn per sample from the row's key (same draws at any shard count),
// and a Bernoulli (BCE on logits) or Gaussian (fixed or learned variance) decoder. Dense (as
// pytorch/examples' VAE and M5) or convolutional (stride-2 convolutions, transposed on the way up).

import Foundation
import Kernels
import Layers

public enum VAEArchitecture: String, Sendable, Codable, CaseIterable {
    case dense, conv
}

/// The likelihood p(x|z) of the decoder.
public enum VAEDecoder: Sendable, Equatable, Codable {
    /// Bernoulli per value; the decoder outputs logits (BCE on logits, sigmoid for images).
    case bernoulli
    /// Gaussian per value with a fixed variance.
    case gaussian(variance: Float)
    /// Gaussian per value with a learned variance: the decoder outputs (mean | logVariance).
    case gaussianLearned

    /// Parses `bernoulli`, `gaussian[:VARIANCE]` (default 1) or `gaussian-learned`.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":").map(String.init)
        switch (parts.first, parts.count) {
        case ("bernoulli", 1): self = .bernoulli
        case ("gaussian", 1): self = .gaussian(variance: 1)
        case ("gaussian", 2):
            guard let v = Float(parts[1]), v > 0 else { return nil }
            self = .gaussian(variance: v)
        case ("gaussian-learned", 1): self = .gaussianLearned
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .bernoulli: "bernoulli"
        case .gaussian(let v): "gaussian:\(v)"
        case .gaussianLearned: "gaussian-learned"
        }
    }
}

public struct VariationalAutoencoderConfig: Sendable, Equatable, Codable {
    public var architecture: VAEArchitecture = .dense
    /// Dense: encoder widths from input to latent, e.g. [784, 400, 20]; the decoder mirrors them.
    /// Conv: only the last entry (the latent width) is used.
    public var widths: [Int]
    /// Conv: channels of the stride-2 encoder convolutions, input side first.
    public var filters: [Int] = [32, 64]
    /// Conv: the image (filled in from the data).
    public var channels: Int = 1
    public var height: Int = 28
    public var width: Int = 28
    public var activation: ActivationKind = .relu
    public var decoder: VAEDecoder = .bernoulli
    /// Weight of the KL term (beta-VAE, Higgins et al. 2017); 1 is the ELBO.
    public var beta: Float = 1
    /// KL weight rises linearly from 0 to `beta` over this many steps (0: none).
    public var warmupSteps: Int = 0
    /// Free bits (Kingma et al. 2016): nats per latent dimension below which its batch-mean KL is
    /// not penalised (0: none). Couples the samples of a batch through the per-dimension mean.
    public var freeBits: Float = 0
    public var initializer: Initializer = .pytorchDefault

    public init(widths: [Int]) {
        self.widths = widths
    }

    public var latentWidth: Int { widths.last ?? 0 }

    /// Values per sample of the data.
    public var dataWidth: Int { architecture == .dense ? (widths.first ?? 0) : channels * height * width }

    public func validationError() -> String? {
        switch architecture {
        case .dense:
            if widths.count < 2 || widths.contains(where: { $0 <= 0 }) {
                return "layers need at least an input and a latent width, all positive (got \(widths))"
            }
        case .conv:
            if latentWidth <= 0 { return "the latent width must be positive" }
            if filters.isEmpty || filters.contains(where: { $0 <= 0 }) {
                return "filters must be a non-empty list of positive channel counts (got \(filters))"
            }
            var h = height, w = width
            for _ in filters {
                h = (h + 1) / 2
                w = (w + 1) / 2
            }
            if h < 1 || w < 1 || channels <= 0 { return "the image is too small for \(filters.count) stride-2 convolutions" }
        }
        if beta < 0 || warmupSteps < 0 || freeBits < 0 { return "beta, warm-up steps and free bits must be >= 0" }
        if case .gaussian(let v) = decoder, !(v > 0) { return "the Gaussian decoder's variance must be positive" }
        return nil
    }
}

public struct VariationalAutoencoder: AutoencoderModel, BatchStatisticModel, LossReportingModel, NonFiniteDiagnosis, BenchmarkShapes, LikelihoodModel {
    public let config: VariationalAutoencoderConfig
    public let layout: ParameterLayout
    /// Input -> (mean | logVariance), (B, 2Z).
    public let encoder: Network
    /// z -> logits / mean / (mean | logVariance); its input region is z.
    public let decoder: Network
    let epsilonRegion: Region
    let targetRegion: Region
    let probabilities: Region
    public let workspaceColumns: Int
    public let phases: [Phase]
    public let inputWidth: Int
    /// Stored: computed properties over `config.widths` would touch the array in every step.
    public let latentWidth: Int
    public let layerNames: [String]

    /// Log-variance clamp: keeps e^logVar finite and its gradient meaningful.
    public static let logVarianceRange: ClosedRange<Float> = -30...20

    public init(_ config: VariationalAutoencoderConfig) {
        precondition(config.validationError() == nil, config.validationError() ?? "")
        self.config = config
        var layout = ParameterLayout()
        let z = config.latentWidth
        let d = config.dataWidth
        let outputs = config.decoder == .gaussianLearned ? 2 * d : d
        var encoderLayers: [any Layer] = [], decoderLayers: [any Layer] = []
        switch config.architecture {
        case .dense:
            let w = config.widths
            for i in 0..<(w.count - 1) {
                let isHead = i == w.count - 2
                encoderLayers.append(Dense(w[i], isHead ? 2 * z : w[i + 1], name: "encoder.\(encoderLayers.count)",
                                           layout: &layout, initializer: config.initializer))
                if !isHead { encoderLayers.append(Activation(config.activation, width: w[i + 1])) }
            }
            for i in stride(from: w.count - 1, to: 0, by: -1) {
                let isOutput = i == 1
                decoderLayers.append(Dense(w[i], isOutput ? outputs : w[i - 1], name: "decoder.\(decoderLayers.count)",
                                           layout: &layout, initializer: config.initializer))
                if !isOutput { decoderLayers.append(Activation(config.activation, width: w[i - 1])) }
            }
        case .conv:
            // 3x3 stride-2 convolutions down; a dense layer to the head; mirrored up with 3x3
            // stride-2 transposed convolutions whose output padding restores each size.
            var sizes: [(h: Int, w: Int)] = []
            var c = config.channels, h = config.height, w = config.width
            for f in config.filters {
                sizes.append((h, w))
                let conv = Conv2D(inChannels: c, outChannels: f, height: h, width: w, kernel: 3, stride: 2, padding: 1,
                                  name: "encoder.\(encoderLayers.count)", layout: &layout,
                                  initializer: config.initializer, fusedReLU: config.activation == .relu)
                encoderLayers.append(conv)
                c = f
                h = conv.outHeight
                w = conv.outWidth
                if config.activation != .relu { encoderLayers.append(Activation(config.activation, width: c * h * w)) }
            }
            let flat = c * h * w
            encoderLayers.append(Dense(flat, 2 * z, name: "encoder.\(encoderLayers.count)", layout: &layout,
                                       initializer: config.initializer))
            decoderLayers.append(Dense(z, flat, name: "decoder.0", layout: &layout, initializer: config.initializer))
            decoderLayers.append(Activation(config.activation, width: flat))
            for level in stride(from: config.filters.count - 1, through: 0, by: -1) {
                let isOutput = level == 0
                let out = isOutput ? (config.decoder == .gaussianLearned ? 2 * config.channels : config.channels)
                    : config.filters[level - 1]
                let target = sizes[level]
                let natural = (h - 1) * 2 - 2 + 3, naturalW = (w - 1) * 2 - 2 + 3
                let conv = ConvTranspose2D(inChannels: c, outChannels: out, height: h, width: w, kernel: 3, stride: 2,
                                           padding: 1, outputPadding: target.h - natural,
                                           outputPaddingWidth: target.w - naturalW,
                                           name: "decoder.\(decoderLayers.count)", layout: &layout,
                                           initializer: config.initializer)
                decoderLayers.append(conv)
                c = out
                h = conv.outHeight
                w = conv.outWidth
                if !isOutput { decoderLayers.append(Activation(config.activation, width: c * h * w)) }
            }
            precondition(h == config.height && w == config.width, "decoder does not restore the image size")
        }
        var allocator = RegionAllocator()
        encoder = Network(encoderLayers, allocator: &allocator)
        decoder = Network(decoderLayers, allocator: &allocator, inputGradient: true)
        epsilonRegion = allocator.take(z)
        targetRegion = allocator.take(d)
        probabilities = allocator.take(d)
        workspaceColumns = allocator.columns
        layerNames = encoderLayers.indices.map { "encoder.\($0)" } + decoderLayers.indices.map { "decoder.\($0)" }
        self.layout = layout
        inputWidth = d
        latentWidth = z
        phases = [Phase(name: "autoencoder", group: 0..<layout.count)]
    }

    public var targetWidth: Int { inputWidth }
    public var lossPartNames: [String] { ["reconstruction", "kl"] }
    public var objectiveUnit: ObjectiveUnit { .perSample }
    public var statisticWidth: Int { config.freeBits > 0 ? latentWidth : 0 }

    public func initialize(params: Arena, seed: UInt64) {
        var rng = SplitMix64(key: seed, 0x696E_6974)
        encoder.initialize(params: params, rng: &rng)
        decoder.initialize(params: params, rng: &rng)
    }

    public func input(_ ws: Workspace, rows: Int) -> Matrix { encoder.input(ws, rows: rows) }
    public func target(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(targetRegion, rows: rows) }
    /// (mean | raw logVariance) of q(z|x) after a forward, (B, 2Z).
    public func posterior(_ ws: Workspace, rows: Int) -> Matrix { encoder.output(ws, rows: rows) }
    /// The latent sample the decoder read, (B, Z).
    public func latent(_ ws: Workspace, rows: Int) -> Matrix { decoder.input(ws, rows: rows) }
    public func epsilon(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(epsilonRegion, rows: rows) }

    /// The KL weight at `step`: beta, ramped up linearly over the warm-up.
    public func klWeight(step: Int) -> Float {
        guard config.warmupSteps > 0 else { return config.beta }
        return config.beta * min(1, Float(step) / Float(config.warmupSteps))
    }

    @inline(__always)
    static func clampedLogVariance(_ raw: Float) -> Float {
        min(max(raw, logVarianceRange.lowerBound), logVarianceRange.upperBound)
    }

    /// Encodes, draws z = mean + e^(logVar/2) eps (eps from the row's key) and decodes.
    public func forward(_ context: StepContext, _ ws: Workspace, rows: Int, params: Arena,
                        statistic: UnsafeMutablePointer<Float>?) {
        forward(context, ws, rows: rows, params: params, statistic: statistic, epsilonGiven: false)
    }

    /// `forward` with, when `epsilonGiven`, the noise already in `epsilon(ws, rows:)` (fixtures).
    public func forward(_ context: StepContext, _ ws: Workspace, rows: Int, params: Arena,
                        statistic: UnsafeMutablePointer<Float>?, epsilonGiven: Bool) {
        encoder.forward(ws, rows: rows, params: params, training: context.training)
        sampleLatent(ws, rows: rows, draw: !epsilonGiven)
        decoder.forward(ws, rows: rows, params: params, training: context.training)
        if let statistic, statisticWidth > 0 {
            let stats = posterior(ws, rows: rows), z = latentWidth
            for r in 0..<rows {
                let row = stats.row(r)
                for j in 0..<z { statistic[j] += Self.klDivergence(mean: row[j], logVariance: row[z + j]) }
            }
        }
    }

    /// KL(N(mean, e^logVar) || N(0, 1)) of one dimension, `(mean^2 + e^logVar - 1 - logVar) / 2`,
    /// with the log-variance clamped as the model uses it.
    @inline(__always)
    public static func klDivergence(mean m: Float, logVariance raw: Float) -> Float {
        let lv = clampedLogVariance(raw)
        return 0.5 * (m * m + expf(lv) - 1 - lv)
    }

    /// Fills eps (when `draw`) and z from the posterior; eps is N(0, 1) keyed by the row (sample,
    /// epoch, seed).
    func sampleLatent(_ ws: Workspace, rows: Int, draw: Bool = true) {
        let stats = posterior(ws, rows: rows), eps = epsilon(ws, rows: rows), zs = latent(ws, rows: rows)
        let z = latentWidth
        for r in 0..<rows {
            var rng = SplitMix64(key: ws.rowKeys[r], 0x6570_7369)
            let e = eps.row(r), row = stats.row(r), out = zs.row(r)
            if draw { rng.fillGaussian(e, count: z) }
            for j in 0..<z {
                out[j] = row[j] + expf(0.5 * Self.clampedLogVariance(row[z + j])) * e[j]
            }
        }
    }

    /// Batch-mean KL per latent dimension (free bits) from the summed statistic.
    public func finishStatistic(_ statistic: UnsafeMutablePointer<Float>, globalRows: Int,
                                state: UnsafeMutablePointer<Float>, training: Bool) {
        for j in 0..<latentWidth { statistic[j] /= Float(globalRows) }
    }

    /// Training: objective = reconstruction NLL + w * KL per sample (w: beta after warm-up; free
    /// bits hold a dimension's KL at the floor), mean over the global batch. Evaluation: the
    /// negative ELBO (w = 1, no free bits). Parts: reconstruction NLL and KL, in nats.
    public func backward(_ context: StepContext, _ ws: Workspace, rows: Int, globalRows: Int, params: Arena,
                         grads: Arena?, statistic: UnsafePointer<Float>?) -> LossSums {
        let output = decoder.output(ws, rows: rows)
        let target = self.target(ws, rows: rows)
        let dOutput = grads == nil ? nil : decoder.outputGradient(ws, rows: rows)
        dOutput?.fill(0)
        let perRow = 1 / Float(globalRows)
        var sums = reconstructionLoss(output: output, target: target, dOutput: dOutput, scale: perRow, ws: ws)
        let recon = sums.objective
        let weight = context.training ? klWeight(step: context.step) : 1
        let floor = context.training ? config.freeBits : 0
        let stats = posterior(ws, rows: rows), z = latentWidth
        let dStats = grads == nil ? nil : encoder.outputGradient(ws, rows: rows)
        let dz = grads == nil ? nil : decoder.gradient(0, ws, rows: rows)
        let eps = epsilon(ws, rows: rows)
        if let grads { decoder.backward(ws, rows: rows, params: params, grads: grads) }
        var kl = 0.0, klObjective = 0.0
        for r in 0..<rows {
            let row = stats.row(r)
            for j in 0..<z {
                let m = row[j], raw = row[z + j], lv = Self.clampedLogVariance(raw)
                let variance = expf(lv)
                let klj = Self.klDivergence(mean: m, logVariance: raw)
                kl += Double(klj)
                // Free bits: a dimension whose batch-mean KL is under the floor costs the floor, no gradient.
                let active = floor <= 0 || (statistic.map { $0[j] >= floor } ?? true)
                klObjective += active ? Double(klj) : Double(floor)
                guard let dStats, let dz else { continue }
                let g = dStats.row(r), dzRow = dz.row(r)
                // z = m + e^(lv/2) eps; KL_j = (m^2 + e^lv - 1 - lv) / 2.
                let klScale = active ? weight * perRow : 0
                g[j] = dzRow[j] + klScale * m
                let inside = raw >= Self.logVarianceRange.lowerBound && raw <= Self.logVarianceRange.upperBound
                g[z + j] = inside ? dzRow[j] * eps.row(r)[j] * 0.5 * expf(0.5 * lv) + klScale * 0.5 * (variance - 1) : 0
            }
        }
        if let grads { encoder.backward(ws, rows: rows, params: params, grads: grads) }
        sums.objective = recon + Double(weight) * klObjective
        sums.parts[0] = recon
        sums.parts[1] = kl
        return sums
    }

    /// Sum over rows of -log p(x|z) (nats) and of the squared error of the decoder's mean; adds
    /// `scale` times its gradient into `dOutput` when given.
    func reconstructionLoss(output: Matrix, target: Matrix, dOutput: Matrix?, scale: Float, ws: Workspace) -> LossSums {
        switch config.decoder {
        case .bernoulli:
            return Loss.evaluate(.bce, output: output, target: target, dOutput: dOutput, scale: scale)
        case .gaussianLearned:
            return Loss.evaluate(.gaussianNLL, output: output, target: target, dOutput: dOutput, scale: scale)
        case .gaussian(let variance):
            // -log N(x; mean, v) = (log 2 pi v) / 2 + (x - mean)^2 / (2 v); d/dmean = (mean - x) / v.
            var sums = Loss.evaluate(.mse, output: output, target: target, dOutput: dOutput, scale: scale / (2 * variance))
            sums.objective = 0.5 * log(2 * Double.pi * Double(variance)) * Double(target.rows * target.cols)
                + sums.squaredError / (2 * Double(variance))
            return sums
        }
    }

    /// log p(x|z) + log p(z) - log q(z|x) of each row after an evaluation forward, in double
    /// precision: one importance weight of the likelihood estimate.
    public func logImportanceWeights(_ ws: Workspace, rows: Int, into weights: UnsafeMutablePointer<Double>) {
        let output = decoder.output(ws, rows: rows), target = self.target(ws, rows: rows)
        let stats = posterior(ws, rows: rows), eps = epsilon(ws, rows: rows), zs = latent(ws, rows: rows)
        let z = latentWidth, d = inputWidth
        let halfLog2Pi = 0.5 * log(2 * Double.pi)
        for r in 0..<rows {
            let o = output.row(r), t = target.row(r)
            var logLikelihood = 0.0
            switch config.decoder {
            case .bernoulli:
                for i in 0..<d {
                    let x = Double(o[i]), y = Double(t[i])
                    logLikelihood -= max(x, 0) - x * y + log1p(exp(-abs(x)))
                }
            case .gaussian(let variance):
                let v = Double(variance)
                for i in 0..<d {
                    let e = Double(t[i]) - Double(o[i])
                    logLikelihood -= 0.5 * log(2 * Double.pi * v) + e * e / (2 * v)
                }
            case .gaussianLearned:
                for i in 0..<d {
                    let e = Double(t[i]) - Double(o[i]), lv = Double(o[d + i])
                    logLikelihood -= halfLog2Pi + 0.5 * (lv + e * e * exp(-lv))
                }
            }
            var logPrior = 0.0, logPosterior = 0.0
            let row = stats.row(r), e = eps.row(r), zr = zs.row(r)
            for j in 0..<z {
                let zj = Double(zr[j]), ej = Double(e[j])
                logPrior -= halfLog2Pi + 0.5 * zj * zj
                logPosterior -= halfLog2Pi + 0.5 * Double(Self.clampedLogVariance(row[z + j])) + 0.5 * ej * ej
            }
            weights[r] = logLikelihood + logPrior - logPosterior
        }
    }

    public func reconstruction(_ ws: Workspace, rows: Int) -> Matrix {
        let output = decoder.output(ws, rows: rows)
        switch config.decoder {
        case .bernoulli:
            return Activation.sigmoid(output, into: ws.matrix(probabilities, rows: rows), count: inputWidth)
        case .gaussian:
            return output
        case .gaussianLearned:
            return Matrix(output.base, rows: rows, cols: inputWidth, stride: output.stride)
        }
    }

    public func firstNonFiniteLayer(_ ws: Workspace, rows: Int) -> String? {
        if let i = encoder.firstNonFiniteLayer(ws, rows: rows) { return layerNames[i] }
        return decoder.firstNonFiniteLayer(ws, rows: rows).map { layerNames[encoder.layers.count + $0] }
    }
}

extension VariationalAutoencoder {
    /// Dense layers as (1 x in) x (in x out) products; convolutions as their im2col GEMMs.
    public var gemmShapes: [(m: Int, k: Int, n: Int)] {
        let layers = encoder.layers + decoder.layers
        return layers.compactMap { $0 as? Dense }.map { (1, $0.inputWidth, $0.outputWidth) }
            + convolutionShapes(layers.filter { !($0 is Dense) })
    }
}

extension VariationalAutoencoder: LatentModel {
    public var codeWidth: Int { latentWidth }
    /// The posterior mean.
    public func code(_ ws: Workspace, rows: Int) -> Matrix {
        let stats = posterior(ws, rows: rows)
        return Matrix(stats.base, rows: rows, cols: latentWidth, stride: stats.stride)
    }
    public func latentInput(_ ws: Workspace, rows: Int) -> Matrix { latent(ws, rows: rows) }
    public func decode(_ ws: Workspace, rows: Int, params: Arena) {
        decoder.forward(ws, rows: rows, params: params, training: false)
    }
    public var prior: LatentPrior? { .gaussian }
}
