// Convolutional autoencoders on NCHW images. `pooled` is the seed's network (M2 for 16/8/8 on
// 28x28x1): 3x3 'same' convolutions with ReLU, max-pool after every encoder level but the code,
// then nearest upsampling and 3x3 convolutions back to the image. `strided` replaces pooling by
// stride-2 convolutions and upsampling by stride-2 transposed convolutions.

import Foundation
import Kernels
import Layers

public enum ConvArchitecture: String, Sendable, Codable, CaseIterable {
    case pooled, strided
}

public struct ConvAutoencoderConfig: Sendable, Equatable, Codable {
    public var channels: Int
    public var height: Int
    public var width: Int
    /// Output channels of the encoder convolutions, input side first; the last is the code.
    public var filters: [Int] = [16, 8, 8]
    public var architecture: ConvArchitecture = .pooled
    public var kernel: Int = 3
    /// Hidden activation (ReLU in the seed's network).
    public var activation: ActivationKind = .relu
    /// `.bce` (sigmoid folded into the loss, as M2) or `.mse` (sigmoid output).
    public var loss: LossKind = .bce
    public var initializer: Initializer = .pytorchDefault

    public init(channels: Int = 1, height: Int = 28, width: Int = 28) {
        self.channels = channels
        self.height = height
        self.width = width
    }

    /// Resolution halvings between input and code.
    public var downsamplings: Int { filters.count - 1 }

    public func validationError() -> String? {
        if filters.isEmpty || filters.contains(where: { $0 <= 0 }) || channels <= 0 {
            return "filters must be a non-empty list of positive channel counts (got \(filters))"
        }
        if kernel % 2 == 0 || kernel < 1 { return "the kernel size must be odd (got \(kernel))" }
        if ![.bce, .mse].contains(loss) { return "convolutional autoencoders use the bce or mse loss" }
        let factor = 1 << downsamplings
        if architecture == .pooled && (height % factor != 0 || width % factor != 0) {
            return "the pooled architecture halves the image \(downsamplings) times: \(width)x\(height) "
                + "must be divisible by \(factor) (use --resize, --crop or --architecture strided)"
        }
        var h = height, w = width
        for _ in 0..<downsamplings {
            h = (h + 1) / 2
            w = (w + 1) / 2
        }
        if h < 1 || w < 1 { return "the image is too small for \(downsamplings) downsamplings" }
        return nil
    }
}

public struct ConvAutoencoder: AutoencoderModel, FusedTrainingModel, NonFiniteDiagnosis, BenchmarkShapes {
    public let config: ConvAutoencoderConfig
    public let layout: ParameterLayout
    public let network: Network
    public let layerNames: [String]
    public let codeIndex: Int
    let targetRegion: Region
    let probabilities: Region
    public let workspaceColumns: Int
    public let phases: [Phase]
    public let inputWidth: Int
    /// Rows whose forward and backward run back to back in training (about 1 MB of workspace),
    /// so their activations are still in cache; the arithmetic per row is unchanged.
    public let chunkRows: Int

