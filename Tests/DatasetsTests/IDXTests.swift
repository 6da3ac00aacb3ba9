// IDX reading: the bundled sample parses with the right counts and labels; crafted bad files
// throw the right error naming the file.

import Datasets
import Files
import Foundation
import Testing
import TestSupport

/// An IDX header + body.
func idx(magic: UInt32, sizes: [UInt32], body: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = []
    for value in [magic] + sizes {
        bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
    return bytes + body
}

func gzip(_ bytes: [UInt8], folder: String) throws -> [UInt8] {
    let path = folder + "/gz-\(UUID().uuidString)"
    try writeFile(path, bytes)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/gzip")
    process.arguments = ["-n", "-f", path]
    try process.run()
    process.waitUntilExit()
    return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + ".gz")))
}

@Suite struct IDXTests {
    @Test func bundledSampleHasExpectedCountsAndLabels() throws {
        let (train, test) = try MNIST.loadFolder(bundledMNISTSample)
        #expect(train?.count == 5000)
        #expect(test?.count == 1000)
        #expect(train?.fixedShape == ImageShape(channels: 1, height: 28, width: 28))
        #expect(Array(train!.labels!.prefix(10)) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
        #expect(Array(test!.labels!.prefix(10)) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
        #expect(train!.labelHistogram() == [479, 563, 488, 493, 535, 434, 501, 550, 462, 495])
        let stats = train!.pixelStatistics()
        #expect(abs(stats.mean - 0.1302) < 1e-3)
    }

    /// Files reached through symbolic links are read (their size once came from the link itself,
    /// and a 60,000-image file was refused as "50 bytes compressed").
    @Test func symlinkedFilesLoad() throws {
        let folder = try makeScratchFolder("idxlinks")
        for name in try FileManager.default.contentsOfDirectory(atPath: bundledMNISTSample) where name.contains("idx") {
            try FileManager.default.createSymbolicLink(atPath: folder + "/" + name, withDestinationPath: bundledMNISTSample + "/" + name)
        }
        let (train, test) = try MNIST.loadFolder(folder)
        #expect(train?.count == 5000 && test?.count == 1000)
    }

    @Test func rawAndGzipGiveTheSameBytes() throws {
        let folder = try makeScratchFolder("idx")
        let body = (0..<(3 * 4 * 5)).map { UInt8($0 * 3 % 256) }
        let raw = idx(magic: 0x803, sizes: [3, 4, 5], body: body)
        try writeFile(folder + "/raw", raw)
        try writeFile(folder + "/packed.gz", try gzip(raw, folder: folder))
        let a = try IDXFile.read(path: folder + "/raw")
        let b = try IDXFile.read(path: folder + "/packed.gz")
        #expect(a.kind == .images(count: 3, rows: 4, columns: 5))
        #expect(b.kind == a.kind)
        #expect(a.bytes == body && b.bytes == body)
    }

    static let badFiles: [(String, [UInt8], InputError.Kind)] = [
        ("bad magic", idx(magic: 0x0000_0903, sizes: [1, 2, 2], body: [0, 0, 0, 0]), .badMagic),
        ("float type", idx(magic: 0x0000_0D03, sizes: [1, 2, 2], body: [0, 0, 0, 0]), .badMagic),
        ("two dimensions", idx(magic: 0x0000_0802, sizes: [1, 4], body: [0, 0, 0, 0]), .badMagic),
        ("truncated body", idx(magic: 0x803, sizes: [2, 2, 2], body: [1, 2, 3]), .truncated),
        ("truncated header", [0, 0, 8, 3, 0, 0], .truncated),
        ("trailing bytes", idx(magic: 0x801, sizes: [2], body: [1, 2, 3]), .trailingData),
        ("2^31 images", idx(magic: 0x803, sizes: [1 << 31, 28, 28], body: [0]), .absurdSize),
        ("zero-size image", idx(magic: 0x803, sizes: [1, 0, 28], body: []), .badHeader),
    ]

    @Test(arguments: 0..<badFiles.count)
    func badFileThrowsTheRightError(index: Int) throws {
        let (name, bytes, kind) = Self.badFiles[index]
        let folder = try makeScratchFolder("bad")
        for compressed in [false, true] {
            let path = folder + (compressed ? "/file.gz" : "/file")
            try writeFile(path, compressed ? try gzip(bytes, folder: folder) : bytes)
            do {
                _ = try IDXFile.read(path: path)
                Issue.record("\(name) (gzip: \(compressed)) was accepted")
            } catch let error as InputError {
                #expect(error.kind == kind, "\(name) (gzip: \(compressed)): \(error)")
                #expect(error.description.hasPrefix(path), "error names the file: \(error)")
            }
        }
    }

    @Test func corruptGzipIsRejected() throws {
        let folder = try makeScratchFolder("corrupt")
        var packed = try gzip(idx(magic: 0x803, sizes: [10, 28, 28], body: (0..<7840).map { UInt8($0 % 7) }),
                              folder: folder)
        for i in 20..<min(60, packed.count - 8) { packed[i] ^= 0x5A }
        try writeFile(folder + "/x.gz", packed)
        #expect(throws: InputError.self) { try IDXFile.read(path: folder + "/x.gz") }
        try writeFile(folder + "/y.gz", Array(packed.prefix(packed.count / 2)))
        #expect(throws: InputError.self) { try IDXFile.read(path: folder + "/y.gz") }
    }

    @Test func countMismatchBetweenImagesAndLabels() throws {
        let folder = try makeScratchFolder("mismatch")
        try writeFile(folder + "/train-images-idx3-ubyte", idx(magic: 0x803, sizes: [3, 2, 2], body: [UInt8](repeating: 9, count: 12)))
        try writeFile(folder + "/train-labels-idx1-ubyte", idx(magic: 0x801, sizes: [2], body: [1, 2]))
        do {
            _ = try DataSource.load(folder)
            Issue.record("count mismatch accepted")
        } catch let error as InputError {
            #expect(error.kind == .countMismatch)
            #expect(error.description.contains("train-labels-idx1-ubyte"))
            #expect(error.description.contains("2 labels") && error.description.contains("3 images"))
        }
    }

    @Test func folderOfRawFilesAndSingleFileAreRead() throws {
        let folder = try makeScratchFolder("folder")
        let images = idx(magic: 0x803, sizes: [2, 1, 3], body: [0, 1, 2, 3, 4, 255])
        try writeFile(folder + "/t10k-images-idx3-ubyte", images)
        try writeFile(folder + "/t10k-labels-idx1-ubyte", idx(magic: 0x801, sizes: [2], body: [7, 3]))
        let source = try DataSource.load(folder)
        #expect(source.kind == .idxFolder)
        #expect(source.train.count == 2 && source.train.labels == [7, 3])
        let single = try DataSource.load(folder + "/t10k-images-idx3-ubyte")
        #expect(single.kind == .idxFile && single.train.labels == [7, 3])
        var row = [Float](repeating: -1, count: 3)
        row.withUnsafeMutableBufferPointer { single.train.copySample(1, into: $0.baseAddress!) }
        expectClose(row, [3 / 255, 4 / 255, 1])
        #expect(throws: InputError.self) {
            try DataSource.load(folder + "/t10k-labels-idx1-ubyte")
        }
    }

    @Test func missingPathIsAClearError() {
        do {
            _ = try DataSource.load("/nonexistent/folder")
            Issue.record("missing path accepted")
        } catch let error as InputError {
            #expect(error.kind == .notFound)
            #expect(error.description.hasPrefix("/nonexistent/folder"))
        } catch {
            Issue.record("\(error)")
        }
    }
}
