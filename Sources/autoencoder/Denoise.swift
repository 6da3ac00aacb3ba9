// `autoencoder denoise` (a folder of PNGs of any size -> denoised PNGs with the same names, sizes,
// color types and bit depths) and the denoiser branch of `autoencoder evaluate` (adds noise to
// clean images reproducibly, denoises them, reports PSNR and SSIM per image and overall): parsing
// and printing; the work is ImageDenoiser's (Training).

import ArgumentParser
import Datasets
import Denoising
import Dispatch
import Engine
import Foundation
import Images
import Kernels
import Training

struct Denoise: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Denoise PNG images with a checkpoint trained to remove noise: --model denoiser (any size) or "
            + "an image autoencoder trained with --noise (dense, conv, vae...: images of its trained size).",
        discussion: """
            Writes each input's file name into --output with the same size, color type and bit depth \
            (8/16-bit gray, gray+alpha, RGB, RGBA; palette and 1/2/4-bit inputs are written as 8-bit \
            RGB or gray). Alpha is kept as it is. A gray model denoises each channel of a color image; \
            a color model sees a gray image as three equal channels.
            """)

    @Option(help: "A denoiser checkpoint (.safetensors) or its run folder (its best.safetensors).")
    var checkpoint: String

    @Option(help: "A PNG file or a folder of PNG files.")
    var input: String

    @Option(help: "Output folder (created; must differ from the input folder).")
    var output: String

    @Flag(help: "Replace files --output already holds (refused otherwise).")
    var overwrite = false

    @Option(help: "Output pixels per tile side; bounds memory for large images.")
    var tile: Int = 192

    @Flag(help: "Average over the 8 rotations and mirror images of each image (self-ensemble; 8x the time).")
    var ensemble = false

    @Option(help: ArgumentHelp("Cores to use (default: all).", valueName: "N"))
    var threads: Int?

    @Option(help: ArgumentHelp("The most pixels an input may declare (10000x10000 by default).", valueName: "N"))
    var maxPixels: Int = PNGCodec.defaultMaxPixels

    func run() throws {
        guard try Checkpoint.load(checkpoint, preferring: "best").config.model.specification.denoisesWholeImages else {
            return try runAutoencoder()
        }
        let denoiser = try loadDenoiser(checkpoint, tile: tile)
        let files = try prepareOutput(input: input, output: output, overwrite: overwrite)
        let started = Date()
        let failures = ImageDenoiser.forEachImage(count: files.count, threads: threads ?? activeCores) { index, runners in
            let file = files[index]
            let image = try PNGCodec.read(path: file.path, maxPixels: maxPixels)
            let result = denoiser.denoise(image, ensemble: ensemble, runners: runners)
            try PNGCodec.write(result, to: try outputPath(output, file.relative))
        }
        for failure in failures { print("error: \(failure)") }
        let done = files.count - failures.count
        print(String(format: "denoised %d image(s) into %@ in %.1f s", done, output, Date().timeIntervalSince(started)))
        if !failures.isEmpty { throw CommandFailure(message: "\(failures.count) file(s) could not be denoised") }
    }
}

extension Denoise {
    /// An image autoencoder trained with noise, one image at a time at its trained size.
    func runAutoencoder() throws {
        if ensemble { throw CommandFailure(message: "--ensemble is for --model denoiser checkpoints") }
        let denoiser = try ModelDenoiser(checkpoint: checkpoint)
        let files = try prepareOutput(input: input, output: output, overwrite: overwrite)
        let started = Date()
        var failures: [String] = []
        for file in files {
            do {
                let image = try PNGCodec.read(path: file.path, maxPixels: maxPixels)
                try PNGCodec.write(try denoiser.denoise(image, path: file.path), to: try outputPath(output, file.relative))
            } catch {
                failures.append("\(error)")
            }
        }
        for failure in failures { print("error: \(failure)") }
        print(String(format: "denoised %d image(s) into %@ in %.1f s", files.count - failures.count, output,
                     Date().timeIntervalSince(started)))
        if !failures.isEmpty { throw CommandFailure(message: "\(failures.count) file(s) could not be denoised") }
    }
}

/// Evaluates a denoiser checkpoint on a folder of clean images.
struct DenoiserEvaluation {
    let checkpoint: String
    let data: String
    let noise: String?
    let seed: UInt64
    let tile: Int
    let ensemble: Bool
    let threads: Int
    let save: String?