    public init(_ config: ConvAutoencoderConfig) {
        precondition(config.validationError() == nil, config.validationError() ?? "")
        self.config = config
        var layout = ParameterLayout()
        let k = config.kernel, pad = config.kernel / 2, f = config.filters
        // Names count modules as nn.Sequential would (conv, relu, pool: 0, 1, 2) even where the ReLU
        // is fused into the convolution.
        var encoder: [any Layer] = [], encoderNames: [String] = [], position = 0
        let fuse = config.activation == .relu
        // Spatial size and channels at each encoder level, to mirror them in the decoder.
        var sizes: [(h: Int, w: Int)] = [(config.height, config.width)]
        var c = config.channels, h = config.height, w = config.width
        for (level, out) in f.enumerated() {
            let isCode = level == f.count - 1
            let stride = config.architecture == .strided && !isCode ? 2 : 1
            let conv = Conv2D(inChannels: c, outChannels: out, height: h, width: w, kernel: k, stride: stride,
                              padding: pad, name: "encoder.\(position)", layout: &layout,
                              initializer: config.initializer, fusedReLU: fuse)
            encoder.append(conv)
            encoderNames.append("encoder.\(position)")
            c = out
            h = conv.outHeight
            w = conv.outWidth
            if !fuse {
                encoder.append(Activation(config.activation, width: c * h * w))
                encoderNames.append("encoder.\(position + 1)")
            }
            position += 2
            if config.architecture == .pooled && !isCode {
                let pool = MaxPool2D(channels: c, height: h, width: w, kernel: 2, stride: 2)
                encoder.append(pool)
                encoderNames.append("encoder.\(position)")
                position += 1
                h = pool.outHeight
                w = pool.outWidth
            }
            if !isCode { sizes.append((h, w)) }
        }
        var decoder: [any Layer] = [], decoderNames: [String] = []
        position = 0
        // Decoder level l (full resolution = 0) maps back to the channels that level's encoder
        // convolution received: filters[l - 1], or the image channels at level 0.
        for level in stride(from: f.count - 2, through: 0, by: -1) {
            let out = level == 0 ? config.channels : f[level - 1]
            let target = sizes[level]
            switch config.architecture {
            case .pooled:
                let up = Upsample2D(channels: c, height: h, width: w, scale: 2, mode: .nearest)
                decoder.append(up)
                decoderNames.append("decoder.\(position)")
                position += 1
                let conv = Conv2D(inChannels: c, outChannels: out, height: up.outHeight, width: up.outWidth,
                                  kernel: k, padding: pad, name: "decoder.\(position)", layout: &layout,
                                  initializer: config.initializer, fusedReLU: fuse && level > 0)
                decoder.append(conv)
                decoderNames.append("decoder.\(position)")
                h = conv.outHeight
                w = conv.outWidth
            case .strided:
                // Output padding recovers odd sizes that the stride-2 encoder rounded up.
                let natural = (h - 1) * 2 - 2 * pad + k, naturalW = (w - 1) * 2 - 2 * pad + k
                let conv = ConvTranspose2D(inChannels: c, outChannels: out, height: h, width: w, kernel: k,
                                           stride: 2, padding: pad, outputPadding: target.h - natural,
                                           outputPaddingWidth: target.w - naturalW,
                                           name: "decoder.\(position)", layout: &layout,
                                           initializer: config.initializer)
                precondition(conv.outHeight == target.h && conv.outWidth == target.w,
                             "transposed convolution does not restore \(target.w)x\(target.h)")
                decoder.append(conv)
                decoderNames.append("decoder.\(position)")
                h = conv.outHeight
                w = conv.outWidth
            }
            c = out
            position += 1
            if level > 0 {
                // Transposed convolutions keep a separate ReLU; the pooled decoder's is fused.
                if !(fuse && config.architecture == .pooled) {
                    decoder.append(Activation(config.activation, width: c * h * w))
                    decoderNames.append("decoder.\(position)")
                }
                position += 1
            } else if config.loss != .bce {
                decoder.append(Activation(.sigmoid, width: c * h * w))
                decoderNames.append("decoder.\(position)")
            }
        }
        precondition(h == config.height && w == config.width, "decoder does not restore the image size")
        var allocator = RegionAllocator()
        network = Network(encoder + decoder, allocator: &allocator)
        layerNames = encoderNames + decoderNames
        codeIndex = encoder.count
        inputWidth = config.channels * config.height * config.width
        targetRegion = allocator.take(inputWidth)
        probabilities = allocator.take(config.loss == .bce ? inputWidth : 0)
        workspaceColumns = allocator.columns
        chunkRows = max(1, (1 << 18) / max(workspaceColumns, 1))
        self.layout = layout
        phases = [Phase(name: "autoencoder", group: 0..<layout.count)]
    }

    public var targetWidth: Int { inputWidth }
    public var codeWidth: Int { network.activations[codeIndex].cols }

    public func initialize(params: Arena, seed: UInt64) {
        var rng = SplitMix64(key: seed, 0x696E_6974)
        network.initialize(params: params, rng: &rng)
    }

    public func input(_ ws: Workspace, rows: Int) -> Matrix { network.input(ws, rows: rows) }
    public func target(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(targetRegion, rows: rows) }

    public func forward(_ context: StepContext, _ ws: Workspace, rows: Int, params: Arena,
                        statistic: UnsafeMutablePointer<Float>?) {
        network.forward(ws, rows: rows, params: params, training: context.training)
    }

    /// `backward` with gradients runs forward, loss and backward chunk by chunk (`chunkRows`).
    public var forwardsInBackward: Bool { true }

