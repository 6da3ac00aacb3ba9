// `autoencoder reconstruct` and `autoencoder evaluate`: work from a checkpoint.

import Analysis
import ArgumentParser
import Datasets
import Engine
import Foundation
import Models
import Training

struct CheckpointOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A checkpoint (.safetensors) or a run folder (uses its checkpoints/best.safetensors, "
        + "the lowest test loss; last.safetensors where there is none)."))
    var checkpoint: String

    @Option(help: "Data to use instead of the checkpoint's (same sample size).")
    var data: String?

    @Option(help: "Noise to use instead of the checkpoint's (e.g. none, gaussian:0.3).")
    var noise: String?

    @Option(help: "Shards (default: --threads).")
    var shards: Int?

    @Option(help: ArgumentHelp("Cores to use (default: all).", valueName: "N"))
    var threads: Int?

    func validate() throws {
        if let threads, threads <= 0 { throw ValidationError("--threads must be positive") }
        if let shards, shards <= 0 { throw ValidationError("--shards must be positive") }
    }

    /// Shards for inference: one per core used.
    var cores: Int { shards ?? min(threads ?? activeCores, activeCores) }

    func load() throws -> TrainingRun {
        try TrainingRun.fromCheckpoint(checkpoint, data: data, noise: noise, shards: cores)
    }
}

/// `--scale N` of the commands that write image grids.
struct GridScale: ParsableArguments {
    @Option(help: ArgumentHelp("Draw each tile pixel as an N x N block (nearest neighbour); the caption grows "
                               + "with it. Default: enough for tiles at least 48 pixels tall (2 for 28x28 digits).",
                               valueName: "N"))
    var scale: Int?

    func validate() throws {
        if let scale, !(1...16).contains(scale) { throw ValidationError("--scale must be 1 to 16, got \(scale)") }
    }
}

struct Reconstruct: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a clean | corrupted | reconstruction grid of test samples from a checkpoint.")

    @OptionGroup var options: CheckpointOptions

    @Option(help: "Number of samples (rows of 10).")
    var count: Int = 20

    @Option(help: "Output PNG file.")
    var out: String = "reconstruction.png"

    @OptionGroup var grid: GridScale

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive") }
    }

    func run() throws {
        let run = try options.load()
        // The caption: what the checkpoint is and how well it does on these data.
        let e = run.evaluateTestSplit()
        var caption = "\(run.config.modelDescription), epoch \(run.progress.epoch)"
        if let psnr = e.psnr {
            caption += String(format: ", test PSNR %.2f dB", psnr)
        } else if !run.isSequenceData {
            caption += String(format: ", test squared error/image %.3f", e.squaredErrorPerImage)
        }
        try run.writeGrid(to: out, count: count, scale: grid.scale, caption: caption)
        // A sequence plot shows at most 3 sequences (panels per feature); a grid every sample asked for.
        let shown = min(count, run.testSampleCount, run.isSequenceData ? 3 : count)
        print("wrote \(out): \(shown) test \(run.isSequenceData ? "sequences" : "samples") of \(run.config.data)"
            + (shown < min(count, run.testSampleCount) ? " (a sequence plot shows at most 3)" : ""))
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reconstruction metrics of a checkpoint on the test split (or the held-out part).",
        discussion: """
            PSNR (dB, peak 1), here as in the training log and for denoisers, is the mean over images of each \
            reconstruction's, clipped to [0, 1] as a saved image is; a corrupted input is scored as the model \
            received it (unclipped); identical images score 100 dB. \
            For a denoiser: adds --noise (default: the training noise) to every image of --data with --seed, \
            denoises the whole images and reports PSNR and SSIM of noisy and denoised against clean, per \
            image and as means (JSON keys psnr_noisy, psnr_denoised, ssim_noisy, ssim_denoised). For an aae \
            with --clusters: the clustering error of the test split, each cluster labelled by its most frequent \
            training label (JSON cluster_error, clusters_used). For a disentangle model: linear-probe accuracy of the \
            label from the free code (lower is better) and from the labelled part, against chance, and swap \
            consistency, how often a classifier trained on the real training data gives the outputs decoded from \
            one test sample's free code and another's label that label (JSON probe_free, probe_labelled, \
            probe_chance, swap_consistency, classifier_accuracy).
            """)

    @OptionGroup var options: CheckpointOptions

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(help: "Denoisers: seed of the noise added to the clean images.")
    var seed: UInt64 = 0

    @Option(help: "Denoisers: output pixels per tile side.")
    var tile: Int = 192

    @Flag(help: "Denoisers: average over the 8 rotations and mirror images (self-ensemble; 8x the time).")
    var ensemble = false

    @Option(help: ArgumentHelp("Denoisers: also write the noisy and denoised images scored to DIR/noisy/ and "
        + "DIR/denoised/ (same relative names, the model's channels, the input's bit depth).", valueName: "DIR"))
    var save: String?

    @Option(help: ArgumentHelp("vae: also estimate -log p(x) by importance sampling with K draws per sample "
        + "(log-sum-exp in double precision).", valueName: "K"))
    var nllSamples: Int?

    func run() throws {
        let trained = try Checkpoint.load(options.checkpoint, preferring: "best").config
        if trained.model.specification.denoisesWholeImages {
            // Whole images of --data (default: the training folder), corrupted here, then denoised.
            let data = try options.data ?? Checkpoint.load(options.checkpoint, preferring: "best").config.data
            try DenoiserEvaluation(checkpoint: options.checkpoint, data: data, noise: options.noise, seed: seed,
                                   tile: tile, ensemble: ensemble, threads: options.cores, save: save)
                .run(json: json)
            return
        }
        if save != nil {
            throw CommandFailure(message: "--save writes the images a denoiser evaluation scores; this is a "
                + "\(trained.family.rawValue) checkpoint (its reconstructions: autoencoder reconstruct)")
        }
        let report = try options.load().report(nllSamples: nllSamples)
        if json {
            let data = try JSONSerialization.data(withJSONObject: report.object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            report.lines.forEach { print($0) }
        }
    }
}
