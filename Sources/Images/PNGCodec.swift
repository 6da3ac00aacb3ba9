// PNG decoding and encoding through libpng's simplified API (png_image_*; no setjmp needed);
// 16-bit images with alpha go through CPNGStraight, since the simplified API premultiplies them.
// Colour-management chunks (gAMA, sRGB, iCCP, cHRM) are dropped before decoding so the pixels
// are the stored sample values, as training pipelines (Pillow, torchvision) expect, not values
// re-encoded by libpng's gamma handling.

import CPNG
import CPNGStraight
import Files
import Foundation

public enum PNGCodec {
    static let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]

    /// Pixels a decoded image may have unless told otherwise (100 megapixels: 10,000 x 10,000, at
    /// most 800 MB of samples): a header can declare far more than its file holds.
    public static let defaultMaxPixels = 100_000_000

    /// Decodes a PNG file.
    /// - Throws: `InputError` naming the file when it cannot be read, declares more than
    ///   `maxPixels` pixels, or libpng rejects it.
    public static func read(path: String, maxPixels: Int = defaultMaxPixels) throws -> PNGImage {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(.unreadable, path: path, "cannot read file")
        }
        return try decode([UInt8](data), path: path, maxPixels: maxPixels)
    }

    /// Reads only a PNG file's first 33 bytes (signature and IHDR chunk) and checks them as the
    /// decoder would: the CRC, a size of 1 to 2^31 - 1 each way within `maxPixels`, a bit depth the
    /// color type allows, compression and filter method 0, interlace 0 or 1. A file whose pixel data
    /// is damaged passes; decoding it finds that.
    /// - Throws: `InputError` naming the file.
    public static func readHeader(path: String, maxPixels: Int = defaultMaxPixels) throws -> PNGHeader {
        guard let file = fopen(path, "rb") else { throw InputError(.unreadable, path: path, "cannot read file") }
        defer { fclose(file) }
        var bytes = [UInt8](repeating: 0, count: 33)
        let count = fread(&bytes, 1, bytes.count, file)
        return try readHeader(bytes: Array(bytes.prefix(count)), path: path, maxPixels: maxPixels)
    }

    /// The checks of `readHeader(path:)` on a file's first bytes (more are ignored).
    public static func readHeader(bytes: [UInt8], path: String = "<memory>", maxPixels: Int = defaultMaxPixels) throws
        -> PNGHeader {
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else {
            throw InputError(.badMagic, path: path, "not a PNG file (bad signature)")
        }
        guard bytes.count >= 33, readUInt32(bytes, 8) == 13, Array(bytes[12..<16]) == Array("IHDR".utf8) else {
            throw InputError(.badHeader, path: path, "no IHDR chunk at the start (truncated or not a PNG)")
        }
        guard crc32(bytes[12..<29]) == readUInt32(bytes, 29) else {
            throw InputError(.corrupt, path: path, "IHDR chunk CRC mismatch (damaged file)")
        }
        let header = PNGHeader(width: Int(readUInt32(bytes, 16)), height: Int(readUInt32(bytes, 20)),
                               bitDepth: Int(bytes[24]), colorType: Int(bytes[25]), interlaced: bytes[28] == 1)
        let depths: [Int: [Int]] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]
        guard let allowed = depths[header.colorType], allowed.contains(header.bitDepth) else {
            throw InputError(.badHeader, path: path, "bit depth \(header.bitDepth) with color type \(header.colorType) "
                + "is not a PNG format")
        }
        guard bytes[26] == 0, bytes[27] == 0, bytes[28] <= 1 else {
            throw InputError(.badHeader, path: path, "unknown compression, filter or interlace method in IHDR")
        }
        let limit = Int(Int32.max)
        guard (1...limit).contains(header.width), (1...limit).contains(header.height) else {
            throw InputError(.absurdSize, path: path,
                             "declares \(header.width)x\(header.height) pixels (each side must be "
                             + "1 to \(limit))")
        }
        guard header.width * header.height <= maxPixels else {
            throw InputError(.absurdSize, path: path,
                             "declares \(header.width)x\(header.height) pixels, more than the limit of "
                             + "\(maxPixels) (--max-pixels)")
        }
        return header
    }

    /// CRC-32 (ISO 3309, as PNG chunks use it) of `bytes`.
    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// Decodes PNG bytes; `path` only names the source in errors. Sizes declared by the file are
    /// checked before anything is allocated for them.
    public static func decode(_ bytes: [UInt8], path: String = "<memory>", maxPixels: Int = defaultMaxPixels) throws
        -> PNGImage {
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else {
            throw InputError(.badMagic, path: path, "not a PNG file (bad signature)")
        }
        let (filtered, header, compressed) = try dropColorManagement(bytes, path: path)
        // Widths and heights are up to 2^32 - 1 each: their product can overflow Int.
        if let header, header.width.multipliedReportingOverflow(by: header.height).overflow
            || header.width * header.height > maxPixels {
            throw InputError(.absurdSize, path: path,
                             "declares \(header.width)x\(header.height) pixels, more than the limit of "
                             + "\(maxPixels) (--max-pixels)")
        }
        // libpng allocates the declared image before it finds the data missing (a 69-byte file
        // declaring 10000x10000 RGBA16 took 807 MB): refuse what the compressed bytes cannot hold.
        if let header, let needed = filteredBytes(header), needed / largestInflation > compressed + 64 {
            throw InputError(.absurdSize, path: path,
                             "declares \(header.width)x\(header.height) pixels (\(needed) bytes "
                             + "decompressed) in \(compressed) compressed bytes, more than deflate can expand to (truncated or crafted)")
        }
        // libpng reads from this memory until the image is finished, so all work stays inside.
        return try filtered.withUnsafeBytes { raw in
            try decodeFiltered(raw, header: header, path: path, maxPixels: maxPixels)
        }
    }

    static func decodeFiltered(_ raw: UnsafeRawBufferPointer, header: PNGHeader?, path: String, maxPixels: Int) throws
        -> PNGImage {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let began = png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count)
        guard began != 0 else {
            let message = errorMessage(image)
            png_image_free(&image)
            throw InputError(.corrupt, path: path, "libpng: \(message)")
        }
        // Decode to the file's own layout; 16-bit files stay 16-bit (libpng's linear formats).
        let fileFormat = image.format
        let alpha = fileFormat & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        let color = fileFormat & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        let linear = fileFormat & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0
        let layout = PixelLayout(color: color, alpha: alpha)
        image.format = fileFormat & ~UInt32(PNG_FORMAT_FLAG_COLORMAP)
        let width = Int(image.width), height = Int(image.height)
        // The size libpng read can differ from the header checked above (a file with two IHDR
        // chunks, found by fuzzing): check it too before allocating.
        guard width * height <= maxPixels else {
            png_image_free(&image)
            throw InputError(.absurdSize, path: path, "declares \(width)x\(height) pixels, more than the limit of "
                + "\(maxPixels) (--max-pixels)")
        }
        let count = width * height * layout.channels
        var samples = [UInt16](repeating: 0, count: count)
        var ok: Int32 = 0
        if linear && alpha {
            png_image_free(&image)
            var error = [CChar](repeating: 0, count: 256)
            let data = raw.bindMemory(to: UInt8.self)
            let status = samples.withUnsafeMutableBufferPointer { out in
                png_straight_decode16(data.baseAddress, data.count, out.baseAddress, UInt32(width),
                                      UInt32(height), Int32(layout.channels), &error, error.count)
            }
            guard status == 0 else {
                throw InputError(.corrupt, path: path, "libpng: \(cString(error))")
            }
            ok = 1
        } else if linear {
            ok = samples.withUnsafeMutableBytes { buffer in
                png_image_finish_read(&image, nil, buffer.baseAddress, 0, nil)
            }
        } else {
            var bytes8 = [UInt8](repeating: 0, count: count)
            ok = bytes8.withUnsafeMutableBytes { buffer in
                png_image_finish_read(&image, nil, buffer.baseAddress, 0, nil)
            }
            if ok != 0 {
                for i in 0..<count { samples[i] = UInt16(bytes8[i]) }
            }
        }
        guard ok != 0 else {
            let message = errorMessage(image)
            png_image_free(&image)
            throw InputError(.corrupt, path: path, "libpng: \(message)")
        }
        return PNGImage(width: width, height: height, layout: layout, bitDepth: linear ? 16 : 8,
                        samples: samples, header: header)
    }

    /// Encodes an image as PNG bytes (8- or 16-bit; color type from `layout`).
    /// `firstBuffer` replaces libpng's bound for the first pass (tests force the second pass).
    public static func encode(_ image: PNGImage, firstBuffer: Int? = nil) throws -> [UInt8] {
        if image.bitDepth == 16 && image.layout.hasAlpha {
            var out: UnsafeMutablePointer<UInt8>?
            var size = 0
            var error = [CChar](repeating: 0, count: 256)
            let status = image.samples.withUnsafeBufferPointer { samples in
                png_straight_encode16(samples.baseAddress, UInt32(image.width), UInt32(image.height),
                                      Int32(image.layout.channels), &out, &size, &error, error.count)
            }
            defer { free(out) }
            guard status == 0, let out else {
                throw InputError(.corrupt, path: "<encoder>", "libpng: \(cString(error))")
            }
            return Array(UnsafeBufferPointer(start: out, count: size))
        }
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        var format: UInt32 = 0
        if image.layout.isColor { format |= UInt32(PNG_FORMAT_FLAG_COLOR) }
        if image.layout.hasAlpha { format |= UInt32(PNG_FORMAT_FLAG_ALPHA) }
        if image.bitDepth == 16 { format |= UInt32(PNG_FORMAT_FLAG_LINEAR) }
        png.format = format

        func write(_ pixels: UnsafeRawPointer) throws -> [UInt8] {
            // One pass into a buffer of libpng's bound (PNG_IMAGE_PNG_SIZE_MAX, a C macro): asking
            // for the size first would compress the image twice. A buffer found too small gets
            // the size libpng reports and one more pass.
            let data = image.layout.channels * (image.bitDepth == 16 ? 2 : 1) * image.width * image.height + image.height
            let compressed = data + (data + 7) / 8 + (data + 63) / 64 + 11
            var size = firstBuffer ?? 8 + 25 + 16 + 44 + 12 + 12 + 12 * (compressed / 8192 + 1) + compressed
            for _ in 0..<2 {
                var out = [UInt8](repeating: 0, count: size)
                let capacity = size
                let ok = out.withUnsafeMutableBytes { buffer in
                    png_image_write_to_memory(&png, buffer.baseAddress, &size, 0, pixels, 0, nil)
                }
                if ok != 0 {
                    out.removeSubrange(size...)
                    return out
                }
                guard size > capacity else { break }
                png_image_free(&png)
                png.warning_or_error = 0
            }
            throw InputError(.corrupt, path: "<encoder>", "libpng: \(errorMessage(png))")
        }

        if image.bitDepth == 16 {
            return try image.samples.withUnsafeBytes { try write($0.baseAddress!) }
        }
        let bytes8 = image.samples.map { UInt8(truncatingIfNeeded: min($0, 255)) }
        return try bytes8.withUnsafeBytes { try write($0.baseAddress!) }
    }

    /// Writes an image to `path` atomically (temporary file in the same folder, then rename).
    public static func write(_ image: PNGImage, to path: String) throws {
        let bytes: [UInt8]
        do {
            bytes = try encode(image)
        } catch let error as InputError {
            throw InputError(error.kind, path: path, error.reason)
        }
        try AtomicFile.write(Data(bytes), to: path)
    }

    static func cString(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func errorMessage(_ image: png_image) -> String {
        var message = image.message
        return withUnsafeBytes(of: &message) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Deflate expands at most about 1032:1 (RFC 1951: a 258-byte match in as little as 2 bits,
    /// plus block headers), so compressed pixel data cannot hold more than this many bytes each.
    static let largestInflation = 1032

    /// Pixel bytes after decompression (one filter byte per row) of a non-interlaced image; an
    /// interlaced one has more. Nil for a color type or bit depth PNG does not define.
    static func filteredBytes(_ header: PNGHeader) -> Int? {
        let channels: Int
        switch header.colorType {
        case 0, 3: channels = 1
        case 2: channels = 3
        case 4: channels = 2
        case 6: channels = 4
        default: return nil
        }
        guard [1, 2, 4, 8, 16].contains(header.bitDepth) else { return nil }
        let (bits, overflow) = header.width.multipliedReportingOverflow(by: channels * header.bitDepth)
        guard !overflow else { return nil }
        let (total, overflow2) = ((bits + 7) / 8 + 1).multipliedReportingOverflow(by: header.height)
        return overflow2 ? nil : total
    }

    /// Returns the bytes without gAMA/sRGB/iCCP/cHRM chunks, and the IHDR fields when present.
    /// - Throws: `InputError` for a chunk that declares more bytes than the file has left (libpng
    ///   would allocate and zero-fill that much before noticing). Other malformed structure is
    ///   left in place for libpng to report.
    /// The third value is the IDAT chunks' bytes (the compressed pixel data).
    static func dropColorManagement(_ bytes: [UInt8], path: String = "<memory>") throws
        -> ([UInt8], PNGHeader?, Int) {
        let dropped: Set<String> = ["gAMA", "sRGB", "iCCP", "cHRM"]
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        out.append(contentsOf: bytes[0..<8])
        var header: PNGHeader?
        var compressed = 0
        var at = 8
        while at + 8 <= bytes.count {
            let length = Int(readUInt32(bytes, at))
            let end = at + 12 + length
            let type = String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self)
            guard length <= 0x7FFF_FFFF, end <= bytes.count else {
                let printable = type.allSatisfy { $0.isLetter && $0.isASCII } ? type : "at byte \(at)"
                throw InputError(.truncated, path: path, "chunk \(printable) declares \(length) bytes, the file has "
                    + "\(max(bytes.count - at - 8, 0)) left (truncated or crafted)")
            }
            if type == "IHDR", length == 13 {
                header = PNGHeader(width: Int(readUInt32(bytes, at + 8)),
                                   height: Int(readUInt32(bytes, at + 12)),
                                   bitDepth: Int(bytes[at + 16]), colorType: Int(bytes[at + 17]),
                                   interlaced: bytes[at + 20] != 0)
            }
            if type == "IDAT" { compressed += length }
            if !dropped.contains(type) {
                out.append(contentsOf: bytes[at..<end])
            }
            at = end
            if type == "IEND" { break }
        }
        out.append(contentsOf: bytes[at...])
        return (out, header, compressed)
    }

    @inline(__always)
    static func readUInt32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8
            | UInt32(bytes[at + 3])
    }
}
