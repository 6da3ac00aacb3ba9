// The data-parallel engine. One step: every shard assembles and corrupts its own rows and runs
// forward + backward into its own workspace and gradient slab, one worker per shard; then the
// all-reduce runs in parallel over chunks of the parameter vector, summing the slabs in shard
// order 0..S-1, fused with the optimizer update of that chunk. Parallel loops run on the worker
// pool of Kernels.Parallel (no allocation per loop); nothing is allocated per step.

import CKernels
import Foundation
import Datasets
import Kernels
import Layers
import Models

/// Flat optimizer state: first and second moments with the parameters' layout, one block per
/// set of phases whose groups do not overlap. Phases that update the same parameters (an
/// adversarial generator phase and the reconstruction phase both move the encoder) keep their
/// own moments, as separate optimizers would.
// @unchecked Sendable: the moments are written by the update's chunks, each its own range, between steps.
public final class OptimizerState: @unchecked Sendable {
    public let m: FloatBuffer
    public let v: FloatBuffer
    /// Updates applied so far, per phase.
    public var updates: [Int]
    /// Where each phase's moments start in `m` and `v` (a multiple of the parameter count).
    public let momentOffsets: [Int]

    init(count: Int, phases: [Phase]) {
        let blocks = Self.momentBlocks(phases)
        let blockCount = (blocks.max() ?? 0) + 1
        m = FloatBuffer(count: count * blockCount)
        v = FloatBuffer(count: count * blockCount)
        updates = [Int](repeating: 0, count: phases.count)
        momentOffsets = blocks.map { $0 * count }
    }

    /// The moment block of each phase: the first whose phases' groups it does not overlap.
    public static func momentBlocks(_ phases: [Phase]) -> [Int] {
        var blocks: [[Range<Int>]] = []
        return phases.map { phase in
            let block = blocks.firstIndex { $0.allSatisfy { !$0.overlaps(phase.group) } } ?? blocks.count
            if block == blocks.count { blocks.append([]) }
            blocks[block].append(phase.group)
            return block
        }
    }
}

// @unchecked Sendable: within a step each shard writes only its workspace and slab, each reduce chunk
// its own range; everything else changes on the calling thread between parallel regions.
public final class Trainer: @unchecked Sendable {
    public let model: any AutoencoderModel
    /// False for a trainer made to evaluate (`init(evaluating:)`): no gradient slabs, no moments.
    public let trains: Bool
    /// The model's capabilities the steps ask about, looked up once.
    let statisticModel: (any BatchStatisticModel)?
    let statisticWidth: Int
    let phaseSchedule: (any PhaseScheduledModel)?
    let forwardsInBackward: Bool
    public let params: FloatBuffer
    /// Model training state kept across steps (running averages).
    public let modelState: FloatBuffer
    public let optimizers: [OptimizerConfig]
    public let optimizerState: OptimizerState
    /// Shards of every minibatch, over all ranks of an MPI job.
    public let shards: Int
    public let maxBatch: Int
    public let seed: UInt64
    /// The MPI job this trainer is one rank of (nil: one process runs every shard).
    public let group: RankGroup?
    /// Threads each shard runs its GEMMs on (its team; 1: the shard's worker alone).
    public let threadsPerShard: Int
    /// One team per local shard when `threadsPerShard` > 1.
    let teams: [OpaquePointer]
    /// The shards this process runs: all of them, or its rank's contiguous block.
    public let localShards: Range<Int>
    /// Every rank's block of shards (one block without MPI).
    public let rankBlocks: [Range<Int>]
    /// The workspaces of the local shards (shard `localShards.lowerBound + i` at `i`).
    public let workspaces: [Workspace]
    /// Each local shard's workspace (activations and gradient slab), for tests and tools.
    public var shardWorkspaces: [Workspace] { workspaces }
    let statistic: FloatBuffer
    /// Every shard's statistic, gathered from the ranks (MPI only).
    let gatheredStatistics: FloatBuffer
    /// Loss sums of every shard (all ranks' after an exchange).
    let shardSums: UnsafeMutablePointer<LossSums>
    /// Where a rank receives the running gradient sum from the rank before it (ordered reduction).
    let receiveBuffer: FloatBuffer
    /// Floats per message of the ordered reduction (the ranks form a pipeline of pieces): at least
    /// 4 pieces per hop, so a small gradient also pipelines over many ranks, within these bounds.
    static let messageFloats = 16_384...262_144
    /// MPI requests of the ordered reduction's messages: four per piece (each way, sent and received).
    let requests: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    /// Seconds and floats of gradient exchanged between ranks so far (MPI only).
    public private(set) var exchangeSeconds = 0.0
    public private(set) var exchangedFloats = 0
    /// Floats per all-reduce chunk: large enough to amortise dispatch, small for load balance.
    let chunkSize = 32_768
    let chunkNormSquares: UnsafeMutablePointer<Double>
    let chunkCapacity: Int
    /// Each local shard's gradient slab, in shard order.
    let slabPointers: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
    var cachedPlan: (rows: Int, plan: ShardPlan)?

