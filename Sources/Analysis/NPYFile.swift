// NumPy's .npy format (version 1.0) for code matrices: magic, a Python-literal header padded to
// a multiple of 64 bytes, then the little-endian values in C order. numpy.load reads it.

import Engine
import Files
import Foundation
import Training

public enum NPYFile {
    /// Writes a (rows, columns) float32 matrix, atomically.
    public static func write(_ values: [Float], rows: Int, columns: Int, to path: String) throws {
        precondition(values.count == rows * columns, "values must be rows x columns")
        var body = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
        try AtomicFile.write(header(descr: "<f4", shape: "(\(rows), \(columns))") + body, to: path)
    }

    /// Writes a vector of int32, atomically.
    public static func write(_ values: [Int32], to path: String) throws {
        var body = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.littleEndian) { body.append(contentsOf: $0) } }
        try AtomicFile.write(header(descr: "<i4", shape: "(\(values.count),)") + body, to: path)
    }

    static func header(descr: String, shape: String) -> Data {
        var text = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        // Magic (6) + version (2) + length (2) + header + newline: a multiple of 64.
        let total = 10 + text.utf8.count + 1
        text += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(text.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(text.utf8))
        return data
    }
}

/// Codes (rows x width) and labels written as CSV (columns z0..., label) or, for a `.npy` path,
/// a float32 matrix with the labels in `<stem>-labels.npy`. Labels of -1 (none) are left out.
public enum CodeFile {
    public static func write(codes: [Float], labels: [Int32], width z: Int, to path: String) throws {
        let n = codes.count / max(z, 1)
        let labelled = labels.contains { $0 >= 0 }
        if path.lowercased().hasSuffix(".npy") {
            try NPYFile.write(codes, rows: n, columns: z, to: path)
            if labelled { try NPYFile.write(labels, to: (path as NSString).deletingPathExtension + "-labels.npy") }
            return
        }
        var text = (0..<z).map { "z\($0)" }.joined(separator: ",") + (labelled ? ",label" : "") + "\n"
        for r in 0..<n {
            text += (0..<z).map { "\(codes[r * z + $0])" }.joined(separator: ",") + (labelled ? ",\(labels[r])" : "") + "\n"
        }
        try AtomicFile.write(Data(text.utf8), to: path)
    }
}
