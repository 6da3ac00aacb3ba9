// The IDX format of the MNIST database (LeCun et al.): big-endian header with a magic number
// 0x000008DD (unsigned bytes, DD dimensions), DD sizes, then the row-major bytes. Raw or gzip.
// Images are magic 0x00000803 (count, rows, columns), labels 0x00000801 (count).

import Files

/// A validated IDX file of unsigned bytes: images (3 dimensions) or labels (1 dimension).
public struct IDXFile: Sendable {
    public enum Kind: Sendable, Equatable {
        case images(count: Int, rows: Int, columns: Int)
        case labels(count: Int)
    }

    public let path: String
    public let kind: Kind
    /// Pixels (count * rows * columns) or labels (count), as stored.
    public let bytes: [UInt8]

    public var count: Int {
        switch kind {
        case .images(let count, _, _), .labels(let count): count
        }
    }

    /// Largest body this reader accepts (64 GiB), checked before allocating.
    static let maximumBodyBytes = 1 << 36
    /// Deflate cannot compress better than about 1032:1, so a gzip body larger than this
    /// multiple of the file size is a lie in the header.
    static let maximumDeflateRatio = 1100

    /// Reads and validates an IDX file.
    /// - Throws: `InputError` naming the file: bad magic, bad dimensions, absurd sizes,
    ///   truncated data, trailing bytes, or corrupt gzip data.
    public static func read(path: String) throws -> IDXFile {
        let stream = try ByteStream(path: path)
        let magicBytes = try stream.read(count: 4)
        guard magicBytes.count == 4 else {
            throw InputError(.truncated, path: path,
                             "file is \(magicBytes.count) bytes, too short for an IDX header")
        }
        let magic = bigEndian(magicBytes, 0)
        let dimensions = Int(magicBytes[3])
        guard magicBytes[0] == 0, magicBytes[1] == 0, magicBytes[2] == 0x08,
              dimensions == 1 || dimensions == 3 else {
            let found = FileKind.describe(leadingBytes: magicBytes + (try stream.read(count: 12)))
                .map { "; the file is \($0)" } ?? ""
            throw InputError(.badMagic, path: path, "bad IDX magic \(hex(magic)): expected "
                + "0x00000803 (images) or 0x00000801 (labels)\(found)")
        }
        let sizeBytes = try stream.read(count: 4 * dimensions)
        guard sizeBytes.count == 4 * dimensions else {
            throw InputError(.truncated, path: path, "header ends early: expected \(4 * dimensions)"
                + " bytes of sizes after the magic, found \(sizeBytes.count)")
        }
        let sizes = (0..<dimensions).map { Int(bigEndian(sizeBytes, 4 * $0)) }
        let headerBytes = 4 + 4 * dimensions
        let kind: Kind
        if dimensions == 3 {
            guard sizes[1] > 0, sizes[2] > 0 else {
                throw InputError(.badHeader, path: path,
                                 "image size \(sizes[1])x\(sizes[2]) in header: must be positive")
            }
            kind = .images(count: sizes[0], rows: sizes[1], columns: sizes[2])
        } else {
            kind = .labels(count: sizes[0])
        }
        // Each size is below 2^32, so the product of three fits when checked stepwise.
        let (partial, overflow1) = sizes[0].multipliedReportingOverflow(by: dimensions == 3 ? sizes[1] : 1)
        let (body, overflow2) = partial.multipliedReportingOverflow(by: dimensions == 3 ? sizes[2] : 1)
        let what = describe(kind)
        guard !overflow1, !overflow2, body <= maximumBodyBytes else {
            throw InputError(.absurdSize, path: path, "header claims \(what): too large to load")
        }
        if stream.isCompressed {
            guard body <= stream.fileSize * maximumDeflateRatio + (1 << 20) else {
                throw InputError(.absurdSize, path: path, "header claims \(what) (\(body) bytes) "
                    + "but the file is \(stream.fileSize) bytes compressed: impossible")
            }
        } else if headerBytes + body > stream.fileSize {
            throw InputError(.truncated, path: path, "truncated: header claims \(what) = "
                + "\(headerBytes + body) bytes with the header, file is \(stream.fileSize) bytes")
        }
        var bytes = [UInt8](repeating: 0, count: body)
        let got = try bytes.withUnsafeMutableBytes { try stream.read(into: $0) }
        guard got == body else {
            throw InputError(.truncated, path: path, "truncated: header claims \(what) = "
                + "\(body) data bytes, file holds \(got)")
        }
        let extra = try stream.countRemaining()
        guard extra == 0 else {
            throw InputError(.trailingData, path: path,
                             "\(extra) bytes after the \(body) data bytes the header describes")
        }
        return IDXFile(path: path, kind: kind, bytes: bytes)
    }

    static func describe(_ kind: Kind) -> String {
        switch kind {
        case .images(let count, let rows, let columns): "\(count) images of \(rows)x\(columns)"
        case .labels(let count): "\(count) labels"
        }
    }

    static func bigEndian(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8
            | UInt32(bytes[at + 3])
    }

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }
}
