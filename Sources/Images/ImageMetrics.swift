// Full-reference image quality for evaluating a denoiser: PSNR and SSIM (Wang, Bovik, Sheikh,
// Simoncelli 2004, "Image quality assessment: from error visibility to structural similarity",
// IEEE TIP 13(4), eqs. 13 and 17). SSIM matches scikit-image's `structural_similarity(a, b,
// data_range=peak, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=0)`
// (checked against it by tools/make_metric_references.py).

import Foundation

/// Quality of an image `b` (e.g. a reconstruction) against a reference `a`, both planar floats.
public enum ImageMetrics {
    /// Standard deviation of SSIM's Gaussian window, as in Wang et al.
    public static let ssimSigma = 1.5
    /// Window radius, `int(truncate * sigma + 0.5)` with skimage's `truncate = 3.5`: 5.
    public static let ssimRadius = Int(3.5 * ssimSigma + 0.5)
    /// Side of the square SSIM window (11), and the smallest height and width `ssim` accepts.
    public static var ssimWindowSize: Int { 2 * ssimRadius + 1 }
    /// Stabilising constants of eq. 13: `C1 = (K1 * peak)^2`, `C2 = (K2 * peak)^2`.
    static let k1 = 0.01
    static let k2 = 0.03

    /// The highest PSNR reported (dB): identical images score this, not infinity.
    public static let reportedPSNRCap = 100.0

    /// What an image scored by `reportedPSNR` is.
    public enum ScoredImage: Sendable {
        /// A model's output: clipped to [0, 1] first, as a saved image is.
        case output
        /// A corrupted input, as the model received it (unclipped noise as the benchmarks add it).
        case input
    }

    /// The one PSNR the product reports (training log, `evaluate`, the denoiser's evaluation):
    /// dB against peak 1 of `image` against `reference`, the squared errors summed in `Double`,
    /// an output clipped to [0, 1] first, capped at `reportedPSNRCap`.
    public static func reportedPSNR(_ reference: UnsafePointer<Float>, _ image: UnsafePointer<Float>, count: Int,
                                    scoring kind: ScoredImage) -> Double {
        precondition(count > 0, "PSNR needs at least one value")
        var sum = 0.0
        for i in 0..<count {
            let y = kind == .output ? min(max(image[i], 0), 1) : image[i]
            let e = Double(reference[i]) - Double(y)
            sum += e * e
        }
        let mse = sum / Double(count)
        return mse > 0 ? min(10 * log10(1 / mse), reportedPSNRCap) : reportedPSNRCap
    }

    /// Peak signal-to-noise ratio in dB: `10 log10(peak^2 / MSE)`, the mean squared error taken
    /// over all `count` values and accumulated in `Double`.
    /// - Returns: the PSNR; `+infinity` when the images are identical (MSE 0).
    public static func psnr(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int,
                            peak: Float = 1) -> Double {
        precondition(count > 0, "PSNR needs at least one value")
        precondition(peak > 0, "PSNR peak must be positive, got \(peak)")
        var sum = 0.0
        for i in 0..<count {
            let d = Double(a[i]) - Double(b[i])
            sum += d * d
        }
        if sum == 0 { return .infinity }
        let peak = Double(peak)
        return 10 * log10(peak * peak / (sum / Double(count)))
    }

