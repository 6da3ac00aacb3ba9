// A fully convolutional denoiser for images of any size: a U-Net-style encoder-decoder (two 3x3
// convolutions + ReLU per level, max-pool down, nearest upsampling up, symmetric skip connections
// by channel concatenation) whose last 3x3 convolution predicts the noise; the output is the input
// minus that prediction (residual learning, as DnCNN). Parameters do not depend on the image size,
// so one checkpoint serves models built for any height and width divisible by 2^depth.

import Foundation
import Kernels
import Layers

public struct ConvDenoiserConfig: Sendable, Equatable, Codable {
    public var channels: Int
    /// Resolution halvings (levels below full resolution).
    public var depth: Int = 2
    /// Filters at full resolution; doubled at every level down.
    public var width: Int = 32
    /// Predict the noise and subtract it from the input (else predict the clean image).
    public var residual = true
    public var activation: ActivationKind = .relu
    public var initializer: Initializer = .heUniform
    /// mse (nil), l1 or charbonnier, on the denoised image.
    public var loss: LossKind?

    public init(channels: Int) {
        self.channels = channels
    }

    /// Height and width must be multiples of this.
    public var sizeMultiple: Int { 1 << depth }

    /// Pixels on each side of a tile that can influence its centre: each 3x3 convolution at level l
    /// reaches 2^l pixels further, pooling and upsampling up to 2^l - 1 more.
    public var receptiveRadius: Int {
        var radius = 0
        for level in 0...depth {
            // Two convolutions down and (above the bottom) two up; the output convolution at level 0.
            let convs = 2 + (level < depth ? 2 : 0) + (level == 0 ? 1 : 0)
            radius += convs * (1 << level) + (level > 0 ? 2 * ((1 << level) - 1) : 0)
        }
        return radius
    }

    public func validationError() -> String? {
        if channels <= 0 || width <= 0 { return "channels and width must be positive" }
        if !(0...6).contains(depth) { return "depth must be between 0 and 6 (got \(depth))" }
        if let loss, ![.mse, .l1, .charbonnier].contains(loss) {
            return "the denoiser trains with mse, l1 or charbonnier (got \(loss.rawValue))"
        }
        return nil
    }

    public func filters(level: Int) -> Int { width << level }
}

public struct ConvDenoiser: AutoencoderModel, NonFiniteDiagnosis, BenchmarkShapes {
    public let config: ConvDenoiserConfig
    public let height: Int
    public let width: Int
    public let layout: ParameterLayout
    /// `down[l]`: (pool,) conv, relu, conv, relu at level l; the deepest one ends in an upsample.
    let down: [Network]
    /// `up[l]` for l < depth: conv over [upsampled, skip], relu, conv, relu, then an upsample
    /// (l > 0) or the output convolution (l == 0).
    let up: [Network]
    /// Concatenations [from below, skip] feeding `up[l]`, and their gradients.
    let joined: [Region]
    let joinedGradients: [Region]
    /// Gradient of `down[l]`'s input for l > 0 (added into `down[l - 1]`'s output gradient).
    let downInputGradients: [Region?]
    let outputRegion: Region
    let outputGradient: Region
    let targetRegion: Region
    let names: [(network: Network, names: [String])]
    public let workspaceColumns: Int
    public let phases: [Phase]

