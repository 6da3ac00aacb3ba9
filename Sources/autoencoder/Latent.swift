// `autoencoder encode | sample | interpolate | traverse`: the latent-space tools, for every model
// with a code (dense families, conv, vae). Each takes --checkpoint (file or run folder) and --out.

import Analysis
import ArgumentParser
import Engine
import Foundation
import Training

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the codes (and labels) of the test split (or the held-out part) to CSV or .npy.",
        discussion: "A vae writes its posterior means. With --out codes.npy the labels go to codes-labels.npy.")

    @OptionGroup var options: CheckpointOptions

    @Option(help: "Output file: .csv (columns z0..., label) or .npy (float32, samples x code width).")
    var out: String = "codes.csv"

    @Option(help: ArgumentHelp("Also write TensorBoard Projector files into DIR: vectors.tsv, metadata.tsv (label, "
        + "class, file), sprite.png (images) and projector_config.pbtxt; view with tensorboard --logdir DIR.",
        valueName: "DIR"))
    var projector: String?

    func run() throws {
        let run = try options.load()
        let (codes, labels, z) = try run.encodeTestSplit()
        let n = codes.count / z
        try CodeFile.write(codes: codes, labels: labels, width: z, to: out)
        print("\(n) codes of width \(z) -> \(out)")
        if let projector {
            try run.writeProjector(codes: codes, labels: labels, width: z, to: projector)
            print("projector files -> \(projector) (tensorboard --logdir \(projector), then the Projector tab)")
        }
    }
}

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode draws from the prior of a vae or aae into a PNG grid.",
        discussion: "Rows of 10; with a mixture prior or clusters, one labelled row per component.")

    @OptionGroup var options: CheckpointOptions

    @Option(help: "Number of samples.")
    var count: Int = 100

    @Option(help: "Seed of the draws.")
    var seed: UInt64 = 0

    @Option(help: "Scale of the prior's standard deviation (below 1: more typical samples).")
    var temperature: Float = 1

    @Option(help: "Output PNG file.")
    var out: String = "samples.png"

    @OptionGroup var grid: GridScale

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive") }
        guard temperature > 0 else { throw ValidationError("--temperature must be positive") }
    }

    func run() throws {
        let run = try options.load()
        let drawn = try run.writeSamples(to: out, count: count, seed: seed, temperature: temperature, scale: grid.scale)
        print("\(drawn) samples -> \(out)")
    }
}

struct Interpolate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rows between pairs of test images: the two images and the decoded codes between them.",
        discussion: "Spherical interpolation when the prior is N(0, I) (vae, aae --prior gaussian), linear otherwise.")

    @OptionGroup var options: CheckpointOptions

    @Option(help: "Pairs of test images (rows).")
    var pairs: Int = 5

    @Option(help: "Decoded steps per row, ends included.")
    var steps: Int = 10

    @Option(help: "Output PNG file.")
    var out: String = "interpolation.png"

    @OptionGroup var grid: GridScale

    func validate() throws {
        guard pairs > 0, steps > 0 else { throw ValidationError("--pairs and --steps must be positive") }
    }

    func run() throws {
        let run = try options.load()
        try run.writeInterpolations(to: out, pairs: pairs, steps: steps, scale: grid.scale)
        print("\(pairs) interpolations -> \(out)")
    }
}

struct Traverse: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One row per latent dimension, swept across the row; a 2-D code gives the 2-D manifold grid.",
        discussion: """
            Starts from the first test sample's code. With a N(0, I) prior (vae, aae --prior gaussian) it sweeps -RANGE..RANGE prior standard deviations; other \
            models the test codes' mean +- RANGE standard deviations of that dimension. With a 2-D code both \
            dimensions are swept (over the prior's quantiles for a N(0, I) prior, as Kingma and Welling's manifold figure).
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

    @OptionGroup var grid: GridScale

    func validate() throws {
        guard dimensions > 0, steps > 0, range > 0 else {
            throw ValidationError("--dimensions, --steps and --range must be positive")
        }
    }

    func run() throws {
        let run = try options.load()
        try run.writeTraversal(to: out, dimensions: dimensions, steps: steps, range: range, scale: grid.scale)
        print("traversal -> \(out)")
    }
}

struct Swap: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode one sample's free code with another's label (disentangle checkpoints).",
        discussion: """
            Images: a grid whose top row holds --columns test images, one per label (the label sources), and each \
            further row a test image (the free-code source: style, handwriting) followed by its free code decoded \
            with each column's label. Sequences: for --rows test sequences, per feature, the source, a sequence of \
            another label (the target reference) and the source converted to that label. The adain form's free \
            part is its style vector for images (columns give the content) and its content code for sequences \
            (the reference gives the style).
            """)

    @OptionGroup var options: CheckpointOptions

    @Option(help: "Free-code sources (rows).")
    var rows: Int = 8

    @Option(help: "Label sources (columns; images only).")
    var columns: Int = 10

    @Option(help: "Output PNG file.")
    var out: String = "swap.png"

    @OptionGroup var grid: GridScale

    func validate() throws {
        guard rows > 0, columns > 0 else { throw ValidationError("--rows and --columns must be positive") }
    }

    func run() throws {
        let run = try options.load()
        try run.writeSwaps(to: out, rows: rows, columns: columns, scale: grid.scale)
        print("swaps -> \(out)")
    }
}