    public func backward(_ context: StepContext, _ ws: Workspace, rows: Int, globalRows: Int, params: Arena,
                         grads: Arena?, statistic: UnsafePointer<Float>?) -> LossSums {
        // Per-value mean over the global batch, as nn.BCELoss / nn.MSELoss with 'mean'.
        let scale = 1 / Float(globalRows * targetWidth)
        guard let grads else {
            return Loss.evaluate(config.loss, output: network.output(ws, rows: rows), target: target(ws, rows: rows),
                                 dOutput: nil, scale: scale)
        }
        var sums = LossSums()
        var start = 0
        // On a shard's team each member takes a chunk's worth of rows (its own core's cache); the
        // loss still sums chunk by chunk, so its bits do not depend on the team.
        let teamChunk = chunkRows * currentTeamSize
        while start < rows {
            let chunk = start..<min(start + teamChunk, rows)
            network.forward(ws, rows: chunk, params: params, training: true)
            for first in Swift.stride(from: chunk.lowerBound, to: chunk.upperBound, by: chunkRows) {
                let lossRows = first..<min(first + chunkRows, chunk.upperBound)
                let dOutput = ws.matrix(network.gradients.last!!, rows: lossRows)
                dOutput.fill(0)
                let part = Loss.evaluate(config.loss, output: ws.matrix(network.activations.last!, rows: lossRows),
                                         target: ws.matrix(targetRegion, rows: lossRows), dOutput: dOutput,
                                         scale: scale)
                sums.objective += part.objective
                sums.squaredError += part.squaredError
                sums.penalty += part.penalty
            }
            network.backward(ws, rows: chunk, params: params, grads: grads)
            start = chunk.upperBound
        }
        return sums
    }

    public func reconstruction(_ ws: Workspace, rows: Int) -> Matrix {
        let output = network.output(ws, rows: rows)
        guard config.loss == .bce else { return output }
        return Activation.sigmoid(output, into: ws.matrix(probabilities, rows: rows), count: targetWidth)
    }

    public func firstNonFiniteLayer(_ ws: Workspace, rows: Int) -> String? {
        firstNonFinite(network, names: layerNames, ws, rows: rows)
    }
}

/// The name of the first layer of `network` whose output holds NaN or infinity.
func firstNonFinite(_ network: Network, names: [String], _ ws: Workspace, rows: Int) -> String? {
    for i in 0..<network.layers.count {
        let y = network.activation(i + 1, ws, rows: rows)
        for r in 0..<rows {
            let row = y.row(r)
            for j in 0..<y.cols where !row[j].isFinite { return names[i] }
        }
    }
    return nil
}

/// The per-sample forward GEMM of each convolution in `layers` (m x k times k x n), for FLOP
/// counts and the benchmark's sgemm reference.
func convolutionShapes(_ layers: [any Layer]) -> [(m: Int, k: Int, n: Int)] {
    layers.compactMap { layer in
        if let c = layer as? Conv2D { return (c.outChannels, c.inChannels * c.kernel * c.kernel, c.outHeight * c.outWidth) }
        if let c = layer as? Conv1D { return (c.outChannels, c.inChannels * c.kernel, c.length) }
        if let t = layer as? ConvTranspose2D { return (t.outChannels * t.kernel * t.kernel, t.inChannels, t.height * t.width) }
        return nil
    }
}

extension ConvAutoencoder {
    public var gemmShapes: [(m: Int, k: Int, n: Int)] { convolutionShapes(network.layers) }
    public var gemmRowsStack: Bool { false }
}

extension ConvDenoiser {
    public var gemmShapes: [(m: Int, k: Int, n: Int)] { convolutionShapes((down + up).flatMap(\.layers)) }
    public var gemmRowsStack: Bool { false }
}

extension ConvAutoencoder: LatentModel {
    /// The code feature map, (C, h, w) flattened.
    public func code(_ ws: Workspace, rows: Int) -> Matrix { network.activation(codeIndex, ws, rows: rows) }
    public func latentInput(_ ws: Workspace, rows: Int) -> Matrix { code(ws, rows: rows) }

    public func decode(_ ws: Workspace, rows: Int, params: Arena) {
        network.forward(ws, rows: rows, params: params, training: false, layers: codeIndex..<network.layers.count)
    }
}