    /// - Parameters:
    ///   - optimizers: one per phase of the model (a single one is used for every phase).
    ///   - group: the MPI job (each rank runs its block of the `shards`); nil for one process.
    ///   - threadsPerShard: threads per shard for its GEMMs (bit-identical per value; within float
    ///     rounding of one thread: OpenBLAS blocks each smaller call its own way).
    public convenience init(model: any AutoencoderModel, optimizers: [OptimizerConfig], shards: Int, maxBatch: Int,
                            seed: UInt64, group: RankGroup? = nil, threadsPerShard: Int = 1) {
        self.init(model: model, optimizers: optimizers, shards: shards, maxBatch: maxBatch, seed: seed, group: group,
                  threadsPerShard: threadsPerShard, trains: true)
    }

    /// A trainer that only evaluates (losses, reconstructions, codes, decoding): the parameters
    /// and the shards' activations, without gradient slabs or optimizer moments.
    public convenience init(evaluating model: any AutoencoderModel, shards: Int, maxBatch: Int, seed: UInt64,
                            group: RankGroup? = nil, threadsPerShard: Int = 1) {
        self.init(model: model, optimizers: [OptimizerConfig()], shards: shards, maxBatch: maxBatch, seed: seed,
                  group: group, threadsPerShard: threadsPerShard, trains: false)
    }

    init(model: any AutoencoderModel, optimizers: [OptimizerConfig], shards: Int, maxBatch: Int,
         seed: UInt64, group: RankGroup?, threadsPerShard: Int, trains: Bool) {
        precondition(threadsPerShard > 0, "threads per shard must be positive")
        precondition(shards > 0 && maxBatch > 0, "shards and batch must be positive")
        precondition(shards >= (group?.size ?? 1), "fewer shards than ranks")
        BLAS.useSingleThread()  // the shards are the parallelism
        precondition(optimizers.count == 1 || optimizers.count == model.phases.count,
                     "give one optimizer, or one per phase")
        self.model = model
        self.trains = trains
        statisticModel = model as? any BatchStatisticModel
        statisticWidth = statisticModel?.statisticWidth ?? 0
        phaseSchedule = model as? any PhaseScheduledModel
        forwardsInBackward = (model as? any FusedTrainingModel)?.forwardsInBackward ?? false
        self.optimizers = optimizers.count == 1
            ? [OptimizerConfig](repeating: optimizers[0], count: model.phases.count) : optimizers
        self.shards = shards
        self.maxBatch = maxBatch
        self.seed = seed
        self.group = group
        rankBlocks = group.map { $0.blocks(shards: shards) } ?? [0..<shards]
        localShards = rankBlocks[group?.rank ?? 0]
        self.threadsPerShard = threadsPerShard
        teams = threadsPerShard > 1 ? localShards.map { _ in ae_team_create(Int32(threadsPerShard))! } : []
        params = FloatBuffer(count: model.layout.count)
        modelState = FloatBuffer(count: statisticModel?.stateWidth ?? 0)
        optimizerState = OptimizerState(count: trains ? model.layout.count : 0, phases: model.phases)
        let rowsPerShard = (maxBatch + shards - 1) / shards
        workspaces = localShards.map { _ in model.makeWorkspace(maxRows: rowsPerShard, gradients: trains) }
        statistic = FloatBuffer(count: statisticWidth)
        gatheredStatistics = FloatBuffer(count: group == nil ? 0 : shards * statisticWidth)
        receiveBuffer = FloatBuffer(count: group == nil || !trains ? 0 : model.layout.count)
        let smallest = Self.messageFloats.lowerBound
        let requestCount = group == nil ? 1 : 4 * ((model.layout.count + smallest - 1) / smallest)
        requests = .allocate(capacity: requestCount)
        requests.initialize(repeating: nil, count: requestCount)
        shardSums = .allocate(capacity: shards)
        shardSums.initialize(repeating: LossSums(), count: shards)
        chunkCapacity = (model.layout.count + chunkSize - 1) / chunkSize + 1
        chunkNormSquares = .allocate(capacity: chunkCapacity)
        chunkNormSquares.initialize(repeating: 0, count: chunkCapacity)
        slabPointers = .allocate(capacity: workspaces.count)
        for s in workspaces.indices { slabPointers[s] = workspaces[s].gradients.pointer }
        model.initialize(params: Arena(params), seed: seed)
    }

