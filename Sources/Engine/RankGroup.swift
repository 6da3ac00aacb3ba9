// The MPI job this process is one rank of (Open MPI, loaded at run time by CKernels' ae_mpi).
// Each rank owns a contiguous block of the minibatch's shards; what the engine exchanges: loss sums
// and statistics per shard (gathered, then summed in shard order on every rank) and the gradient,
// summed rank after rank in shard order (`ordered`, the single-process arithmetic) or by one
// MPI_Allreduce of the ranks' local sums (`allreduce`).

import CKernels
import Foundation

// @unchecked Sendable: `reduction`, its one `var`, is set before any step runs.
public final class RankGroup: @unchecked Sendable {
    /// How ranks sum the gradient.
    public enum Reduction: String, Sendable, CaseIterable {
        /// Rank r receives the sum of shards 0..<a from rank r-1, adds its shards a, a+1, ... in
        /// order and passes it on; the last rank broadcasts. The same additions in the same order
        /// as one process with the same shards: bit-identical training for any rank count.
        case ordered
        /// Each rank sums its own shards, then one MPI_Allreduce: other rounding than one process
        /// (within float rounding), fewer bytes per rank for many ranks.
        case allreduce
    }

    /// The process-wide group, set once at start-up by the command line when launched by mpirun.
    nonisolated(unsafe) public static var world: RankGroup?

    public let rank: Int
    public let size: Int
    public var reduction: Reduction = .ordered

    /// The world size Open MPI's launcher announces (nil when not launched by mpirun).
    public static var launchedSize: Int? {
        ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"].flatMap { Int($0) }
    }

    /// Loads libmpi and initialises MPI.
    /// - Throws: `TrainingError` when Open MPI cannot be loaded or started.
    public static func start() throws -> RankGroup {
        var message = [CChar](repeating: 0, count: 512)
        guard ae_mpi_load(&message, message.count) == 0 else {
            throw TrainingError("launched by mpirun, but " + String(cString: message)
                + "; install Open MPI (apt-get install openmpi-bin)")
        }
        var rank: Int32 = 0, size: Int32 = 0
        let rc = ae_mpi_init(&rank, &size)
        guard rc == 0 else { throw TrainingError("MPI_Init_thread failed with error \(rc)") }
        return RankGroup(rank: Int(rank), size: Int(size))
    }

    init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
    }

    /// Rank 0 writes the run folder and prints; the others train silently beside it.
    public var isWriter: Bool { rank == 0 }

    /// The contiguous blocks of `shards` shards per rank (sizes differ by at most one).
    public func blocks(shards: Int) -> [Range<Int>] {
        ShardPlan(rows: shards, shards: size).ranges
    }

    /// Seconds a rank waits in one MPI call for the others before it ends the job (0: forever).
    public static let defaultTimeout: Double = 300

    /// Sets how long a blocking call may wait for the other ranks (0: forever).
    public func setTimeout(_ seconds: Double) {
        ae_mpi_set_timeout(seconds, Int32(rank))
    }

    /// MPI_Finalize, for a clean exit of every rank.
    public func finish() {
        _ = ae_mpi_finalize()
    }

    /// Ends the whole job (every rank) with `code`.
    public func abort(_ code: Int32) -> Never {
        ae_mpi_abort(code)
        exit(code)
    }

    /// Whether `flag` is true on any rank (every rank gets the same answer).
    public func any(_ flag: Bool) -> Bool {
        var value: Int32 = flag ? 1 : 0
        check(ae_mpi_allreduce_max_int(&value), "MPI_Allreduce")
        return value != 0
    }

    func check(_ rc: Int32, _ call: String) {
        guard rc != 0 else { return }
        FileHandle.standardError.write(Data("rank \(rank): \(call) failed with MPI error \(rc)\n".utf8))
        abort(70)
    }

    func send(_ data: UnsafePointer<Float>, count: Int, to destination: Int) {
        check(ae_mpi_send_floats(data, count, Int32(destination), 0), "MPI_Send")
    }

    func receive(_ data: UnsafeMutablePointer<Float>, count: Int, from source: Int) {
        check(ae_mpi_recv_floats(data, count, Int32(source), 0), "MPI_Recv")
    }

    func startSend(_ data: UnsafePointer<Float>, count: Int, to destination: Int, tag: Int,
                   request: UnsafeMutablePointer<UnsafeMutableRawPointer?>) {
        check(ae_mpi_isend_floats(data, count, Int32(destination), Int32(tag), request), "MPI_Isend")
    }

    func startReceive(_ data: UnsafeMutablePointer<Float>, count: Int, from source: Int, tag: Int,
                      request: UnsafeMutablePointer<UnsafeMutableRawPointer?>) {
        check(ae_mpi_irecv_floats(data, count, Int32(source), Int32(tag), request), "MPI_Irecv")
    }

    func wait(_ request: UnsafeMutablePointer<UnsafeMutableRawPointer?>) {
        check(ae_mpi_wait(request), "MPI_Wait")
    }

    func broadcast(_ data: UnsafeMutableRawPointer, bytes: Int, from root: Int) {
        check(ae_mpi_bcast(data, bytes, Int32(root)), "MPI_Bcast")
    }

    func allreduceSum(_ data: UnsafeMutablePointer<Float>, count: Int) {
        check(ae_mpi_allreduce_sum_floats(data, count), "MPI_Allreduce")
    }

    /// In place: rank r's `counts[r]` bytes at `displacements[r]` reach every rank.
    func allgather(_ data: UnsafeMutableRawPointer, counts: UnsafePointer<Int32>, displacements: UnsafePointer<Int32>) {
        check(ae_mpi_allgatherv(data, counts, displacements), "MPI_Allgatherv")
    }

    /// Gathers per-shard records of `stride` bytes (shard s at `data + s * stride`) from the ranks
    /// that own them, for the blocks of `blocks`.
    public func allgather(_ data: UnsafeMutableRawPointer, blocks: [Range<Int>], stride: Int) {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 2 * size) { buffer in
            let counts = buffer.baseAddress!, displacements = counts + size
            for (r, block) in blocks.enumerated() {
                precondition(block.count * stride < Int(Int32.max) && block.lowerBound * stride < Int(Int32.max),
                             "an MPI message over 2 GB")
                counts[r] = Int32(block.count * stride)
                displacements[r] = Int32(block.lowerBound * stride)
            }
            allgather(data, counts: counts, displacements: displacements)
        }
    }
}
