// The `.ts` format of the UEA & UCR time series classification archive (as sktime reads and
// writes it; Bagnall et al., "The UEA multivariate time series classification archive", 2018):
// `#` comment lines, `@tag value` header lines, then after `@data` one case per line with its
// dimensions separated by ':', values by ',', and the class label last when `@classLabel true`.

import Files
import Foundation

/// A `.ts` file of classification cases, read into a `SequenceSet`.
///
/// Supported: `@problemName`, `@timeStamps false`, `@missing`, `@univariate`, `@dimensions`,
/// `@equalLength`, `@seriesLength`, `@classLabel true <names...>` or `false`, `@targetLabel false`,
/// `@data`; tags are case-insensitive. Series may differ in length between cases, but all
/// dimensions of one case must have the same length. Refused with an error naming the line:
/// time stamps, regression targets (`@targetLabel true`), missing values (`?` or `NaN`: a
/// sequence model here has no mask for holes inside a sequence), and unknown tags.
public enum TSFile {
    /// Reads and validates the `.ts` file at `path`; features are named `dim0`, `dim1`, ...
    /// - Throws: `InputError` naming the file and line of the problem.
    public static func load(_ path: String) throws -> SequenceSet {
        let file = try TextFile.read(path)
        var dimensions: Int?
        var univariate: Bool?
        var seriesLength: Int?
        var equalLength = false
        var classNames: [String]?
        var sawLabelTag = false
        var dataLine: Int?

        func fail(_ kind: InputError.Kind, _ line: Int, _ reason: String) -> InputError {
            InputError(kind, path: path, "line \(line): \(reason)")
        }
        func flag(_ words: [Substring], _ line: Int) throws -> Bool {
            guard words.count >= 2, ["true", "false"].contains(words[1].lowercased()) else {
                throw fail(.badHeader, line, "\(words[0]) needs true or false")
            }
            return words[1].lowercased() == "true"
        }
        func count(_ words: [Substring], _ line: Int) throws -> Int {
            guard words.count == 2, let n = Int(words[1]), n > 0 else {
                throw fail(.badHeader, line, "\(words[0]) needs one positive whole number")
            }
            return n
        }

        var values: [Float] = []
        var lengths: [Int] = []
        var labels: [Int32] = []
        var labelIndex: [String: Int32] = [:]
        // Line of the first case when it, not the header, fixed the dimension count.
        var firstCaseLine = 0

        for (number, bytes) in file.lines {
            let line = TextFile.trimmed(bytes)
            if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
            if dataLine == nil {
                guard line.first == UInt8(ascii: "@") else {
                    throw fail(.badHeader, number, "expected a @tag or a # comment before @data, found "
                        + TextFile.excerpt(String(decoding: line, as: UTF8.self)))
                }
                let words = String(decoding: line, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" })
                switch words[0].lowercased() {
                case "@problemname", "@missing":
                    // The name is not needed; missing values are refused where they appear.
                    break
                case "@timestamps":
                    if try flag(words, number) {
                        throw fail(.badHeader, number, "@timeStamps true is not supported: "
                            + "write the series as plain values (one per step)")
                    }
                case "@univariate":
                    univariate = try flag(words, number)
                case "@dimensions", "@dimension":
                    dimensions = try count(words, number)
                case "@equallength":
                    equalLength = try flag(words, number)
                case "@serieslength":
                    seriesLength = try count(words, number)
                case "@classlabel":
                    sawLabelTag = true
                    if try flag(words, number) {
                        let names = words.dropFirst(2).map(String.init)
                        guard !names.isEmpty else {
                            throw fail(.badHeader, number, "@classLabel true lists no class names")
                        }
                        guard Set(names).count == names.count else {
                            throw fail(.badHeader, number, "@classLabel lists a class name twice")
                        }
                        classNames = names
                        labelIndex = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, Int32($0)) })
                    }
                case "@targetlabel":
                    sawLabelTag = true
                    if try flag(words, number) {
                        throw fail(.badHeader, number, "@targetLabel true (regression targets) is not "
                            + "supported: only classification files or unlabelled series")
                    }
                case "@data":
                    guard sawLabelTag else {
                        throw fail(.badHeader, number, "@data before @classLabel: the header must say "
                            + "whether cases end with a class label")
                    }
                    if univariate == true, let dimensions, dimensions != 1 {
                        throw fail(.badHeader, number, "@univariate true but @dimensions \(dimensions)")
                    }
                    if univariate == true { dimensions = 1 }
                    dataLine = number
                default:
                    throw fail(.badHeader, number, "unknown tag \(words[0]) (known: @problemName @timeStamps "
                        + "@missing @univariate @dimensions @equalLength @seriesLength @classLabel "
                        + "@targetLabel @data)")
                }
                continue
            }

