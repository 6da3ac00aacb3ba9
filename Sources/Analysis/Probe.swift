// A classifier trained on fixed features: the linear probe that measures how much of a label a
// code holds (no hidden layer), and the small MLP that labels generated images (swap
// consistency). Softmax cross-entropy, Adam, shuffled minibatches, features standardised with
// the training set's mean and deviation; one thread, deterministic for a seed.

import Engine
import Foundation
import Kernels
import Layers
import Training

// @unchecked Sendable: fitting writes its buffers and statistics; one thread uses a probe at a time.
public final class Probe: @unchecked Sendable {
    public let inputWidth: Int
    public let classes: Int
    let network: Network
    let layout: ParameterLayout
    let params: FloatBuffer
    let grads: FloatBuffer
    let m: FloatBuffer
    let v: FloatBuffer
    let ws: Workspace
    var mean: [Float]
    var scale: [Float]
    let batch = 128

    /// - Parameters:
    ///   - hidden: hidden widths (ReLU); empty for a linear probe.
    public init(inputWidth: Int, classes: Int, hidden: [Int] = [], seed: UInt64 = 1) {
        precondition(inputWidth > 0 && classes > 1, "a probe needs features and at least two classes")
        self.inputWidth = inputWidth
        self.classes = classes
        var layout = ParameterLayout()
        var layers: [any Layer] = []
        var width = inputWidth
        for h in hidden {
            layers.append(Dense(width, h, name: "probe.\(layers.count)", layout: &layout))
            layers.append(Activation(.relu, width: h))
            width = h
        }
        layers.append(Dense(width, classes, name: "probe.\(layers.count)", layout: &layout))
        var allocator = RegionAllocator()
        network = Network(layers, allocator: &allocator)
        self.layout = layout
        params = FloatBuffer(count: layout.count)
        grads = FloatBuffer(count: layout.count)
        m = FloatBuffer(count: layout.count)
        v = FloatBuffer(count: layout.count)
        ws = Workspace(columns: allocator.columns, maxRows: batch, parameterCount: 0)
        mean = [Float](repeating: 0, count: inputWidth)
        scale = [Float](repeating: 1, count: inputWidth)
        var rng = SplitMix64(key: seed, 0x7072_6F62)
        network.initialize(params: Arena(params), rng: &rng)
    }

    /// Trains on `features` (rows x inputWidth) and their labels; rows labelled -1 are skipped.
    public func fit(features: [Float], labels: [Int32], epochs: Int = 30, learningRate: Float = 1e-2,
                    weightDecay: Float = 1e-4, seed: UInt64 = 1) {
        let rows = labels.indices.filter { labels[$0] >= 0 && Int(labels[$0]) < classes }
        guard !rows.isEmpty else { return }
        for j in 0..<inputWidth {
            var s = 0.0, s2 = 0.0
            for r in rows { let x = Double(features[r * inputWidth + j]); s += x; s2 += x * x }
            let mu = s / Double(rows.count)
            mean[j] = Float(mu)
            let sd = max(s2 / Double(rows.count) - mu * mu, 0).squareRoot()
            scale[j] = sd > 1e-6 ? Float(1 / sd) : 1
        }
        var config = OptimizerConfig(kind: .adam, learningRate: learningRate)
        config.weightDecay = weightDecay
        var order = rows
        var rng = SplitMix64(key: seed, 0x6669_74)
        var t = 0
        let x = network.input(ws, rows: batch), dLogits = network.outputGradient(ws, rows: batch)
        for _ in 0..<epochs {
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            for start in stride(from: 0, to: order.count, by: batch) {
                let n = min(batch, order.count - start)
                for k in 0..<n { load(features, row: order[start + k], into: x.row(k)) }
                network.forward(ws, rows: n, params: Arena(params), training: true)
                let logits = network.output(ws, rows: n)
                for k in 0..<n {
                    softmax(logits.row(k), count: classes, into: dLogits.row(k))
                    dLogits.row(k)[Int(labels[order[start + k]])] -= 1
                    for c in 0..<classes { dLogits.row(k)[c] /= Float(n) }
                }
                network.backward(ws, rows: n, params: Arena(params), grads: Arena(grads))
                t += 1
                applyUpdate(config, range: 0..<layout.count, params: params.pointer, gradient: grads.pointer,
                            m: m.pointer, v: v.pointer, t: t, learningRate: learningRate, gradientScale: 1)
            }
        }
    }

    /// The most likely class of each row of `features`.
    public func predict(_ features: [Float]) -> [Int] {
        let count = features.count / inputWidth
        var result = [Int](repeating: 0, count: count)
        let x = network.input(ws, rows: batch)
        for start in stride(from: 0, to: count, by: batch) {
            let n = min(batch, count - start)
            for k in 0..<n { load(features, row: start + k, into: x.row(k)) }
            network.forward(ws, rows: n, params: Arena(params), training: false)
            let logits = network.output(ws, rows: n)
            for k in 0..<n {
                let l = logits.row(k)
                var best = 0
                for c in 1..<classes where l[c] > l[best] { best = c }
                result[start + k] = best
            }
        }
        return result
    }

    /// The fraction of rows labelled 0..<classes whose prediction is their label.
    public func accuracy(_ features: [Float], labels: [Int32]) -> Double {
        let predicted = predict(features)
        var right = 0, counted = 0
        for (p, label) in zip(predicted, labels) where label >= 0 && Int(label) < classes {
            counted += 1
            if p == Int(label) { right += 1 }
        }
        return Double(right) / Double(max(counted, 1))
    }

    /// The mean over classes present in `labels` of the fraction of their rows predicted right
    /// (balanced accuracy): 1 / classes for a probe that learned nothing, even when classes are uneven.
    public func balancedAccuracy(_ features: [Float], labels: [Int32]) -> Double {
        let predicted = predict(features)
        var right = [Int](repeating: 0, count: classes), total = [Int](repeating: 0, count: classes)
        for (p, label) in zip(predicted, labels) where label >= 0 && Int(label) < classes {
            total[Int(label)] += 1
            if p == Int(label) { right[Int(label)] += 1 }
        }
        let present = (0..<classes).filter { total[$0] > 0 }
        return present.reduce(0.0) { $0 + Double(right[$1]) / Double(total[$1]) } / Double(max(present.count, 1))
    }

    func load(_ features: [Float], row: Int, into x: UnsafeMutablePointer<Float>) {
        let base = row * inputWidth
        for j in 0..<inputWidth { x[j] = (features[base + j] - mean[j]) * scale[j] }
    }

    /// The balanced accuracy of a probe that learned nothing: 1 / the classes present in `labels`.
    public static func chance(_ labels: [Int32]) -> Double {
        1 / Double(max(Set(labels.filter { $0 >= 0 }).count, 1))
    }
}
