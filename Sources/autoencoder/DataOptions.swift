// Options shared by every command that reads data.

import ArgumentParser
import Datasets
import Foundation

/// `WxH`, e.g. `64x48` (width 64, height 48).
struct PixelSize: ExpressibleByArgument, Equatable {
    var width: Int
    var height: Int

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// `WxH`, or `N` for N x N (as `train --patch N` takes it).
    init?(argument: String) {
        let parts = argument.lowercased().split(separator: "x")
        if parts.count == 1, let n = Int(parts[0]), n > 0 {
            self.init(width: n, height: n)
            return
        }
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0 else {
            return nil
        }
        self.init(width: w, height: h)
    }
}

extension ResizeFilter: ExpressibleByArgument {}

/// A memory size: bytes, or a number with K, M, G or T (powers of 1024), e.g. `2G`, `1.5G`, `512M`.
struct ByteSize: ExpressibleByArgument, Equatable {
    var bytes: Int

    init?(argument: String) {
        let text = argument.uppercased().replacingOccurrences(of: "IB", with: "").replacingOccurrences(of: "B", with: "")
        let units: [Character: Double] = ["K": 1024, "M": 1_048_576, "G": 1_073_741_824, "T": 1_099_511_627_776]
        var number = Substring(text), scale = 1.0
        if let last = text.last, let unit = units[last] {
            number = text.dropLast()
            scale = unit
        }
        guard let value = Double(number), value > 0, value * scale < 1e18 else { return nil }
        bytes = Int(value * scale)
    }
}

struct DataOptions: ParsableArguments {
    @Option(name: .customLong("data"), help: ArgumentHelp("Data: IDX folder, IDX images file, PNG folder, sequence "
        + "files (lstm/gru: a folder of CSV files, a CSV with --sequence-id, a UEA .ts file), or a bundled name "
        + "(default mnist-sample).",
                               valueName: "path"))
    var dataPath: String?

    /// The data to read (default: the bundled MNIST sample).
    var data: String { dataPath ?? "mnist-sample" }

    @Option(help: "PNG folders: 1 (gray) or 3 (RGB); default 3 if any image is in color.")
    var channels: Int?

    @Option(name: .customLong("background"),
            help: "PNG folders: gray level in [0, 1] that transparent pixels are composited on (default 0).")
    var backgroundLevel: Float?

    var background: Float { backgroundLevel ?? 0 }

    @Option(help: ArgumentHelp("PNG folders: resize every image to WxH.", valueName: "WxH"))
    var resize: PixelSize?

    @Option(name: .customLong("resize-filter"), help: "PNG folders: resize filter (area or bilinear; default area).")
    var resizeFilterChoice: ResizeFilter?

    var resizeFilter: ResizeFilter { resizeFilterChoice ?? .area }

    @Option(help: ArgumentHelp("PNG folders: centre-crop every image (after --resize) to WxH.",
                               valueName: "WxH"))
    var crop: PixelSize?

    @Flag(help: "PNG folders: skip files libpng rejects (listed) instead of stopping.")
    var skipBad = false

    @Option(parsing: .unconditional, help: ArgumentHelp("PNG files: the most pixels an image may declare "
        + "(default 100000000, i.e. 10000x10000); larger headers are refused before any memory is taken.",
        valueName: "N"))
    var maxPixels: Int?

    @Option(help: ArgumentHelp("Sequences in one CSV file: the column holding each row's sequence id.",
                               valueName: "column"))
    var sequenceID: String?

    @Option(help: ArgumentHelp("Sequences in one CSV file: an optional column holding the class label.",
                               valueName: "column"))
    var sequenceLabel: String?

    func validate() throws {
        if let channels, channels != 1 && channels != 3 {
            throw ValidationError("--channels must be 1 or 3, got \(channels)")
        }
        if let maxPixels, maxPixels <= 0 { throw ValidationError("--max-pixels must be positive") }
        if let backgroundLevel, !(0...1).contains(backgroundLevel) {
            throw ValidationError("--background must be in [0, 1], got \(backgroundLevel)")
        }
    }

    func folderOptions(allowMixedSizes: Bool = false) -> PNGFolderOptions {
        PNGFolderOptions(channels: channels, background: background,
                         resize: resize.map { ($0.width, $0.height) }, resizeFilter: resizeFilter,
                         crop: crop.map { ($0.width, $0.height) }, allowMixedSizes: allowMixedSizes,
                         skipBad: skipBad).withMaxPixels(maxPixels)
    }

    /// Loads image data, turning library errors into a one-line message and exit code 1.
    /// `sequencesHint`: what to say when the path holds sequence files instead.
    func load(allowMixedSizes: Bool = false, sequencesHint: String? = nil) throws -> DataSource {
        if let sequencesHint, SequenceSource.looksLikeSequences(data) {
            throw CommandFailure(message: "\(data): sequence files; \(sequencesHint)")
        }
        let source = try DataSource.load(data, options: folderOptions(allowMixedSizes: allowMixedSizes))
        if backgroundLevel == nil, let warning = source.transparencyWarning(background: background) {
            FileHandle.standardError.write(Data(("warning: " + warning + "\n").utf8))
        }
        return source
    }
}

/// A failure reported as one line on standard error, exit code 1.
struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// A usage error told in one line (no usage block), with the parser's usage status 64.
func usageFailure(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
    return ExitCode.validationFailure
}