    deinit {
        for team in teams { ae_team_destroy(team) }
        requests.deallocate()
        shardSums.deallocate()
        chunkNormSquares.deallocate()
        slabPointers.deallocate()
    }

    /// The plan for `rows`, kept while the batch size stays the same (no allocation per step).
    public func plan(rows: Int) -> ShardPlan {
        if let cached = cachedPlan, cached.rows == rows { return cached.plan }
        let plan = ShardPlan(rows: rows, shards: shards)
        cachedPlan = (rows, plan)
        return plan
    }

    /// After a step with a non-finite loss: the first layer whose output was not finite, looking
    /// at each shard's rows of the last batch.
    public func nonFiniteLayer() -> String? {
        guard let plan = cachedPlan?.plan else { return nil }
        for s in localShards where !plan.ranges[s].isEmpty {
            if let name = (model as? any NonFiniteDiagnosis)?.firstNonFiniteLayer(workspace(s), rows: plan.ranges[s].count) { return name }
        }
        return nil
    }

    /// Threads of the all-reduce and update: every thread of every local shard (chunks are
    /// independent, so the count does not change the result).
    var reduceWorkers: Int { workspaces.count * threadsPerShard }

    /// The workspace of shard `s` (one of the local shards).
    @inline(__always)
    public func workspace(_ s: Int) -> Workspace { workspaces[s - localShards.lowerBound] }

    /// Runs `job` on every local shard, one worker each.
    @inline(__always)
    func runLocalShards(_ job: inout ShardJob) {
        Parallel.run(localShards.count, workers: localShards.count, job: &job, ShardJob.task)
    }

    /// Updates applied by phase 0 (the step counter that checkpoints record).
    public var step: Int { optimizerState.updates[0] }

    /// The learning rate of `phase`'s next update (its schedule applied).
    public func learningRate(phase: Int = 0) -> Float {
        let config = optimizers[phase]
        return config.learningRate * config.schedule.factor(at: optimizerState.updates[phase])
    }

    /// Fills each shard's input/target rows for `indices` of `epoch`, and its row keys.
    func assemble(_ assembler: any BatchSource, indices: UnsafeBufferPointer<Int>, epoch: Int,
                  plan: ShardPlan, shard s: Int) {
        let range = plan.ranges[s]
        guard !range.isEmpty else { return }
        let ws = workspace(s)
        let ids = UnsafeBufferPointer(rebasing: indices[range])
        assembler.fill(indices: ids, epoch: epoch, clean: model.target(ws, rows: range.count).base,
                       corrupted: model.input(ws, rows: range.count).base)
        assembler.fillLabels(indices: ids, into: ws.labels)
        for r in 0..<ids.count {
            ws.rowKeys[r] = SplitMix64(key: seed, UInt64(epoch), UInt64(ids[r]), 0x6472_6F70).state
        }
    }

