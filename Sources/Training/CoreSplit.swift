// How a process's cores are split into shards x threads per shard. Shards are the engine's main
// parallelism (and fix the arithmetic); a shard's threads split its layers' loops. A model gets
// fewer, wider shards when a batch split over every core would leave each shard fewer rows than
// its specification's `threadsBelowRows`: dense models (1 x 2 against 2 x 1 on 2 cores, M1: 1.24x
// at 4 rows per shard, 1.11x at 16, 1.01x at 128) at 64, recurrent ones (1.04-1.07x at 4 rows,
// 0.84-0.94x at 16) at 8; convolutional ones (0.91-1.05x at 4 rows) stay one shard per core.

import Engine
import Foundation

/// The cores-to-shards policy of `train` (and of library users who want the same).
public enum CoreSplit {
    /// Rows per shard below which a dense model's GEMMs are too small for one core each.
    public static let denseRows = 64

    /// Ranks of this job, and of them on this machine (Open MPI says; 1 without MPI).
    public static var ranks: Int { RankGroup.world?.size ?? 1 }
    public static var localRanks: Int {
        RankGroup.world == nil ? 1
            : ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) }.map { max($0, 1) } ?? 1
    }
    /// At most this many cores per process (`--threads`), or nil for all of them.
    public nonisolated(unsafe) static var limit: Int?
    /// The cores of this process: the machine's active cores shared by its ranks (at most `limit`).
    public static var cores: Int {
        let share = max(1, ProcessInfo.processInfo.activeProcessorCount / localRanks)
        return limit.map { min(max($0, 1), share) } ?? share
    }

    /// Threads per shard when none are asked for and the shard count is free: the fewest (powers
    /// of two up to the cores) that leave every shard the model's `threadsBelowRows` rows.
    public static func threads(model: ModelSpec, batch: Int) -> Int {
        let fewest = model.specification.threadsBelowRows
        var threads = 1
        while threads * 2 <= cores && batch / (ranks * max(1, cores / threads)) < fewest { threads *= 2 }
        return threads
    }

    /// Shards over all ranks for `threads` per shard: every core of every process busy.
    public static func shards(threads: Int) -> Int { ranks * max(1, cores / threads) }

    /// Threads per shard for a given shard count, by the same rule: a model whose batch, split one
    /// shard per core, would leave fewer than its `threadsBelowRows` rows gets this process's cores
    /// over its shards; otherwise 1 (so runs given one core each by --shards stay on it).
    public static func threads(shards: Int, model: ModelSpec, batch: Int) -> Int {
        guard batch / (ranks * cores) < model.specification.threadsBelowRows else { return 1 }
        let local = (shards + ranks - 1) / ranks
        return max(1, cores / max(local, 1))
    }
}
