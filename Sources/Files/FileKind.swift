// What a file is, told from its first bytes, for errors that meet the wrong kind of file ("is a
// PNG image" instead of "bad IDX magic 0x89504E47").

import Foundation

public enum FileKind {
    /// A phrase naming the kind of file whose first bytes are `bytes` ("a PNG image"), or nil.
    public static func describe(leadingBytes bytes: [UInt8]) -> String? {
        func starts(_ prefix: [UInt8]) -> Bool { bytes.count >= prefix.count && Array(bytes.prefix(prefix.count)) == prefix }
        if starts([0x89, 0x50, 0x4E, 0x47]) { return "a PNG image" }
        if starts([0xFF, 0xD8, 0xFF]) { return "a JPEG image" }
        if starts([0x47, 0x49, 0x46, 0x38]) { return "a GIF image" }
        if starts([0x1F, 0x8B]) { return "a gzip file" }
        if starts([0x50, 0x4B, 0x03, 0x04]) { return "a zip archive" }
        if starts([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]) { return "a NumPy .npy file" }
        if bytes.count >= 4, bytes[0] == 0, bytes[1] == 0, bytes[2] == 0x08, bytes[3] == 1 || bytes[3] == 3 {
            return bytes[3] == 3 ? "an IDX image file" : "an IDX label file"
        }
        // A safetensors file: an 8-byte little-endian header length, then a JSON object.
        if bytes.count >= 9, bytes[8] == UInt8(ascii: "{"), bytes[6] == 0, bytes[7] == 0 {
            return "a safetensors file"
        }
        let text = bytes.prefix(512)
        if !text.isEmpty, text.allSatisfy({ $0 == 9 || $0 == 10 || $0 == 13 || (32..<127).contains($0) || $0 >= 0x80 }) {
            return "a text file"
        }
        return nil
    }

    /// The first `count` bytes of the file at `path` (fewer for a short file; none if unreadable).
    public static func leadingBytes(of path: String, count: Int = 16) -> [UInt8] {
        guard let file = fopen(path, "rb") else { return [] }
        defer { fclose(file) }
        var bytes = [UInt8](repeating: 0, count: count)
        let read = fread(&bytes, 1, count, file)
        return Array(bytes.prefix(read))
    }
}