    /// One training step on the samples `indices` (a minibatch) of `epoch`. Returns the loss sums
    /// over the batch (divide by the batch size for per-image figures). Pass the same `source`
    /// existential every step: converting a struct to `any BatchSource` per call would allocate.
    @discardableResult
    public func trainStep(_ source: any BatchSource, indices: UnsafeBufferPointer<Int>, epoch: Int) -> LossSums {
        let rows = indices.count
        precondition(trains, "a trainer made to evaluate cannot train")
        precondition(rows > 0 && rows <= maxBatch, "batch of \(rows) rows, trainer sized for \(maxBatch)")
        var job = ShardJob(trainer: self, source: source, indices: indices,
                           context: StepContext(step: step, epoch: epoch, phase: 0, training: true),
                           plan: plan(rows: rows), path: .train)
        var total = LossSums()
        var first = true
        for phase in 0..<model.phases.count where phaseSchedule?.runsPhase(phase, epoch: epoch) ?? true {
            job.context.phase = phase
            job.assemblesBatch = first
            first = false
            runShards(&job)
            gatherShardSums()
            for s in 0..<shards { total += shardSums[s] }
            reduceAndUpdate(phase: phase, epoch: epoch)
        }
        return total
    }

    /// Forward and backward of `job` on every local shard: one parallel region, or, for a model
    /// whose rows share a batch statistic, the forwards, the statistic summed over all shards,
    /// then the backwards.
    func runShards(_ job: inout ShardJob) {
        guard statisticWidth > 0 else {
            job.stage = .both
            runLocalShards(&job)
            return
        }
        job.stage = .forward
        runLocalShards(&job)
        reduceStatistic(plan: job.plan, globalRows: job.indices.count, training: job.path == .train)
        job.stage = .backward
        runLocalShards(&job)
    }

    /// Every rank's shard loss sums reach every rank (MPI).
    func gatherShardSums() {
        group?.allgather(shardSums, blocks: rankBlocks, stride: MemoryLayout<LossSums>.stride)
    }

    /// Sums the shards' statistics in shard order into `statistic` and lets the model finish it.
    func reduceStatistic(plan: ShardPlan, globalRows: Int, training: Bool) {
        let width = statisticWidth
        statistic.zero()
        if let group {
            // Every shard's statistic on every rank, then the same sum in shard order.
            for s in localShards {
                (gatheredStatistics.pointer + s * width).update(from: workspace(s).statistics.pointer, count: width)
            }
            group.allgather(gatheredStatistics.pointer, blocks: rankBlocks, stride: width * MemoryLayout<Float>.stride)
        }
        for s in 0..<shards where !plan.ranges[s].isEmpty {
            let part = group == nil ? workspace(s).statistics.pointer : gatheredStatistics.pointer + s * width
            for j in 0..<width { statistic[j] += part[j] }
        }
        statisticModel?.finishStatistic(statistic.pointer, globalRows: globalRows, state: modelState.pointer,
                              training: training)
    }

