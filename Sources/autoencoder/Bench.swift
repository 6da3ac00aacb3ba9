// `autoencoder bench`: steady-state training and inference samples/s, GFLOP/s, allocations per
// step, and the single-thread sgemm rate of the model's own GEMM shapes measured in the same run.

import ArgumentParser
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

    @Option(help: ArgumentHelp("Threads per shard to measure with each shard count, e.g. 1,2,4 (default 1).",
                               valueName: "list"))
    var threadsPerShard: IntList = IntList(argument: "1")!

    @Option(help: "Seconds of timed training (and of inference) per shard count.")
    var minTime: Double = 10

    @Option(help: "Warm-up steps before timing.")
    var warmupSteps: Int = 5

    @Option(help: ArgumentHelp("Under mpirun: how ranks sum the gradient (see train --help).",
                               valueName: "ordered|allreduce"))
    var mpiReduce: RankGroup.Reduction?

    @Flag(help: "Print JSON (one object per shard count, in a list).")
    var json = false

    @Option(help: "denoiser: square training patch size (default 48).")
    var patch: Int?

    @Option(help: ArgumentHelp("PNG folders: time training streamed through a cache of this size (e.g. 2G) when "
        + "the decoded images do not fit in it, as train does; rows report the time steps waited for images.",
        valueName: "size"))
    var cacheMemory: ByteSize?

    @Option(help: ArgumentHelp("With --cache-memory: decoder threads (default: one per 8 cores).", valueName: "N"))
    var decoders: Int?

    @Option(help: "Noise on the input while timing (denoiser default gaussian:25/255).")
    var noise: String?

    func run() throws {
        if let mpiReduce {
            guard let group = RankGroup.world else {
                throw ValidationError("--mpi-reduce applies to runs launched by mpirun (mpirun -np R autoencoder bench ...)")
            }
            group.reduction = mpiReduce
        }
        let family = modelOptions.model ?? .deep
        let patchSize = patch ?? family.defaultPatch
        let stream = try streamedFeed(patch: patchSize)
        let data = try stream?.dataset ?? dataOptions.load(allowMixedSizes: patchSize != nil, sequencesHint: "bench times "
            + "image data (lstm/gru read its rows, as M3/M4: --data mnist-sample); train a sequence model to time "
            + "sequence files").train
        let shape: ImageShape
        if let patchSize {
            shape = ImageShape(channels: data.channels, height: patchSize, width: patchSize)
        } else if let fixed = data.fixedShape {
            shape = fixed
        } else {
            throw CommandFailure(message: "\(data.source): images differ in size; pass --resize WxH or --patch N")
        }
        let optimizer = modelOptions.optimizerConfig()
        var config = TrainingConfig(family: family, model: try modelOptions.modelSpec(family: family),
                                    optimizer: optimizer, data: dataOptions.data)
        config.patch = patchSize
        try config.resolveModel(rowShape: shape)
        try config.resolveLabels(classCount: data.classCount)
        let model = config.makeModel(rowShape: shape)
        let spec = noise ?? (family == .denoiser ? "gaussian:25/255" : family.defaultNoise)
        let corruption = try Corruption(parsing: spec)
        let assembler: any BatchSource = try BatchAssembler(dataset: data, corruption: corruption, seed: 0,
                                                            patch: patchSize.map { ($0, $0) })
        // The shipped denoiser under the name tools/torch_denoiser.py uses; the PyTorch reference
        // models by their names (M1-M7); others described.
        var name = config.referenceName ?? config.modelDescription
        if let d = config.model.as(ConvDenoiserConfig.self), d.depth == 2 && d.width == 32 && d.residual && d.activation == .relu
            && d.channels == 1 && patchSize == 48 {
            name = "denoiser"
        }
        // Per-sample forward GEMM shapes (m x k times k x n); FLOPs are their multiply-adds x 2,
        // training taken as 3 x forward (as ../shared/bench).
        let shapes = model as? any BenchmarkShapes, gemmShapes = shapes?.gemmShapes ?? []
        let forwardFlops = gemmShapes.reduce(0.0) { $0 + 2 * Double($1.m * $1.k * $1.n) }
        var rows: [[String: Any]] = []
        // Under mpirun every rank runs this loop with its block of the shards; the timed loops go
        // on while any rank's clock says so, so all ranks make the same steps.
        let group = RankGroup.world
        func goesOn(_ flag: Bool) -> Bool { group?.any(flag) ?? flag }
        if let group, let fewest = shards.values.min(), fewest < group.size {
            throw CommandFailure(message: "--shards \(fewest) over \(group.size) MPI ranks: each rank needs at least one shard")
        }
        if threadsPerShard.values.contains(where: { $0 <= 0 || $0 > 256 }) {
            throw ValidationError("--threads-per-shard takes counts from 1 to 256")
        }
        let splits = shards.values.flatMap { count in threadsPerShard.values.map { (count, $0) } }
        for (shardCount, threads) in splits {
            let trainer = Trainer(model: model, optimizers: [optimizer], shards: shardCount, maxBatch: batchSize,
                                  seed: 0, group: group, threadsPerShard: threads)
            // Patch sources take any sample index (k-th patch of image i % count): enough for a few batches.
            let order = EpochOrder(count: patchSize == nil ? data.count : max(data.count, 4 * batchSize),
                                   seed: 0)
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
            for _ in 0..<warmupSteps {
                try nextBatch().withUnsafeBufferPointer { _ = trainer.trainStep(assembler, indices: $0, epoch: 0) }
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
                try nextBatch().withUnsafeBufferPointer { _ = trainer.trainStep(assembler, indices: $0, epoch: 0) }
                steps += 1
            }
            let trainSeconds = elapsed()
            let dataWait = stream.map { ($0.waited - waitedBefore) / trainSeconds }
            let exchangeMilliseconds = 1000 * (trainer.exchangeSeconds - exchangeBefore) / Double(steps)
            let exchangedBytes = Double(4 * (trainer.exchangedFloats - floatsBefore)) / Double(steps)
            let allocations = AllocationCounter.count().map { Double($0 - allocationsBefore!) / Double(steps) }
            let trainRate = Double(steps * batchSize) / trainSeconds
            var inferSteps = 0
            let inferStart = Date()
            while goesOn(Date().timeIntervalSince(inferStart) < minTime / 2 || inferSteps < 10) {
                try nextBatch().withUnsafeBufferPointer { _ = trainer.evaluate(assembler, indices: $0, epoch: 0) }
                inferSteps += 1
            }
            let inferRate = Double(inferSteps * batchSize) / Date().timeIntervalSince(inferStart)
            let gflops = 3 * forwardFlops * trainRate / 1e9
            let perShard = batchSize / shardCount
            // Under MPI each rank measures its own shards at the same time; rank 0's rate x ranks.
            let localShards = trainer.localShards.count, ranks = Double(group?.size ?? 1)
            // With threads per shard: as many single-thread callers as threads, on a shard's shapes.
            let sgemm = ranks * (shapes?.gemmRowsStack ?? true
                ? sgemmRate(shapes: gemmShapes.map { ($0.m * perShard, $0.k, $0.n) }, threads: localShards * threads)
                : sgemmRate(shapes: gemmShapes, threads: localShards * threads))
            var row: [String: Any] = [
                "impl": "swift", "model": name, "batch": batchSize, "threads": shardCount,
                "train_sps": trainRate, "infer_sps": inferRate,
                "shards": shardCount, "batch_size": batchSize,
                "train_samples_per_second": trainRate, "infer_samples_per_second": inferRate,
                "gflops": gflops, "infer_gflops": forwardFlops * inferRate / 1e9,
                "allocations_per_step": allocations ?? NSNull(), "sgemm_gflops": sgemm,
                "sgemm_efficiency": gflops / sgemm, "steps": steps, "seconds": trainSeconds,
                "blas_core": BLAS.coreName, "threads_per_shard": threads,
                // The kernels of the Winograd convolutions' products (conv models with many channels).
                "winograd_products": [512: "avx512", 256: "avx2"][Conv2D.productsKernel] ?? "blas",
            ]
            if let stream, let dataWait {
                row["data_wait"] = dataWait
                row["cache_bytes"] = stream.cache.budget
                row["cache_decodes"] = stream.cache.counters().decodes
                row["cache_fill_seconds"] = fillSeconds ?? 0
            }
            if let group {
                row["mpi_ranks"] = group.size
                row["mpi_reduction"] = group.reduction.rawValue
                row["mpi_exchange_ms_per_step"] = exchangeMilliseconds
                row["mpi_gradient_bytes_per_step"] = exchangedBytes
            }
            rows.append(row)
            if !json {
                print(name + String(format: " batch %d shards %d%@: train %.0f samples/s (%.1f GFLOP/s, %.0f%% of sgemm "
                    + "%.1f GFLOP/s on its shapes), inference %.0f samples/s, ", batchSize, shardCount,
                    threads > 1 ? " x \(threads) threads" : "",
                    trainRate, gflops, 100 * gflops / sgemm, sgemm, inferRate)
                    + (allocations.map { String(format: "%.1f allocations/step", $0) }
                        ?? "allocations not counted (run with \(AllocationCounter.library))")
                    + (dataWait.map { String(format: "; streamed (timed once the cache was full, %.1f s), waited for "
                        + "images %.1f%% of the time", fillSeconds ?? 0, 100 * $0) } ?? "")
                    + (group.map { String(format: "; %d MPI ranks, %@ reduction of %.2f MB per step: %.2f ms per step "
                        + "(%.0f%% of the step)", $0.size, $0.reduction.rawValue, exchangedBytes / 1e6,
                        exchangeMilliseconds, 100 * exchangeMilliseconds / (1000 * trainSeconds / Double(steps))) } ?? ""))
            }
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    /// Aggregate GFLOP/s of `threads` concurrent single-thread sgemm callers running the model's
    /// forward GEMM shapes (m x k times k x n) for ~1.5 s.
    func sgemmRate(shapes: [(m: Int, k: Int, n: Int)], threads: Int) -> Double {
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

struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// The allocation counter when `libAllocationCounter.so` is preloaded (`LD_PRELOAD`), found at
/// run time so the shipped binary carries no malloc interposer.
enum AllocationCounter {
    typealias Count = @convention(c) () -> UInt64

    static let function: Count? = {
        guard let symbol = dlsym(nil, "allocation_count") else { return nil }
        return unsafeBitCast(symbol, to: Count.self)
    }()

    /// Allocations so far, or nil when the counter is not loaded.
    static func count() -> UInt64? { function?() }

    /// Where the library sits: beside this executable after `swift build`.
    static var library: String {
        let folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        return "LD_PRELOAD=\(folder)/libAllocationCounter.so"
    }

}

extension Bench {
    /// With `--cache-memory`, a PNG folder whose decoded images do not fit in it, read as `train`
    /// reads it (windowed order, decoder threads ahead of the steps); nil otherwise.
    func streamedFeed(patch: Int?) throws -> StreamFeed? {
        guard let cacheMemory else { return nil }
        let options = dataOptions.folderOptions(allowMixedSizes: patch != nil)
        let found = try DataSource.index(dataOptions.data, options: options)
        guard let index = found?.train, index.totalSampleBytes > cacheMemory.bytes else { return nil }
        if RankGroup.world != nil { throw CommandFailure(message: "bench --cache-memory streams in one process") }
        let cache = ImageCache(index: index, options: options, budget: cacheMemory.bytes,
                               decoders: decoders ?? TrainingConfig.defaultDecoders)
        try cache.check(stepImages: batchSize)
        return StreamFeed(cache: cache, patch: patch, batch: batchSize)
    }
}

/// Batches of a streamed folder for `bench`, in train's windowed order, each waited for.
final class StreamFeed {
    let cache: ImageCache
    let dataset: Dataset
    let indices: [Int]
    let order: WindowedOrder
    let batch: Int
    var permutation: [Int] = []
    var epoch = 0, step = 0
    var batchRows: [Int]
    /// Seconds steps waited for their images.
    var waited = 0.0

    init(cache: ImageCache, patch: Int?, batch: Int) {
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
    func next() throws -> ArraySlice<Int> {
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
