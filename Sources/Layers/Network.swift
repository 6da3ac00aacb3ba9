// A chain of layers with its activations, caches and gradients placed in a Workspace. Forward
// runs the layers in order; backward calls their hand-written backward passes in reverse.

import Kernels

public struct Network: Sendable {
    public let layers: [any Layer]
    /// `layers.count + 1` regions: the input, then each layer's output.
    public let activations: [Region]
    /// Gradients of the activations; index 0 exists only when `inputGradient` is set.
    public let gradients: [Region?]
    public let caches: [Region]

    public init(_ layers: [any Layer], allocator: inout RegionAllocator, inputGradient: Bool = false) {
        precondition(!layers.isEmpty, "a network needs at least one layer")
        let input = allocator.take(layers[0].inputWidth)
        self.init(layers, allocator: &allocator, input: input,
                  inputGradient: inputGradient ? allocator.take(layers[0].inputWidth) : nil)
    }

    /// A chain reading another chain's output region (skip connections, encoder-decoder stages);
    /// `inputGradient` receives (overwrites) the gradient of that input. Layers whose cache is
    /// scratch (in inference, all) share `scratch`, which a model's chains can share, or else one
    /// region of this chain.
    public init(_ layers: [any Layer], allocator: inout RegionAllocator, input: Region, inputGradient: Region?,
                inference: Bool = false, scratch: Region? = nil) {
        precondition(!layers.isEmpty, "a network needs at least one layer")
        precondition(input.cols == layers[0].inputWidth && (inputGradient?.cols ?? input.cols) == input.cols,
                     "input region has \(input.cols) columns, the first layer takes \(layers[0].inputWidth)")
        for (a, b) in zip(layers, layers.dropFirst()) {
            precondition(a.outputWidth == b.inputWidth,
                         "layer widths do not chain: \(a.outputWidth) then \(b.inputWidth)")
        }
        self.layers = layers
        var acts = [input]
        var grads: [Region?] = [inputGradient]
        var caches: [Region] = []
        // Inference needs no gradients, and a cache only while its own layer runs: one shared.
        // Training keeps caches from forward to backward, but scratch ones can still share.
        let shared = inference ? scratch ?? allocator.take(layers.map(\.cacheWidth).max()!) : nil
        let scratchWidths = layers.filter(\.cacheIsScratch).map(\.cacheWidth)
        let scratch = inference || scratchWidths.isEmpty ? nil : scratch ?? allocator.take(scratchWidths.max()!)
        for layer in layers {
            acts.append(allocator.take(layer.outputWidth))
            grads.append(inference ? nil : allocator.take(layer.outputWidth))
            if let region = shared ?? (layer.cacheIsScratch ? scratch : nil) {
                precondition(layer.cacheWidth <= region.cols, "a scratch region narrower than a layer's cache")
                caches.append(Region(start: region.start, cols: layer.cacheWidth))
            } else {
                caches.append(allocator.take(layer.cacheWidth))
            }
        }
        activations = acts
        gradients = grads
        self.caches = caches
    }

    public var inputWidth: Int { layers[0].inputWidth }
    public var outputWidth: Int { layers.last!.outputWidth }

    public func initialize(params: Arena, rng: inout SplitMix64) {
        for layer in layers { layer.initialize(params: params, rng: &rng) }
    }

    public func input(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(activations[0], rows: rows) }
    public func output(_ ws: Workspace, rows: Int) -> Matrix { ws.matrix(activations.last!, rows: rows) }
    public func activation(_ index: Int, _ ws: Workspace, rows: Int) -> Matrix {
        ws.matrix(activations[index], rows: rows)
    }
    public func outputGradient(_ ws: Workspace, rows: Int) -> Matrix {
        ws.matrix(gradients.last!!, rows: rows)
    }
    public func gradient(_ index: Int, _ ws: Workspace, rows: Int) -> Matrix? {
        gradients[index].map { ws.matrix($0, rows: rows) }
    }

    /// Index of the first layer whose output holds NaN or infinity after a forward, if any.
    public func firstNonFiniteLayer(_ ws: Workspace, rows: Int) -> Int? {
        for i in 0..<layers.count {
            let y = activation(i + 1, ws, rows: rows)
            for r in 0..<rows where !(0..<y.cols).allSatisfy({ y.row(r)[$0].isFinite }) { return i }
        }
        return nil
    }

    /// Runs every layer; stochastic layers draw their masks from `ws.rowKeys` when training and
    /// act as the identity otherwise.
    public func forward(_ ws: Workspace, rows: Int, params: Arena, training: Bool) {
        forward(ws, rows: 0..<rows, params: params, training: training)
    }

    /// Runs `layers` of the chain only (e.g. a decoder from a code written into its input).
    public func forward(_ ws: Workspace, rows: Int, params: Arena, training: Bool, layers range: Range<Int>) {
        for i in range {
            precondition(!(layers[i] is any StochasticLayer) || !training, "partial forward is for evaluation")
            let cache = layers[i] is any StochasticLayer ? Matrix(ws.matrix(caches[i], rows: rows).base, rows: rows, cols: 0)
                : ws.matrix(caches[i], rows: rows)
            layers[i].forward(x: ws.matrix(activations[i], rows: rows), y: ws.matrix(activations[i + 1], rows: rows),
                              cache: cache, params: params)
        }
    }

    /// `forward` on a slice of the rows, so a model can run forward and backward of a few rows
    /// back to back while their activations are still in cache.
    public func forward(_ ws: Workspace, rows range: Range<Int>, params: Arena, training: Bool) {
        let rows = range.count
        for (i, layer) in layers.enumerated() {
            var cache = ws.matrix(caches[i], rows: range)
            if let stochastic = layer as? any StochasticLayer {
                if training {
                    stochastic.draw(cache: cache, rowKeys: ws.rowKeys + range.lowerBound)
                } else {
                    cache = Matrix(cache.base, rows: rows, cols: 0)
                }
            }
            layer.forward(x: ws.matrix(activations[i], rows: range), y: ws.matrix(activations[i + 1], rows: range),
                          cache: cache, params: params)
        }
    }

    /// Backpropagates from the output gradient (already filled) down to the input; each
    /// activation gradient is zeroed before the layer above adds into it.
    public func backward(_ ws: Workspace, rows: Int, params: Arena, grads: Arena) {
        backward(ws, rows: rows, params: params, grads: grads, layers: 0..<layers.count)
    }

    /// Backward through `range` of the layers only (top first), for models that add a penalty's
    /// gradient at an inner activation between two segments.
    public func backward(_ ws: Workspace, rows: Int, params: Arena, grads: Arena, layers range: Range<Int>) {
        backward(ws, rows: 0..<rows, params: params, grads: grads, layers: range)
    }

    /// `backward` on a slice of the rows (see `forward(_:rows:params:training:)` with a range).
    public func backward(_ ws: Workspace, rows slice: Range<Int>, params: Arena, grads: Arena,
                         layers range: Range<Int>? = nil) {
        for i in (range ?? 0..<layers.count).reversed() {
            let dx = gradients[i].map { ws.matrix($0, rows: slice) }
            dx?.fill(0)
            layers[i].backward(dy: ws.matrix(gradients[i + 1]!, rows: slice), x: ws.matrix(activations[i], rows: slice),
                               y: ws.matrix(activations[i + 1], rows: slice),
                               cache: ws.matrix(caches[i], rows: slice), dx: dx, params: params,
                               grads: grads)
        }
    }
}
