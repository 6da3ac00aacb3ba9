// SafeTensors: write -> read is bit-exact, one tiny file matches the format byte for byte, and
// every malformed file is rejected with an error naming it. Format:
// https://github.com/huggingface/safetensors ("Format" in the README).

import Engine
import Files
import Foundation
import Kernels
import Testing
import TestSupport
import Training

@Suite struct SafeTensorsTests {
    /// Encodes `tensors` given as arrays (the API takes buffer pointers, as the trainer holds them).
    static func encode(_ tensors: [(String, [Int], [Float])], metadata: [String: String] = [:]) throws -> [UInt8] {
        let copies = tensors.map { name, shape, values -> (String, [Int], UnsafeMutableBufferPointer<Float>) in
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
            _ = buffer.initialize(from: values)
            return (name, shape, buffer)
        }
        defer { copies.forEach { $0.2.deallocate() } }
        return try SafeTensors.encode(copies.map { ($0.0, $0.1, UnsafeBufferPointer($0.2)) }, metadata: metadata)
    }

    @Test func roundTripIsBitExact() throws {
        var rng = SplitMix64(seed: 7)
        let random = (0..<6).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0x7F7F_FFFF) }
        let tensors: [(String, [Int], [Float])] = [
            ("encoder.0.weight", [3, 2], [-0.0, 0.0, 1.5, -2.25, .infinity, -.infinity]),
            ("encoder.0.bias", [3], [Float.leastNonzeroMagnitude, .greatestFiniteMagnitude, -1e-30]),
            ("optimizer.encoder.0.weight.m", [2, 3], random),
            ("step", [], [42]),
            ("empty", [0, 4], []),
            ("a", [1, 1, 1, 2], [0.1, 0.2]),
        ]
        let metadata = ["format": "pt", "note": "quote \" backslash \\ newline \n tab \t é ∑", "": "x"]
        let folder = try makeScratchFolder("safetensors")
        let path = folder + "/model.safetensors"
        let copies = tensors.map { ($0.0, $0.1, $0.2) }
        try copies[0].2.withUnsafeBufferPointer { p0 in
            try copies[1].2.withUnsafeBufferPointer { p1 in
                try copies[2].2.withUnsafeBufferPointer { p2 in
                    try copies[3].2.withUnsafeBufferPointer { p3 in
                        try copies[4].2.withUnsafeBufferPointer { p4 in
                            try copies[5].2.withUnsafeBufferPointer { p5 in
                                let pointers = [p0, p1, p2, p3, p4, p5]
                                try SafeTensors.write(
                                    tensors.indices.map { (tensors[$0].0, tensors[$0].1, pointers[$0]) },
                                    metadata: metadata, to: path)
                            }
                        }
                    }
                }
            }
        }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes.count % 8 == 0)
        #expect(bytes == (try Self.encode(tensors, metadata: metadata)))

        let file = try SafeTensors.read(path: path)
        #expect(file.order == tensors.map(\.0))
        #expect(file.metadata == metadata)
        #expect(file.tensors.count == tensors.count)
        for (name, shape, values) in tensors {
            let tensor = try #require(file.tensors[name])
            #expect(tensor.shape == shape, "\(name)")
            #expect(tensor.values.map(\.bitPattern) == values.map(\.bitPattern), "\(name)")
        }
    }

    @Test func tinyFileMatchesTheFormatByteForByte() throws {
        // Tensor "a", shape [2], values [1, 2], no metadata. Entry keys are written in the order
        // dtype, shape, data_offsets. The 54-byte JSON is padded with 2 spaces to N = 56 so that
        // 8 + N = 64 is a multiple of 8; then 1.0f = 00 00 80 3F and 2.0f = 00 00 00 40.
        let json = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        #expect(json.utf8.count == 54)
        let expected: [UInt8] = [56, 0, 0, 0, 0, 0, 0, 0] + Array(json.utf8) + [0x20, 0x20]
            + [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40]
        #expect(try Self.encode([("a", [2], [1, 2])]) == expected)

        let file = try SafeTensors.decode(expected, path: "tiny.safetensors")
        #expect(file.order == ["a"])
        #expect(file.tensors["a"] == SafeTensors.Tensor(shape: [2], values: [1, 2]))
        #expect(file.metadata.isEmpty)
    }

    @Test func readsHeadersInAnyKeyOrderWithMetadataAnywhere() throws {
        // As another writer might emit them: tensors listed out of offset order, keys shuffled.
        let header = #"{"b":{"data_offsets":[4,8],"shape":[1],"dtype":"F32"},"#
            + #""__metadata__":{"k":"v"},"a":{"shape":[1],"dtype":"F32","data_offsets":[0,4]}}"#
        let file = try SafeTensors.decode(Self.file(header: header, data: Self.floats([3, 4])), path: "x")
        #expect(file.order == ["a", "b"])
        #expect(file.tensors["a"]?.values == [3])
        #expect(file.tensors["b"]?.values == [4])
        #expect(file.metadata == ["k": "v"])
    }

    /// A file with `header` (padded to a multiple of 8) and `data`; `size` overrides the size field.
    static func file(header: String, data: [UInt8] = [], size: UInt64? = nil) -> [UInt8] {
        var json = Array(header.utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        let n = size ?? UInt64(json.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + json + data
    }

    static func floats(_ values: [Float]) -> [UInt8] {
        values.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v.bitPattern >> (8 * UInt32($0))) } }
    }

    static func entry(_ name: String, _ begin: Int, _ end: Int, shape: String = "[1]", dtype: String = #""F32""#) -> String {
        #""\#(name)":{"dtype":\#(dtype),"shape":\#(shape),"data_offsets":[\#(begin),\#(end)]}"#
    }

    /// (what is wrong, file bytes, a fragment the reason must contain)
    static let malformed: [(String, [UInt8], String)] = [
        ("empty file", [], "too short"),
        ("7 bytes", [1, 2, 3, 4, 5, 6, 7], "too short"),
        ("header past end", file(header: "{}", size: 1000), "runs past the end"),
        ("absurd header", file(header: "{}", size: 200_000_000), "limit"),
        ("huge header", file(header: "{}", size: UInt64.max), "limit"),
        ("a text file", Array("# Notes\nnot a checkpoint at all, just text\n".utf8), "checkpoint (one starts with an 8-byte header length and a JSON header), it is a text file"),
        ("a PNG image", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52],
         "not a safetensors checkpoint (one starts with an 8-byte header length and a JSON header), it is a PNG image"),
        ("not JSON", file(header: "not json"), "not valid JSON"),
        ("not UTF-8", file(header: "{\"a\":\"") + [0xFF, 0xFE, 0x22, 0x7D, 0x20, 0x20, 0x20, 0x20], "not valid JSON"),
        ("JSON array", file(header: "[1, 2]"), "not a JSON object"),
        ("entry not object", file(header: #"{"a":[1]}"#), "entry is not a JSON object"),
        ("missing dtype", file(header: #"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, data: floats([1])), "missing \"dtype\""),
        ("missing shape", file(header: #"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, data: floats([1])), "missing \"shape\""),
        ("missing offsets", file(header: #"{"a":{"dtype":"F32","shape":[1]}}"#, data: floats([1])), "missing \"data_offsets\""),
        ("dtype number", file(header: "{" + entry("a", 0, 4, dtype: "5") + "}", data: floats([1])), "\"dtype\" is not a string"),
        ("shape string", file(header: "{" + entry("a", 0, 4, shape: #""1""#) + "}", data: floats([1])), "\"shape\" is not"),
        ("shape fraction", file(header: "{" + entry("a", 0, 4, shape: "[1.5]") + "}", data: floats([1])), "\"shape\" is not"),
        ("shape boolean", file(header: "{" + entry("a", 0, 4, shape: "[true]") + "}", data: floats([1])), "\"shape\" is not"),
        ("shape negative", file(header: "{" + entry("a", 0, 4, shape: "[-1]") + "}", data: floats([1])), "\"shape\" is not"),
        ("one offset", file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, data: floats([1])), "\"data_offsets\" is not"),
        ("offsets string", file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":"0,4"}}"#, data: floats([1])), "\"data_offsets\" is not"),
        ("dtype F16", file(header: "{" + entry("a", 0, 2, dtype: #""F16""#) + "}", data: [0, 0x3C]), "has dtype F16"),
        ("end before begin", file(header: "{" + entry("a", 4, 0) + "}", data: floats([1])), "before begin"),
        ("outside buffer", file(header: "{" + entry("a", 0, 8, shape: "[2]") + "}", data: floats([1])), "run past the 4-byte data buffer"),
        ("length mismatch", file(header: "{" + entry("a", 0, 8, shape: "[3]") + "}", data: floats([1, 2])), "expected 12"),
        ("shape overflow", file(header: "{" + entry("a", 0, 4, shape: "[4294967296,4294967296]") + "}", data: floats([1])), "larger than"),
        ("overlap", file(header: "{" + entry("a", 0, 8, shape: "[2]") + "," + entry("b", 4, 8) + "}", data: floats([1, 2])), "overlaps"),
        ("gap", file(header: "{" + entry("a", 0, 4) + "," + entry("b", 8, 12) + "}", data: floats([1, 2, 3])), "gap"),
        ("trailing bytes", file(header: "{" + entry("a", 0, 4) + "}", data: floats([1, 2])), "cover 4"),
        ("metadata not object", file(header: #"{"__metadata__":"x"}"#), "\"__metadata__\" is not a JSON object"),
        ("metadata number", file(header: #"{"__metadata__":{"epoch":3}}"#), "metadata value for \"epoch\" is not a string"),
    ]

    @Test(arguments: malformed.map { ($0.0, $0.1, $0.2) })
    func malformedFileIsRejected(what: String, bytes: [UInt8], fragment: String) {
        let path = "bad-\(what.replacingOccurrences(of: " ", with: "-")).safetensors"
        do {
            let file = try SafeTensors.decode(bytes, path: path)
            Issue.record("\(what): accepted, read \(file.order)")
        } catch let error as InputError {
            #expect(error.description.hasPrefix(path + ": "), "\(what): \(error)")
            #expect(error.reason.contains(fragment), "\(what): \(error)")
            #expect(!error.description.contains("\n"), "\(what): \(error)")
        } catch {
            Issue.record("\(what): unexpected error \(error)")
        }
    }

    @Test func readNamesTheFileOnDisk() throws {
        let folder = try makeScratchFolder("safetensors-bad")
        let truncated = folder + "/truncated.safetensors"
        try writeFile(truncated, Array(try Self.encode([("a", [2], [1, 2])]).dropLast(1)))
        #expect { try SafeTensors.read(path: truncated) } throws: { error in
            (error as? InputError)?.description.hasPrefix(truncated + ": ") == true
        }
        let missing = folder + "/missing.safetensors"
        #expect { try SafeTensors.read(path: missing) } throws: { error in
            (error as? InputError)?.description == missing + ": no such file or folder"
        }
    }
}
