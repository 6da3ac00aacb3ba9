// Sequence data: the shipped JapaneseVowels .ts files and CSV folder parse to the published
// counts and agree value for value; malformed files are refused with errors naming file and
// line; standardization round-trips and gives zero mean, unit std; padding is zeros; id-column
// grouping and header-less CSV work.

import Datasets
import Files
import Foundation
import Testing
import TestSupport

let vowelsFolder = repositoryRoot + "/data/japanese-vowels"
let vowelsTrain = vowelsFolder + "/JapaneseVowels_TRAIN.ts"
let vowelsTest = vowelsFolder + "/JapaneseVowels_TEST.ts"
let vowelsCSV = repositoryRoot + "/data/japanese-vowels-csv"

/// Writes `text` to `name` in `folder` (creating subfolders) and returns the path.
@discardableResult
func writeText(_ text: String, _ name: String, in folder: String) throws -> String {
    let path = folder + "/" + name
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                            withIntermediateDirectories: true)
    try writeFile(path, Array(text.utf8))
    return path
}

/// Expects `body` to throw a `InputError` whose message names `file` and holds every fragment.
func expectRejected(_ file: String, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation,
                    _ body: () throws -> Any) {
    do {
        _ = try body()
        Issue.record("\(file) was accepted", sourceLocation: sourceLocation)
    } catch let error as InputError {
        let message = error.description
        #expect(message.contains((file as NSString).lastPathComponent), "\(message)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(message.contains(fragment), "'\(fragment)' missing from: \(message)", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

/// Header lines of a small multivariate .ts file with classes a and b.
let tsHeader = """
    # a comment
    @problemName Tiny
    @timeStamps false
    @missing false
    @univariate false
    @dimensions 2
    @equalLength false
    @classLabel true a b
    @data

    """

@Suite struct SequenceFileTests {
    @Test func shippedTSFilesHaveThePublishedShape() throws {
        let train = try TSFile.load(vowelsTrain)
        let test = try TSFile.load(vowelsTest)
        #expect(train.count == 270 && test.count == 370)
        #expect(train.features == 12 && test.features == 12)
        #expect(train.featureNames.first == "dim0" && train.featureNames.last == "dim11")
        #expect(train.classNames == (1...9).map(String.init) && test.classNames == train.classNames)
        #expect(train.minLength == 7 && train.maxLength == 26)
        #expect(min(train.minLength, test.minLength) == 7 && max(train.maxLength, test.maxLength) == 29)
        // 30 training utterances per speaker; the UCI page lists the test counts per speaker.
        #expect(train.labelHistogram() == [Int](repeating: 30, count: 9))
        #expect(test.labelHistogram() == [31, 35, 88, 44, 29, 24, 40, 50, 29])
        #expect(train.totalSteps == (0..<train.count).reduce(0) { $0 + train.length(of: $1) })
        // First case, first line of data: dimension 0 starts 1.860936,1.891651 and dimension 1
        // starts -0.207383; stored step-major.
        let first = Array(train.values(of: 0))
        #expect(train.length(of: 0) == 20)
        #expect(first[0] == Float("1.860936")! && first[1] == Float("-0.207383")! && first[12] == Float("1.891651")!)
    }

    @Test func splitsLoadTestBesideTrainAndFromTheFolder() throws {
        let (train, test) = try SequenceSource.loadSplits("japanese-vowels")  // the bundled name
        #expect(train.count == 270 && test?.count == 370)
        // The same rules on small files: X_TRAIN.ts finds X_TEST.ts, and so does their folder.
        let root = try makeScratchFolder("splits")
        let trainPath = try writeText(tsHeader + "1,2:3,4:a\n5:6:b\n", "Tiny_TRAIN.ts", in: root)
        let testPath = try writeText(tsHeader + "7:8:b\n", "Tiny_TEST.ts", in: root)
        for path in [trainPath, root] {
            let (train, test) = try SequenceSource.loadSplits(path)
            #expect(train.count == 2 && test?.count == 1 && test?.labels == [1], "\(path)")
        }
        #expect(try SequenceSource.loadSplits(testPath).test == nil)
        try writeText(tsHeader.replacingOccurrences(of: "true a b", with: "true a b c") + "7:8:b\n",
                      "Tiny_TEST.ts", in: root)
        expectRejected(testPath, ["classes a b c differ"]) { try SequenceSource.loadSplits(trainPath) }
        try writeText(tsHeader.replacingOccurrences(of: "@dimensions 2", with: "@dimensions 1") + "7:b\n",
                      "Tiny_TEST.ts", in: root)
        expectRejected(testPath, ["1 features", "has 2"]) { try SequenceSource.loadSplits(trainPath) }
        #expect(SequenceSource.looksLikeSequences(vowelsTrain))
        #expect(SequenceSource.looksLikeSequences(vowelsFolder))
        #expect(SequenceSource.looksLikeSequences(vowelsCSV))
        #expect(!SequenceSource.looksLikeSequences(bundledMNISTSample))
    }

    @Test func shippedCSVFolderMatchesTheTSCases() throws {
        let folder = try SequenceSource.load(vowelsCSV)
        let train = try TSFile.load(vowelsTrain)
        #expect(folder.count == 18 && folder.features == 12)
        #expect(folder.featureNames == (1...12).map { "lpc\($0)" })
        #expect(folder.classNames == (1...9).map { "speaker-\($0)" })
        #expect(folder.labels == (0..<18).map { Int32($0 / 2) })
        for (k, file) in folder.files!.enumerated() {
            // speaker-K/case-NNN.csv holds training case NNN, values copied as text.
            let index = Int(file.split(separator: "-").last!.prefix(3))!
            #expect(folder.length(of: k) == train.length(of: index), "\(file)")
            #expect(Array(folder.values(of: k)) == Array(train.values(of: index)), "\(file)")
            #expect(train.classNames![Int(train.labels![index])] == String(folder.classNames![Int(folder.labels![k])].dropFirst(8)))
        }
    }

    @Test func tsVariableLengthAndLabelsInHeaderOrder() throws {
        let root = try makeScratchFolder("ts")
        let path = try writeText(tsHeader + "1,2,3:4,5,6:b\n7,8:9,10:a\r\n\n# between cases\n0.5:-1e-2:b", "tiny.ts", in: root)
        let set = try TSFile.load(path)
        #expect(set.count == 3 && set.features == 2)
        #expect((0..<3).map(set.length(of:)) == [3, 2, 1])
        #expect(set.labels == [1, 0, 1] && set.classNames == ["a", "b"])
        #expect(Array(set.values(of: 0)) == [1, 4, 2, 5, 3, 6])
        #expect(Array(set.values(of: 2)) == [0.5, -0.01])
    }

    @Test func malformedTSFilesAreRejectedWithFileAndLine() throws {
        let root = try makeScratchFolder("badts")
        // tsHeader ends on line 9 (@data), so the first case is line 10.
        let cases: [(String, String, [String])] = [
            ("ragged.ts", tsHeader + "1,2,3:4,5:a\n", ["line 10", "dimension 1 has 2 values", "dimension 0 has 3"]),
            ("missing.ts", tsHeader + "1,2:3,4:a\n1,?:3,4:b\n", ["line 11", "missing value '?'"]),
            ("nan.ts", tsHeader + "1,NaN:3,4:a\n", ["line 10", "missing value"]),
            ("text.ts", tsHeader + "1,2:3,x4:a\n", ["line 10", "'x4' is not a finite number"]),
            ("label.ts", tsHeader + "1,2:3,4:c\n", ["line 10", "class label 'c'"]),
            ("dims.ts", tsHeader + "1,2:a\n", ["line 10", "1 dimensions, the header says 2"]),
            ("stamps.ts", "@timeStamps true\n@classLabel false\n@data\n(1,2)\n", ["line 1", "@timeStamps true"]),
            ("target.ts", "@targetLabel true\n@data\n1,2:0.5\n", ["line 1", "regression"]),
            ("unknown.ts", "@colour red\n@classLabel false\n@data\n1\n", ["line 1", "unknown tag @colour"]),
            ("nolabel.ts", "@dimensions 1\n@data\n1,2\n", ["line 2", "@classLabel"]),
            ("nodata.ts", tsHeader + "\n", ["no cases after @data"]),
            ("empty.ts", "", ["file is empty"]),
            ("length.ts", "@equalLength true\n@seriesLength 3\n@classLabel false\n@data\n1,2,3\n1,2\n",
             ["line 6", "series of 2 steps"]),
        ]
        for (name, text, fragments) in cases {
            let path = try writeText(text, name, in: root)
            expectRejected(path, fragments) { try TSFile.load(path) }
        }
        // Unlabelled and univariate files are fine, and the first case fixes the dimensions.
        let plain = try writeText("@univariate true\n@classLabel false\n@data\n1,2,3\n4,5\n", "plain.ts", in: root)
        let set = try TSFile.load(plain)
        #expect(set.count == 2 && set.features == 1 && set.labels == nil)
        let drift = try writeText("@classLabel false\n@data\n1:2\n1:2:3\n", "drift.ts", in: root)
        expectRejected(drift, ["line 4", "the first case (line 3) has 2"]) { try TSFile.load(drift) }
    }

    @Test func csvFolderWithAndWithoutHeaders() throws {
        let root = try makeScratchFolder("csvfolder")
        // Sorted by name: a.csv (header, CRLF, no final newline), b.csv (no header, blank line).
        try writeText("x, y ,\"z\"\r\n1,2,3\r\n4,5,6", "a.csv", in: root)
        try writeText("7,8,9\n\n10,11,12\n13,14,15\n", "b.csv", in: root)
        try writeText("not a csv", "notes.txt", in: root)
        let set = try SequenceSource.load(root)
        #expect(set.count == 2 && set.featureNames == ["x", "y", "z"])
        #expect(set.files == ["a.csv", "b.csv"] && set.labels == nil)
        #expect(Array(set.values(of: 0)) == [1, 2, 3, 4, 5, 6])
        #expect(Array(set.values(of: 1)) == [7, 8, 9, 10, 11, 12, 13, 14, 15])

        let bare = try makeScratchFolder("bare")
        try writeText("1.5,-2e1\n3,4\n", "only.csv", in: bare)
        let headerless = try SequenceCSV.loadFolder(bare)
        #expect(headerless.featureNames == ["dim0", "dim1"] && Array(headerless.values(of: 0)) == [1.5, -20, 3, 4])
    }

    @Test func malformedCSVFilesAreRejectedWithFileAndLine() throws {
        let columns = try makeScratchFolder("columns")
        try writeText("1,2,3\n4,5,6\n", "a.csv", in: columns)
        let b = try writeText("1,2\n3,4\n", "b.csv", in: columns)
        expectRejected(b, ["2 columns", "a.csv (the first file) has 3"]) { try SequenceCSV.loadFolder(columns) }

        let cells = try makeScratchFolder("cells")
        let bad = try writeText("t,v\n1,2\n3,abc\n", "bad.csv", in: cells)
        expectRejected(bad, ["line 3", "column 2 ('v')", "'abc'"]) { try SequenceCSV.loadFolder(cells) }

        let gaps = try makeScratchFolder("gaps")
        let gap = try writeText("1,2\n3,\n", "gap.csv", in: gaps)
        expectRejected(gap, ["line 2", "column 2 is empty"]) { try SequenceCSV.loadFolder(gaps) }

        let ragged = try makeScratchFolder("ragged")
        let row = try writeText("1,2\n3,4,5\n", "row.csv", in: ragged)
        expectRejected(row, ["line 2", "3 fields, expected 2"]) { try SequenceCSV.loadFolder(ragged) }

        let empties = try makeScratchFolder("emptycsv")
        let empty = try writeText("\n\n", "empty.csv", in: empties)
        expectRejected(empty, ["file is empty"]) { try SequenceCSV.loadFolder(empties) }

        let mixed = try makeScratchFolder("mixed")
        let typo = try writeText("1,2o\n3,4\n", "typo.csv", in: mixed)
        expectRejected(typo, ["line 1", "mixes names and numbers"]) { try SequenceCSV.loadFolder(mixed) }

        let headers = try makeScratchFolder("headers")
        try writeText("a,b\n1,2\n", "1.csv", in: headers)
        let other = try writeText("a,c\n1,2\n", "2.csv", in: headers)
        expectRejected(other, ["header a,c differs"]) { try SequenceCSV.loadFolder(headers) }

        let nothing = try makeScratchFolder("nocsv")
        expectRejected(nothing, ["no CSV files"]) { try SequenceCSV.loadFolder(nothing) }

        // One CSV without a sequence-id column: an error that says what to pass.
        let single = try writeText("t,v\n1,2\n", "single.csv", in: cells)
        expectRejected(single, ["--sequence-id"]) { try SequenceSource.load(single) }
        expectRejected(single, ["no column 'id'", "columns are t, v"]) { try SequenceSource.load(single, idColumn: "id") }
    }

    @Test func idColumnGroupsRowsInOrderOfFirstAppearance() throws {
        let root = try makeScratchFolder("ids")
        let path = try writeText("""
            x,id,label,y
            1,s2,cat,10
            2,s1,dog,20
            3,s2,cat,30
            4,s10,2,40
            5,"s1",dog,50
            6,s2,cat,60
            """, "long.csv", in: root)
        let set = try SequenceSource.load(path, idColumn: "id", labelColumn: "label")
        #expect(set.count == 3 && set.featureNames == ["x", "y"])
        #expect((0..<3).map(set.length(of:)) == [3, 2, 1])
        #expect(Array(set.values(of: 0)) == [1, 10, 3, 30, 6, 60])
        #expect(Array(set.values(of: 1)) == [2, 20, 5, 50])
        #expect(Array(set.values(of: 2)) == [4, 40])
        #expect(set.classNames == ["2", "cat", "dog"] && set.labels == [1, 2, 0])
        // Without labelColumn the label text is a feature, and not a number.
        expectRejected(path, ["line 2", "column 3 ('label') is 'cat'"]) { try SequenceCSV.load(path, idColumn: "id") }

        let numeric = try writeText("id,label,v\n1,10,0.5\n1,10,1.5\n2,2,3\n", "numeric.csv", in: root)
        #expect(try SequenceCSV.load(numeric, idColumn: "id", labelColumn: "label").classNames == ["2", "10"])

        let clash = try writeText("id,label,v\na,x,1\na,y,2\n", "clash.csv", in: root)
        expectRejected(clash, ["line 3", "sequence 'a' has label 'y'", "'x' on line 2"]) {
            try SequenceCSV.load(clash, idColumn: "id", labelColumn: "label")
        }
    }

    @Test func standardizationRoundTripsAndNormalizes() throws {
        let train = try TSFile.load(vowelsTrain)
        let fitted = Standardization(fitting: train)
        #expect(fitted.features == 12 && fitted.std.allSatisfy { $0 > 0 })
        // Mean and std of the standardized training values, per feature, over valid steps only.
        var sum = [Double](repeating: 0, count: 12), squares = sum
        let row = UnsafeMutablePointer<Float>.allocate(capacity: train.maxLength * 12)
        defer { row.deallocate() }
        for i in 0..<train.count {
            train.copySequence(i, standardization: fitted, steps: train.maxLength, into: row)
            for s in 0..<train.length(of: i) {
                for f in 0..<12 {
                    sum[f] += Double(row[s * 12 + f])
                    squares[f] += Double(row[s * 12 + f]) * Double(row[s * 12 + f])
                }
            }
            // Padding after the sequence is exactly zero.
            for k in (train.length(of: i) * 12)..<(train.maxLength * 12) where row[k] != 0 {
                Issue.record("sequence \(i): padding value \(row[k]) at \(k)")
                break
            }
            // copySequence and apply agree; invert brings back the raw values.
            let raw = Array(train.values(of: i))
            let standardized = fitted.applied(to: raw)
            #expect(Array(UnsafeBufferPointer(start: row, count: raw.count)) == standardized)
            expectClose(fitted.inverted(standardized), raw, relative: 1e-5, absolute: 1e-5)
        }
        let n = Double(train.totalSteps)
        for f in 0..<12 {
            let mean = sum[f] / n
            #expect(abs(mean) < 1e-4, "feature \(f) mean \(mean)")
            #expect(abs((squares[f] / n - mean * mean).squareRoot() - 1) < 1e-4, "feature \(f)")
        }

        // Fitting on a subset uses only those sequences; a constant feature gets std 1.
        let set = SequenceSet(source: "literal", featureNames: ["a", "b"], values: [1, 5, 3, 5, 100, 5],
                              lengths: [2, 1])
        let part = Standardization(fitting: set, indices: [0])
        #expect(part.mean == [2, 5] && part.std == [1, 1])
        // Population std of 1, 3, 100: numpy.std([1, 3, 100]) = 46.2049...
        let values: [Double] = [1, 3, 100]
        let mean = values.reduce(0, +) / 3
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 3
        expectClose(Standardization(fitting: set).std[0], Float(variance.squareRoot()))
        let json = try JSONEncoder().encode(part)
        #expect(try JSONDecoder().decode(Standardization.self, from: json) == part)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Standardization.self, from: Data(#"{"mean":[0],"std":[0]}"#.utf8))
        }
    }

    @Test func copySequenceWithoutStandardizationAndSubset() throws {
        let set = SequenceSet(source: "literal", featureNames: ["a"], values: [1, 2, 3, 4, 5, 6],
                              lengths: [1, 2, 3], labels: [0, 1, 0], classNames: ["p", "q"])
        var row = [Float](repeating: -1, count: 4)
        row.withUnsafeMutableBufferPointer { set.copySequence(1, standardization: nil, steps: 4, into: $0.baseAddress!) }
        #expect(row == [2, 3, 0, 0])
        let sub = set.subset([2, 0])
        #expect(sub.count == 2 && Array(sub.values(of: 0)) == [4, 5, 6] && Array(sub.values(of: 1)) == [1])
        #expect(sub.labels == [0, 0] && sub.classNames == ["p", "q"] && sub.maxLength == 3)
    }
}
