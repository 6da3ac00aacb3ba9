// `autoencoder reconstruct` and `autoencoder evaluate`: work from a checkpoint.

import ArgumentParser
import Datasets
import Foundation
import Models
import Training

struct CheckpointOptions: ParsableArguments {
    @Option(help: "A checkpoint (.safetensors) or a run folder (uses checkpoints/last.safetensors).")
    var checkpoint: String

    @Option(help: "Data to use instead of the checkpoint's (same sample size).")
    var data: String?

    @Option(help: "Noise to use instead of the checkpoint's (e.g. none, gaussian:0.3).")
    var noise: String?

    @Option(help: "Shards (default: active cores).")
    var shards: Int?

    func load() throws -> TrainingRun {
        do {
            return try TrainingRun.fromCheckpoint(checkpoint, data: data, noise: noise, shards: shards ?? activeCores)
        } catch let error as DatasetError {
            throw CommandFailure(message: error.description)
        } catch let error as TrainingError {
            throw CommandFailure(message: error.description)
        } catch let error as SafeTensorsError {
            throw CommandFailure(message: error.description)
        }
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

    @Option(help: ArgumentHelp("Draw each tile pixel as an N x N block (nearest neighbour), for small images.",
                               valueName: "N"))
    var scale: Int = 1

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive") }
        guard (1...16).contains(scale) else { throw ValidationError("--scale must be 1 to 16") }
    }

    func run() throws {
        let run = try options.load()
        // The caption: what the checkpoint is and how well it does on these data.
        let e = run.evaluateTestSplit()
        var caption = "\(run.config.modelDescription), epoch \(run.progress.epoch)"
        caption += run.isSequenceData ? "" : String(format: ", squared error/image %.3f", e.squaredErrorPerImage)
        try run.writeGrid(to: out, count: count, scale: scale, caption: caption)
        print("wrote \(out): \(min(count, run.testSampleCount)) test samples of \(run.config.data)")
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reconstruction metrics of a checkpoint on the test split (or the held-out part).",
        discussion: """
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
        let family: ModelFamily
        do {
            family = try Checkpoint.load(options.checkpoint).config.family
        } catch let error as SafeTensorsError {
            throw CommandFailure(message: error.description)
        }
        if family == .denoiser {
            // Whole images of --data (default: the training folder), corrupted here, then denoised.
            let data = try options.data ?? Checkpoint.load(options.checkpoint).config.data
            try DenoiserEvaluation(checkpoint: options.checkpoint, data: data, noise: options.noise, seed: seed,
                                   tile: tile, ensemble: ensemble, threads: options.shards ?? activeCores, save: save)
                .run(json: json)
            return
        }
        if save != nil {
            throw CommandFailure(message: "--save writes the images a denoiser evaluation scores; this is a "
                + "\(family.rawValue) checkpoint (its reconstructions: autoencoder reconstruct)")
        }
        let run = try options.load()
        let e = run.evaluateTestSplit()
        var object: [String: Any] = [
            "samples": run.testSampleCount, "objective": e.objective,
            "squared_error_per_image": e.squaredErrorPerImage, "mse_per_pixel": e.msePerPixel,
            "data": run.config.data, "noise": run.config.noise,
        ]
        // PSNR with peak 1 means something for pixels in [0, 1], not for standardized sequences.
        let psnr = run.isSequenceData ? nil : 10 * log10(1 / max(e.msePerPixel, 1e-12))
        if let psnr { object["psnr"] = psnr }
        if let bce = e.bcePerImage { object["bce_per_image"] = bce }
        for part in e.parts { object[part.name] = part.value }
        if run.model.objectiveUnit == .perSample { object["negative_elbo"] = e.objective }
        var nll: Double?
        if let nllSamples {
            do { nll = try run.importanceSampledNLL(samples: nllSamples).mean } catch let error as TrainingError {
                throw CommandFailure(message: error.description)
            }
            object["nll"] = nll
            object["nll_samples"] = nllSamples
        }
        var clustering: (error: Double, clusters: Int, used: Int)?
        if let aae = run.model as? any ClusteringModel, aae.clusters > 0 {
            do { clustering = try run.clusteringError() } catch let error as TrainingError {
                throw CommandFailure(message: error.description)
            }
            object["cluster_error"] = clustering!.error
            object["clusters_used"] = clustering!.used
        }
        var disentanglement: TrainingRun.Disentanglement?
        // A model trained without labels (the AdaIN form) has nothing to probe for.
        let unlabelled = (run.model as? any DisentanglingModel).map { $0.classes < 2 } ?? false
        if run.model is any DisentanglingModel && !unlabelled {
            do { disentanglement = try run.measureDisentanglement() } catch let error as TrainingError {
                throw CommandFailure(message: error.description)
            }
            let m = disentanglement!
            object["probe_free"] = m.freeProbe
            object["probe_labelled"] = m.labelledProbe
            object["probe_chance"] = m.chance
            object["swap_consistency"] = m.swapConsistency
            object["classifier_accuracy"] = m.classifierAccuracy
            object["swaps"] = m.swaps
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else if run.isSequenceData {
            print(String(format: "%d test sequences of %@ (noise %@): MSE per standardized value %.6f", run.testSampleCount,
                         run.config.data, run.config.noise, e.msePerPixel))
        } else {
            print(String(format: "%d test samples of %@ (noise %@): squared error per image %.4f, MSE per pixel %.6f, "
                + "PSNR %.2f dB, objective %.6f", run.testSampleCount, run.config.data, run.config.noise,
                e.squaredErrorPerImage, e.msePerPixel, psnr!, e.objective)
                + (e.bcePerImage.map { String(format: ", BCE %.3f nats per image", $0) } ?? ""))
            if let clustering {
                print(String(format: "clustering error %.2f%% (%d clusters, %d holding training samples; each labelled "
                    + "by its most frequent training label)", 100 * clustering.error, clustering.clusters, clustering.used))
            }
            if run.model.objectiveUnit == .perSample {
                print(String(format: "negative ELBO %.3f nats per sample (", e.objective)
                    + e.parts.map { String(format: "%@ %.3f", $0.name, $0.value) }.joined(separator: ", ") + ")"
                    + (nll.map { String(format: "; importance-sampled NLL %.3f nats (K = %d)", $0, nllSamples!) } ?? ""))
            }
        }
        if !json && unlabelled {
            print("the model was trained without labels: probes and swap consistency need labelled data")
        }
        if !json, let m = disentanglement {
            print(String(format: "label from the free code: %.1f%% (linear probe; chance %.1f%%), from the labelled "
                + "part: %.1f%%; swap consistency %.1f%% of %d swaps (classifier: %.1f%% on real test data)",
                100 * m.freeProbe, 100 * m.chance, 100 * m.labelledProbe, 100 * m.swapConsistency, m.swaps,
                100 * m.classifierAccuracy))
        }
    }
}
