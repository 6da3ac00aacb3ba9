// PNG files that lie about their size: a header declaring more pixels than the limit, and a
// chunk declaring more bytes than the file holds, are refused before libpng allocates anything.

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
        #expect(throws: PNGError.self) { try PNGCodec.read(path: folder + "/a.png", maxPixels: 15) }
    }

    @Test func aChunkLongerThanTheFileIsRefused() {
        let bytes = header(width: 4, height: 4) + bigEndian(1_000_000_000) + Array("tEXt".utf8) + [97, 98, 99]
        #expect {
            _ = try PNGCodec.decode(bytes, path: "text.png")
        } throws: { error in
            "\(error)".contains("chunk tEXt declares 1000000000 bytes") && "\(error)".contains("3 left")
        }
    }
}