            // One case: dim0 values : dim1 values : ... [: label]
            var parts = line.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            if classNames != nil {
                guard parts.count >= 2 else {
                    throw fail(.corrupt, number, "expected dimensions and a class label separated by ':'")
                }
                let label = String(decoding: TextFile.trimmed(parts.removeLast()), as: UTF8.self)
                guard let index = labelIndex[label] else {
                    throw fail(.corrupt, number, "class label \(TextFile.excerpt(label)) is not one of "
                        + "@classLabel's \(classNames!.joined(separator: " "))")
                }
                labels.append(index)
            }
            if let dimensions, parts.count != dimensions {
                let expected = firstCaseLine == 0 ? "the header says \(dimensions)"
                    : "the first case (line \(firstCaseLine)) has \(dimensions)"
                throw fail(.countMismatch, number, "\(parts.count) dimensions, \(expected)"
                    + (classNames == nil ? "" : " (plus the class label)"))
            }
            if dimensions == nil {
                dimensions = parts.count
                firstCaseLine = number
            }
            let d = dimensions!
            let series: [[Float]]
            switch scan(parts) {
            case .success(let values): series = values
            case .failure(let bad):
                let problem = bad.text == "?" || bad.text.lowercased() == "nan"
                    ? "missing value \(TextFile.excerpt(bad.text)) (not supported: fill or drop it first)"
                    : bad.text.isEmpty ? "empty value" : "\(TextFile.excerpt(bad.text)) is not a finite number"
                throw fail(.corrupt, number, "dimension \(bad.dimension), step \(bad.step): \(problem)")
            }
            for (k, dimension) in series.enumerated() where dimension.count != series[0].count {
                throw fail(.countMismatch, number, "dimension \(k) has \(dimension.count) values, "
                    + "dimension 0 has \(series[0].count): all dimensions of a case need the same length")
            }
            let t = series[0].count
            if equalLength, let seriesLength, t != seriesLength {
                throw fail(.countMismatch, number, "series of \(t) steps, the header says "
                    + "@equalLength true with @seriesLength \(seriesLength)")
            }
            // The file is dimension-major per case; store step-major (T, D).
            for s in 0..<t { for k in 0..<d { values.append(series[k][s]) } }
            lengths.append(t)
        }

        guard let dataLine else {
            let blank = file.lines.allSatisfy { TextFile.isBlank($0.bytes) }
            throw InputError(blank ? .empty : .badHeader, path: path,
                             blank ? "file is empty" : "no @data line: not a .ts file")
        }
        guard !lengths.isEmpty else {
            throw InputError(.empty, path: path, "no cases after @data on line \(dataLine)")
        }
        return SequenceSet(source: path, featureNames: SequenceCSV.defaultNames(dimensions!), values: values,
                           lengths: lengths, labels: classNames == nil ? nil : labels, classNames: classNames)
    }

    /// A value that is not a number: where, and its text.
    struct BadValue: Error {
        var dimension: Int
        var step: Int
        var text: String
    }

    /// The comma-separated values of each dimension of one case. Scans raw bytes through one
    /// buffer pointer: the sample files hold 200,000 values, and slicing per value was slow.
    static func scan(_ parts: [ArraySlice<UInt8>]) -> Result<[[Float]], BadValue> {
        var series: [[Float]] = []
        series.reserveCapacity(parts.count)
        for (k, part) in parts.enumerated() {
            let result = part.withUnsafeBufferPointer { p -> Result<[Float], BadValue> in
                var values: [Float] = []
                var start = 0
                for i in 0...p.count where i == p.count || p[i] == UInt8(ascii: ",") {
                    var s = start, e = i
                    while s < e && (p[s] == UInt8(ascii: " ") || p[s] == UInt8(ascii: "\t")) { s += 1 }
                    while e > s && (p[e - 1] == UInt8(ascii: " ") || p[e - 1] == UInt8(ascii: "\t")) { e -= 1 }
                    let field = UnsafeBufferPointer(rebasing: p[s..<e])
                    guard let value = TextFile.number(bytes: field) else {
                        return .failure(BadValue(dimension: k, step: values.count,
                                                 text: String(decoding: field, as: UTF8.self)))
                    }
                    values.append(value)
                    start = i + 1
                }
                return .success(values)
            }
            switch result {
            case .success(let values): series.append(values)
            case .failure(let bad): return .failure(bad)
            }
        }
        return .success(series)
    }
}
