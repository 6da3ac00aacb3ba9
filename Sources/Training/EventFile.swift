// TensorBoard event files: the public TFRecord framing (length, masked CRC-32C of the length,
// payload, masked CRC-32C of the payload) around `Event` protocol buffers (tensorflow
// event.proto, summary.proto), hand-encoded for the few messages a run writes: the file version,
// scalars, PNG images and text. No TensorFlow or protobuf library is needed.

import Engine
import Files
import Foundation

/// CRC-32C (Castagnoli), the checksum of TFRecord framing.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0x82F6_3B78 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// The masked form TFRecord stores (a CRC of data holding CRCs stays well distributed).
    public static func masked<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        let crc = checksum(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}

/// A protocol buffer message under construction: fields appended in order.
struct ProtoMessage {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func key(_ field: Int, _ wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

    mutating func int(_ field: Int, _ value: Int) {
        key(field, 0)
        varint(UInt64(bitPattern: Int64(value)))
    }

    mutating func double(_ field: Int, _ value: Double) {
        key(field, 1)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
    }

    mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
    }

    mutating func data(_ field: Int, _ value: [UInt8]) {
        key(field, 2)
        varint(UInt64(value.count))
        bytes += value
    }

    mutating func string(_ field: Int, _ value: String) { data(field, Array(value.utf8)) }
    mutating func message(_ field: Int, _ value: ProtoMessage) { data(field, value.bytes) }
}

/// One summary value of an `Event`.
public enum SummaryValue {
    case scalar(tag: String, value: Float)
    /// A PNG file's bytes (its size and color type read from the header).
    case png(tag: String, bytes: [UInt8])
    /// Markdown text (TensorBoard's text plugin).
    case text(tag: String, markdown: String)

    var proto: ProtoMessage {
        var value = ProtoMessage()
        switch self {
        case .scalar(let tag, let number):
            value.string(1, tag)
            value.float(2, number)
        case .png(let tag, let bytes):
            value.string(1, tag)
            var image = ProtoMessage()
            let (width, height, colorspace) = Self.pngHeader(bytes)
            image.int(1, height)
            image.int(2, width)
            image.int(3, colorspace)
            image.data(4, bytes)
            value.message(4, image)
        case .text(let tag, let markdown):
            value.string(1, tag)
            var plugin = ProtoMessage(), metadata = ProtoMessage()
            plugin.string(1, "text")
            metadata.message(1, plugin)
            value.message(9, metadata)
            var tensor = ProtoMessage()
            tensor.int(1, 7)  // DT_STRING
            tensor.message(2, ProtoMessage())  // a scalar: no dimensions
            tensor.string(8, markdown)
            value.message(8, tensor)
        }
        return value
    }

    /// Width, height and TensorBoard colorspace (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) of a PNG.
    static func pngHeader(_ bytes: [UInt8]) -> (Int, Int, Int) {
        guard bytes.count >= 26 else { return (0, 0, 1) }
        func be32(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        let colorspace = [0: 1, 2: 3, 3: 3, 4: 2, 6: 4][Int(bytes[25])] ?? 3
        return (be32(16), be32(20), colorspace)
    }
}

/// An event file in a run folder, appended record by record and flushed as it goes.
public final class EventFile {
    public let path: String
    let handle: FileHandle

    /// Opens `folder`'s event file (`events.out.tfevents.*`), or creates one that starts with the
    /// file-version event. With `keepingStepsThrough` S, events past step S (written after the
    /// checkpoint a run resumes from) are dropped first, so no step is logged twice.
    public init(folder: String, keepingStepsThrough resumedStep: Int? = nil) throws {
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: folder))?
            .filter { $0.hasPrefix("events.out.tfevents.") }.sorted().last
        if let existing {
            path = folder + "/" + existing
            if let resumedStep {
                let kept = try Self.records(at: path).filter { ($0.step ?? 0) <= resumedStep }
                try AtomicFile.write(Data(kept.flatMap { Self.frame($0.payload) }), to: path)
            }
        } else {
            let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
            path = folder + "/events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host)"
            var version = ProtoMessage()
            version.double(1, Date().timeIntervalSince1970)
            version.string(3, "brain.Event:2")
            try AtomicFile.write(Data(Self.frame(version.bytes)), to: path)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw TrainingError("\(path): cannot open the TensorBoard event file for writing")
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    deinit { try? handle.close() }

    /// Appends one event of `values` at `step`.
    public func write(_ values: [SummaryValue], step: Int, wallTime: Double = Date().timeIntervalSince1970) {
        guard !values.isEmpty else { return }
        var summary = ProtoMessage()
        for value in values { summary.message(1, value.proto) }
        var event = ProtoMessage()
        event.double(1, wallTime)
        event.int(2, step)
        event.message(5, summary)
        handle.write(Data(Self.frame(event.bytes)))
    }

    /// A payload in TFRecord framing.
    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        var length = [UInt8]()
        withUnsafeBytes(of: UInt64(payload.count).littleEndian) { length += $0 }
        var out = length
        withUnsafeBytes(of: CRC32C.masked(length).littleEndian) { out += $0 }
        out += payload
        withUnsafeBytes(of: CRC32C.masked(payload).littleEndian) { out += $0 }
        return out
    }

    /// The records of an event file, each with its event's step (nil where it has none).
    /// - Throws: `TrainingError` naming the file at a bad length or checksum.
    public static func records(at path: String) throws -> [(payload: [UInt8], step: Int?)] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var records: [(payload: [UInt8], step: Int?)] = []
        var at = 0
        func le<T: FixedWidthInteger>(_ type: T.Type, _ offset: Int) -> T {
            bytes[offset..<(offset + MemoryLayout<T>.size)].reversed().reduce(T(0)) { $0 << 8 | T($1) }
        }
        while at < bytes.count {
            guard at + 12 <= bytes.count else { throw TrainingError("\(path): truncated record at byte \(at)") }
            let length = Int(le(UInt64.self, at))
            guard le(UInt32.self, at + 8) == CRC32C.masked(bytes[at..<(at + 8)]),
                  at + 12 + length + 4 <= bytes.count else {
                throw TrainingError("\(path): bad record length at byte \(at)")
            }
            let payload = Array(bytes[(at + 12)..<(at + 12 + length)])
            guard le(UInt32.self, at + 12 + length) == CRC32C.masked(payload) else {
                throw TrainingError("\(path): bad record checksum at byte \(at)")
            }
            records.append((payload, step(of: payload)))
            at += 12 + length + 4
        }
        return records
    }

    /// Field 2 (step) of an encoded `Event`.
    static func step(of event: [UInt8]) -> Int? {
        var at = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0, shift: UInt64 = 0
            while at < event.count, shift < 64 {
                let byte = event[at]
                at += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
            return nil
        }
        while at < event.count, let key = varint() {
            switch key & 7 {
            case 0:
                guard let value = varint() else { return nil }
                if key >> 3 == 2 { return Int(Int64(bitPattern: value)) }
            case 1: at += 8
            case 2:
                guard let length = varint() else { return nil }
                at += Int(length)
            case 5: at += 4
            default: return nil
            }
        }
        return nil
    }
}
