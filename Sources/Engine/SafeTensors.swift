// The safetensors file format (https://github.com/huggingface/safetensors, "Format" in its
// README): an 8-byte little-endian header size N, N bytes of UTF-8 JSON, then the data buffer.
// The JSON maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (byte
// offsets into the data buffer) plus an optional "__metadata__" object of strings. Only F32 here.

import Files
import Foundation

/// Reads and writes F32 tensors in the safetensors format, so checkpoints load in PyTorch with
/// `safetensors.torch.load_file`.
///
/// Written headers put `"__metadata__"` first (its keys sorted), then the tensors in the order
/// given, each entry as `{"dtype":"F32","shape":[..],"data_offsets":[begin,end]}` in that key
/// order. The header is padded with spaces so the data buffer starts at a multiple of 8 bytes.
/// Tensors are stored little-endian, row-major, contiguous and in the order given.
public enum SafeTensors {
    /// One F32 tensor: `values.count == shape.reduce(1, *)`, row-major.
    public struct Tensor: Sendable, Equatable {
        public let shape: [Int]
        public let values: [Float]

        public init(shape: [Int], values: [Float]) {
            precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
                         "shape \(shape) does not hold \(values.count) values")
            self.shape = shape
            self.values = values
        }
    }

    /// Largest header accepted on read, as in the reference implementation (100 MB): a bigger
    /// size field is a corrupt or foreign file, and refusing it avoids a huge allocation.
    static let maximumHeaderBytes = 100_000_000

    static let metadataKey = "__metadata__"

    // MARK: Writing

    /// Writes F32 tensors in the given order to `path`, atomically.
    /// - Parameters:
    ///   - tensors: names (dotted, e.g. `encoder.0.weight`), shapes and row-major values.
    ///   - metadata: free-form string pairs stored under `"__metadata__"` (omitted when empty).
    /// - Throws: `FileWriteError` naming the path when the file cannot be written.
    public static func write(_ tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)],
                             metadata: [String: String], to path: String) throws {
        let bytes = try encode(tensors, metadata: metadata)
        try AtomicFile.write(Data(bytes), to: path)
    }

    /// The bytes of a safetensors file holding `tensors` in the given order; see `write`.
    ///
    /// Names must be unique, non-empty and not `"__metadata__"`, and each shape must hold exactly
    /// its values: these are programmer errors (`precondition`), not file errors.
    public static func encode(_ tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)],
                              metadata: [String: String]) throws -> [UInt8] {
        var seen = Set<String>()
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            entries.append("\(jsonString(metadataKey)):{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in tensors {
            precondition(!tensor.name.isEmpty && tensor.name != metadataKey,
                         "tensor name \"\(tensor.name)\" is reserved or empty")
            precondition(seen.insert(tensor.name).inserted, "duplicate tensor name \"\(tensor.name)\"")
            precondition(tensor.shape.allSatisfy { $0 >= 0 }
                            && tensor.shape.reduce(1, *) == tensor.values.count,
                         "tensor \"\(tensor.name)\": shape \(tensor.shape) does not hold "
                            + "\(tensor.values.count) values")
            let end = offset + 4 * tensor.values.count
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append("\(jsonString(tensor.name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],"
                           + "\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        // Pad so 8 + N is a multiple of 8: the data then starts 8-byte aligned, as the reference
        // writer does, and readers may map the floats in place.
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }

        var bytes = [UInt8](repeating: 0, count: 8 + header.count + offset)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt64(header.count).littleEndian, toByteOffset: 0, as: UInt64.self)
            raw.baseAddress!.advanced(by: 8).copyMemory(from: header, byteCount: header.count)
            var at = 8 + header.count
            for tensor in tensors {
                for value in tensor.values {
                    raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: at, as: UInt32.self)
                    at += 4
                }
            }
        }
        return bytes
    }

    /// `text` as a JSON string literal: quotes, backslashes and control characters escaped,
    /// everything else (including non-ASCII) kept as UTF-8, which JSON allows.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    // MARK: Reading

    /// Reads a safetensors file of F32 tensors.
    /// - Returns: the tensors by name, their names in data-buffer order (the order written), and
    ///   the metadata (empty when the file has none).
    /// - Throws: `InputError` naming the file: unreadable, too short, bad header size or
    ///   JSON, malformed tensor entries, a dtype other than F32, or offsets that do not tile the
    ///   data buffer.
    public static func read(path: String) throws
        -> (tensors: [String: Tensor], order: [String], metadata: [String: String]) {
        // An empty file is refused before Foundation reads it (Data(contentsOf:) leaks a 4 KB
        // buffer on empty files; LeakSanitizer, found by fuzzing).
        if !path.isEmpty && !FileManager.default.fileExists(atPath: path) {
            throw InputError(.notFound, path: path, "no such file or folder")
        }
        if (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) == 0 {
            throw InputError(.empty, path: path, "empty file (a safetensors file starts with an 8-byte header length)")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw InputError(.unreadable, path: path, "cannot read file: \(error.localizedDescription)")
        }
        return try decode([UInt8](data), path: path)
    }

    /// Decodes the bytes of a safetensors file; `path` only names the source in errors.
    /// - Throws: `InputError`, as `read(path:)`.
    public static func decode(_ bytes: [UInt8], path: String) throws
        -> (tensors: [String: Tensor], order: [String], metadata: [String: String]) {
        func fail(_ kind: InputError.Kind, _ reason: String) -> InputError { InputError(kind, path: path, reason) }

        guard bytes.count >= 8 else {
            throw fail(.truncated, "file is \(bytes.count) bytes, too short for the 8-byte header size")
        }
        let headerSize = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        if headerSize > UInt64(min(maximumHeaderBytes, bytes.count - 8)) && bytes.count > 8 && bytes[8] != UInt8(ascii: "{") {
            // Not a damaged checkpoint but another kind of file: say so rather than quote a size.
            let kind = FileKind.describe(leadingBytes: Array(bytes.prefix(16))).map { ", it is \($0)" } ?? ""
            throw fail(.badHeader, "not a safetensors checkpoint (one starts with an 8-byte header length and a JSON "
                + "header)\(kind); pass a run folder or its checkpoints/best.safetensors or last.safetensors")
        }
        guard headerSize <= UInt64(maximumHeaderBytes) else {
            throw fail(.absurdSize,
                       "header size \(headerSize) bytes is larger than the \(maximumHeaderBytes)-byte limit")
        }
        let headerEnd = 8 + Int(headerSize)
        guard headerEnd <= bytes.count else {
            throw fail(.truncated, "header size \(headerSize) bytes runs past the end of the \(bytes.count)-byte file")
        }

        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd]))
        } catch {
            throw fail(.badHeader, "header is not valid JSON: \(error.localizedDescription)")
        }
        guard let header = json as? [String: Any] else {
            throw fail(.badHeader, "header is not a JSON object")
        }

        var metadata: [String: String] = [:]
        if let rawMetadata = header[metadataKey] {
            guard let object = rawMetadata as? [String: Any] else {
                throw fail(.badHeader, "\"\(metadataKey)\" is not a JSON object")
            }
            for (key, value) in object {
                guard let text = value as? String else {
                    throw fail(.badHeader, "metadata value for \"\(key)\" is not a string")
                }
                metadata[key] = text
            }
        }

        // Collect every entry first: offsets are checked against each other once all are known.
        let bufferSize = bytes.count - headerEnd
        var entries: [(name: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, rawEntry) in header where name != metadataKey {
            guard let entry = rawEntry as? [String: Any] else {
                throw fail(.badHeader, "tensor \"\(name)\": entry is not a JSON object")
            }
            guard let rawDtype = entry["dtype"] else { throw fail(.badHeader, "tensor \"\(name)\": missing \"dtype\"") }
            guard let dtype = rawDtype as? String else {
                throw fail(.badHeader, "tensor \"\(name)\": \"dtype\" is not a string")
            }
            guard let rawShape = entry["shape"] else { throw fail(.badHeader, "tensor \"\(name)\": missing \"shape\"") }
            guard let shape = integers(rawShape), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail(.badHeader, "tensor \"\(name)\": \"shape\" is not an array of non-negative integers")
            }
            guard let rawOffsets = entry["data_offsets"] else {
                throw fail(.badHeader, "tensor \"\(name)\": missing \"data_offsets\"")
            }
            guard let offsets = integers(rawOffsets), offsets.count == 2, offsets.allSatisfy({ $0 >= 0 }) else {
                throw fail(.badHeader,
                           "tensor \"\(name)\": \"data_offsets\" is not an array of two non-negative integers")
            }
            guard dtype == "F32" else {
                throw fail(.badHeader, "tensor \"\(name)\" has dtype \(dtype): only F32 is supported")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard end >= begin else {
                throw fail(.badHeader, "tensor \"\(name)\": data_offsets end \(end) is before begin \(begin)")
            }
            guard end <= bufferSize else {
                throw fail(.truncated, "tensor \"\(name)\": data_offsets [\(begin), \(end)] run past the "
                           + "\(bufferSize)-byte data buffer")
            }
            var count = 1
            for dimension in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard !overflow, product <= bufferSize else {
                    throw fail(.absurdSize,
                               "tensor \"\(name)\": shape \(shape) is larger than the \(bufferSize)-byte data buffer")
                }
                count = product
            }
            guard end - begin == 4 * count else {
                throw fail(.countMismatch,
                           "tensor \"\(name)\": data_offsets [\(begin), \(end)] hold \(end - begin) bytes, "
                           + "expected \(4 * count) for shape \(shape) of F32")
            }
            entries.append((name, shape, begin, end))
        }

        // The reference reader requires the tensors to tile the buffer exactly, in offset order:
        // an overlap means two tensors share bytes, a gap or tail means bytes nobody owns.
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var covered = 0
        for (i, entry) in entries.enumerated() {
            if entry.begin < covered {
                throw fail(.corrupt, "tensor \"\(entry.name)\" at [\(entry.begin), \(entry.end)] overlaps "
                           + "tensor \"\(entries[i - 1].name)\" ending at \(covered)")
            }
            if entry.begin > covered {
                throw fail(.corrupt, "gap in the data buffer: bytes [\(covered), \(entry.begin)) belong to no tensor")
            }
            covered = entry.end
        }
        guard covered == bufferSize else {
            throw fail(.trailingData, "data buffer is \(bufferSize) bytes but the tensors cover \(covered)")
        }

        var tensors: [String: Tensor] = [:]
        bytes.withUnsafeBytes { raw in
            for entry in entries {
                let values = (0..<((entry.end - entry.begin) / 4)).map { k in
                    let bits = raw.loadUnaligned(fromByteOffset: headerEnd + entry.begin + 4 * k, as: UInt32.self)
                    return Float(bitPattern: UInt32(littleEndian: bits))
                }
                tensors[entry.name] = Tensor(shape: entry.shape, values: values)
            }
        }
        return (tensors, entries.map(\.name), metadata)
    }

    /// A JSON array of integers as `[Int]`; nil for anything else. Booleans and fractional
    /// numbers are rejected, though Foundation would bridge `true` or `2.0` to an `Int`.
    static func integers(_ json: Any) -> [Int]? {
        guard let array = json as? [Any] else { return nil }
        var result: [Int] = []
        for element in array {
            guard let number = element as? NSNumber, !isBoolean(number) else { return nil }
            let double = number.doubleValue
            guard double.rounded() == double, abs(double) < 9e15 else { return nil }
            result.append(number.intValue)
        }
        return result
    }

    /// Whether JSONSerialization produced this number from `true` or `false`. Booleans come
    /// back as a distinct NSNumber subclass on Linux and macOS (`is Bool` is also true for 0 and 1).
    static func isBoolean(_ number: NSNumber) -> Bool {
        type(of: number) == type(of: NSNumber(value: true))
    }
}
