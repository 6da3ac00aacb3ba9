// PNG folders: recursive discovery, labels from subfolders, gray/RGB conversion with alpha
// composited on the background, resize/crop, and clear errors for bad, empty or mixed folders.

import Datasets
import Files
import Foundation
import Images
import Testing
import TestSupport

let pngSuite = repositoryRoot + "/Tests/ImagesTests/Fixtures/pngsuite"

func copySuite(_ names: [String], to folder: String) throws {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    for name in names {
        try FileManager.default.copyItem(atPath: pngSuite + "/" + name, toPath: folder + "/" + name)
    }
}

@Suite struct PNGFolderTests {
    @Test func labelsFromSubfoldersAndAutoChannels() throws {
        let root = try makeScratchFolder("classes")
        try copySuite(["basn0g08.png", "basn0g16.png"], to: root + "/gray")
        try copySuite(["basn2c08.png"], to: root + "/color")
        try writeFile(root + "/color/notes.txt", Array("ignored".utf8))
        let (dataset, skipped) = try PNGFolder.load(root)
        #expect(skipped.isEmpty)
        #expect(dataset.count == 3)
        #expect(dataset.channels == 3)
        #expect(dataset.bitDepth == 16)
        #expect(dataset.classNames == ["color", "gray"])
        #expect(dataset.files == ["color/basn2c08.png", "gray/basn0g08.png", "gray/basn0g16.png"])
        #expect(dataset.labels == [0, 1, 1])
        #expect(dataset.fixedShape == ImageShape(channels: 3, height: 32, width: 32))
    }

    @Test func grayConversionAndAlphaCompositing() throws {
        let root = try makeScratchFolder("alpha")
        try copySuite(["basn6a08.png"], to: root)
        let image = try PNGCodec.read(path: root + "/basn6a08.png")
        for background: Float in [0, 1] {
            let (dataset, _) = try PNGFolder.load(root, options: PNGFolderOptions(channels: 1, background: background))
            var row = [Float](repeating: 0, count: 32 * 32)
            row.withUnsafeMutableBufferPointer { dataset.copySample(0, into: $0.baseAddress!) }
            for p in [0, 17, 500, 1023] {
                let s = image.samples[(p * 4)..<(p * 4 + 4)].map { Float($0) / 255 }
                let a = s[3]
                let luma = 0.299 * s[0] + 0.587 * s[1] + 0.114 * s[2]
                let expected = ((luma * a + (1 - a) * background) * 255).rounded() / 255
                expectClose(row[p], expected, relative: 0, absolute: 1.0 / 255 + 1e-6, "pixel \(p)")
            }
        }
    }

    @Test func sixteenBitAlphaCompositesLikeEightBit() throws {
        let root = try makeScratchFolder("alpha16")
        try copySuite(["basn4a16.png"], to: root)
        let (dataset, _) = try PNGFolder.load(root, options: PNGFolderOptions(channels: 1, background: 0.5))
        let image = try PNGCodec.read(path: root + "/basn4a16.png")
        var row = [Float](repeating: 0, count: 32 * 32)
        row.withUnsafeMutableBufferPointer { dataset.copySample(0, into: $0.baseAddress!) }
        for p in stride(from: 0, to: 1024, by: 97) {
            let gray = Float(image.samples[2 * p]) / 65535
            let a = Float(image.samples[2 * p + 1]) / 65535
            expectClose(row[p], gray * a + (1 - a) * 0.5, relative: 0, absolute: 2e-5)
        }
    }

    @Test func mixedSizesNeedResizeOrCrop() throws {
        let root = try makeScratchFolder("mixed")
        try copySuite(["basn2c08.png", "cdfn2c08.png"], to: root)  // 32x32 and 8x32
        do {
            _ = try PNGFolder.load(root)
            Issue.record("mixed sizes accepted")
        } catch let error as InputError {
            #expect(error.kind == .mixedSizes)
            #expect(error.description.contains("cdfn2c08.png is 8x32"))
            #expect(error.description.contains("--resize"))
        }
        let resized = try PNGFolder.load(root, options: PNGFolderOptions(resize: (16, 16))).dataset
        #expect(resized.fixedShape == ImageShape(channels: 3, height: 16, width: 16))
        let cropped = try PNGFolder.load(root, options: PNGFolderOptions(crop: (8, 8))).dataset
        #expect(cropped.fixedShape == ImageShape(channels: 3, height: 8, width: 8))
        do {
            _ = try PNGFolder.load(root, options: PNGFolderOptions(crop: (16, 16)))
            Issue.record("crop larger than an image accepted")
        } catch let error as InputError {
            #expect(error.kind == .tooSmall && error.description.contains("cdfn2c08.png"))
        }
        let native = try PNGFolder.load(root, options: PNGFolderOptions(allowMixedSizes: true)).dataset
        #expect(native.fixedShape == nil && native.minimumSize == (height: 32, width: 8))
    }

    @Test func badFileIsAnErrorOrSkipped() throws {
        let root = try makeScratchFolder("badpng")
        try copySuite(["basn0g08.png", "xcsn0g01.png", "xd3n2c08.png"], to: root)
        do {
            _ = try PNGFolder.load(root)
            Issue.record("bad PNG accepted")
        } catch let error as InputError {
            #expect(error.description.contains("xcsn0g01.png"))
        }
        let (dataset, skipped) = try PNGFolder.load(root, options: PNGFolderOptions(skipBad: true))
        #expect(dataset.count == 1)
        #expect(skipped.map { ($0.path as NSString).lastPathComponent } == ["xcsn0g01.png", "xd3n2c08.png"])
    }