    /// All-reduce fused with the update: parallel (one worker per shard) over chunks of the
    /// phase's parameter group; each chunk sums slabs 1..S-1 into slab 0 in order, zeroes them,
    /// then updates. Chunks are independent, so the result does not depend on the workers.
    func reduceAndUpdate(phase: Int, epoch: Int) {
        var config = optimizers[phase]
        if let initial = config.initialMomentum, epoch < config.initialMomentumEpochs ?? 0 { config.momentum = initial }
        optimizerState.updates[phase] += 1
        let t = optimizerState.updates[phase]
        var job = ReduceJob(config: config, group: model.phases[phase].group, chunkSize: chunkSize,
                            slabs: slabPointers, slabCount: workspaces.count, params: params.pointer,
                            m: optimizerState.m.pointer + optimizerState.momentOffsets[phase],
                            v: optimizerState.v.pointer + optimizerState.momentOffsets[phase], t: t,
                            learningRate: config.learningRate * config.schedule.factor(at: t - 1),
                            norms: chunkNormSquares, gradientScale: 1, pass: .sumAndUpdate)
        let workers = reduceWorkers
        if let group, group.size > 1 {
            // Slab 0 of every rank ends with the sum over all shards; then each rank updates alike.
            exchangeGradients(group, job: &job)
            job.pass = .update
        }
        if let clip = config.clipNorm {
            // Two passes: the update needs the norm of the whole group's summed gradient.
            job.pass = job.pass == .update ? .measure : .sumAndMeasure
            Parallel.run(job.chunks, workers: workers, job: &job, ReduceJob.task)
            var total = 0.0
            for c in 0..<job.chunks { total += job.norms[c] }
            let norm = Float(total.squareRoot())
            job.gradientScale = norm > clip ? clip / (norm + 1e-6) : 1
            job.pass = .update
        }
        Parallel.run(job.chunks, workers: workers, job: &job, ReduceJob.task)
        discardGradients(of: model.phases[phase])
    }

    /// The ordered sum in pieces of `messageFloats`, all messages in flight at once: forward, rank r
    /// receives piece k's sum of the shards before its block, adds its shards in order (x + y ==
    /// y + x exactly, so slab 0 may take the received sum) and passes it on; backward, the last
    /// rank's totals travel back rank by rank. With two ranks both directions overlap.
    func orderedExchange(_ group: RankGroup, slab slab0: UnsafeMutablePointer<Float>, count: Int, first: Int) {
        let rank = group.rank, last = group.size - 1
        let perHop = (count + 4 * last - 1) / (4 * last)
        let messageFloats = min(max(perHop, Self.messageFloats.lowerBound), Self.messageFloats.upperBound)
        let pieces = (count + messageFloats - 1) / messageFloats
        let sendForward = requests, receiveForward = requests + pieces
        let sendBack = requests + 2 * pieces, receiveBack = requests + 3 * pieces
        func piece(_ k: Int) -> (start: Int, count: Int) { (k * messageFloats, min(messageFloats, count - k * messageFloats)) }
        if rank > 0 {
            for k in 0..<pieces {
                let (start, n) = piece(k)
                group.startReceive(receiveBuffer.pointer + start, count: n, from: rank - 1, tag: k,
                                   request: receiveForward + k)
            }
            for k in 0..<pieces {
                let (start, n) = piece(k)
                group.wait(receiveForward + k)
                ae_add_and_zero(slab0 + start, receiveBuffer.pointer + start, n)
                for s in 1..<workspaces.count { ae_add_and_zero(slab0 + start, slabPointers[s] + first + start, n) }
                if rank == last {
                    group.startSend(slab0 + start, count: n, to: rank - 1, tag: pieces + k, request: sendBack + k)
                } else {
                    group.startSend(slab0 + start, count: n, to: rank + 1, tag: k, request: sendForward + k)
                }
            }
        } else {
            for k in 0..<pieces {
                let (start, n) = piece(k)
                group.startSend(slab0 + start, count: n, to: 1, tag: k, request: sendForward + k)
            }
        }
        if rank < last {
            // A piece's buffer takes the total once its partial sum has left.
            for k in 0..<pieces {
                let (start, n) = piece(k)
                group.wait(sendForward + k)
                group.startReceive(slab0 + start, count: n, from: rank + 1, tag: pieces + k, request: receiveBack + k)
            }
            for k in 0..<pieces {
                let (start, n) = piece(k)
                group.wait(receiveBack + k)
                if rank > 0 {
                    group.startSend(slab0 + start, count: n, to: rank - 1, tag: pieces + k, request: sendBack + k)
                }
            }
        }
        if rank > 0 {
            for k in 0..<pieces { group.wait(sendBack + k) }
        }
    }

