// PNG files that lie about their size: a header declaring more pixels than the limit, and a
// chunk declaring more bytes than the file holds, are refused before libpng allocates anything.

import Files
import Foundation
import Images
import Testing
import TestSupport

@Suite struct PNGHostileTests {
    func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }

    /// Signature and an IHDR chunk (CRC left zero: the checks run before libpng reads CRCs).
    func header(width: UInt32, height: UInt32) -> [UInt8] {
        [137, 80, 78, 71, 13, 10, 26, 10] + bigEndian(13) + Array("IHDR".utf8) + bigEndian(width) + bigEndian(height)
            + [8, 0, 0, 0, 0] + [0, 0, 0, 0]
    }

    @Test func aHeaderOverThePixelLimitIsRefused() {
        let bytes = header(width: 1_000_000, height: 1_000_000) + bigEndian(0) + Array("IEND".utf8) + [0, 0, 0, 0]
        #expect {
            _ = try PNGCodec.decode(bytes, path: "huge.png")
        } throws: { error in
            "\(error)".contains("huge.png") && "\(error)".contains("declares 1000000x1000000") && "\(error)".contains("--max-pixels")
        }
    }

    /// Found by fuzzing: a huge first IHDR, then a small second one; libpng reads the first.
    @Test func aHugeFirstOfTwoHeadersIsRefused() {
        let huge = Array(Data(base64Encoded: "iVBORw0KGgoAAAANSUhEUgAPQkAAD0JACAAAAAB5BmehAAAAC0lEQVR4nGNggAEAAAoAAX+AdF4AAAANSUhEUgAAACAAAAAgAgAAAAAcoT2JAAAABGdBTUEAAYagMeiWXwAAAB9JREFUeJxjYAhd9R+M8TCIUMIAU4aPATMJH2OQuQcAvUl/gYsJiakAAAAA")!)
        #expect {
            _ = try PNGCodec.decode(huge, path: "two-headers.png")
        } throws: { error in
            "\(error)".contains("two-headers.png") && "\(error)".contains("--max-pixels")
        }
    }

    @Test func theLimitIsAParameter() throws {
        let folder = try makeScratchFolder("pnglimit")
        let image = PNGImage(width: 4, height: 4, layout: .gray, bitDepth: 8, values: [Float](repeating: 0.5, count: 16))
        try PNGCodec.write(image, to: folder + "/a.png")
        #expect(try PNGCodec.read(path: folder + "/a.png", maxPixels: 16).width == 4)
        #expect(throws: InputError.self) { try PNGCodec.read(path: folder + "/a.png", maxPixels: 15) }
    }

    @Test func aChunkLongerThanTheFileIsRefused() {
        let bytes = header(width: 4, height: 4) + bigEndian(1_000_000_000) + Array("tEXt".utf8) + [97, 98, 99]
        #expect {
            _ = try PNGCodec.decode(bytes, path: "text.png")
        } throws: { error in
            "\(error)".contains("chunk tEXt declares 1000000000 bytes") && "\(error)".contains("3 left")
        }
    }

    /// 69 bytes declaring 10000 x 10000 RGBA at 16 bits (under a raised --max-pixels): libpng
    /// allocated 807 MB for it before finding the data missing.
    @Test func anImageLargerThanItsCompressedDataCanHoldIsRefused() {
        let ihdr = bigEndian(13) + Array("IHDR".utf8) + bigEndian(10000) + bigEndian(10000) + [16, 6, 0, 0, 0]
            + [0, 0, 0, 0]
        let idat = bigEndian(9) + Array("IDAT".utf8) + [0x78, 0x9C, 0x63, 0, 0, 0, 0, 0, 1] + [0, 0, 0, 0]
        let bytes = [137, 80, 78, 71, 13, 10, 26, 10] + ihdr + idat + bigEndian(0) + Array("IEND".utf8) + [0, 0, 0, 0]
        #expect(bytes.count < 80)
        #expect {
            _ = try PNGCodec.decode(bytes, path: "bomb.png", maxPixels: 200_000_000)
        } throws: { error in
            "\(error)".contains("bomb.png") && "\(error)".contains("declares 10000x10000")
                && "\(error)".contains("9 compressed bytes")
        }
    }

    /// The bound is deflate's own: a large image of one value (about 1000:1) still decodes.
    @Test func aHighlyCompressibleImageStillDecodes() throws {
        let folder = try makeScratchFolder("pngflat")
        let side = 2048
        let image = PNGImage(width: side, height: side, layout: .gray, bitDepth: 8,
                             values: [Float](repeating: 0, count: side * side))
        try PNGCodec.write(image, to: folder + "/flat.png")
        let size = try FileManager.default.attributesOfItem(atPath: folder + "/flat.png")[.size] as! Int
        #expect(size < side * side / 500, "compressed to \(size) bytes")
        let read = try PNGCodec.read(path: folder + "/flat.png", maxPixels: side * side)
        #expect(read.width == side && read.height == side)
    }
}
