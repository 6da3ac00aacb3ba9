// Sequences from CSV (comma-separated, RFC 4180 quoting on one line): either a folder with one
// sequence per file (one row per step, labels from subfolders as for PNG folders), or one file
// whose sequence-id column groups rows into sequences. An optional header row names the columns.

import Files
import Foundation

public enum SequenceCSV {
    /// CSV files under `folder`, relative paths, sorted; other files are ignored.
    public static func listFiles(in folder: String) -> [String] { filesRecursively(in: folder, withExtension: "csv") }

    /// A parsed CSV file: the header (when the first row has one) and the data rows.
    struct Table {
        var header: [String]?
        var rows: [(line: Int, fields: [String])]
        var columns: Int
    }

    /// Reads `path` as a table whose rows all have the same number of fields. Blank lines are
    /// skipped. The first row is a header when none of its fields is a number, data when all
    /// are; a mix is refused, since it is most likely a data row with a typo.
    /// - Throws: `InputError` naming the file and line for an empty file, an unclosed quote,
    ///   a mixed first row, or a row with another field count.
    static func readTable(_ path: String, headerRequired: Bool = false) throws -> Table {
        let file = try TextFile.read(path)
        var rows: [(line: Int, fields: [String])] = []
        for (number, bytes) in file.lines where !TextFile.isBlank(bytes) {
            guard let fields = TextFile.csvFields(bytes) else {
                throw InputError(.corrupt, path: path, "line \(number): a quoted field is not closed")
            }
            rows.append((number, fields))
        }
        guard let first = rows.first else {
            throw InputError(.empty, path: path, "file is empty: expected a header or data rows")
        }
        let numeric = first.fields.filter { TextFile.number($0) != nil }.count
        var header: [String]?
        if numeric == 0 {
            header = first.fields
            rows.removeFirst()
        } else if numeric < first.fields.count || headerRequired {
            let text = first.fields.first { TextFile.number($0) == nil }
            let reason = headerRequired
                ? "line \(first.line): expected a header row naming the columns, found numbers"
                : "line \(first.line): the first row mixes names and numbers (\(TextFile.excerpt(text ?? ""))): "
                    + "a header must be all names, a data row all numbers"
            throw InputError(.badHeader, path: path, reason)
        }
        if let header {
            var seen = Set<String>()
            for name in header {
                guard !name.isEmpty else {
                    throw InputError(.badHeader, path: path, "line \(first.line): a header column has no name")
                }
                guard seen.insert(name).inserted else {
                    throw InputError(.badHeader, path: path, "line \(first.line): column '\(name)' appears twice")
                }
            }
        }
        guard !rows.isEmpty else {
            throw InputError(.empty, path: path, "no data rows after the header on line \(first.line)")
        }
        let columns = first.fields.count
        for row in rows where row.fields.count != columns {
            throw InputError(.countMismatch, path: path, "line \(row.line): \(row.fields.count) fields, "
                + "expected \(columns) as on line \(first.line)")
        }
        return Table(header: header, rows: rows, columns: columns)
    }

    /// The number in `field`, or an error naming file, line and column.
    static func value(_ field: String, path: String, line: Int, column: Int, name: String?) throws -> Float {
        guard let value = TextFile.number(field) else {
            let which = name.map { "column \(column + 1) ('\($0)')" } ?? "column \(column + 1)"
            let what = field.isEmpty ? "is empty" : "is \(TextFile.excerpt(field)), not a finite number"
            throw InputError(.corrupt, path: path, "line \(line): \(which) \(what)")
        }
        return value
    }