    /// Sums the phase group's gradient over all ranks' shards into every rank's slab 0 (the
    /// other local slabs are left zero).
    func exchangeGradients(_ group: RankGroup, job: inout ReduceJob) {
        let started = DispatchTime.now().uptimeNanoseconds
        let first = job.group.lowerBound, count = job.group.count
        let slab0 = slabPointers[0] + first
        switch group.reduction {
        case .allreduce:
            job.pass = .sum
            Parallel.run(job.chunks, workers: reduceWorkers, job: &job, ReduceJob.task)
            group.allreduceSum(slab0, count: count)
        case .ordered:
            if group.rank == 0 {
                job.pass = .sum
                Parallel.run(job.chunks, workers: reduceWorkers, job: &job, ReduceJob.task)
            }
            orderedExchange(group, slab: slab0, count: count, first: first)
        }
        exchangedFloats += count
        exchangeSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    }

    /// Zeroes the slabs where `phase` wrote outside its group (all of the complement unless it
    /// names its spill): a phase that backpropagated through another group's layers leaves
    /// nothing there for that group's next update.
    func discardGradients(of phase: Phase) {
        let count = model.layout.count, group = phase.group
        var job: ZeroJob
        if let spills = phase.spills {
            guard !spills.isEmpty else { return }
            // One range: zero before 0 (nothing) and from its start to its end.
            job = ZeroJob(slabs: slabPointers, slabCount: workspaces.count, before: 0, after: spills.lowerBound,
                          count: spills.upperBound, chunkSize: chunkSize)
        } else {
            guard group.lowerBound > 0 || group.upperBound < count else { return }
            job = ZeroJob(slabs: slabPointers, slabCount: workspaces.count, before: group.lowerBound, after: group.upperBound,
                          count: count, chunkSize: chunkSize)
        }
        Parallel.run(job.chunks, workers: reduceWorkers, job: &job, ZeroJob.task)
    }

    /// Loss of `indices` without training (evaluation forward, parallel over shards), and the
    /// reconstruction of each row when `reconstructions` is given (rows x targetWidth floats).
    public func evaluate(_ source: any BatchSource, indices: UnsafeBufferPointer<Int>, epoch: Int,
                         reconstructions: UnsafeMutablePointer<Float>? = nil,
                         inputs: UnsafeMutablePointer<Float>? = nil) -> LossSums {
        let rows = indices.count
        precondition(rows > 0 && rows <= maxBatch, "batch of \(rows) rows, trainer sized for \(maxBatch)")
        var job = ShardJob(trainer: self, source: source, indices: indices,
                           context: StepContext(step: step, epoch: epoch, phase: 0, training: false),
                           plan: plan(rows: rows), path: .evaluate)
        job.reconstructions = reconstructions
        job.inputs = inputs
        runShards(&job)
        gatherShardSums()
        if let group {
            let rowBlocks = rankRows(job.plan)
            if let inputs {
                group.allgather(inputs, blocks: rowBlocks, stride: model.inputWidth * MemoryLayout<Float>.stride)
            }
            if let reconstructions {
                group.allgather(reconstructions, blocks: rowBlocks, stride: model.targetWidth * MemoryLayout<Float>.stride)
            }
        }
        var total = LossSums()
        for s in 0..<shards { total += shardSums[s] }
        return total
    }

    /// Each rank's rows of a batch split by `plan` (MPI): the rows of a rank's shards are
    /// contiguous, so every rank can gather all of them.
    func rankRows(_ plan: ShardPlan) -> [Range<Int>] {
        rankBlocks.map { plan.ranges[$0.lowerBound].lowerBound..<plan.ranges[$0.upperBound - 1].upperBound }
    }

