// The worker pool: every iteration runs once, and a loop started from inside a loop's iteration
// runs inline instead of waiting for the pool it is already using (that deadlocked).

import Kernels
import Testing

struct NestedJob {
    var outer: UnsafeMutablePointer<Int>
    var inner: UnsafeMutablePointer<Int>

    static let innerTask: Parallel.Task = { context, i in
        let job = context!.assumingMemoryBound(to: (UnsafeMutablePointer<Int>, Int).self).pointee
        job.0[job.1 * 8 + i] += 1
    }

    static let outerTask: Parallel.Task = { context, i in
        let job = context!.assumingMemoryBound(to: NestedJob.self).pointee
        job.outer[i] += 1
        var inner = (job.inner, i)
        Parallel.run(8, workers: 4, job: &inner, NestedJob.innerTask)
    }
}

@Suite struct ParallelTests {
    @Test func nestedLoopsRunEveryIterationOnce() {
        let outer = UnsafeMutablePointer<Int>.allocate(capacity: 6)
        let inner = UnsafeMutablePointer<Int>.allocate(capacity: 48)
        defer { outer.deallocate(); inner.deallocate() }
        outer.initialize(repeating: 0, count: 6)
        inner.initialize(repeating: 0, count: 48)
        var job = NestedJob(outer: outer, inner: inner)
        Parallel.run(6, workers: 3, job: &job, NestedJob.outerTask)
        #expect((0..<6).allSatisfy { outer[$0] == 1 })
        #expect((0..<48).allSatisfy { inner[$0] == 1 })
    }
}
