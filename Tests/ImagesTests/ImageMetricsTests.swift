// ImageMetrics against scikit-image (tools/make_metric_references.py: gray, RGB and smallest-size
// clean/noisy pairs with skimage's PSNR and SSIM), plus properties: identity, peak scaling, and
// SSIM and PSNR falling as noise grows.

import Images
import Kernels
import Testing
import TestSupport

let metricsReferencePath = repositoryRoot + "/Tests/ImagesTests/Fixtures/metrics-reference.bin.gz"

/// (C, H, W) of a fixture image, which is stored as (C, H, W).
private func chw(_ tensor: Fixture.Tensor) -> (channels: Int, height: Int, width: Int) {
    (tensor.shape[0], tensor.shape[1], tensor.shape[2])
}

private func psnr(_ a: [Float], _ b: [Float], peak: Float = 1) -> Double {
    precondition(a.count == b.count)
    return ImageMetrics.psnr(a, b, count: a.count, peak: peak)
}

private func ssim(_ a: [Float], _ b: [Float], channels: Int, height: Int, width: Int,
                  peak: Float = 1) -> Double {
    precondition(a.count == b.count && a.count == channels * height * width)
    return ImageMetrics.ssim(a, b, channels: channels, height: height, width: width, peak: peak)
}

/// `clean` plus `std` times a fixed standard-normal pattern, clipped to [0, 1].
private func addNoise(_ clean: [Float], std: Float, seed: UInt64 = 7) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return clean.map { min(max($0 + std * rng.nextGaussianPair().0, 0), 1) }
}

@Suite struct ImageMetricsTests {
    @Test(arguments: ["gray", "rgb", "smallest"])
    func matchesScikitImage(name: String) throws {
        let reference = try Fixture(path: metricsReferencePath)
        let clean = try #require(reference["\(name).clean"])
        let noisy = try #require(reference["\(name).noisy"])
        let expectedPSNR = Double(try #require(reference["\(name).psnr"]).values[0])
        let expectedSSIM = Double(try #require(reference["\(name).ssim"]).values[0])
        let (c, h, w) = chw(clean)
        #expect(noisy.shape == clean.shape)

        let p = psnr(clean.values, noisy.values)
        #expect(abs(p - expectedPSNR) <= 1e-3, "\(name): PSNR \(p) dB, skimage \(expectedPSNR) dB")
        let s = ssim(clean.values, noisy.values, channels: c, height: h, width: w)
        #expect(abs(s - expectedSSIM) <= 1e-4, "\(name): SSIM \(s), skimage \(expectedSSIM)")
        // Both metrics are symmetric in their arguments.
        #expect(abs(ssim(noisy.values, clean.values, channels: c, height: h, width: w) - s) <= 1e-12)
        #expect(abs(psnr(noisy.values, clean.values) - p) <= 1e-12)
    }

    @Test func identicalImagesScoreOneAndInfinity() throws {
        let reference = try Fixture(path: metricsReferencePath)
        for name in ["gray", "rgb", "smallest"] {
            let image = try #require(reference["\(name).noisy"])
            let (c, h, w) = chw(image)
            let s = ssim(image.values, image.values, channels: c, height: h, width: w)
            #expect(abs(s - 1) <= 1e-12, "\(name): SSIM with itself \(s)")
            let p = psnr(image.values, image.values)
            #expect(p == .infinity, "\(name): PSNR with itself \(p)")
        }
        // A flat image too: all variances are 0, so only C1 and C2 keep the ratio defined.
        let flat = [Float](repeating: 0.25, count: 12 * 13)
        #expect(ssim(flat, flat, channels: 1, height: 12, width: 13) == 1)
    }

    @Test func scalingByPeakLeavesMetricsUnchanged() throws {
        let reference = try Fixture(path: metricsReferencePath)
        let clean = try #require(reference["rgb.clean"])
        let noisy = try #require(reference["rgb.noisy"])
        let (c, h, w) = chw(clean)
        let clean255 = clean.values.map { $0 * 255 }, noisy255 = noisy.values.map { $0 * 255 }
        let s = ssim(clean.values, noisy.values, channels: c, height: h, width: w)
        let s255 = ssim(clean255, noisy255, channels: c, height: h, width: w, peak: 255)
        #expect(abs(s255 - s) <= 1e-6, "SSIM \(s) at peak 1, \(s255) at peak 255")
        let p = psnr(clean.values, noisy.values)
        let p255 = psnr(clean255, noisy255, peak: 255)
        #expect(abs(p255 - p) <= 1e-4, "PSNR \(p) at peak 1, \(p255) at peak 255")
    }

    @Test func metricsFallAsNoiseGrows() throws {
        let reference = try Fixture(path: metricsReferencePath)
        let clean = try #require(reference["gray.clean"])
        let (c, h, w) = chw(clean)
        var previousSSIM = 1.0, previousPSNR = Double.infinity
        for std: Float in [0.01, 0.03, 0.1, 0.3] {
            let noisy = addNoise(clean.values, std: std)
            let s = ssim(clean.values, noisy, channels: c, height: h, width: w)
            let p = psnr(clean.values, noisy)
            #expect(s < previousSSIM, "noise std \(std): SSIM \(s) not below \(previousSSIM)")
            #expect(p < previousPSNR, "noise std \(std): PSNR \(p) not below \(previousPSNR)")
            previousSSIM = s
            previousPSNR = p
        }
        #expect(previousSSIM < 0.5, "SSIM at noise std 0.3 is \(previousSSIM)")
    }

    /// The reported PSNR: an output is scored clipped to [0, 1] (as saved), an input unclipped,
    /// and identical images at the cap; otherwise it equals the plain PSNR.
    @Test func reportedPSNRClipsOutputsOnly() throws {
        let reference = try Fixture(path: metricsReferencePath)
        let clean = try #require(reference["gray.clean"]).values, n = clean.count
        // Unclipped noise of +-0.3 leaves [0, 1] at the darkest and brightest pixels.
        let noisy = clean.enumerated().map { $0.element + ($0.offset % 2 == 0 ? 0.3 : -0.3) }
        #expect(noisy.contains { $0 < 0 } && noisy.contains { $0 > 1 })
        let clipped = noisy.map { min(max($0, 0), 1) }
        #expect(ImageMetrics.reportedPSNR(clean, noisy, count: n, scoring: .input) == psnr(clean, noisy))
        #expect(ImageMetrics.reportedPSNR(clean, noisy, count: n, scoring: .output) == psnr(clean, clipped))
        #expect(psnr(clean, clipped) > psnr(clean, noisy))
        #expect(ImageMetrics.reportedPSNR(clean, clean, count: n, scoring: .output) == ImageMetrics.reportedPSNRCap)
        #expect(ImageMetrics.reportedPSNR(clean, clean, count: n, scoring: .input) == 100)
    }
}
