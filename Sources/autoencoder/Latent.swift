// `autoencoder encode | sample | interpolate | traverse`: the latent-space tools, for every model
// with a code (dense families, conv, vae). Each takes --checkpoint (file or run folder) and --out.

import ArgumentParser
import Foundation
import Training

/// Runs `body`, turning library errors into one-line failures.
func latentCommand(_ body: () throws -> Void) throws {
    do { try body() } catch let error as TrainingError {
        throw CommandFailure(message: error.description)
    }
}

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the codes (and labels) of the test split (or the held-out part) to CSV or .npy.",
        discussion: "A vae writes its posterior means. With --out codes.npy the labels go to codes-labels.npy.")

    @OptionGroup var options: CheckpointOptions

    @Option(help: "Output file: .csv (columns z0..., label) or .npy (float32, samples x code width).")
    var out: String = "codes.csv"

    func run() throws {
        let run = try options.load()
        try latentCommand {
            let (codes, labels, z) = try run.encodeTestSplit()
            let n = codes.count / z
            try CodeFile.write(codes: codes, labels: labels, width: z, to: out)
            print("\(n) codes of width \(z) -> \(out)")
        }
    }
}

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode draws from a vae's prior N(0, I) into a PNG grid (rows of 10).")

    @OptionGroup var options: CheckpointOptions

    @Option(help: "Number of samples.")
    var count: Int = 100

    @Option(help: "Seed of the draws.")
    var seed: UInt64 = 0

    @Option(help: "Scale of the prior's standard deviation (below 1: more typical samples).")
    var temperature: Float = 1

    @Option(help: "Output PNG file.")
    var out: String = "samples.png"

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive") }
        guard temperature > 0 else { throw ValidationError("--temperature must be positive") }
    }

    func run() throws {
        let run = try options.load()
        try latentCommand { try run.writeSamples(to: out, count: count, seed: seed, temperature: temperature) }
        print("\(count) samples -> \(out)")
    }
}

struct Interpolate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rows between pairs of test images: the two images and the decoded codes between them.",
        discussion: "Spherical interpolation for a vae (codes are Gaussian), linear otherwise.")

    @OptionGroup var options: CheckpointOptions

    @Option(help: "Pairs of test images (rows).")
    var pairs: Int = 5

    @Option(help: "Decoded steps per row, ends included.")
    var steps: Int = 10

    @Option(help: "Output PNG file.")
    var out: String = "interpolation.png"

    func validate() throws {
        guard pairs > 0, steps > 0 else { throw ValidationError("--pairs and --steps must be positive") }
    }

    func run() throws {
        let run = try options.load()
        try latentCommand { try run.writeInterpolations(to: out, pairs: pairs, steps: steps) }
        print("\(pairs) interpolations -> \(out)")
    }
}

struct Traverse: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One row per latent dimension, swept across the row; a 2-D code gives the 2-D manifold grid.",
        discussion: """
            Starts from the first test sample's code. A vae sweeps -RANGE..RANGE prior standard deviations; other \
            models the test codes' mean +- RANGE standard deviations of that dimension. With a 2-D code both \
            dimensions are swept (for a vae over the prior's quantiles, as Kingma and Welling's manifold figure).
            """)

    @OptionGroup var options: CheckpointOptions

    @Option(help: "Latent dimensions to show (the first N).")
    var dimensions: Int = 10

    @Option(help: "Values per row (and rows, for a 2-D code).")
    var steps: Int = 11

    @Option(help: "Half-width of the sweep in standard deviations.")
    var range: Float = 3

    @Option(help: "Output PNG file.")
    var out: String = "traversal.png"

    func validate() throws {
        guard dimensions > 0, steps > 0, range > 0 else {
            throw ValidationError("--dimensions, --steps and --range must be positive")
        }
    }

    func run() throws {
        let run = try options.load()
        try latentCommand { try run.writeTraversal(to: out, dimensions: dimensions, steps: steps, range: range) }
        print("traversal -> \(out)")
    }
}
