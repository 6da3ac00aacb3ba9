// PngSuite conformance: every valid image decodes at its stated size, a representative set
// matches pixels decoded by pypng (tools/make_png_references.py), every broken file is rejected.

import Files
import Foundation
import Images
import Testing
import TestSupport

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Fixtures"
let suite = fixtures + "/pngsuite"

struct ManifestRow {
    let file: String
    let width: Int
    let height: Int
    let bitDepth: Int
    let colorType: String
    let interlaced: Bool
    let expected: String
}

let manifest: [ManifestRow] = {
    let text = (try? String(contentsOfFile: suite + "/MANIFEST.tsv", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").dropFirst().compactMap { line in
        let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard f.count >= 9, let w = Int(f[3]), let h = Int(f[4]), let d = Int(f[5]) else { return nil }
        return ManifestRow(file: f[0], width: w, height: h, bitDepth: d, colorType: f[6],
                           interlaced: f[7] == "adam7", expected: f[8])
    }
}()

@Suite struct PNGSuiteTests {
    @Test func manifestIsComplete() {
        #expect(manifest.filter { $0.expected == "valid" }.count == 160)
        #expect(manifest.filter { $0.expected == "invalid" }.count == 14)
    }

    @Test(arguments: manifest.filter { $0.expected == "valid" || $0.expected == "logo" })
    func validImageDecodesAtStatedSize(row: ManifestRow) throws {
        let image = try PNGCodec.read(path: suite + "/" + row.file)
        #expect(image.width == row.width && image.height == row.height, "\(row.file)")
        #expect(image.header?.bitDepth == row.bitDepth, "\(row.file)")
        #expect(image.header?.interlaced == row.interlaced, "\(row.file)")
        #expect(image.bitDepth == (row.bitDepth == 16 ? 16 : 8), "\(row.file)")
        let color = ["rgb", "palette", "rgba"].contains(row.colorType)
        #expect(image.layout.isColor == color, "\(row.file)")
        #expect(image.samples.count == row.width * row.height * image.layout.channels)
    }

    /// The header pass (33 bytes) agrees with the decoder on every file it accepts, and refuses
    /// only files the decoder refuses too.
    @Test(arguments: manifest)
    func headerPassAgreesWithTheDecoder(row: ManifestRow) {
        let path = suite + "/" + row.file
        let decoded = try? PNGCodec.read(path: path)
        do {
            let header = try PNGCodec.readHeader(path: path)
            if let decoded {
                #expect(header == decoded.header, "\(row.file): \(header) vs \(String(describing: decoded.header))")
                #expect((header.colorType & 2 != 0) == decoded.layout.isColor, "\(row.file)")
            }
        } catch {
            #expect(decoded == nil, "\(row.file): the header pass refused a file the decoder reads (\(error))")
            #expect("\(error)".contains(row.file), "\(error)")
        }
    }

    /// Files broken in their first 33 bytes are refused without decoding.
    @Test func headerPassRefusesBrokenHeaders() {
        for file in ["xs1n0g01.png", "xs2n0g01.png", "xs4n0g01.png", "xs7n0g01.png", "xcrn0g04.png", "xlfn0g04.png",
                     "xhdn0g08.png", "xc1n0g08.png", "xc9n2c08.png", "xd0n2c08.png", "xd3n2c08.png", "xd9n2c08.png"] {
            #expect(throws: InputError.self, "\(file)") { try PNGCodec.readHeader(path: suite + "/" + file) }
        }
        #expect(throws: InputError.self) { try PNGCodec.readHeader(path: suite + "/basn0g01.png", maxPixels: 1000) }
    }

    @Test(arguments: manifest.filter { $0.expected == "invalid" })
    func brokenImageIsRejected(row: ManifestRow) {
        // Strict policy: xcsn0g01 (IDAT CRC wrong) is rejected too, as libpng does by default.
        #expect(throws: InputError.self, "\(row.file)") {
            try PNGCodec.read(path: suite + "/" + row.file)
        }
        do {
            _ = try PNGCodec.read(path: suite + "/" + row.file)
        } catch let error as InputError {
            #expect(error.description.contains(row.file), "error names the file: \(error)")
        } catch {
            Issue.record("unexpected error type \(error)")
        }
    }

    @Test func pixelsMatchIndependentDecoder() throws {
        let reference = try Fixture(path: fixtures + "/pngsuite-reference.bin.gz")
        #expect(reference.names.count >= 30)
        for name in reference.names {
            let expected = reference[name]!
            let image = try PNGCodec.read(path: suite + "/\(name).png")
            #expect(expected.shape == [image.height, image.width, image.layout.channels], "\(name)")
            #expect(image.samples.map(Float.init) == expected.values, "\(name)")
        }
    }

    @Test func interlacedMatchesNonInterlaced() throws {
        for name in ["0g01", "0g16", "2c08", "2c16", "3p01", "3p04", "4a08", "6a16"] {
            let plain = try PNGCodec.read(path: suite + "/basn\(name).png")
            let interlaced = try PNGCodec.read(path: suite + "/basi\(name).png")
            #expect(plain.samples == interlaced.samples, "\(name)")
        }
    }

    @Test func notAPNGIsRejectedWithReason() throws {
        let folder = try makeScratchFolder("notpng")
        let path = folder + "/fake.png"
        try writeFile(path, Array("hello, not a png".utf8))
        #expect(throws: InputError.self) { try PNGCodec.read(path: path) }
        do {
            _ = try PNGCodec.read(path: path)
        } catch let error as InputError {
            #expect(error.description == "\(path): not a PNG file (bad signature)")
        }
        // A valid file truncated mid-IDAT.
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: suite + "/basn2c08.png")))
        try writeFile(path, Array(bytes.prefix(bytes.count / 2)))
        #expect(throws: InputError.self) { try PNGCodec.read(path: path) }
    }
}