    @Test func emptyFolderIsAnError() throws {
        let root = try makeScratchFolder("empty")
        try writeFile(root + "/readme.txt", Array("no images".utf8))
        #expect(throws: InputError(.empty, path: root, "no PNG files in this folder or below it")) {
            try PNGFolder.load(root)
        }
    }

    @Test func everyValidSuiteImageLoadsAsOneFolder() throws {
        let root = try makeScratchFolder("suite")
        let names = try FileManager.default.contentsOfDirectory(atPath: pngSuite)
            .filter { $0.hasSuffix(".png") && !$0.hasPrefix("x") }
        try copySuite(names, to: root)
        let (dataset, _) = try PNGFolder.load(root, options: PNGFolderOptions(resize: (24, 24)))
        #expect(dataset.count == names.count)
        let stats = dataset.pixelStatistics()
        #expect(stats.mean > 0.05 && stats.mean < 0.95)
    }

    @Test func scanningEachFileFindsWhatLoadingTheFolderFinds() throws {
        // The whole suite, the files libpng rejects too: the same statistics, transparency and failures.
        let root = try makeScratchFolder("scan")
        let names = try FileManager.default.contentsOfDirectory(atPath: pngSuite).filter { $0.hasSuffix(".png") }
        try copySuite(names, to: root)
        for options in [PNGFolderOptions(channels: 3, resize: (24, 24), skipBad: true),
                        PNGFolderOptions(channels: 1, resize: (40, 30), resizeFilter: .bilinear, crop: (32, 20), skipBad: true)] {
            let (dataset, skipped) = try PNGFolder.load(root, options: options)
            let index = try PNGIndex.build(root, options: options)
            let scan = PNGFolder.scan(index, options: options)
            let stats = Dataset.statistics(histogram: scan.histogram, bitDepth: index.bitDepth)
            #expect(stats == dataset.pixelStatistics())
            #expect((index.skipped + scan.failures).map(\.path).sorted() == skipped.map(\.path))
            #expect(scan.decoded.filter { $0 }.count == dataset.count && !skipped.isEmpty)
            #expect(scan.transparentImages == dataset.transparentImages && scan.transparentImages > 0)
        }
    }
}

@Suite struct ResamplingTests {
    func resize(_ values: [Float], _ h: Int, _ w: Int, to nh: Int, _ nw: Int, _ filter: ResizeFilter) throws -> [Float] {
        // Through the public path: a 16-bit gray PNG, resized on load.
        let root = try makeScratchFolder("resize")
        let image = PNGImage(width: w, height: h, layout: .gray, bitDepth: 16, values: values)
        try PNGCodec.write(image, to: root + "/x.png")
        let options = PNGFolderOptions(resize: (nw, nh), resizeFilter: filter)
        let dataset = try PNGFolder.load(root, options: options).dataset
        var row = [Float](repeating: 0, count: nh * nw)
        row.withUnsafeMutableBufferPointer { dataset.copySample(0, into: $0.baseAddress!) }
        return row
    }

    @Test func areaDownscaleAveragesBlocks() throws {
        let input: [Float] = [0.0, 0.2, 0.4, 0.6,
                              0.2, 0.2, 0.4, 0.4,
                              1.0, 1.0, 0.0, 0.0,
                              1.0, 0.6, 0.0, 0.8]
        let out = try resize(input, 4, 4, to: 2, 2, .area)
        expectClose(out, [0.15, 0.45, 0.9, 0.2], relative: 0, absolute: 2e-5)
    }

    @Test func bilinearUpscaleUsesHalfPixelCentres() throws {
        // PyTorch F.interpolate(mode="bilinear", align_corners=False) of [0, 1] to width 4:
        // [0, 0.25, 0.75, 1].
        let out = try resize([0, 1], 1, 2, to: 1, 4, .bilinear)
        expectClose(out, [0, 0.25, 0.75, 1], relative: 0, absolute: 2e-5)
    }
}

@Suite struct PNGMatchesIDXTests {
    @Test func digitsWrittenAsPNGLoadBackIdentically() throws {
        // The same 60 digits through both paths: IDX bytes, and PNG files in label subfolders.
        let (train, _) = try MNIST.loadFolder(bundledMNISTSample)
        let digits = train!
        let root = try makeScratchFolder("digits")
        guard case .bytes(let pixels) = digits.storage else { Issue.record("8-bit expected"); return }
        for i in 0..<60 {
            let samples = pixels[(i * 784)..<((i + 1) * 784)].map(UInt16.init)
            let image = PNGImage(width: 28, height: 28, layout: .gray, bitDepth: 8, samples: samples)
            try PNGCodec.write(image, to: root + "/\(digits.labels![i])/\(String(format: "%03d", i)).png")
        }
        let (folder, _) = try PNGFolder.load(root)
        #expect(folder.count == 60 && folder.channels == 1 && folder.bitDepth == 8)
        var a = [Float](repeating: 0, count: 784), b = a
        for (k, file) in folder.files!.enumerated() {
            let i = Int(file.split(separator: "/")[1].prefix(3))!
            #expect(folder.classNames![Int(folder.labels![k])] == String(digits.labels![i]))
            a.withUnsafeMutableBufferPointer { digits.copySample(i, into: $0.baseAddress!) }
            b.withUnsafeMutableBufferPointer { folder.copySample(k, into: $0.baseAddress!) }
            #expect(a == b, "\(file)")
        }
    }
}
