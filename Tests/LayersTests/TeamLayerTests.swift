// Layers on a shard's team (threads per shard > 1): forward and backward give the same bits as on
// one thread, and the team really ran part of them.

import CKernels
import Kernels
import Layers
import Testing

/// y, dx (starting non-zero: backward adds into it) and the parameter gradients of one forward and
/// backward pass of `layer` with a team of `size` threads current (none for 1), and how many loops
/// the team ran on more than one thread.
func runOnTeam(_ layer: any Layer, parameterCount: Int, rows: Int, size: Int)
    -> (results: [[Float]], loops: Int) {
    let params = FloatBuffer(count: parameterCount)
    var rng = SplitMix64(seed: 12)
    layer.initialize(params: Arena(params), rng: &rng)
    let x = FloatBuffer(randomArray(rows * layer.inputWidth, seed: 5))
    let dy = FloatBuffer(randomArray(rows * layer.outputWidth, seed: 6))
    let y = FloatBuffer(count: rows * layer.outputWidth), cache = FloatBuffer(count: rows * layer.cacheWidth)
    let dx = FloatBuffer(randomArray(rows * layer.inputWidth, seed: 7)), grads = FloatBuffer(count: parameterCount)
    let team = size > 1 ? ae_team_create(Int32(size)) : nil
    ae_team_set_current(team)
    let xm = x.matrix(rows: rows, cols: layer.inputWidth), ym = y.matrix(rows: rows, cols: layer.outputWidth)
    let cm = cache.matrix(rows: rows, cols: layer.cacheWidth)
    layer.forward(x: xm, y: ym, cache: cm, params: Arena(params))
    layer.backward(dy: dy.matrix(rows: rows, cols: layer.outputWidth), x: xm, y: ym, cache: cm,
                   dx: dx.matrix(rows: rows, cols: layer.inputWidth), params: Arena(params), grads: Arena(grads))
    ae_team_set_current(nil)
    let loops = Int(ae_team_loops(team))
    ae_team_destroy(team)
    let results = [y.array, dx.array, grads.array]
    withExtendedLifetime((params, x, dy, y, cache, dx, grads)) {}
    return (results, loops)
}

func expectSameBitsOnTeams(_ layer: any Layer, parameterCount: Int, rows: Int, label: String,
                           sourceLocation: SourceLocation = #_sourceLocation) {
    let one = runOnTeam(layer, parameterCount: parameterCount, rows: rows, size: 1).results
    for size in [2, 3] {
        let (split, loops) = runOnTeam(layer, parameterCount: parameterCount, rows: rows, size: size)
        #expect(loops > 0, "\(label), team of \(size): ran alone", sourceLocation: sourceLocation)
        for (i, name) in ["y", "dx", "grads"].enumerated() {
            let differing = zip(one[i], split[i]).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "\(label), team of \(size): \(differing) values of \(name) differ",
                    sourceLocation: sourceLocation)
        }
    }
}

@Suite struct TeamLayerTests {
    /// Winograd on our product kernels: transforms split by channel, the 36 products by product.
    /// Groups of rows (32 x 40 x 40 at 3 rows), strips of one image (64 x 58 x 33), odd channel counts.
    @Test(arguments: [(32, 32, 12, 12, 4), (17, 16, 9, 17, 6), (32, 32, 40, 40, 3), (64, 64, 58, 33, 1),
                      (3, 48, 24, 24, 2)])
    func winogradConvolutionIsTheSameOnATeam(shape: (Int, Int, Int, Int, Int)) {
        guard Conv2D.productsKernel != 0 else { return }
        let (c, o, h, w, rows) = shape
        for relu in [false, true] {
            var layout = ParameterLayout()
            let conv = Conv2D(inChannels: c, outChannels: o, height: h, width: w, kernel: 3, padding: 1, name: "conv",
                              layout: &layout, direct: false, fusedReLU: relu)
            #expect(conv.winograd)
            expectSameBitsOnTeams(conv, parameterCount: layout.count, rows: rows,
                                  label: "Winograd \(c)->\(o) \(h)x\(w) rows \(rows) relu \(relu)")
        }
    }

    /// The direct 3x3 kernel: forward by rows, the weight gradient by output channels (rows summed in
    /// order), dx by rows; portable loops and AVX2, with a fused ReLU's mask read from y.
    @Test(arguments: [(1, 16, 28, 28, 5), (16, 8, 14, 14, 4), (8, 1, 9, 17, 3), (3, 5, 7, 7, 2)])
    func directConvolutionIsTheSameOnATeam(shape: (Int, Int, Int, Int, Int)) {
        let (c, o, h, w, rows) = shape
        for relu in [false, true] {
            for portable in [false, true] {
                var layout = ParameterLayout()
                let conv = Conv2D(inChannels: c, outChannels: o, height: h, width: w, kernel: 3, padding: 1,
                                  name: "conv", layout: &layout, direct: true, fusedReLU: relu,
                                  portableKernel: portable)
                #expect(conv.direct)
                expectSameBitsOnTeams(conv, parameterCount: layout.count, rows: rows,
                                      label: "direct \(c)->\(o) \(h)x\(w) rows \(rows) relu \(relu) portable \(portable)")
            }
        }
    }