    /// Inference: the forward pass of `indices` only (no loss, no batch statistic, one parallel
    /// region), and the reconstruction of each row into `reconstructions` when given (rows x
    /// targetWidth floats). What `encode` and `bench`'s inference run.
    public func infer(_ source: any BatchSource, indices: UnsafeBufferPointer<Int>, epoch: Int,
                      reconstructions: UnsafeMutablePointer<Float>? = nil) {
        let rows = indices.count
        precondition(rows > 0 && rows <= maxBatch, "batch of \(rows) rows, trainer sized for \(maxBatch)")
        var job = ShardJob(trainer: self, source: source, indices: indices,
                           context: StepContext(step: step, epoch: epoch, phase: 0, training: false, scoring: false),
                           plan: plan(rows: rows), path: .infer)
        job.reconstructions = reconstructions
        job.stage = .forward
        runLocalShards(&job)
        if let group, let reconstructions {
            let rowBlocks = rankRows(job.plan)
            group.allgather(reconstructions, blocks: rowBlocks, stride: model.targetWidth * MemoryLayout<Float>.stride)
        }
    }

    /// The work of one shard in one parallel region: its part of `job.stage` on `job.path`.
    func runShard(_ s: Int, _ job: ShardJob) {
        let range = job.plan.ranges[s]
        if job.stage != .backward { shardSums[s] = LossSums() }
        guard !range.isEmpty else { return }
        // Inference computes no loss, so no statistic either.
        let coupled = statisticWidth > 0 && job.path != .infer
        let paramsArena = Arena(params)
        let rows = range.count, ws = workspace(s)
        let training = job.path == .train
        if job.stage != .backward {
            if !training || job.assemblesBatch {
                assemble(job.source, indices: job.indices, epoch: job.context.epoch, plan: job.plan, shard: s)
            }
            if coupled { ws.statistics.zero() }
            // A model that runs its training forward inside backward (chunk by chunk) skips it
            // here unless the batch statistic needs the whole forward first.
            if !training || job.stage == .forward || !forwardsInBackward {
                model.forward(job.context, ws, rows: rows, params: paramsArena,
                              statistic: coupled ? ws.statistics.pointer : nil)
            }
            if let inputs = job.inputs {
                let x = model.input(ws, rows: rows), width = model.inputWidth
                for r in 0..<rows { (inputs + (range.lowerBound + r) * width).update(from: x.row(r), count: width) }
            }
        }
        if job.path == .infer {
            // The reconstruction as a caller sees it (e.g. probabilities from logits), copied or not.
            let out = model.reconstruction(ws, rows: rows), width = model.targetWidth
            if let reconstructions = job.reconstructions {
                for r in 0..<rows {
                    (reconstructions + (range.lowerBound + r) * width).update(from: out.row(r), count: width)
                }
            }
            return
        }
        if job.stage != .forward {
            shardSums[s] = model.backward(job.context, ws, rows: rows, globalRows: job.indices.count,
                                          params: paramsArena, grads: training ? ws.gradientArena : nil,
                                          statistic: coupled ? UnsafePointer(statistic.pointer) : nil)
            if let reconstructions = job.reconstructions {
                let out = model.reconstruction(ws, rows: rows), width = model.targetWidth
                for r in 0..<rows {
                    (reconstructions + (range.lowerBound + r) * width).update(from: out.row(r), count: width)
                }
            }
        }
    }
}

/// One parallel region over shards: what to run, on which rows.
struct ShardJob {
    /// Training (gradients into the shard's slab), evaluation (loss and outputs) or inference
    /// (the forward pass and its reconstruction only).
    enum Path { case train, evaluate, infer }
    /// Both halves in one region, or the halves before and after a batch statistic.
    enum Stage { case both, forward, backward }

    unowned(unsafe) let trainer: Trainer
    let source: any BatchSource
    let indices: UnsafeBufferPointer<Int>
    var context: StepContext
    let plan: ShardPlan
    let path: Path
    var stage = Stage.both
    var reconstructions: UnsafeMutablePointer<Float>?
    var inputs: UnsafeMutablePointer<Float>?
    /// Whether this phase assembles the batch: the first phase the step runs (later phases reuse it).
    var assemblesBatch = true

    init(trainer: Trainer, source: any BatchSource, indices: UnsafeBufferPointer<Int>, context: StepContext,
         plan: ShardPlan, path: Path) {
        self.trainer = trainer
        self.source = source
        self.indices = indices
        self.context = context
        self.plan = plan
        self.path = path
    }

