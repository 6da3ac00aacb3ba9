// The `autoencoder` command line: wiring from options to the library, no arithmetic here.

import ArgumentParser
import Engine
import Foundation
import Training

@main
struct AutoencoderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autoencoder",
        abstract: "Train autoencoders on the CPU cores of one machine, or of several through mpirun.",
        discussion: """
            Data: --data takes a folder of MNIST-style IDX files (train-images-idx3-ubyte[.gz] ...), \
            a single IDX images file, a folder of PNG images, or a bundled name (mnist-sample); for \
            --model lstm/gru also sequence files: a folder of CSV files, one CSV with --sequence-id, \
            or a UEA .ts file (bundled: japanese-vowels, japanese-vowels-csv).
            """,
        version: "0.1.0",
        subcommands: [Train.self, Reconstruct.self, Evaluate.self, Denoise.self, Encode.self, Sample.self,
                      Interpolate.self, Traverse.self, Swap.self, Bench.self, Inspect.self, Grid.self, Noise.self])

    static func main() {
        BLASKernel.restartIfNeeded()
        if let size = RankGroup.launchedSize, size > 1 {
            mainAsRank()
        }
        main(nil)
    }

    /// Under `mpirun -np R` (R > 1): `train` and `bench` run as one job of R ranks. Rank 0 prints
    /// and writes; the others print only errors. A failure on any rank ends the whole job
    /// (MPI_Abort: the others may wait in a collective forever otherwise).
    static func mainAsRank() -> Never {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let rank = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"].flatMap { Int($0) } ?? 0
        guard let subcommand = arguments.first, ["train", "bench"].contains(subcommand) else {
            if rank == 0 {
                FileHandle.standardError.write(Data(("Error: under mpirun only `train` and `bench` run (as one job "
                    + "over all ranks); run `autoencoder \(arguments.first ?? "")` as one process\n").utf8))
            }
            Foundation.exit(2)
        }
        let group: RankGroup
        do { group = try RankGroup.start() } catch {
            FileHandle.standardError.write(Data("Error: rank \(rank): \(error)\n".utf8))
            Foundation.exit(1)
        }
        RankGroup.world = group
        group.setTimeout(RankGroup.defaultTimeout)
        if !group.isWriter {
            // The other ranks' output would repeat rank 0's: standard output goes nowhere.
            let null = open("/dev/null", O_WRONLY)
            if null >= 0 { dup2(null, STDOUT_FILENO) }
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            let code = exitCode(for: error)
            fflush(nil)
            if error is ExitCode || code == .success {
                // Every rank reached this point together (a stop that all ranks agreed on, --help).
                group.finish()
                exit(withError: error)
            }
            FileHandle.standardError.write(Data(((group.isWriter ? "" : "rank \(group.rank): ")
                + fullMessage(for: error) + "\n").utf8))
            group.abort(code.rawValue)
        }
        fflush(nil)
        group.finish()
        Foundation.exit(0)
    }
}
