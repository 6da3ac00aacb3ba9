// `autoencoder noise`: corrupted copies of clean PNGs (same names, sizes, color types and bit
// depths), reproducible per seed, so users can make their own clean/noisy test pairs.

import ArgumentParser
import Datasets
import Files
import Foundation
import Images

struct Noise: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write noisy copies of clean PNG images (a file or a folder) for denoising test pairs.",
        discussion: """
            Each image's color channels get the noise (alpha is kept), clipped to the PNG's range and \
            written at the input's size, color type and bit depth (palette and 1/2/4-bit inputs as \
            8-bit RGB or gray) under the same relative name. The draws depend on --seed and the file's \
            place in the sorted listing: `evaluate --seed S` on the same folder with a model of the \
            image's channels scores the same noisy images (for images without alpha).
            """)

    @Option(help: "A PNG file or a folder of PNG files (subfolders included).")
    var input: String

    @Option(help: "Output folder (created; must differ from the input folder).")
    var output: String

    @Flag(help: "Replace files --output already holds (refused otherwise).")
    var overwrite = false

    @Option(help: ArgumentHelp("The noise, as train --noise takes it, e.g. gaussian:25/255, salt-pepper:0.1, "
        + "masking:0.3, gaussian:0.1+clip.", valueName: "spec"))
    var noise: String

    @Option(help: "Random seed of the draws.")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("The most pixels an input may declare (10000x10000 by default).", valueName: "N"))
    var maxPixels: Int = PNGCodec.defaultMaxPixels

    func validate() throws {
        let corruption: Corruption
        do { corruption = try Corruption(parsing: noise) } catch let error as InputError {
            throw ValidationError(error.description)
        }
        if corruption.steps.isEmpty { throw ValidationError("--noise \(noise) adds no noise") }
        if maxPixels <= 0 { throw ValidationError("--max-pixels must be positive") }
    }

    func run() throws {
        let corruption = try Corruption(parsing: noise)
        let files = try prepareOutput(input: input, output: output, overwrite: overwrite)
        var failures: [String] = []
        for (index, file) in files.enumerated() {
            do {
                let image = try PNGCodec.read(path: file.path, maxPixels: maxPixels)
                try PNGCodec.write(corruption.apply(to: image, seed: seed, sampleIndex: index),
                                   to: try outputPath(output, file.relative))
            } catch {
                failures.append("\(error)")
            }
        }
        for failure in failures { print("error: \(failure)") }
        print("wrote \(files.count - failures.count) noisy image(s) (\(corruption), seed \(seed)) into \(output)")
        if !failures.isEmpty { throw CommandFailure(message: "\(failures.count) file(s) could not be read or written") }
    }
}
