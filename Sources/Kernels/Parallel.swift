// Parallel loops on the project's worker pool (CKernels: persistent pthreads). A loop passes a
// pointer to a job struct and a C-convention task, so starting one allocates nothing; libdispatch's
// concurrentPerform, measured here, allocated two blocks per call.

import CKernels

public enum Parallel {
    public typealias Task = @convention(c) (UnsafeMutableRawPointer?, Int) -> Void

    /// Runs `task(&job, i)` for `i` in `0..<count` on at most `workers` threads (this one
    /// included); iteration `i` runs on worker `i % workers`. Returns when all are done.
    @inline(__always)
    public static func run<Job>(_ count: Int, workers: Int, job: inout Job, _ task: Task) {
        withUnsafeMutablePointer(to: &job) { pointer in
            ae_parallel_for(count, workers, UnsafeMutableRawPointer(pointer), task)
        }
    }
}

/// Elementwise work over a matrix's rows on the calling shard's team: contiguous blocks of rows,
/// one per member; alone without a team or when the work is small (waking the team costs more).
public enum TeamRows {
    public typealias Task = Parallel.Task

    /// What a task receives: the caller's work and the block's rows.
    public struct Job<Work> {
        public let work: Work
        let count: Int
        let blocks: Int

        public func rows(_ block: Int) -> Range<Int> { count * block / blocks..<count * (block + 1) / blocks }
    }

    /// Values below which a pass runs alone.
    public static let smallest = 4096

    /// Runs `task` over `rows` rows of `width` values each; the task reads `Job<Work>`.
    @inline(__always)
    public static func run<Work>(rows: Int, width: Int, job work: Work, _ task: Task) {
        guard rows > 0 else { return }
        let team = rows * width >= smallest ? ae_team_current() : nil
        let blocks = min(Int(ae_team_size(team)), rows)
        var job = Job(work: work, count: rows, blocks: blocks)
        withUnsafeMutablePointer(to: &job) { ae_team_for(team, blocks, UnsafeMutableRawPointer($0), task) }
    }
}
