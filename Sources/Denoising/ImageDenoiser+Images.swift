// Whole PNG images through a denoiser: same size, layout and bit depth out as in (a gray model
// denoises each channel of a color image, a color model sees gray as three equal channels), in
// parallel over images or over one image's tiles; and scoring against clean images (PSNR, SSIM).

import Datasets
import Dispatch
import Engine
import Foundation
import Images
import Kernels
import Training

/// PSNR and SSIM of one image, noisy and denoised, against the clean image.
public struct DenoiserScore: Sendable {
    public var file: String
    public var width: Int, height: Int
    public var psnrNoisy: Double, psnrDenoised: Double
    public var ssimNoisy: Double, ssimDenoised: Double
}

extension ImageDenoiser {
    /// Denoises a decoded PNG and returns an image of the same size, layout and bit depth.
    public func denoise(_ image: PNGImage, ensemble: Bool, runners: [Runner]) -> PNGImage {
        image.mappingColorPlanes(channels: config.channels) {
            denoise($0, height: image.height, width: image.width, ensemble: ensemble, runners: runners)
        }
    }

    /// Runs `body` for every image index on `threads` workers: in parallel over images when there
    /// are enough of them, else one image at a time with its tiles spread over the workers.
    /// Returns the errors, each naming its file.
    public static func forEachImage(count: Int, threads: Int,
                                     _ body: @escaping @Sendable (Int, [Runner]) throws -> Void) -> [String] {
        BLAS.useSingleThread()
        let workers = max(1, threads)
        let runners = (0..<workers).map { _ in Runner() }
        let errors = ResultSlots<String>(count: count)
        let runOne = { @Sendable (index: Int, runners: [Runner]) in
            do {
                try body(index, runners)
            } catch {
                errors[index] = "\(error)"
            }
        }
        if count >= workers {
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                for index in stride(from: w, to: count, by: workers) { runOne(index, [runners[w]]) }
            }
        } else {
            for index in 0..<count { runOne(index, runners) }
        }
        return (0..<count).compactMap { errors[$0] }
    }

    /// Adds `corruption` to each clean image (keyed by `seed` and the file's index), denoises it
    /// whole and scores noisy and denoised against clean, in the model's channels (a gray model
    /// is scored on luma). With `save`, the noisy and denoised images scored are written to
    /// `save/noisy/` and `save/denoised/` under their relative names, in the model's channels at
    /// the input's bit depth (8 or 16), clipped to [0, 1].
    /// - Throws: `TrainingError` listing the files that failed.
    public func score(files: [(path: String, relative: String)], corruption: Corruption, seed: UInt64,
                      ensemble: Bool, threads: Int, save: String? = nil) throws -> [DenoiserScore] {
        let results = ResultSlots<DenoiserScore>(count: files.count)
        let c = config.channels
        let failures = Self.forEachImage(count: files.count, threads: threads) { index, runners in
            let file = files[index].path
            let image = try PNGCodec.read(path: file)
            let clean = PNGFolder.planarFloats(image, channels: c, background: 0)
            var noisy = clean
            noisy.withUnsafeMutableBufferPointer {
                corruption.apply(to: $0.baseAddress!, count: $0.count, seed: seed, epoch: 0, sampleIndex: index)
            }
            let denoised = self.denoise(noisy, height: image.height, width: image.width, ensemble: ensemble,
                                        runners: runners).map { min(max($0, 0), 1) }
            func psnr(_ a: [Float], _ b: [Float], _ kind: ImageMetrics.ScoredImage) -> Double {
                ImageMetrics.reportedPSNR(a, b, count: a.count, scoring: kind)
            }
            func ssim(_ a: [Float], _ b: [Float]) -> Double {
                ImageMetrics.ssim(a, b, channels: c, height: image.height, width: image.width)
            }
            if let save {
                for (kind, planes) in [("noisy", noisy), ("denoised", denoised)] {
                    let path = save + "/" + kind + "/" + files[index].relative
                    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                            withIntermediateDirectories: true)
                    let n = image.width * image.height
                    let interleaved = (0..<(c * n)).map { planes[($0 % c) * n + $0 / c] }
                    try PNGCodec.write(PNGImage(width: image.width, height: image.height, layout: c == 3 ? .rgb : .gray,
                                                bitDepth: image.bitDepth == 16 ? 16 : 8, values: interleaved), to: path)
                }
            }
            results[index] = DenoiserScore(file: files[index].relative, width: image.width, height: image.height,
                                           psnrNoisy: psnr(clean, noisy, .input), psnrDenoised: psnr(clean, denoised, .output),
                                           ssimNoisy: ssim(clean, noisy), ssimDenoised: ssim(clean, denoised))
        }
        if !failures.isEmpty { throw TrainingError(failures.joined(separator: "\n")) }
        return (0..<files.count).compactMap { results[$0] }
    }
}

/// One slot per index, written by parallel workers (each index by one worker only).
// @unchecked Sendable: `storage` is only read and written under `lock`.
public final class ResultSlots<Value>: @unchecked Sendable {
    private var storage: [Value?]
    private let lock = NSLock()

    public init(count: Int) { storage = Array(repeating: nil, count: count) }

    public subscript(index: Int) -> Value? {
        get { lock.withLock { storage[index] } }
        set { lock.withLock { storage[index] = newValue } }
    }
}
