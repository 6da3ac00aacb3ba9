// Steady-state throughput of a model on its trainer, as `autoencoder bench` reports it: training
// and inference samples/s, GFLOP/s against the single-thread sgemm rate of the model's own GEMM
// shapes measured in the same run, allocations per step, and for streamed folders and MPI ranks
// the time steps waited for images and for the gradient exchange.

import Datasets
import Dispatch
import Foundation
import Kernels
import Models

public struct Benchmark {
    public let model: any AutoencoderModel
    public let optimizer: OptimizerConfig
    public let source: any BatchSource
    /// Samples the batches draw from (for patch sources, enough for a few batches).
    public let sampleCount: Int
    /// Batches of a folder streamed through a cache, instead of `sampleCount` shuffled.
    public let stream: StreamFeed?
    public var batchSize: Int
    /// Seconds of timed training (and half as long of inference) per split.
    public var minTime: Double
    public var warmupSteps: Int
    public let group: RankGroup?

    public init(model: any AutoencoderModel, optimizer: OptimizerConfig, source: any BatchSource, sampleCount: Int,
                stream: StreamFeed?, batchSize: Int, minTime: Double, warmupSteps: Int, group: RankGroup?) {
        self.model = model
        self.optimizer = optimizer
        self.source = source
        self.sampleCount = sampleCount
        self.stream = stream
        self.batchSize = batchSize
        self.minTime = minTime
        self.warmupSteps = warmupSteps
        self.group = group
    }

    /// One split's figures.
    public struct Measurement {
        public var shards: Int
        public var threadsPerShard: Int
        public var steps: Int
        public var trainSeconds: Double
        public var trainRate: Double
        public var inferRate: Double
        public var gflops: Double
        public var inferGflops: Double
        /// Aggregate single-thread sgemm GFLOP/s of as many callers as threads, on the shard's shapes.
        public var sgemm: Double
        /// Nil when the allocation counter is not loaded.
        public var allocationsPerStep: Double?
        /// Streamed: the share of the time steps waited for images, and how long the cache took to fill.
        public var dataWait: Double?
        public var fillSeconds: Double?
        /// Under MPI: the gradient exchange per step.
        public var exchangeMilliseconds: Double
        public var exchangedBytes: Double
    }

    /// Per-sample forward GEMM shapes (m x k times k x n); FLOPs are their multiply-adds x 2,
    /// training taken as 3 x forward (as the PyTorch reference measurements).
    var gemmShapes: [(m: Int, k: Int, n: Int)] { (model as? any BenchmarkShapes)?.gemmShapes ?? [] }

    /// Times `shards` x `threadsPerShard`. Under mpirun every rank runs this with its block of the
    /// shards; the timed loops go on while any rank's clock says so, so all ranks make the same steps.
    public func measure(shards shardCount: Int, threadsPerShard threads: Int) throws -> Measurement {
        let trainer = Trainer(model: model, optimizers: [optimizer], shards: shardCount, maxBatch: batchSize,
                              seed: 0, group: group, threadsPerShard: threads)
        let order = EpochOrder(count: sampleCount, seed: 0)
        var permutation = order.permutation(epoch: 0)
        var batchStart = 0, epoch = 0
        func nextBatch() throws -> ArraySlice<Int> {
            if let stream { return try stream.next() }
            if batchStart + batchSize > permutation.count {
                epoch += 1
                order.fill(&permutation, epoch: epoch)  // in place: no allocation
                batchStart = 0
            }
            defer { batchStart += batchSize }
            return permutation[batchStart..<(batchStart + batchSize)]
        }
        func goesOn(_ flag: Bool) -> Bool { group?.any(flag) ?? flag }
        for _ in 0..<warmupSteps {
            try nextBatch().withUnsafeBufferPointer { _ = trainer.trainStep(source, indices: $0, epoch: 0) }
        }
        // Streamed: timing starts once the decoders have filled the cache (the steady state of
        // a long run; the fill is reported apart).
        let fillSeconds = stream.map { $0.cache.waitUntilFull() }
        var steps = 0
        let exchangeBefore = trainer.exchangeSeconds, floatsBefore = trainer.exchangedFloats
        let allocationsBefore = AllocationCounter.count()
        let waitedBefore = stream?.waited ?? 0
        let start = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        while goesOn(elapsed() < minTime || steps < 10) {
            try nextBatch().withUnsafeBufferPointer { _ = trainer.trainStep(source, indices: $0, epoch: 0) }
            steps += 1
        }
        let trainSeconds = elapsed()
        let dataWait = stream.map { ($0.waited - waitedBefore) / trainSeconds }
        let allocations = AllocationCounter.count().map { Double($0 - allocationsBefore!) / Double(steps) }
        let trainRate = Double(steps * batchSize) / trainSeconds
        var inferSteps = 0
        let inferStart = Date()
        while goesOn(Date().timeIntervalSince(inferStart) < minTime / 2 || inferSteps < 10) {
            try nextBatch().withUnsafeBufferPointer { trainer.infer(source, indices: $0, epoch: 0) }
            inferSteps += 1
        }
        let inferRate = Double(inferSteps * batchSize) / Date().timeIntervalSince(inferStart)
        let shapes = gemmShapes
        let forwardFlops = shapes.reduce(0.0) { $0 + 2 * Double($1.m * $1.k * $1.n) }
        let perShard = batchSize / shardCount
        // Under MPI each rank measures its own shards at the same time; rank 0's rate x ranks.
        let localShards = trainer.localShards.count, ranks = Double(group?.size ?? 1)
        let rowsStack = (model as? any BenchmarkShapes)?.gemmRowsStack ?? true
        let sgemm = ranks * Self.sgemmRate(shapes: rowsStack ? shapes.map { ($0.m * perShard, $0.k, $0.n) } : shapes,
                                           threads: localShards * threads)
        return Measurement(shards: shardCount, threadsPerShard: threads, steps: steps, trainSeconds: trainSeconds,
                           trainRate: trainRate, inferRate: inferRate, gflops: 3 * forwardFlops * trainRate / 1e9,
                           inferGflops: forwardFlops * inferRate / 1e9, sgemm: sgemm, allocationsPerStep: allocations,
                           dataWait: dataWait, fillSeconds: fillSeconds,
                           exchangeMilliseconds: 1000 * (trainer.exchangeSeconds - exchangeBefore) / Double(steps),
                           exchangedBytes: Double(4 * (trainer.exchangedFloats - floatsBefore)) / Double(steps))
    }

