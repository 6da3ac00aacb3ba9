// Multi-process training through Open MPI's mpirun (ranks on this machine over shared memory):
// a 2-rank run equals the single process with the same shards, bit for bit; a killed rank ends the
// job and leaves a usable checkpoint. Skipped where Open MPI is not installed (tools/install-deps
// installs it when run as root).

import Engine
import Foundation
import Testing
import Training
import TestSupport

let mpirunPath: String? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// `mpirun -np ranks autoencoder arguments...`, started (not waited for).
func startMPI(ranks: Int, _ arguments: [String], out: Pipe, err: Pipe) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: mpirunPath!)
    process.arguments = ["--allow-run-as-root", "--oversubscribe", "-np", "\(ranks)", autoencoderBinary] + arguments
    process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
    process.standardOutput = out
    process.standardError = err
    try process.run()
    return process
}

func runMPI(ranks: Int, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let out = Pipe(), err = Pipe()
    let process = try startMPI(ranks: ranks, arguments, out: out, err: err)
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}

/// Parameters and optimizer moments of a run's last checkpoint, and its epoch records without
/// their wall times.
func checkpointState(_ run: String) throws -> (tensors: [String: [Float]], history: [String]) {
    let contents = try Checkpoint.load(run + "/checkpoints/last.safetensors")
    let history = contents.progress.history.map {
        "\($0.epoch) \($0.trainLoss) \(String(describing: $0.testLoss)) \(String(describing: $0.testPSNR))"
    }
    return (contents.tensors.mapValues(\.values), history)
}

@Suite(.serialized, .enabled(if: mpirunPath != nil, "Open MPI's mpirun is not installed (apt-get install openmpi-bin)"))
struct MPICLITests {
    static let dense = ["train", "--model", "dense", "--layers", "784,32", "--data", "mnist-sample", "--epochs", "1",
                        "--batch-size", "100", "--noise", "masking:0.2", "--seed", "3"]

