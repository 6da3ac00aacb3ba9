// How a process's cores are split into shards x threads per shard. Shards are the engine's main
// parallelism (and fix the arithmetic); a shard's threads split its GEMMs. Dense models, whose
// GEMMs stack a shard's rows (`ModelSpecification.rowsShareThreads`), get fewer, wider shards when
// a batch split over every core would leave each shard fewer than `fewestRows` rows. Measured on 2 cores (M1): 1 x 2 against 2 x 1
// gave 1.47x at 16 rows per shard, 1.11x at 32, 0.93-1.00x at 128; conv models (M2, 0.53x) and
// recurrent ones (M3 at 64 rows, 0.69-0.75x) run their small per-step or per-image GEMMs better alone.

import Engine
import Foundation

/// The cores-to-shards policy of `train` (and of library users who want the same).
public enum CoreSplit {
    /// Rows per shard below which a row-stacking model's GEMMs are too small for one core each.
    public static let fewestRows = 64

    /// Ranks of this job, and of them on this machine (Open MPI says; 1 without MPI).
    public static var ranks: Int { RankGroup.world?.size ?? 1 }
    public static var localRanks: Int {
        RankGroup.world == nil ? 1
            : ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) }.map { max($0, 1) } ?? 1
    }
    /// The cores of this process: the machine's active cores shared by its ranks.
    public static var cores: Int { max(1, ProcessInfo.processInfo.activeProcessorCount / localRanks) }

    /// Threads per shard when none are asked for and the shard count is free: the fewest (powers
    /// of two up to the cores) that leave every shard `fewestRows` rows.
    public static func threads(model: ModelSpec, batch: Int) -> Int {
        guard model.specification.rowsShareThreads else { return 1 }
        var threads = 1
        while threads * 2 <= cores && batch / (ranks * max(1, cores / threads)) < fewestRows { threads *= 2 }
        return threads
    }

    /// Shards over all ranks for `threads` per shard: every core of every process busy.
    public static func shards(threads: Int) -> Int { ranks * max(1, cores / threads) }

    /// Threads per shard for a given shard count, by the same rule: a dense model whose batch,
    /// split one shard per core, would leave fewer than `fewestRows` rows gets this process's
    /// cores over its shards; otherwise 1 (so runs given one core each by --shards stay on it).
    public static func threads(shards: Int, model: ModelSpec, batch: Int) -> Int {
        guard model.specification.rowsShareThreads, batch / (ranks * cores) < fewestRows else { return 1 }
        let local = (shards + ranks - 1) / ranks
        return max(1, cores / max(local, 1))
    }
}