    /// `inference`: forward only, with no gradient memory and one cache shared by all layers.
    /// - Precondition: `height` and `width` are multiples of `config.sizeMultiple`.
    public init(_ config: ConvDenoiserConfig, height: Int, width: Int, inference: Bool = false) {
        precondition(config.validationError() == nil, config.validationError() ?? "")
        precondition(height % config.sizeMultiple == 0 && width % config.sizeMultiple == 0,
                     "denoiser input \(width)x\(height) is not a multiple of \(config.sizeMultiple)")
        self.config = config
        self.height = height
        self.width = width
        var layout = ParameterLayout()
        var allocator = RegionAllocator()
        let d = config.depth, init_ = config.initializer
        // A level's stage: [pool,] conv, act, conv, act [, upsample], named by module position as
        // nn.Sequential would number them, also where the ReLU is fused into the convolution.
        let fuse = config.activation == .relu
        func stage(_ prefix: String, pool: Int?, _ inC: Int, _ outC: Int, _ h: Int, _ w: Int, upsample: Bool)
            -> (layers: [any Layer], names: [String]) {
            var layers: [any Layer] = [], names: [String] = [], position = 0
            func add(_ layer: any Layer) {
                layers.append(layer)
                names.append("\(prefix).\(position)")
            }
            if let pool {
                add(MaxPool2D(channels: pool, height: 2 * h, width: 2 * w, kernel: 2, stride: 2))
                position += 1
            }
            for (i, o) in [(inC, outC), (outC, outC)] {
                add(Conv2D(inChannels: i, outChannels: o, height: h, width: w, kernel: 3, padding: 1,
                           name: "\(prefix).\(position)", layout: &layout, initializer: init_, fusedReLU: fuse))
                position += 1
                if !fuse { add(Activation(config.activation, width: o * h * w)) }
                position += 1
            }
            if upsample { add(Upsample2D(channels: outC, height: h, width: w, scale: 2, mode: .nearest)) }
            return (layers, names)
        }
        // Encoder, parameters first so they form one block in the checkpoint.
        var downLayers: [[any Layer]] = []
        var names: [[String]] = []
        for level in 0...d {
            let h = height >> level, w = width >> level
            let inC = level == 0 ? config.channels : config.filters(level: level - 1)
            let built = stage("down.\(level)", pool: level > 0 ? inC : nil, inC, config.filters(level: level), h, w,
                              upsample: level == d && d > 0)
            downLayers.append(built.layers)
            names.append(built.names)
        }
        var upLayers: [[any Layer]] = Array(repeating: [], count: d)
        var upNames: [[String]] = Array(repeating: [], count: d)
        for level in stride(from: d - 1, through: 0, by: -1) {
            let outC = config.filters(level: level)
            let built = stage("up.\(level)", pool: nil, config.filters(level: level + 1) + outC, outC,
                              height >> level, width >> level, upsample: level > 0)
            upLayers[level] = built.layers
            upNames[level] = built.names
        }
        let head = Conv2D(inChannels: config.filters(level: 0), outChannels: config.channels, height: height,
                          width: width, kernel: 3, padding: 1, name: "head", layout: &layout, initializer: init_)
        // The output convolution: part of up[0], or of the only level when depth is 0.
        if d == 0 {
            downLayers[0].append(head)
            names[0].append("head")
        } else {
            upLayers[0].append(head)
            upNames[0].append("head")
        }

        // Regions: the encoder chain, then each decoder level's concatenation and chain. The
        // Winograd layers' caches are scratch (in inference, all caches): one region serves them.
        let allLayers = Array((downLayers + upLayers).joined())
        let scratch = (inference ? allLayers : allLayers.filter(\.cacheIsScratch)).map(\.cacheWidth).max()
            .map { allocator.take($0) }
        var downNets: [Network] = []
        var downGrads: [Region?] = []
        for level in 0...d {
            let layers = downLayers[level]
            let input = level == 0 ? allocator.take(layers[0].inputWidth) : downNets[level - 1].activations.last!
            let gradient = level == 0 || inference ? nil : allocator.take(layers[0].inputWidth)
            downNets.append(Network(layers, allocator: &allocator, input: input, inputGradient: gradient,
                                    inference: inference, scratch: scratch))
            downGrads.append(gradient)
        }
        var upNets: [Network?] = Array(repeating: nil, count: d)
        var joined: [Region] = Array(repeating: Region(start: 0, cols: 0), count: d)
        var joinedGrads = joined
        for level in stride(from: d - 1, through: 0, by: -1) {
            let width = upLayers[level][0].inputWidth
            joined[level] = allocator.take(width)
            joinedGrads[level] = allocator.take(inference ? 0 : width)
            upNets[level] = Network(upLayers[level], allocator: &allocator, input: joined[level],
                                    inputGradient: inference ? nil : joinedGrads[level], inference: inference,
                                    scratch: scratch)
        }
        down = downNets
        up = upNets.map { $0! }
        self.joined = joined
        joinedGradients = joinedGrads
        downInputGradients = downGrads
        let pixels = config.channels * height * width
        outputRegion = allocator.take(pixels)
        outputGradient = allocator.take(inference ? 0 : pixels)
        targetRegion = allocator.take(inference ? 0 : pixels)
        workspaceColumns = allocator.columns
        self.layout = layout
        self.names = zip(downNets, names).map { ($0, $1) } + zip(up, upNames).map { ($0, $1) }
        phases = [Phase(name: "denoiser", group: 0..<layout.count)]
    }