    /// Three ranks exercise a middle rank (receives, adds, passes on; relays the totals back).
    @Test(arguments: [(3, 2, "ordered"), (2, 2, "allreduce"), (4, 3, "ordered")])
    func ranksEqualOneProcessBitForBit(shards: Int, ranks: Int, reduction: String) throws {
        let folder = try makeScratchFolder("mpi-equal")
        let one = try runTool(Self.dense + ["--shards", "\(shards)", "--run-dir", folder + "/one"])
        #expect(one.status == 0, "\(one.stderr)")
        // With one shard per rank, allreduce adds the same two slabs (x + y == y + x).
        let two = try runMPI(ranks: ranks, Self.dense + ["--shards", "\(shards)", "--mpi-reduce", reduction,
                                                        "--run-dir", folder + "/two"])
        #expect(two.status == 0, "\(two.stderr)")
        #expect(two.stdout.contains("\(shards) shard(s) over \(ranks) MPI ranks (\(reduction) reduction)"), "\(two.stdout)")
        // Rank 0 alone prints.
        #expect(two.stdout.components(separatedBy: "epoch 1/1 |").count == 2, "\(two.stdout)")
        let a = try checkpointState(folder + "/one"), b = try checkpointState(folder + "/two")
        #expect(!a.tensors.isEmpty && a.tensors.keys.sorted() == b.tensors.keys.sorted())
        for (name, values) in a.tensors { #expect(values == b.tensors[name], "\(name) differs") }
        #expect(a.history == b.history && !a.history.isEmpty)
        let gridOne = try Data(contentsOf: URL(fileURLWithPath: folder + "/one/grids/reconstruction-epoch-001.png"))
        let gridTwo = try Data(contentsOf: URL(fileURLWithPath: folder + "/two/grids/reconstruction-epoch-001.png"))
        #expect(gridOne == gridTwo)
    }

    @Test func denoiserAcrossRanksAndResumeWithAnotherRankCount() throws {
        // PSNR needs every rank's reconstructions; a run resumed under 2 ranks continues the 1-process run.
        let folder = try makeScratchFolder("mpi-denoiser")
        let args = ["train", "--model", "denoiser", "--depth", "1", "--width", "8", "--data", "mnist-sample",
                    "--patch", "16", "--batch-size", "64", "--epochs", "1", "--shards", "3", "--seed", "2"]
        let straight = try runTool(args + ["--epochs", "2", "--run-dir", folder + "/straight"])
        #expect(straight.status == 0, "\(straight.stderr)")
        let first = try runTool(args + ["--run-dir", folder + "/resumed"])
        #expect(first.status == 0, "\(first.stderr)")
        let resumed = try runMPI(ranks: 2, ["train", "--resume", folder + "/resumed", "--epochs", "2"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("validation PSNR"), "\(resumed.stdout)")
        let a = try checkpointState(folder + "/straight"), b = try checkpointState(folder + "/resumed")
        for (name, values) in a.tensors { #expect(values == b.tensors[name], "\(name) differs") }
        #expect(a.history == b.history && a.history.count == 2)
    }

    @Test func allreduceOfLocalSumsStaysWithinRounding() throws {
        // Two shards per rank: (g0 + g1) + (g2 + g3) instead of ((g0 + g1) + g2) + g3.
        let folder = try makeScratchFolder("mpi-allreduce")
        let one = try runTool(Self.dense + ["--shards", "4", "--run-dir", folder + "/one"])
        let two = try runMPI(ranks: 2, Self.dense + ["--shards", "4", "--mpi-reduce", "allreduce",
                                                    "--run-dir", folder + "/two"])
        #expect(one.status == 0 && two.status == 0, "\(one.stderr) \(two.stderr)")
        let a = try Checkpoint.load(folder + "/one/checkpoints/last.safetensors")
        let b = try Checkpoint.load(folder + "/two/checkpoints/last.safetensors")
        let lossA = try #require(a.progress.history.last?.testLoss), lossB = try #require(b.progress.history.last?.testLoss)
        #expect(abs(lossA - lossB) <= 1e-3 * lossA, "\(lossA) vs \(lossB)")
        let weightA = try #require(a.tensors["encoder.0.weight"]?.values)
        let weightB = try #require(b.tensors["encoder.0.weight"]?.values)
        #expect(weightA != weightB, "allreduce gave the ordered sum's bits: the test no longer tells them apart")
        var worst: Float = 0, scale: Float = 0
        for (x, y) in zip(weightA, weightB) {
            worst = max(worst, abs(x - y))
            scale = max(scale, abs(x))
        }
        #expect(worst <= 1e-2 * scale, "weights differ by \(worst) (largest \(scale))")
    }

    @Test func refusalsAreOneClearLine() throws {
        let tooFew = try runMPI(ranks: 2, Self.dense + ["--shards", "1"])
        #expect(tooFew.status != 0)
        #expect(tooFew.stderr.contains("1 shard(s) over 2 MPI ranks"), "\(tooFew.stderr)")
        let other = try runMPI(ranks: 2, ["inspect", "--data", "mnist-sample"])
        #expect(other.status != 0)
        #expect(other.stderr.contains("under mpirun only `train` and `bench` run"), "\(other.stderr)")
        let staged = try runMPI(ranks: 2, Self.dense + ["--shards", "2", "--pretrain", "rbm"])
        #expect(staged.status != 0 && staged.stderr.contains("not under mpirun"), "\(staged.stderr)")
    }

    /// The processes mpirun started for `job` (its children) whose environment names `rank`.
    func rankProcesses(of job: Process, rank: Int) throws -> [Int32] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap { Int32($0) }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, Int32(fields[1]) == job.processIdentifier,
                  let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            return environment.split(separator: 0).contains {
                String(decoding: $0, as: UTF8.self) == "OMPI_COMM_WORLD_RANK=\(rank)"
            }
        }
    }

    /// A rank that stops (SIGSTOP: mpirun does not notice) makes the others give up after
    /// --mpi-timeout instead of waiting in an exchange forever.
    @Test func aStoppedRankEndsTheJobAfterTheTimeout() throws {
        let folder = try makeScratchFolder("mpi-stop")
        let out = Pipe(), err = Pipe()
        let job = try startMPI(ranks: 2, ["train", "--model", "dense", "--layers", "784,32", "--data", "mnist-sample",
                                          "--epochs", "200", "--batch-size", "50", "--shards", "2", "--mpi-timeout", "3",
                                          "--checkpoint-every", "20", "--run-dir", folder], out: out, err: err)
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: folder + "/checkpoints/last.safetensors") && job.isRunning
            && Date() < deadline {
            usleep(100_000)
        }
        let stopped = try rankProcesses(of: job, rank: 1)
        #expect(stopped.count == 1)
        for pid in stopped { kill(pid, SIGSTOP) }
        let start = Date()
        let stopBy = Date().addingTimeInterval(60)
        while job.isRunning && Date() < stopBy { usleep(100_000) }
        let seconds = Date().timeIntervalSince(start)
        if job.isRunning {
            for pid in stopped { kill(pid, SIGKILL) }
            job.terminate()
        }
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = out.fileHandleForReading.readDataToEndOfFile()
        job.waitUntilExit()
        #expect(job.terminationStatus != 0 && seconds < 30, "exit \(job.terminationStatus) after \(seconds) s")
        #expect(stderr.contains("rank 0: no answer from the other ranks for 3 s"), "\(stderr)")
    }

    @Test func killedRankEndsTheJobAndLeavesAUsableCheckpoint() throws {
        let folder = try makeScratchFolder("mpi-kill")
        let out = Pipe(), err = Pipe()
        let job = try startMPI(ranks: 2, ["train", "--model", "dense", "--layers", "784,32", "--data", "mnist-sample",
                                          "--epochs", "200", "--batch-size", "50", "--shards", "2",
                                          "--checkpoint-every", "20", "--run-dir", folder], out: out, err: err)
        let checkpoint = folder + "/checkpoints/last.safetensors"
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: checkpoint) && job.isRunning && Date() < deadline {
            usleep(100_000)
        }
        #expect(FileManager.default.fileExists(atPath: checkpoint))
        let ranks = try rankProcesses(of: job, rank: 1)
        #expect(ranks.count == 1)
        for pid in ranks { kill(pid, SIGKILL) }
        let stopBy = Date().addingTimeInterval(60)
        while job.isRunning && Date() < stopBy { usleep(100_000) }
        if job.isRunning { job.terminate() }
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = out.fileHandleForReading.readDataToEndOfFile()
        job.waitUntilExit()
        #expect(job.terminationStatus != 0)
        #expect(stderr.contains("rank 1") && stderr.contains("signal 9"), "\(stderr)")
        // The last checkpoint loads and the run resumes from it in one process.
        let contents = try Checkpoint.load(checkpoint)
        let resumed = try runTool(["train", "--resume", folder, "--epochs", "\(contents.progress.epoch + 1)"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
    }
}
