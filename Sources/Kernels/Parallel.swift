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
