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
        refuseUnknownCommand()
        printFamilyHelp()
        BLASKernel.restartIfNeeded()
        if let size = RankGroup.launchedSize, size > 1 {
            mainAsRank()
        }
        main(nil)
    }

    /// A first argument that is no command and no option: the nearest command's name, rather than
    /// the parser's "unexpected argument". Exit 64, as other usage errors.
    static func refuseUnknownCommand() {
        guard let first = CommandLine.arguments.dropFirst().first, !first.hasPrefix("-") else { return }
        let names = configuration.subcommands.map { $0._commandName } + ["help"]
        guard !names.contains(first) else { return }
        let nearest = names.min { editDistance($0, first) < editDistance($1, first) }!
        let guess = editDistance(nearest, first) <= max(2, first.count / 3) ? "; did you mean '\(nearest)'?" : ""
        FileHandle.standardError.write(Data(("Error: unknown command '\(first)'\(guess)\n"
            + "Commands: \(names.dropLast().joined(separator: ", ")) (autoencoder --help)\n").utf8))
        Foundation.exit(ExitCode.validationFailure.rawValue)
    }

    /// `train --model X --help` (and `bench`): the help without the other families' option groups.
    static func printFamilyHelp() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let command = arguments.first, ["train", "bench"].contains(command),
              arguments.contains("--help") || arguments.contains("-h") else { return }
        var family: String?
        for (i, argument) in arguments.enumerated() {
            if argument == "--model", i + 1 < arguments.count { family = arguments[i + 1] }
            if argument.hasPrefix("--model=") { family = String(argument.dropFirst("--model=".count)) }
        }
        guard let family, ModelFamily(rawValue: family) != nil else { return }
        let help = command == "train" ? Train.helpMessage() : Bench.helpMessage()
        print("Options of --model \(family) (every family's: autoencoder \(command) --help)\n")
        print(familyHelp(help, family: family), terminator: "")
        Foundation.exit(0)
    }

    /// `help` without the option groups of families other than `family`: a group whose title
    /// names families ("VAE:", "LSTM, GRU:", "DENSE FAMILIES (DENSE, DEEP, ...):") is kept only
    /// when it names `family`; untitled and general groups stay.
    static func familyHelp(_ help: String, family: String) -> String {
        let families = Set(ModelFamily.allCases.map { $0.rawValue.uppercased() })
        var kept: [Substring] = [], keeping = true
        for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
            if let first = line.first, first.isUppercase, line.hasSuffix(":") {
                let words = Set(line.uppercased().split(whereSeparator: { !$0.isLetter }).map(String.init))
                keeping = words.isDisjoint(with: families) || words.contains(family.uppercased())
            }
            if keeping { kept.append(line) }
        }
        return kept.joined(separator: "\n")
    }

    /// Levenshtein distance, with a transposition costing 1 ("trian" is one step from "train").
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
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