    /// Loads every CSV file under `folder` as one sequence (files sorted by relative path, one
    /// row per step, every column a feature). When every file sits in a subfolder, the
    /// immediate subfolder's name is its class.
    /// - Throws: `InputError` naming the file (and line) for an empty folder or file, a cell
    ///   that is not a number, or a file whose column count or header differs from the first's.
    public static func loadFolder(_ folder: String) throws -> SequenceSet {
        let files = listFiles(in: folder)
        guard !files.isEmpty else {
            throw InputError(.empty, path: folder, "no CSV files in this folder or below it")
        }
        var values: [Float] = []
        var lengths: [Int] = []
        var columns = 0
        var names: [String]?
        var namesFrom = ""
        for (k, relative) in files.enumerated() {
            let path = (folder as NSString).appendingPathComponent(relative)
            let table = try readTable(path)
            if k == 0 {
                columns = table.columns
            } else if table.columns != columns {
                throw InputError(.countMismatch, path: path, "\(table.columns) columns, but \(files[0]) "
                    + "(the first file) has \(columns): every file must hold the same features")
            }
            if let header = table.header {
                if let names, header != names {
                    throw InputError(.badHeader, path: path, "header \(header.joined(separator: ",")) differs "
                        + "from \(namesFrom)'s \(names.joined(separator: ","))")
                }
                names = header
                namesFrom = relative
            }
            for row in table.rows {
                for (c, field) in row.fields.enumerated() {
                    values.append(try value(field, path: path, line: row.line, column: c, name: table.header?[c]))
                }
            }
            lengths.append(table.rows.count)
        }

        // Labels from the immediate subfolder, when every file sits in one (as PNGFolder does).
        var labels: [Int32]?
        var classNames: [String]?
        let parts = files.map { $0.split(separator: "/", omittingEmptySubsequences: true) }
        if parts.allSatisfy({ $0.count >= 2 }) {
            let classes = Array(Set(parts.map { String($0[0]) })).sorted()
            let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, Int32($0)) })
            labels = parts.map { index[String($0[0])]! }
            classNames = classes
        }
        return SequenceSet(source: folder, featureNames: names ?? defaultNames(columns), values: values,
                           lengths: lengths, labels: labels, classNames: classNames, files: files)
    }

    /// Loads one CSV file with a header: rows with the same value in `idColumn` form one
    /// sequence (in order of first appearance; rows keep their file order within it). The
    /// `labelColumn`, when given, must be the same on every row of a sequence; its values become
    /// classes, sorted numerically when all are integers, else by name. Every other column is a
    /// feature.
    /// - Throws: `InputError` naming the file (and line) for a missing header or column, a cell
    ///   that is not a number, or a sequence whose rows disagree on the label.
    public static func load(_ path: String, idColumn: String, labelColumn: String? = nil) throws -> SequenceSet {
        let table = try readTable(path, headerRequired: true)
        let header = table.header!
        func find(_ name: String, _ option: String) throws -> Int {
            guard let at = header.firstIndex(of: name) else {
                throw InputError(.badOption, path: path, "no column '\(name)' (\(option)) in the header: "
                    + "columns are \(header.joined(separator: ", "))")
            }
            return at
        }
        let idAt = try find(idColumn, "sequence id")
        let labelAt = try labelColumn.map { try find($0, "label") }
        if labelAt == idAt {
            throw InputError(.badOption, path: path, "the label column cannot also be the sequence id column")
        }
        let featureColumns = (0..<table.columns).filter { $0 != idAt && $0 != labelAt }
        guard !featureColumns.isEmpty else {
            throw InputError(.badHeader, path: path, "no feature columns besides the id and label columns")
        }

        // Group row indices by id, in order of first appearance.
        var order: [String] = []
        var groups: [String: [Int]] = [:]
        var labelText: [String: (text: String, line: Int)] = [:]
        for (r, row) in table.rows.enumerated() {
            let id = row.fields[idAt]
            guard !id.isEmpty else {
                throw InputError(.corrupt, path: path, "line \(row.line): the sequence id ('\(idColumn)') is empty")
            }
            if groups[id] == nil { order.append(id) }
            groups[id, default: []].append(r)
            if let labelAt {
                let text = row.fields[labelAt]
                guard !text.isEmpty else {
                    throw InputError(.corrupt, path: path, "line \(row.line): the label ('\(labelColumn!)') is empty")
                }
                if let earlier = labelText[id] {
                    guard earlier.text == text else {
                        throw InputError(.corrupt, path: path, "line \(row.line): sequence '\(id)' has label "
                            + "\(TextFile.excerpt(text)), but \(TextFile.excerpt(earlier.text)) on line \(earlier.line)")
                    }
                } else {
                    labelText[id] = (text, row.line)
                }
            }
        }

        var values: [Float] = []
        values.reserveCapacity(table.rows.count * featureColumns.count)
        for id in order {
            for r in groups[id]! {
                let row = table.rows[r]
                for c in featureColumns {
                    values.append(try value(row.fields[c], path: path, line: row.line, column: c, name: header[c]))
                }
            }
        }
        var labels: [Int32]?
        var classNames: [String]?
        if labelAt != nil {
            let texts = order.map { labelText[$0]!.text }
            let classes = sortedClasses(Set(texts))
            let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, Int32($0)) })
            labels = texts.map { index[$0]! }
            classNames = classes
        }
        return SequenceSet(source: path, featureNames: featureColumns.map { header[$0] }, values: values,
                           lengths: order.map { groups[$0]!.count }, labels: labels, classNames: classNames)
    }

    /// `dim0`, `dim1`, ... for files without a header.
    static func defaultNames(_ count: Int) -> [String] { (0..<count).map { "dim\($0)" } }

    /// Class names sorted numerically when all are integers (so 2 comes before 10), else by name.
    static func sortedClasses(_ names: Set<String>) -> [String] {
        if names.allSatisfy({ Int($0) != nil }) { return names.sorted { Int($0)! < Int($1)! } }
        return names.sorted()
    }
}
