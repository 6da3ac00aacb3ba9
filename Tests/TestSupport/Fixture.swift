// Reader for the fixture format written by tools/fixture_format.py: "AEFX", version, named
// float32 tensors, optionally gzip-compressed. Tests never run Python; they read these files.

import CZlib
import Foundation

public struct Fixture {
    public struct Tensor {
        public let shape: [Int]
        public let values: [Float]
    }

    public let tensors: [String: Tensor]
    public let names: [String]

    public subscript(name: String) -> Tensor? { tensors[name] }

    public init(path: String) throws {
        guard var bytes = FileManager.default.contents(atPath: path).map({ [UInt8]($0) }) else {
            throw FixtureError(path: path, reason: "cannot read")
        }
        if bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B {
            bytes = try Fixture.gunzip(bytes, path: path)
        }
        var at = 0
        func u32() throws -> Int {
            guard at + 4 <= bytes.count else { throw FixtureError(path: path, reason: "truncated") }
            defer { at += 4 }
            return Int(UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16
                | UInt32(bytes[at + 3]) << 24)
        }
        guard bytes.count >= 4, Array(bytes[0..<4]) == Array("AEFX".utf8) else {
            throw FixtureError(path: path, reason: "bad magic")
        }
        at = 4
        guard try u32() == 1 else { throw FixtureError(path: path, reason: "unknown version") }
        var tensors: [String: Tensor] = [:]
        var names: [String] = []
        for _ in 0..<(try u32()) {
            let length = try u32()
            let name = String(decoding: bytes[at..<(at + length)], as: UTF8.self)
            at += length
            let rank = try u32()
            var shape: [Int] = []
            for _ in 0..<rank { shape.append(try u32()) }
            let count = shape.reduce(1, *)
            guard at + 4 * count <= bytes.count else {
                throw FixtureError(path: path, reason: "truncated tensor \(name)")
            }
            var values = [Float](repeating: 0, count: count)
            for i in 0..<count {
                let bits = UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16
                    | UInt32(bytes[at + 3]) << 24
                values[i] = Float(bitPattern: bits)
                at += 4
            }
            tensors[name] = Tensor(shape: shape, values: values)
            names.append(name)
        }
        self.tensors = tensors
        self.names = names
    }

    static func gunzip(_ input: [UInt8], path: String) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw FixtureError(path: path, reason: "zlib init failed")
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var input = input
        var status: Int32 = Z_OK
        input.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = UInt32(inBuffer.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(out.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    output.append(contentsOf: out[0..<(out.count - Int(stream.avail_out))])
                }
            } while status == Z_OK
        }
        guard status == Z_STREAM_END else { throw FixtureError(path: path, reason: "bad gzip data") }
        return output
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}