    /// Max-pooling (and its backward pass) and nearest upsampling (and its adjoint) by planes of
    /// several images; 3 rows of 5 planes do not split evenly at 2 or 3 members, so parts start and
    /// end inside an image.
    @Test func poolingAndUpsamplingAreTheSameOnATeam() {
        for (c, h, w, rows) in [(5, 14, 14, 3), (16, 8, 6, 2)] {
            expectSameBitsOnTeams(MaxPool2D(channels: c, height: h, width: w, kernel: 2), parameterCount: 0,
                                  rows: rows, label: "max-pool \(c) x \(h)x\(w) rows \(rows)")
            // Overlapping windows (the backward pass on the team, the forward pass alone).
            expectSameBitsOnTeams(MaxPool2D(channels: c, height: h, width: w, kernel: 3, stride: 2),
                                  parameterCount: 0, rows: rows, label: "max-pool 3/2 \(c) x \(h)x\(w) rows \(rows)")
            for scale in [2, 3] {
                expectSameBitsOnTeams(Upsample2D(channels: c, height: h, width: w, scale: scale, mode: .nearest),
                                      parameterCount: 0, rows: rows,
                                      label: "upsample x\(scale) \(c) x \(h)x\(w) rows \(rows)")
            }
        }
    }

    /// Activations by blocks of rows (large enough to wake the team).
    @Test(arguments: ActivationKind.allCases)
    func activationIsTheSameOnATeam(kind: ActivationKind) {
        expectSameBitsOnTeams(Activation(kind, width: 2048), parameterCount: 0, rows: 9, label: "\(kind)")
    }

    /// The recurrent step kernels by blocks of samples (padded samples included) and the column
    /// sums (bias gradients) by blocks of columns: the bits of the one-thread kernels.
    @Test(arguments: 0..<5)
    func recurrentKernelIsTheSameOnATeam(kernel: Int) {
        let (B, H, step) = (13, 24, Int32(3))
        let lengths: [Int32] = (0..<B).map { Int32($0 % 5 + 1) }
        func run(size: Int) -> (results: [[Float]], loops: Int) {
            let g = (0..<9).map { FloatBuffer(randomArray(B * 4 * H, seed: UInt64(20 + $0), scale: 0.9)) }
            let m = FloatBuffer(randomArray(200 * 96, seed: 30))
            let p = g.map(\.pointer)
            let team = size > 1 ? ae_team_create(Int32(size)) : nil
            ae_team_set_current(team)
            let (b, h) = (Int32(B), Int32(H))
            let (h3, h4) = (3 * H, 4 * H)
            let outputs: [Int] = lengths.withUnsafeBufferPointer { lengthsPointer in
                let l = lengthsPointer.baseAddress
                switch (kernel, size > 1) {
                case (0, false):
                    ae_lstm_forward_step(b, h, p[0], h4, p[1], h4, p[2], p[3], p[4], p[5], H, p[6], H, p[7], H, p[8], H,
                                         l, step)
                case (0, true):
                    ae_lstm_forward_step_team(b, h, p[0], h4, p[1], h4, p[2], p[3], p[4], p[5], H, p[6], H, p[7], H,
                                              p[8], H, l, step)
                case (1, false): ae_lstm_backward_step(b, h, p[0], h4, p[4], p[5], H, p[1], H, p[6], p[7], l, step)
                case (1, true): ae_lstm_backward_step_team(b, h, p[0], h4, p[4], p[5], H, p[1], H, p[6], p[7], l, step)
                case (2, false):
                    ae_gru_forward_step(b, h, p[0], h3, p[1], h3, p[2], h3, p[3], p[4], p[5], H, p[6], H, p[7], H, l,
                                        step)
                case (2, true):
                    ae_gru_forward_step_team(b, h, p[0], h3, p[1], h3, p[2], h3, p[3], p[4], p[5], H, p[6], H, p[7], H,
                                             l, step)
                case (3, false): ae_gru_backward_step(b, h, p[0], h3, p[2], h3, p[5], H, p[1], H, p[6], l, step)
                case (3, true): ae_gru_backward_step_team(b, h, p[0], h3, p[2], h3, p[5], H, p[1], H, p[6], l, step)
                case (_, false): ae_column_sums(m.pointer, 200, 90, 96, p[3], 1)
                case (_, true): ae_column_sums_team(m.pointer, 200, 90, 96, p[3], 1)
                }
                return [[0, 5, 7, 8], [0, 6, 7], [0, 2, 6, 7], [0, 2, 6], [3]][kernel]
            }
            ae_team_set_current(nil)
            let loops = Int(ae_team_loops(team))
            ae_team_destroy(team)
            let results = outputs.map { g[$0].array }
            withExtendedLifetime((g, m)) {}
            return (results, loops)
        }
        let one = run(size: 1).results
        for size in [2, 3] {
            let (split, loops) = run(size: size)
            #expect(loops > 0, "kernel \(kernel), team of \(size): ran alone")
            for (a, b) in zip(one, split) {
                let differing = zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(differing == 0, "kernel \(kernel), team of \(size): \(differing) values differ")
            }
        }
    }
}