    /// Iteration i runs the i-th local shard.
    static let task: Parallel.Task = { context, i in
        let job = context!.assumingMemoryBound(to: ShardJob.self)
        let trainer = job.pointee.trainer
        if trainer.teams.isEmpty {
            trainer.runShard(trainer.localShards.lowerBound + i, job.pointee)
        } else {
            // The shard's GEMMs split over its team while it runs on this worker.
            ae_team_set_current(trainer.teams[i])
            trainer.runShard(trainer.localShards.lowerBound + i, job.pointee)
            ae_team_set_current(nil)
        }
    }
}

/// One all-reduce + update: the pointers and constants every chunk needs.
// @unchecked Sendable: raw pointers into buffers that outlive the region; chunks write disjoint ranges.
struct ReduceJob: @unchecked Sendable {
    let config: OptimizerConfig
    let group: Range<Int>
    let chunkSize: Int
    let slabs: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
    let slabCount: Int
    let params: UnsafeMutablePointer<Float>
    let m: UnsafeMutablePointer<Float>
    let v: UnsafeMutablePointer<Float>
    let t: Int
    let learningRate: Float
    let norms: UnsafeMutablePointer<Double>
    var gradientScale: Float
    var pass: Pass

    enum Pass { case sumAndUpdate, sumAndMeasure, update, sum, measure }

    static let task: Parallel.Task = { context, c in
        let job = context!.assumingMemoryBound(to: ReduceJob.self).pointee
        switch job.pass {
        case .sumAndUpdate:
            job.sumSlabs(c)
            job.update(c, gradientScale: job.gradientScale)
        case .sumAndMeasure:
            job.sumSlabs(c)
            job.norms[c] = job.squaredNorm(c)
        case .update:
            job.update(c, gradientScale: job.gradientScale)
        case .sum:
            job.sumSlabs(c)
        case .measure:
            job.norms[c] = job.squaredNorm(c)
        }
    }

    var chunks: Int { (group.count + chunkSize - 1) / chunkSize }

    @inline(__always)
    func range(_ c: Int) -> Range<Int> {
        (group.lowerBound + c * chunkSize)..<min(group.lowerBound + (c + 1) * chunkSize, group.upperBound)
    }

    /// slab0 += slab1 + ... + slab(S-1), in that order; the others are zeroed for the next step.
    @inline(__always)
    func sumSlabs(_ c: Int) {
        let r = range(c)
        for s in 1..<max(slabCount, 1) {
            ae_add_and_zero(slabs[0] + r.lowerBound, slabs[s] + r.lowerBound, r.count)
        }
    }

    func squaredNorm(_ c: Int) -> Double {
        let g0 = slabs[0]
        var squares = 0.0
        for i in range(c) { squares += Double(g0[i] * g0[i]) }
        return squares
    }

    @inline(__always)
    func update(_ c: Int, gradientScale: Float) {
        applyUpdateFast(config, range: range(c), params: params, gradient: slabs[0], m: m, v: v, t: t,
                        learningRate: learningRate, gradientScale: gradientScale)
    }
}

/// Zeroes every slab outside one parameter group, in chunks (see `Trainer.discardGradients`).
struct ZeroJob {
    let slabs: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
    let slabCount: Int
    /// The complement of the group: `0..<before` and `after..<count`.
    let before: Int
    let after: Int
    let count: Int
    let chunkSize: Int

    var chunksBefore: Int { (before + chunkSize - 1) / chunkSize }
    var chunks: Int { chunksBefore + (count - after + chunkSize - 1) / chunkSize }

    static let task: Parallel.Task = { context, c in
        let job = context!.assumingMemoryBound(to: ZeroJob.self).pointee
        let range = c < job.chunksBefore
            ? (c * job.chunkSize)..<min((c + 1) * job.chunkSize, job.before)
            : (job.after + (c - job.chunksBefore) * job.chunkSize)..<min(job.after + (c - job.chunksBefore + 1) * job.chunkSize, job.count)
        for s in 0..<job.slabCount { (job.slabs[s] + range.lowerBound).update(repeating: 0, count: range.count) }
    }
}
