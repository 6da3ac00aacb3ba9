// PNG write -> read is exact for 8- and 16-bit gray, gray+alpha, RGB and RGBA.

import Foundation
import Images
import Kernels
import Testing
import TestSupport

@Suite struct PNGRoundTripTests {
    static let cases: [(PixelLayout, Int)] = PixelLayout.allCases.flatMap { [($0, 8), ($0, 16)] }

    static func randomImage(layout: PixelLayout, bitDepth: Int, width: Int, height: Int) -> PNGImage {
        var rng = SplitMix64(seed: UInt64(layout.rawValue * 100 + bitDepth))
        let maxValue = UInt64(bitDepth == 16 ? 65535 : 255)
        let k = layout.channels
        var samples = [UInt16](repeating: 0, count: width * height * k)
        for p in 0..<(width * height) {
            let alpha = UInt16(rng.next() % (maxValue + 1))
            for c in 0..<k {
                var v = UInt16(rng.next() % (maxValue + 1))
                if layout.hasAlpha && c == k - 1 { v = alpha }
                samples[p * k + c] = v
            }
        }
        return PNGImage(width: width, height: height, layout: layout, bitDepth: bitDepth, samples: samples)
    }

    @Test(arguments: cases)
    func writeThenReadIsExact(layout: PixelLayout, bitDepth: Int) throws {
        let image = Self.randomImage(layout: layout, bitDepth: bitDepth, width: 37, height: 53)
        let folder = try makeScratchFolder("roundtrip")
        let path = folder + "/image.png"
        try PNGCodec.write(image, to: path)
        let back = try PNGCodec.read(path: path)
        #expect(back.width == 37 && back.height == 53)
        #expect(back.layout == layout)
        #expect(back.bitDepth == bitDepth)
        #expect(back.header?.bitDepth == bitDepth)
        #expect(back.samples == image.samples)
        // No temporary file is left beside the output.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["image.png"])
    }

    /// The encoder compresses once into a buffer of libpng's bound; a first buffer too small
    /// (forced here) takes a second pass that gives the same bytes. Random pixels do not
    /// compress, so the bound is what they need.
    @Test(arguments: cases)
    func encodingOnceOrTwiceGivesTheSameBytes(layout: PixelLayout, bitDepth: Int) throws {
        let image = Self.randomImage(layout: layout, bitDepth: bitDepth, width: 61, height: 47)
        let once = try PNGCodec.encode(image)
        #expect(try PNGCodec.encode(image, firstBuffer: 16) == once)
        #expect(try PNGCodec.encode(image, firstBuffer: once.count) == once)
        #expect(try PNGCodec.decode(once).samples == image.samples)
    }

    @Test func writeToMissingFolderCreatesIt() throws {
        let folder = try makeScratchFolder("nested") + "/a/b"
        let image = PNGImage(width: 2, height: 1, layout: .gray, bitDepth: 8, samples: [0, 255])
        try PNGCodec.write(image, to: folder + "/x.png")
        #expect(try PNGCodec.read(path: folder + "/x.png").samples == [0, 255])
    }
}