    func run(json: Bool) throws {
        let denoiser = try loadDenoiser(checkpoint, tile: tile)
        let spec = try noise ?? Checkpoint.load(checkpoint, preferring: "best").config.noise
        let corruption = try Corruption(parsing: spec)
        if corruption.isNone {
            throw CommandFailure(message: "evaluating a denoiser needs noise: pass --noise, e.g. gaussian:25/255")
        }
        let files = try inputFiles(data)
        let started = Date()
        let all: [DenoiserScore]
        all = try denoiser.score(files: files, corruption: corruption, seed: seed, ensemble: ensemble, threads: threads,
                                 save: save)
        let n = Double(all.count)
        func mean(_ key: KeyPath<DenoiserScore, Double>) -> Double { all.reduce(0) { $0 + $1[keyPath: key] } / n }
        let seconds = Date().timeIntervalSince(started)
        if json {
            let object: [String: Any] = [
                "images": all.count, "data": data, "noise": spec, "seed": seed, "seconds": seconds,
                "psnr_noisy": mean(\.psnrNoisy), "psnr_denoised": mean(\.psnrDenoised),
                "ssim_noisy": mean(\.ssimNoisy), "ssim_denoised": mean(\.ssimDenoised),
                "per_image": all.map { r -> [String: Any] in
                    ["file": r.file, "width": r.width, "height": r.height, "psnr_noisy": r.psnrNoisy,
                     "psnr_denoised": r.psnrDenoised, "ssim_noisy": r.ssimNoisy, "ssim_denoised": r.ssimDenoised]
                },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("image                             size        PSNR noisy  denoised   SSIM noisy  denoised")
            for r in all {
                let name = r.file.count > 32 ? String(r.file.prefix(29)) + "..." : r.file
                print(name.padding(toLength: 34, withPad: " ", startingAt: 0)
                    + "\(r.width)x\(r.height)".padding(toLength: 12, withPad: " ", startingAt: 0)
                    + String(format: "%8.2f  %8.2f   %8.4f  %8.4f", r.psnrNoisy, r.psnrDenoised, r.ssimNoisy,
                             r.ssimDenoised))
            }
            print(String(format: "mean over %d image(s), noise %@, seed %llu: PSNR %.2f -> %.2f dB (%+.2f), "
                + "SSIM %.4f -> %.4f; %.1f s", all.count, spec, seed, mean(\.psnrNoisy), mean(\.psnrDenoised),
                mean(\.psnrDenoised) - mean(\.psnrNoisy), mean(\.ssimNoisy), mean(\.ssimDenoised), seconds))
        }
    }
}

func loadDenoiser(_ checkpoint: String, tile: Int) throws -> ImageDenoiser {
    guard tile > 0 else { throw CommandFailure(message: "--tile must be positive") }
    return try ImageDenoiser.load(checkpoint: checkpoint, tile: tile)
}

/// The PNG files of `input`, once `output` is made and known not to be the input's folder.
func prepareOutput(input: String, output: String, overwrite: Bool) throws -> [(path: String, relative: String)] {
    let files = try inputFiles(input)
    let inputFolder = isFolder(input) ? input : (input as NSString).deletingLastPathComponent
    if URL(fileURLWithPath: inputFolder).standardizedFileURL == URL(fileURLWithPath: output).standardizedFileURL {
        throw CommandFailure(message: "--output \(output) is the input folder; choose another so no input is overwritten")
    }
    // As train refuses a run folder that holds files: nothing is replaced unless asked.
    let existing = files.filter { FileManager.default.fileExists(atPath: (output as NSString).appendingPathComponent($0.relative)) }
    if !overwrite, let first = existing.first {
        throw CommandFailure(message: "--output \(output) already holds \(existing.count) of the \(files.count) file(s) "
            + "this would write (e.g. \(first.relative)); pass --overwrite to replace them")
    }
    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
    return files
}

/// Where an input's result goes: its relative path under `output` (subfolders recreated).
func outputPath(_ output: String, _ relative: String) throws -> String {
    let target = (output as NSString).appendingPathComponent(relative)
    try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent,
                                            withIntermediateDirectories: true)
    return target
}

func isFolder(_ path: String) -> Bool {
    var folder: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &folder) && folder.boolValue
}

/// The PNG files under a folder (sorted; full path and path relative to the folder), or the
/// one file given.
func inputFiles(_ path: String) throws -> [(path: String, relative: String)] {
    guard FileManager.default.fileExists(atPath: path) else { throw CommandFailure(message: "\(path): no such file or folder") }
    guard isFolder(path) else { return [(path, (path as NSString).lastPathComponent)] }
    let files = PNGFolder.listFiles(in: path)
    if files.isEmpty { throw CommandFailure(message: "\(path): no .png files in this folder") }
    return files.map { ((path as NSString).appendingPathComponent($0), $0) }
}

