// A text data file read once into lines with their 1-based numbers, for the CSV and `.ts`
// readers: LF or CRLF endings, a missing final newline tolerated, plus the field splitting and
// number parsing both formats share. Works on bytes: no per-character String walking.

import Files
import Foundation

/// The lines of a text file, each with its line number, line endings removed.
struct TextFile {
    let path: String
    /// Line number (from 1) and bytes of every line, including blank ones.
    let lines: [(number: Int, bytes: ArraySlice<UInt8>)]

    /// Reads `path` whole.
    /// - Throws: `InputError` when the file is missing or unreadable.
    static func read(_ path: String) throws -> TextFile {
        guard FileManager.default.fileExists(atPath: path) else {
            throw InputError(.notFound, path: path, "no such file")
        }
        // An empty file is read without Foundation, whose FileManager.contents leaks a 4 KB
        // buffer on it (LeakSanitizer, found by fuzzing).
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        let data: Data
        if size == 0 {
            data = Data()
        } else if let read = FileManager.default.contents(atPath: path) {
            data = read
        } else {
            throw InputError(.unreadable, path: path, "cannot read the file")
        }
        let bytes = [UInt8](data)
        var lines: [(Int, ArraySlice<UInt8>)] = []
        var start = 0, number = 1
        for i in 0..<bytes.count where bytes[i] == UInt8(ascii: "\n") {
            lines.append((number, trimmingCR(bytes[start..<i])))
            start = i + 1
            number += 1
        }
        if start < bytes.count { lines.append((number, trimmingCR(bytes[start...]))) }
        return TextFile(path: path, lines: lines)
    }

    private static func trimmingCR(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        line.last == UInt8(ascii: "\r") ? line.dropLast() : line
    }

    /// `line` without leading and trailing spaces and tabs.
    static func trimmed(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        func isSpace(_ b: UInt8) -> Bool { b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") }
        var s = line.startIndex, e = line.endIndex
        while s < e && isSpace(line[s]) { s += 1 }
        while e > s && isSpace(line[e - 1]) { e -= 1 }
        return line[s..<e]
    }

    /// Whether the line holds nothing but spaces and tabs.
    static func isBlank(_ line: ArraySlice<UInt8>) -> Bool { trimmed(line).isEmpty }

    /// Splits one CSV line at commas into trimmed fields. A field in double quotes may hold
    /// commas, and `""` inside it stands for one quote (RFC 4180); quoted line breaks are not
    /// supported. Returns nil when a quote is not closed.
    static func csvFields(_ line: ArraySlice<UInt8>) -> [String]? {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ",")
        var fields: [String] = []
        var i = line.startIndex
        while true {
            var field: [UInt8] = []
            // Skip spaces before a possible opening quote.
            var j = i
            while j < line.endIndex && (line[j] == UInt8(ascii: " ") || line[j] == UInt8(ascii: "\t")) { j += 1 }
            if j < line.endIndex && line[j] == quote {
                j += 1
                var closed = false
                while j < line.endIndex {
                    if line[j] == quote {
                        if j + 1 < line.endIndex && line[j + 1] == quote {
                            field.append(quote)
                            j += 2
                            continue
                        }
                        closed = true
                        j += 1
                        break
                    }
                    field.append(line[j])
                    j += 1
                }
                guard closed else { return nil }
                // Only spaces may follow the closing quote before the comma.
                while j < line.endIndex && line[j] != comma {
                    guard line[j] == UInt8(ascii: " ") || line[j] == UInt8(ascii: "\t") else { return nil }
                    j += 1
                }
                fields.append(String(decoding: field, as: UTF8.self))
            } else {
                var end = i
                while end < line.endIndex && line[end] != comma { end += 1 }
                fields.append(String(decoding: trimmed(line[i..<end]), as: UTF8.self))
                j = end
            }
            if j >= line.endIndex { return fields }
            i = j + 1  // past the comma
        }
    }

    /// A finite number written in decimal or scientific notation (`-1.5`, `2e-3`), else nil.
    /// `nan`, `inf` and hexadecimal floats are refused: data files never mean them as numbers.
    static func number(_ text: some StringProtocol) -> Float? {
        guard let first = text.utf8.first,
              first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".")
                || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")),
              !text.contains(where: { $0 == "x" || $0 == "X" || $0 == "n" || $0 == "N" || $0 == "i" || $0 == "I" }),
              let value = Float(text), value.isFinite else { return nil }
        return value
    }

    /// The number in `field` as `number(_:)` decides, without building a String: the `.ts`
    /// reader parses every value this way, and String making dominated its time.
    static func number(bytes field: UnsafeBufferPointer<UInt8>) -> Float? {
        guard let first = field.first, field.count < 256,
              first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".")
                || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: field.count + 1) { buffer -> Float? in
            for k in 0..<field.count {
                // A letter other than the exponent's e: nan, inf or hexadecimal, never data here.
                let lower = field[k] | 0x20
                if lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "z") && lower != UInt8(ascii: "e") { return nil }
                buffer[k] = CChar(bitPattern: field[k])
            }
            buffer[field.count] = 0
            // strtof in the C locale (Swift never calls setlocale): the same parse as Float(String).
            var end: UnsafeMutablePointer<CChar>?
            let value = strtof(buffer.baseAddress!, &end)
            guard end == buffer.baseAddress! + field.count, value.isFinite else { return nil }
            return value
        }
    }

    /// `text` shortened to 40 characters for an error message.
    static func excerpt(_ text: some StringProtocol) -> String {
        text.count <= 40 ? "'\(text)'" : "'\(text.prefix(37))...'"
    }
}