    public var inputWidth: Int { config.channels * height * width }
    public var targetWidth: Int { inputWidth }
    var lossKind: LossKind { config.loss ?? .mse }
    /// The network whose last activation is the noise (or image) prediction.
    var last: Network { config.depth == 0 ? down[0] : up[0] }

    public func initialize(params: Arena, seed: UInt64) {
        var rng = SplitMix64(key: seed, 0x696E_6974)
        for network in down { network.initialize(params: params, rng: &rng) }
        for network in up.reversed() { network.initialize(params: params, rng: &rng) }
    }

    public func input(_ ws: Workspace, rows: Int) -> Matrix { down[0].input(ws, rows: rows) }
    public func target(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(targetRegion, rows: rows) }

    public func forward(_ context: StepContext, _ ws: Workspace, rows: Int, params: Arena,
                        statistic: UnsafeMutablePointer<Float>?) {
        for network in down { network.forward(ws, rows: rows, params: params, training: context.training) }
        for level in stride(from: config.depth - 1, through: 0, by: -1) {
            let below = level == config.depth - 1 ? down[level + 1] : up[level + 1]
            Skip.concatChannels(below.output(ws, rows: rows), down[level].output(ws, rows: rows),
                                into: ws.matrix(joined[level], rows: rows))
            up[level].forward(ws, rows: rows, params: params, training: context.training)
        }
        let x = input(ws, rows: rows), prediction = last.output(ws, rows: rows)
        let y = ws.matrix(outputRegion, rows: rows)
        for r in 0..<rows {
            let xr = x.row(r), pr = prediction.row(r), yr = y.row(r)
            if config.residual {
                for i in 0..<inputWidth { yr[i] = xr[i] - pr[i] }
            } else {
                yr.update(from: pr, count: inputWidth)
            }
        }
    }

    public func backward(_ context: StepContext, _ ws: Workspace, rows: Int, globalRows: Int, params: Arena,
                         grads: Arena?, statistic: UnsafePointer<Float>?) -> LossSums {
        let dy = grads == nil ? nil : ws.matrix(outputGradient, rows: rows)
        dy?.fill(0)
        let sums = Loss.evaluate(lossKind, output: ws.matrix(outputRegion, rows: rows), target: target(ws, rows: rows),
                                 dOutput: dy, scale: 1 / Float(globalRows * targetWidth))
        guard let grads, let dy else { return sums }
        let dPrediction = last.outputGradient(ws, rows: rows)
        for r in 0..<rows {
            let g = dy.row(r), p = dPrediction.row(r)
            if config.residual {
                for i in 0..<inputWidth { p[i] = -g[i] }
            } else {
                p.update(from: g, count: inputWidth)
            }
        }
        // Decoder top-down: each concatenation's gradient splits into the level below (overwrite)
        // and the skip (overwrite; the encoder's own path is added later).
        for level in 0..<config.depth {
            up[level].backward(ws, rows: rows, params: params, grads: grads)
            let below = level == config.depth - 1 ? down[level + 1] : up[level + 1]
            let dBelow = below.outputGradient(ws, rows: rows), dSkip = down[level].outputGradient(ws, rows: rows)
            dBelow.fill(0)
            dSkip.fill(0)
            Skip.splitChannels(ws.matrix(joinedGradients[level], rows: rows), addingInto: dBelow, dSkip)
        }
        for level in stride(from: config.depth, through: 0, by: -1) {
            down[level].backward(ws, rows: rows, params: params, grads: grads)
            if level > 0, let g = downInputGradients[level] {
                Skip.accumulate(ws.matrix(g, rows: rows), into: down[level - 1].outputGradient(ws, rows: rows))
            }
        }
        return sums
    }

    public func reconstruction(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(outputRegion, rows: rows) }

    public func firstNonFiniteLayer(_ ws: Workspace, rows: Int) -> String? {
        for (network, layerNames) in names {
            if let name = firstNonFinite(network, names: layerNames, ws, rows: rows) { return name }
        }
        return nil
    }
}
