// Grid outputs for people looking at them: --scale (nearest-neighbour blocks) and the caption
// line on grid, reconstruct and training grids; transparent images on the default black
// background are warned about.

import Foundation
import Images
import Testing
import TestSupport

@Suite struct GridCLITests {
    @Test func scaleAndCaption() throws {
        let folder = try makeScratchFolder("gridscale")
        let one = try runTool(["grid", "--data", "mnist-sample", "--count", "3", "--scale", "1", "--out", folder + "/one.png"])
        let three = try runTool(["grid", "--data", "mnist-sample", "--count", "3", "--scale", "3", "--out", folder + "/three.png"])
        #expect(one.status == 0 && three.status == 0, "\(one.stderr)\(three.stderr)")
        let small = try PNGCodec.read(path: folder + "/one.png"), big = try PNGCodec.read(path: folder + "/three.png")
        // Rows of three tiles: 28 px become 84, gutters stay 2 px; labels grow with the rows.
        var grid = ImageGrid(tileWidth: 28, tileHeight: 28, channels: 1)
        grid.caption = "gaussian:0.3, seed 0, epoch 0"
        grid.scale = 3
        for label in ["clean", "noisy"] { grid.addRow(label: label, tiles: [Float](repeating: 0, count: 3 * 784)) }
        #expect(big.width == grid.render().width && big.height == grid.render().height, "\(big.width)x\(big.height)")
        // Each pixel of the first clean tile is a 3x3 block of the unscaled one.
        var unscaled = grid
        unscaled.scale = 1
        let (x1, y1) = unscaled.tileOrigin(row: 0, column: 0), (x3, y3) = grid.tileOrigin(row: 0, column: 0)
        for y in 0..<28 {
            for x in 0..<28 {
                let v = small.samples[(y1 + y) * small.width + x1 + x]
                for dy in 0..<3 { for dx in 0..<3 { #expect(big.samples[(y3 + 3 * y + dy) * big.width + x3 + 3 * x + dx] == v) } }
            }
        }
        let run = folder + "/run"
        let train = try runTool(["train", "--model", "dense", "--layers", "784,16", "--epochs", "1", "--grid-count", "2",
                                 "--grid-scale", "2", "--run-dir", run])
        #expect(train.status == 0, "\(train.stderr)")
        let trained = try PNGCodec.read(path: run + "/grids/reconstruction-epoch-001.png")
        #expect(trained.height == Self.height(rows: 2, scale: 2), "\(trained.height)")  // clean and recon rows of 56 px
        let reconstruct = try runTool(["reconstruct", "--checkpoint", run, "--count", "2", "--scale", "4",
                                       "--out", folder + "/r.png"])
        #expect(reconstruct.status == 0, "\(reconstruct.stderr)")
        #expect(try PNGCodec.read(path: folder + "/r.png").height == Self.height(rows: 2, scale: 4))
        // Without --scale, 28-pixel digits are drawn at 2x, as --scale 2 draws them.
        let readable = try runTool(["grid", "--data", "mnist-sample", "--count", "3", "--out", folder + "/two.png"])
        #expect(readable.status == 0, "\(readable.stderr)")
        #expect(try PNGCodec.read(path: folder + "/two.png").height == Self.height(rows: 2, scale: 2))
        // --patch N is N x N, as train --patch N.
        let square = try runTool(["grid", "--data", "mnist-sample", "--patch", "12", "--out", folder + "/p1.png"])
        let explicit = try runTool(["grid", "--data", "mnist-sample", "--patch", "12x12", "--out", folder + "/p2.png"])
        #expect(square.status == 0 && explicit.status == 0, "\(square.stderr)")
        #expect(try PNGCodec.read(path: folder + "/p1.png") == PNGCodec.read(path: folder + "/p2.png"))
        let refused = try runTool(["grid", "--data", "mnist-sample", "--scale", "0", "--out", folder + "/x.png"])
        #expect(refused.status != 0 && refused.stderr.contains("--scale"), "\(refused.stderr)")
    }

    /// Pixels a caption of `lines` lines takes above a grid's rows drawn at `scale`.
    static func captionBand(lines: Int, scale: Int = 1) -> Int {
        lines * (BitmapFont.glyphHeight + 2) * min(scale, 3) + 2 - 1
    }

    /// The caption's lines in an image `height` pixels tall whose tiles and gutters take `below`
    /// pixels under it (the caption wraps to the grid's width), or nil when no whole number of
    /// caption lines fits the difference.
    static func captionLines(height: Int, below: Int, scale: Int = 1) -> Int? {
        (1...12).first { captionBand(lines: $0, scale: scale) + below == height }
    }

    /// Height of a grid of 28x28 tiles under a caption of `lines` lines.
    static func height(rows: Int, scale: Int, lines: Int = 1) -> Int {
        var grid = ImageGrid(tileWidth: 28, tileHeight: 28, channels: 1)
        grid.caption = Array(repeating: "caption", count: lines).joined(separator: "\n")
        grid.scale = scale
        for _ in 0..<rows { grid.addRow(label: "row", tiles: [Float](repeating: 0, count: 784)) }
        return grid.render().height
    }

    @Test func transparentImagesOnBlackAreWarnedAbout() throws {
        let folder = try makeScratchFolder("transparent")
        for i in 0..<3 {
            // RGBA icons: an opaque square on a transparent background.
            var samples = [UInt16](repeating: 0, count: 8 * 8 * 4)
            for p in 0..<64 where (p / 8) % 7 != 0 && (p % 8) % 7 != 0 {
                samples.replaceSubrange((p * 4)..<(p * 4 + 4), with: [200, UInt16(50 * i), 30, 255])
            }
            try PNGCodec.write(PNGImage(width: 8, height: 8, layout: .rgba, bitDepth: 8, samples: samples),
                               to: folder + "/icon\(i).png")
        }
        let warned = try runTool(["inspect", "--data", folder, "--decode"])
        #expect(warned.status == 0 && warned.stderr.contains("3 image(s)") && warned.stderr.contains("transparent"),
                "\(warned.stderr)")
        let white = try runTool(["inspect", "--data", folder, "--decode", "--background", "1"])
        #expect(white.status == 0 && !white.stderr.contains("transparent"), "\(white.stderr)")
        let train = try runTool(["train", "--model", "dense", "--data", folder, "--layers", "192,4", "--epochs", "1",
                                 "--run-dir", folder + "-run"])
        #expect(train.status == 0 && train.stdout.contains("warning: 3 image(s)"), "\(train.stdout)\(train.stderr)")
    }
}
