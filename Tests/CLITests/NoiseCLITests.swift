// `autoencoder noise`: noisy copies keep each file's name, size, layout, bit depth and alpha,
// carry the requested noise, and are reproducible per seed.

import Datasets
import Foundation
import Images
import Kernels
import Testing
import TestSupport

@Suite struct NoiseCLITests {
    @Test func noisyCopiesKeepTheFilesAndAreReproducible() throws {
        let folder = try makeScratchFolder("noisecli")
        let clean = folder + "/clean"
        try FileManager.default.createDirectory(atPath: clean + "/sub", withIntermediateDirectories: true)
        var rng = SplitMix64(seed: 5)
        var images: [String: PNGImage] = [:]
        for (name, layout, depth) in [("gray8.png", PixelLayout.gray, 8), ("gray16.png", .gray, 16),
                                      ("sub/rgb.png", .rgb, 8), ("rgba16.png", .rgba, 16), ("ga.png", .grayAlpha, 8)] {
            let (width, height) = (37, 23)
            let top = Float(depth == 16 ? 65535 : 255)
            // Mid-range values, so little of the noise is clipped.
            let samples = (0..<(width * height * layout.channels)).map { _ in UInt16((0.3 + 0.4 * rng.nextUniform()) * top) }
            let image = PNGImage(width: width, height: height, layout: layout, bitDepth: depth, samples: samples)
            try PNGCodec.write(image, to: clean + "/" + name)
            images[name] = image
        }
        let first = try runTool(["noise", "--input", clean, "--output", folder + "/a", "--noise", "gaussian:25/255", "--seed", "3"])
        #expect(first.status == 0 && first.stdout.contains("wrote 5 noisy image(s)"), "\(first.stdout)\(first.stderr)")
        let again = try runTool(["noise", "--input", clean, "--output", folder + "/b", "--noise", "gaussian:25/255", "--seed", "3"])
        let other = try runTool(["noise", "--input", clean, "--output", folder + "/c", "--noise", "gaussian:25/255", "--seed", "4"])
        #expect(again.status == 0 && other.status == 0)
        // Written files are not replaced unless asked, as train's run folders.
        let kept = try runTool(["noise", "--input", clean, "--output", folder + "/c", "--noise", "gaussian:25/255", "--seed", "3"])
        #expect(kept.status != 0 && kept.stderr.contains("already holds 5 of the 5") && kept.stderr.contains("--overwrite"),
                "\(kept.stderr)")
        let replaced = try runTool(["noise", "--input", clean, "--output", folder + "/c", "--noise", "gaussian:25/255", "--seed", "4",
                                    "--overwrite"])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        for (name, image) in images {
            let noisy = try PNGCodec.read(path: folder + "/a/" + name)
            #expect(noisy.width == image.width && noisy.height == image.height && noisy.layout == image.layout
                && noisy.bitDepth == image.bitDepth, "\(name)")
            #expect(try PNGCodec.read(path: folder + "/b/" + name) == noisy, "\(name): same seed, same draws")
            #expect(try PNGCodec.read(path: folder + "/c/" + name) != noisy, "\(name): another seed, other draws")
            let k = image.layout.channels, colors = image.layout.isColor ? 3 : 1
            var sum = 0.0, count = 0.0
            for i in 0..<image.samples.count {
                if i % k >= colors {
                    #expect(noisy.samples[i] == image.samples[i], "\(name): alpha changed at \(i)")
                    continue
                }
                let d = Double(noisy.samples[i]) - Double(image.samples[i])
                sum += d * d / Double(image.maxValue * image.maxValue)
                count += 1
            }
            let std = (sum / count).squareRoot()
            #expect(abs(std - 25.0 / 255) < 0.01, "\(name): noise std \(std)")
        }
        let refused = try runTool(["noise", "--input", clean, "--output", clean, "--noise", "gaussian:0.1"])
        #expect(refused.status != 0 && refused.stderr.contains("is the input folder"), "\(refused.stderr)")
        let none = try runTool(["noise", "--input", clean, "--output", folder + "/d", "--noise", "none"])
        #expect(none.status != 0 && none.stderr.contains("adds no noise"), "\(none.stderr)")
    }
}
