// A PNG folder read header by header: each file's size, color type and bit depth (the first 33
// bytes, checked as the decoder checks them) and its class folder, with no pixel decoded, so
// opening a folder costs time in proportion to its files, not its pixels.

import Dispatch
import Files
import Foundation
import Images

public struct PNGIndex: Sendable {
    /// The folder, and its PNG files relative to it (those kept), sorted.
    public let folder: String
    public let files: [String]
    public let headers: [PNGHeader]
    /// Class of each file (its immediate subfolder, when every file sits in one).
    public let labels: [Int32]?
    public let classNames: [String]?
    /// Files whose header was refused, with `skipBad`.
    public let skipped: [SkippedFile]
    /// Channels of the samples (`options.channels`, else 3 when any file is in color) and their
    /// bit depth (16 when any file has 16 bits), as a decoded dataset has them.
    public let channels: Int
    public let bitDepth: Int
    /// Each file's size as a sample (after `--resize` and `--crop`).
    public let sizes: [(height: Int, width: Int)]

    /// Reads the header of every PNG under `folder` (in parallel).
    /// - Throws: `InputError` for an empty folder, a refused header (unless `skipBad`), an
    ///   image smaller than the crop, mixed sizes where they are not allowed, or samples that
    ///   would not fit in memory.
    public static func build(_ folder: String, options: PNGFolderOptions = PNGFolderOptions()) throws -> PNGIndex {
        try build(folder, options: options, keepingFailures: options.skipBad)
    }

    /// `keepingFailures`: refused headers are listed in `skipped` (in file order) instead of
    /// thrown, and an index of no files is returned when every header is refused.
    static func build(_ folder: String, options: PNGFolderOptions, keepingFailures: Bool) throws -> PNGIndex {
        let listed = PNGFolder.listFiles(in: folder)
        guard !listed.isEmpty else {
            throw InputError(.empty, path: folder, "no PNG files in this folder or below it")
        }
        let read = ParallelSlots<Result<PNGHeader, InputError>>(count: listed.count)
        DispatchQueue.concurrentPerform(iterations: listed.count) { i in
            let path = (folder as NSString).appendingPathComponent(listed[i])
            do {
                read[i] = .success(try PNGCodec.readHeader(path: path, maxPixels: options.maxPixels))
            } catch let error as InputError {
                read[i] = .failure(error)
            } catch {
                read[i] = .failure(InputError(.corrupt, path: path, "\(error)"))
            }
        }
        var files: [String] = [], headers: [PNGHeader] = [], skipped: [SkippedFile] = []
        for (i, result) in read.values.enumerated() {
            switch result! {
            case .success(let header):
                files.append(listed[i])
                headers.append(header)
            case .failure(let error):
                guard keepingFailures else {
                    throw InputError(.corrupt, path: error.path, error.reason + PNGFolder.skipBadHint)
                }
                skipped.append(SkippedFile(path: error.path, reason: error.reason))
            }
        }
        guard !files.isEmpty || (keepingFailures && !options.skipBad) else {
            throw InputError(.empty, path: folder, "all \(listed.count) PNG files were rejected")
        }
        // Color types 2, 3 (palette) and 6 carry color; libpng decodes them to RGB(A).
        let channels = options.channels ?? (headers.contains { $0.colorType & 2 != 0 } ? 3 : 1)
        let bitDepth = headers.contains { $0.bitDepth == 16 } ? 16 : 8
        var sizes: [(height: Int, width: Int)] = []
        for (i, header) in headers.enumerated() {
            var size = (height: header.height, width: header.width)
            if let resize = options.resize { size = (resize.height, resize.width) }
            if let crop = options.crop {
                guard crop.width <= size.width && crop.height <= size.height else {
                    throw InputError(.tooSmall, path: (folder as NSString).appendingPathComponent(files[i]),
                                     "image is \(size.width)x\(size.height), smaller than crop "
                                     + "\(crop.width)x\(crop.height)")
                }
                size = (crop.height, crop.width)
            }
            sizes.append(size)
        }
        if !options.allowMixedSizes, let other = sizes.firstIndex(where: { $0 != sizes[0] }) {
            throw InputError(.mixedSizes, path: folder, "mixed sizes: \(files[0]) is "
                + "\(sizes[0].width)x\(sizes[0].height), \(files[other]) is "
                + "\(sizes[other].width)x\(sizes[other].height); pass --resize WxH or --crop WxH")
        }
        // One sample must fit however the folder is read (whole or streamed): with its decoder's
        // float copies.
        if let largest = sizes.indices.max(by: { sizes[$0].height * sizes[$0].width < sizes[$1].height * sizes[$1].width }) {
            let bytes = Double(channels * sizes[largest].height * sizes[largest].width) * Double(8 + bitDepth / 8)
            let available = Double(ProcessInfo.processInfo.physicalMemory) * 0.75
            guard bytes <= available else {
                throw InputError(.absurdSize, path: (folder as NSString).appendingPathComponent(files[largest]),
                                 String(format: "one image at this size needs %.1f GB, more than the %.1f GB this "
                                 + "machine can give (choose a smaller --resize or --crop)", bytes / 1e9, available / 1e9))
            }
        }
        let classes = try PNGFolder.classLabels(files, folder: folder, options: options)
        return PNGIndex(folder: folder, files: files, headers: headers, labels: classes?.labels,
                        classNames: classes?.names, skipped: skipped, channels: channels, bitDepth: bitDepth,
                        sizes: sizes)
    }

