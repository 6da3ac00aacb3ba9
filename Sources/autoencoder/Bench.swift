// `autoencoder bench`: steady-state training and inference samples/s, GFLOP/s, allocations per
// step, and the single-thread sgemm rate of the model's own GEMM shapes measured in the same run.

import ArgumentParser
import CAllocationCounter
import Datasets
import Dispatch
import Foundation
import Kernels
import Layers
import Models
import Training

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training and inference throughput of a model at given shard counts.")

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Minibatch size.")
    var batchSize: Int = 256

    @Option(help: ArgumentHelp("Shard counts to measure, e.g. 1,2.", valueName: "list"))
    var shards: IntList = IntList(argument: "1")!

    @Option(help: "Seconds of timed training (and of inference) per shard count.")
    var minTime: Double = 10

    @Option(help: "Warm-up steps before timing.")
    var warmupSteps: Int = 5

    @Flag(help: "Print JSON (one object per shard count, in a list).")
    var json = false

    func run() throws {
        let source = try dataOptions.load()
        guard let shape = source.train.fixedShape else {
            throw CommandFailure(message: "\(source.train.source): images differ in size; pass --resize WxH")
        }
        let config = try modelOptions.denseConfig(inputWidth: shape.count)
        if let problem = config.validationError() { throw CommandFailure(message: problem) }
        guard config.widths[0] == shape.count else {
            throw CommandFailure(message: "--layers starts with \(config.widths[0]), the data has \(shape.count) values")
        }
        let model = DenseAutoencoder(config)
        let assembler: any BatchSource = try BatchAssembler(dataset: source.train, corruption: .none, seed: 0)
        let optimizer = try modelOptions.optimizerConfig()
        let name = isM1(config, optimizer) ? "M1" : "dense " + config.widths.map(String.init).joined(separator: "-")
        // Analytic multiply-adds x 2 of the dense layers; training taken as 3 x forward (as ../shared/bench).
        var macs = 0
        for i in 0..<(config.widths.count - 1) { macs += 2 * config.widths[i] * config.widths[i + 1] }
        let forwardFlops = Double(2 * macs)
        var rows: [[String: Any]] = []
        for shardCount in shards.values {
            let trainer = Trainer(model: model, optimizers: [optimizer], shards: shardCount, maxBatch: batchSize,
                                  seed: 0)
            let order = EpochOrder(count: source.train.count, seed: 0)
            var permutation = order.permutation(epoch: 0)
            var batchStart = 0, epoch = 0
            func nextBatch() -> ArraySlice<Int> {
                if batchStart + batchSize > permutation.count {
                    epoch += 1
                    order.fill(&permutation, epoch: epoch)  // in place: no allocation
                    batchStart = 0
                }
                defer { batchStart += batchSize }
                return permutation[batchStart..<(batchStart + batchSize)]
            }
            for _ in 0..<warmupSteps {
                nextBatch().withUnsafeBufferPointer { _ = trainer.trainStep(assembler, indices: $0, epoch: 0) }
            }
            var steps = 0
            let allocationsBefore = allocation_count()
            let start = DispatchTime.now().uptimeNanoseconds
            func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            while elapsed() < minTime || steps < 10 {
                nextBatch().withUnsafeBufferPointer { _ = trainer.trainStep(assembler, indices: $0, epoch: 0) }
                steps += 1
            }
            let trainSeconds = elapsed()
            let allocations = Double(allocation_count() - allocationsBefore) / Double(steps)
            let trainRate = Double(steps * batchSize) / trainSeconds
            var inferSteps = 0
            let inferStart = Date()
            while Date().timeIntervalSince(inferStart) < minTime / 2 || inferSteps < 10 {
                nextBatch().withUnsafeBufferPointer { _ = trainer.evaluate(assembler, indices: $0, epoch: 0) }
                inferSteps += 1
            }
            let inferRate = Double(inferSteps * batchSize) / Date().timeIntervalSince(inferStart)
            let gflops = 3 * forwardFlops * trainRate / 1e9
            let sgemm = sgemmRate(widths: config.widths, rows: batchSize / shardCount, threads: shardCount)
            let row: [String: Any] = [
                "impl": "swift", "model": name, "batch": batchSize, "threads": shardCount,
                "train_sps": trainRate, "infer_sps": inferRate,
                "shards": shardCount, "batch_size": batchSize,
                "train_samples_per_second": trainRate, "infer_samples_per_second": inferRate,
                "gflops": gflops, "infer_gflops": forwardFlops * inferRate / 1e9,
                "allocations_per_step": allocations, "sgemm_gflops": sgemm,
                "sgemm_efficiency": gflops / sgemm, "steps": steps, "seconds": trainSeconds,
                "blas_core": BLAS.coreName,
            ]
            rows.append(row)
            if !json {
                print(String(format: "%@ batch %d shards %d: train %.0f samples/s (%.1f GFLOP/s, %.0f%% of sgemm %.1f "
                    + "GFLOP/s x shards), inference %.0f samples/s, %.1f allocations/step", name, batchSize, shardCount,
                    trainRate, gflops, 100 * gflops / sgemm, sgemm, inferRate, allocations))
            }
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    func isM1(_ c: DenseAutoencoderConfig, _ o: OptimizerConfig) -> Bool {
        c.widths == [784, 1000, 500, 250, 30] && c.hiddenActivation == .relu && c.codeActivation == .identity
            && c.outputActivation == .sigmoid && c.loss == .mse && o.kind == .adam && c.dropout == 0
            && c.sparsity == .none && c.contractive == 0 && !c.tiedWeights && c.inputDropout == 0
    }

    /// Aggregate GFLOP/s of `threads` concurrent single-thread sgemm callers running the model's
    /// forward GEMM shapes (rows x in -> rows x out, encoder and mirrored decoder) for ~1.5 s.
    func sgemmRate(widths: [Int], rows: Int, threads: Int) -> Double {
        BLAS.useSingleThread()
        var shapes: [(Int, Int)] = []
        for i in 0..<(widths.count - 1) { shapes.append((widths[i], widths[i + 1])) }
        shapes += shapes.reversed().map { ($0.1, $0.0) }
        let allShapes = shapes
        let flopsPerPass = shapes.reduce(0.0) { $0 + 2 * Double(rows * $1.0 * $1.1) }
        let biggest = shapes.map { max($0.0, $0.1) }.max()!
        let counts = Unchecked(UnsafeMutablePointer<Double>.allocate(capacity: threads))
        defer { counts.value.deallocate() }
        let seconds = 1.5
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let a = FloatBuffer(count: rows * biggest), w = FloatBuffer(count: biggest * biggest)
            let c = FloatBuffer(count: rows * biggest)
            for i in 0..<a.count { a[i] = Float(i % 7) * 0.1 }
            var passes = 0
            let start = Date()
            while Date().timeIntervalSince(start) < seconds {
                for (k, n) in allShapes {
                    gemm(a.matrix(rows: rows, cols: k), w.matrix(rows: n, cols: k), transposeB: true,
                         into: c.matrix(rows: rows, cols: n))
                }
                passes += 1
            }
            counts.value[t] = Double(passes) * flopsPerPass / Date().timeIntervalSince(start)
        }
        return (0..<threads).reduce(0.0) { $0 + counts.value[$1] } / 1e9
    }
}

struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