    /// Aggregate GFLOP/s of `threads` concurrent single-thread sgemm callers running `shapes`
    /// (m x k times k x n) for ~1.5 s.
    public static func sgemmRate(shapes: [(m: Int, k: Int, n: Int)], threads: Int) -> Double {
        precondition(!shapes.isEmpty, "a benchmark needs the model's GEMM shapes")
        BLAS.useSingleThread()
        let allShapes = shapes
        let flopsPerPass = shapes.reduce(0.0) { $0 + 2 * Double($1.m * $1.k * $1.n) }
        let biggest = shapes.map { max($0.m * $0.k, $0.k * $0.n, $0.m * $0.n) }.max()!
        let counts = Unchecked(UnsafeMutablePointer<Double>.allocate(capacity: threads))
        defer { counts.value.deallocate() }
        let seconds = 1.5
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let a = FloatBuffer(count: biggest), w = FloatBuffer(count: biggest)
            let c = FloatBuffer(count: biggest)
            for i in 0..<a.count { a[i] = Float(i % 7) * 0.1 }
            var passes = 0
            let start = Date()
            while Date().timeIntervalSince(start) < seconds {
                for (m, k, n) in allShapes {
                    gemm(a.matrix(rows: m, cols: k), w.matrix(rows: k, cols: n), into: c.matrix(rows: m, cols: n))
                }
                passes += 1
            }
            counts.value[t] = Double(passes) * flopsPerPass / Date().timeIntervalSince(start)
        }
        return (0..<threads).reduce(0.0) { $0 + counts.value[$1] } / 1e9
    }
}

/// The allocation counter when `libAllocationCounter.so` is preloaded (`LD_PRELOAD`), found at
/// run time so the shipped binary carries no malloc interposer.
public enum AllocationCounter {
    typealias Count = @convention(c) () -> UInt64

    static let function: Count? = {
        guard let symbol = dlsym(nil, "allocation_count") else { return nil }
        return unsafeBitCast(symbol, to: Count.self)
    }()

    /// Allocations so far, or nil when the counter is not loaded.
    public static func count() -> UInt64? { function?() }

    /// Where the library sits: beside this executable after `swift build`.
    public static var library: String {
        // The executable's own path (/proc/self/exe), not argv[0], which is bare when found on PATH.
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        let folder = URL(fileURLWithPath: executable).deletingLastPathComponent().path
        return "LD_PRELOAD=\(folder)/libAllocationCounter.so"
    }
}

/// Batches of a streamed folder for a benchmark, in a run's windowed order, each waited for.
public final class StreamFeed {
    public let cache: ImageCache
    public let dataset: Dataset
    let indices: [Int]
    let order: WindowedOrder
    let batch: Int
    var permutation: [Int] = []
    var epoch = 0, step = 0
    var batchRows: [Int]
    /// Seconds steps waited for their images.
    public private(set) var waited = 0.0

    public init(cache: ImageCache, patch: Int?, batch: Int) {
        let index = cache.index, count = index.files.count
        var repeats = 1
        if let patch {
            let pixels = index.sizes.reduce(0) { $0 + $1.height * $1.width } / max(count, 1)
            repeats = max(1, (pixels + patch * patch - 1) / (patch * patch))
        }
        let indices = (0..<repeats).flatMap { k in (0..<count).map { k * count + $0 } }
        let order = WindowedOrder(imageOf: indices.map { $0 % count }, window: cache.defaultWindow, seed: 0)
        self.cache = cache
        self.dataset = Dataset(streaming: cache)
        self.indices = indices
        self.order = order
        self.batch = min(batch, indices.count)
        batchRows = [Int](repeating: 0, count: self.batch)
        order.fill(&permutation, epoch: 0)
        let steps = indices.count / self.batch, rows = self.batch
        cache.start(epoch: 0, step: 0, epochs: 1 << 20) { epoch in
            var permutation: [Int] = []
            order.fill(&permutation, epoch: epoch)
            let images = (0..<(steps * rows)).map { Int32(indices[permutation[$0]] % count) }
            return EpochWalk(images: images, stepStarts: (0...steps).map { $0 * rows })
        }
    }

    deinit { cache.stop() }

    /// The next batch's sample indices, once its images are in the cache.
    public func next() throws -> ArraySlice<Int> {
        if (step + 1) * batch > indices.count {
            epoch += 1
            step = 0
            order.fill(&permutation, epoch: epoch)
        }
        waited += try cache.acquire(epoch: epoch, step: step, skipBad: true)
        for r in 0..<batch { batchRows[r] = indices[permutation[step * batch + r]] }
        step += 1
        return batchRows[...]
    }
}

/// A pointer (or other value) handed to worker threads that each touch disjoint parts of what it
/// points to, so sharing it is safe although the compiler cannot check it.
public struct Unchecked<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}
