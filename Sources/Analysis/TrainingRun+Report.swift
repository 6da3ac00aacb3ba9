// What `evaluate` reports of a checkpoint on its test split: the reconstruction figures every
// model has, and the measures its capabilities allow (a likelihood, clusters, disentanglement),
// as one JSON object and as lines of text.

import Engine
import Foundation
import Models
import Training

extension TrainingRun {
    public struct Report {
        /// The figures by JSON key (`samples`, `objective`, `psnr`, `nll`, `cluster_error`, ...).
        public var object: [String: Any]
        /// The same for a reader, one finding per line.
        public var lines: [String]
    }

    /// Evaluates the test split; with `nllSamples`, also the importance-sampled likelihood.
    /// - Throws: `TrainingError` when a requested measure does not apply to the model or data.
    public func report(nllSamples: Int? = nil) throws -> Report {
        let e = evaluateTestSplit(psnr: true)
        var object: [String: Any] = [
            "samples": testSampleCount, "objective": e.objective,
            "squared_error_per_image": e.squaredErrorPerImage, "mse_per_pixel": e.msePerPixel,
            "data": config.data, "noise": config.noise,
        ]
        var lines: [String] = []
        // PSNR with peak 1 means something for pixels in [0, 1], not for standardized sequences.
        if let psnr = e.psnr { object["psnr"] = psnr }
        if let bce = e.bcePerImage { object["bce_per_image"] = bce }
        for part in e.parts { object[part.name] = part.value }
        if isSequenceData {
            lines.append(String(format: "%d test sequences of %@ (noise %@): MSE per standardized value %.6f",
                                testSampleCount, config.data, config.noise, e.msePerPixel))
        } else {
            lines.append(String(format: "%d test samples of %@ (noise %@): squared error per image %.4f, MSE per pixel "
                + "%.6f, PSNR %.2f dB (mean over images), objective %.6f", testSampleCount, config.data, config.noise,
                e.squaredErrorPerImage, e.msePerPixel, e.psnr ?? .nan, e.objective)
                + (e.bcePerImage.map { String(format: ", BCE %.3f nats per image", $0) } ?? ""))
        }
        if let clustering = model as? any ClusteringModel, clustering.clusters > 0 {
            let c = try clusteringError()
            object["cluster_error"] = c.error
            object["clusters_used"] = c.used
            lines.append(String(format: "clustering error %.2f%% (%d clusters, %d holding training samples; each "
                + "labelled by its most frequent training label)", 100 * c.error, c.clusters, c.used))
        }
        var nll: Double?
        if let nllSamples {
            nll = try importanceSampledNLL(samples: nllSamples).mean
            object["nll"] = nll
            object["nll_samples"] = nllSamples
        }
        if reporting.objectiveUnit == .perSample {
            object["negative_elbo"] = e.objective
            lines.append(String(format: "negative ELBO %.3f nats per sample (", e.objective)
                + e.parts.map { String(format: "%@ %.3f", $0.name, $0.value) }.joined(separator: ", ") + ")"
                + (nll.map { String(format: "; importance-sampled NLL %.3f nats (K = %d)", $0, nllSamples!) } ?? ""))
        }
        if let disentangling = model as? any DisentanglingModel {
            // A model trained without labels (the AdaIN form) has nothing to probe for.
            if disentangling.classes < 2 {
                lines.append("the model was trained without labels: probes and swap consistency need labelled data")
            } else {
                let m = try measureDisentanglement()
                object["probe_free"] = m.freeProbe
                object["probe_labelled"] = m.labelledProbe
                object["probe_chance"] = m.chance
                object["swap_consistency"] = m.swapConsistency
                object["classifier_accuracy"] = m.classifierAccuracy
                object["swaps"] = m.swaps
                lines.append(String(format: "label from the free code: %.1f%% (linear probe; chance %.1f%%), from the "
                    + "labelled part: %.1f%%; swap consistency %.1f%% of %d swaps (classifier: %.1f%% on real test data)",
                    100 * m.freeProbe, 100 * m.chance, 100 * m.labelledProbe, 100 * m.swapConsistency, m.swaps,
                    100 * m.classifierAccuracy))
            }
        }
        return Report(object: object, lines: lines)
    }
}