    /// The files `kept` (indices into `files`) as an index of their own (no skipped files).
    public func subset(_ kept: [Int]) -> PNGIndex {
        PNGIndex(folder: folder, files: kept.map { files[$0] }, headers: kept.map { headers[$0] },
                 labels: labels.map { l in kept.map { l[$0] } }, classNames: classNames, skipped: [],
                 channels: channels, bitDepth: bitDepth, sizes: kept.map { sizes[$0] })
    }

    /// The full path of file `i`.
    public func path(of i: Int) -> String { (folder as NSString).appendingPathComponent(files[i]) }

    /// Bytes of file `i`'s decoded sample.
    public func sampleBytes(_ i: Int) -> Int { channels * sizes[i].height * sizes[i].width * (bitDepth / 8) }

    /// Bytes of all decoded samples.
    public var totalSampleBytes: Int { files.indices.reduce(0) { $0 + sampleBytes($1) } }

    /// Refuses a folder whose decoded samples (and each parallel decoder's float copies) would not
    /// fit in memory, for loading it whole.
    /// - Throws: `InputError` with the sizes.
    public func checkFitsInMemory() throws {
        let largest = Double(sizes.map { channels * $0.height * $0.width }.max() ?? 0)
        let converting = Double(min(ProcessInfo.processInfo.activeProcessorCount, files.count))
        let bytes = Double(totalSampleBytes) + largest * 8 * converting
        let available = Double(ProcessInfo.processInfo.physicalMemory) * 0.75
        guard bytes <= available else {
            throw InputError(.absurdSize, path: folder, String(format: "%d images at this size need %.1f GB, more "
                + "than the %.1f GB this machine can give (choose a smaller --resize or --crop, or train with "
                + "--cache-memory, which streams the folder)", files.count, bytes / 1e9, available / 1e9))
        }
    }

    /// The size every sample has, or nil when they differ.
    public var fixedSize: (height: Int, width: Int)? {
        sizes.allSatisfy { $0 == sizes[0] } ? sizes[0] : nil
    }

    /// The smallest and largest sample height and width.
    public var sizeRange: (smallest: (height: Int, width: Int), largest: (height: Int, width: Int)) {
        ((sizes.map(\.height).min()!, sizes.map(\.width).min()!), (sizes.map(\.height).max()!, sizes.map(\.width).max()!))
    }

    /// Files per class, indexed by label (empty without labels).
    public func labelHistogram() -> [Int] {
        guard let labels, let classNames else { return [] }
        var counts = [Int](repeating: 0, count: classNames.count)
        for label in labels { counts[Int(label)] += 1 }
        return counts
    }
}

extension DataSource {
    /// The header index of a PNG folder's splits (train/ and test/ or val/ folders, or the folder
    /// itself); nil when `path` is not a PNG folder (IDX files or folders, a missing path).
    /// - Throws: `InputError` as `PNGIndex.build` and `load` do.
    public static func index(_ path: String, options: PNGFolderOptions = PNGFolderOptions()) throws
        -> (path: String, train: PNGIndex, test: PNGIndex?)? {
        let resolved = resolve(path)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isFolder), isFolder.boolValue,
              !MNIST.isIDXFolder(resolved) else { return nil }
        if let splits = try splitFolders(resolved) {
            let train = try PNGIndex.build(splits.train, options: options)
            var testOptions = options
            testOptions.classNames = train.classNames
            let test = try splits.test.map { try PNGIndex.build($0, options: testOptions) }
            return (resolved, train, test)
        }
        return (resolved, try PNGIndex.build(resolved, options: options), nil)
    }
}
