// `autoencoder bench`: steady-state training and inference samples/s, GFLOP/s, allocations per
// step, and the single-thread sgemm rate of the model's own GEMM shapes measured in the same run.

import ArgumentParser
import Datasets
import Engine
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

    @Option(help: ArgumentHelp("Threads per shard to measure with each shard count, e.g. 1,2,4.",
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

    @Option(help: "Noise on the input while timing (default: the family's, e.g. denoiser gaussian:25/255).")
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
        let spec = noise ?? family.defaultNoise
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
        let group = RankGroup.world
        if let group, let fewest = shards.values.min(), fewest < group.size {
            throw CommandFailure(message: "--shards \(fewest) over \(group.size) MPI ranks: each rank needs at least one shard")
        }
        if threadsPerShard.values.contains(where: { $0 <= 0 || $0 > 256 }) {
            throw ValidationError("--threads-per-shard takes counts from 1 to 256")
        }
        // Patch sources take any sample index (k-th patch of image i % count): enough for a few batches.
        let benchmark = Benchmark(model: model, optimizer: optimizer, source: assembler,
                                  sampleCount: patchSize == nil ? data.count : max(data.count, 4 * batchSize),
                                  stream: stream, batchSize: batchSize, minTime: minTime, warmupSteps: warmupSteps,
                                  group: group)
        // What `train` would pick for this model and batch on these cores (CoreSplit).
        let autoThreads = CoreSplit.threads(model: config.model, batch: batchSize)
        let automatic: [String: Any] = ["auto_shards": CoreSplit.shards(threads: autoThreads),
                                        "auto_threads_per_shard": autoThreads]
        var rows: [[String: Any]] = []
        for shardCount in shards.values {
            for threads in threadsPerShard.values {
                let m = try benchmark.measure(shards: shardCount, threadsPerShard: threads)
                rows.append(row(m, name: name, stream: stream, group: group).merging(automatic) { $1 })
                if !json { print(line(m, name: name, group: group)) }
            }
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    /// The JSON object of one split (the keys tools/compare_torch.py and the docs read).
    func row(_ m: Benchmark.Measurement, name: String, stream: StreamFeed?, group: RankGroup?) -> [String: Any] {
        var row: [String: Any] = [
            "impl": "swift", "model": name, "batch": batchSize, "threads": m.shards,
            "train_sps": m.trainRate, "infer_sps": m.inferRate,
            "shards": m.shards, "batch_size": batchSize,
            "train_samples_per_second": m.trainRate, "infer_samples_per_second": m.inferRate,
            "gflops": m.gflops, "infer_gflops": m.inferGflops,
            "allocations_per_step": m.allocationsPerStep ?? NSNull(), "sgemm_gflops": m.sgemm,
            "sgemm_efficiency": m.gflops / m.sgemm, "steps": m.steps, "seconds": m.trainSeconds,
            "blas_core": BLAS.coreName, "threads_per_shard": m.threadsPerShard,
            // The kernels of the Winograd convolutions' products (conv models with many channels).
            "winograd_products": [512: "avx512", 256: "avx2"][Conv2D.productsKernel] ?? "blas",
        ]
        if let stream, let dataWait = m.dataWait {
            row["data_wait"] = dataWait
            row["cache_bytes"] = stream.cache.budget
            row["cache_decodes"] = stream.cache.counters().decodes
            row["cache_fill_seconds"] = m.fillSeconds ?? 0
        }
        if let group {
            row["mpi_ranks"] = group.size
            row["mpi_reduction"] = group.reduction.rawValue
            row["mpi_exchange_ms_per_step"] = m.exchangeMilliseconds
            row["mpi_gradient_bytes_per_step"] = m.exchangedBytes
        }
        return row
    }

    /// One split for a reader.
    func line(_ m: Benchmark.Measurement, name: String, group: RankGroup?) -> String {
        name + String(format: " batch %d shards %d%@: train %.0f samples/s (%.1f GFLOP/s, %.0f%% of sgemm "
            + "%.1f GFLOP/s on its shapes), inference %.0f samples/s, ", batchSize, m.shards,
            m.threadsPerShard > 1 ? " x \(m.threadsPerShard) threads" : "",
            m.trainRate, m.gflops, 100 * m.gflops / m.sgemm, m.sgemm, m.inferRate)
            + (m.allocationsPerStep.map { String(format: "%.1f allocations/step", $0) }
                ?? "allocations not counted (run with \(AllocationCounter.library))")
            + (m.dataWait.map { String(format: "; streamed (timed once the cache was full, %.1f s), waited for "
                + "images %.1f%% of the time", m.fillSeconds ?? 0, 100 * $0) } ?? "")
            + (group.map { String(format: "; %d MPI ranks, %@ reduction of %.2f MB per step: %.2f ms per step "
                + "(%.0f%% of the step)", $0.size, $0.reduction.rawValue, m.exchangedBytes / 1e6,
                m.exchangeMilliseconds, 100 * m.exchangeMilliseconds / (1000 * m.trainSeconds / Double(m.steps))) } ?? "")
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