    /// Mean structural similarity of two planar images `a`, `b`: (C, H, W) with values in
    /// [0, `peak`]. Per channel, Gaussian-weighted (sigma 1.5, 11x11) local means `mu`, population
    /// variances `s2` and covariance `s_ab` give the map
    /// `((2 mu_a mu_b + C1)(2 s_ab + C2)) / ((mu_a^2 + mu_b^2 + C1)(s2_a + s2_b + C2))`,
    /// averaged over the pixels at least `ssimRadius` from every edge (skimage crops that strip
    /// before its mean); the result is the mean over channels. Filtering is separable and in
    /// `Double`: about 2 * 11 multiply-adds per moment and pixel.
    ///
    /// Because the cropped strip is exactly the window radius, every window that counts lies
    /// inside the image, so skimage's boundary mode (scipy's 'reflect') never affects the result
    /// and no padding is done here.
    /// - Precondition: `height` and `width` are at least `ssimWindowSize` (11); skimage rejects
    ///   smaller images too ("win_size exceeds image extent") rather than shrinking the window,
    ///   which would give numbers that compare with nothing.
    /// - Returns: the mean SSIM, 1 for identical images, in [-1, 1].
    public static func ssim(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, channels: Int,
                            height: Int, width: Int, peak: Float = 1) -> Double {
        precondition(channels > 0, "SSIM needs at least one channel, got \(channels)")
        precondition(height >= ssimWindowSize && width >= ssimWindowSize,
                     "SSIM needs images of at least \(ssimWindowSize)x\(ssimWindowSize) (its Gaussian "
                        + "window), got \(height)x\(width)")
        precondition(peak > 0, "SSIM peak must be positive, got \(peak)")
        let radius = ssimRadius
        let taps = ssimWindowSize
        let weights = gaussianWindow(sigma: ssimSigma, radius: radius)
        let c1 = (k1 * Double(peak)) * (k1 * Double(peak))
        let c2 = (k2 * Double(peak)) * (k2 * Double(peak))
        let H = height, W = width
        let outH = H - 2 * radius, outW = W - 2 * radius
        // Five moments per pixel: a, b, a*a, b*b, a*b. `rows` holds them filtered along x for
        // every row but only at the outW columns that survive the crop: (5, H, outW).
        // `sums` holds one output row filtered along y too: (5, outW).
        var rows = [Double](repeating: 0, count: 5 * H * outW)
        var sums = [Double](repeating: 0, count: 5 * outW)
        var total = 0.0
        rows.withUnsafeMutableBufferPointer { rows in
            sums.withUnsafeMutableBufferPointer { sums in
                let moment = H * outW
                for c in 0..<channels {
                    let x = a + c * H * W, y = b + c * H * W
                    // Along x: rows[q][i][j] = sum_k w[k] * m_q(i, j + k), j + k the input column.
                    for i in 0..<H {
                        for j in 0..<outW {
                            var ma = 0.0, mb = 0.0, maa = 0.0, mbb = 0.0, mab = 0.0
                            for k in 0..<taps {
                                let p = Double(x[i * W + j + k]), q = Double(y[i * W + j + k])
                                let w = weights[k]
                                ma += w * p
                                mb += w * q
                                maa += w * p * p
                                mbb += w * q * q
                                mab += w * p * q
                            }
                            let at = i * outW + j
                            rows[at] = ma
                            rows[moment + at] = mb
                            rows[2 * moment + at] = maa
                            rows[3 * moment + at] = mbb
                            rows[4 * moment + at] = mab
                        }
                    }
                    // Along y, one output row at a time (row i of the crop is input row i + radius).
                    var channelSum = 0.0
                    for i in 0..<outH {
                        for n in 0..<(5 * outW) { sums[n] = 0 }
                        for k in 0..<taps {
                            let w = weights[k]
                            for q in 0..<5 {
                                let from = q * moment + (i + k) * outW, to = q * outW
                                for j in 0..<outW { sums[to + j] += w * rows[from + j] }
                            }
                        }
                        for j in 0..<outW {
                            let muA = sums[j], muB = sums[outW + j]
                            let varA = sums[2 * outW + j] - muA * muA
                            let varB = sums[3 * outW + j] - muB * muB
                            let cov = sums[4 * outW + j] - muA * muB
                            channelSum += ((2 * muA * muB + c1) * (2 * cov + c2))
                                / ((muA * muA + muB * muB + c1) * (varA + varB + c2))
                        }
                    }
                    total += channelSum / Double(outH * outW)
                }
            }
        }
        return total / Double(channels)
    }

    /// Normalised 1-D Gaussian taps `exp(-x^2 / (2 sigma^2))` for x in -radius...radius, as scipy's
    /// `gaussian_filter` builds them.
    static func gaussianWindow(sigma: Double, radius: Int) -> [Double] {
        let raw = (-radius...radius).map { exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
        let sum = raw.reduce(0, +)
        return raw.map { $0 / sum }
    }
}
