// The `autoencoder` command line: wiring from options to the library, no arithmetic here.

import ArgumentParser

@main
struct AutoencoderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autoencoder",
        abstract: "Train autoencoders on the CPU cores of one machine.",
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
        main(nil)
    }
}
