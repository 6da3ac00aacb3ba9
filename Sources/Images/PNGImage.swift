// An image as its PNG holds it: width, height, channel layout and 8- or 16-bit samples.
// Samples are the values stored in the file (no gamma transform), alpha straight (unassociated).

/// Channel layout of a decoded or to-be-written PNG.
public enum PixelLayout: Int, Sendable, CaseIterable, CustomStringConvertible {
    case gray = 1, grayAlpha = 2, rgb = 3, rgba = 4

    public var channels: Int { rawValue }
    public var hasAlpha: Bool { self == .grayAlpha || self == .rgba }
    public var isColor: Bool { self == .rgb || self == .rgba }

    public init(color: Bool, alpha: Bool) {
        switch (color, alpha) {
        case (false, false): self = .gray
        case (false, true): self = .grayAlpha
        case (true, false): self = .rgb
        case (true, true): self = .rgba
        }
    }

    public var description: String {
        switch self {
        case .gray: "gray"
        case .grayAlpha: "gray+alpha"
        case .rgb: "RGB"
        case .rgba: "RGBA"
        }
    }
}

/// The IHDR facts of a PNG file, as stored (before any expansion).
public struct PNGHeader: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// 1, 2, 4, 8 or 16.
    public var bitDepth: Int
    /// PNG color type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
    public var colorType: Int
    public var interlaced: Bool

    public init(width: Int, height: Int, bitDepth: Int, colorType: Int, interlaced: Bool) {
        self.width = width
        self.height = height
        self.bitDepth = bitDepth
        self.colorType = colorType
        self.interlaced = interlaced
    }

    public var colorTypeName: String {
        switch colorType {
        case 0: "gray"
        case 2: "RGB"
        case 3: "palette"
        case 4: "gray+alpha"
        case 6: "RGBA"
        default: "color type \(colorType)"
        }
    }
}

/// Decoded pixels: row-major, channels interleaved, `height * width * layout.channels` samples.
///
/// `bitDepth` is 8 (samples 0...255) or 16 (samples 0...65535). Palette and 1/2/4-bit files are
/// expanded to 8 bits with full-range scaling (a 2-bit 1 becomes 85). Alpha is straight.
public struct PNGImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var layout: PixelLayout
    public var bitDepth: Int
    public var samples: [UInt16]
    /// The file's header when the image was decoded from a file.
    public var header: PNGHeader?

    public init(width: Int, height: Int, layout: PixelLayout, bitDepth: Int, samples: [UInt16],
                header: PNGHeader? = nil) {
        precondition(bitDepth == 8 || bitDepth == 16, "bit depth must be 8 or 16, got \(bitDepth)")
        precondition(width > 0 && height > 0, "image size must be positive, got \(width)x\(height)")
        precondition(samples.count == width * height * layout.channels,
                     "expected \(width * height * layout.channels) samples, got \(samples.count)")
        self.width = width
        self.height = height
        self.layout = layout
        self.bitDepth = bitDepth
        self.samples = samples
        self.header = header
    }

    public var maxValue: Float { bitDepth == 16 ? 65535 : 255 }

    /// Builds an image from floats in [0, 1] (clamped, rounded to nearest).
    public init(width: Int, height: Int, layout: PixelLayout, bitDepth: Int, values: [Float]) {
        let scale: Float = bitDepth == 16 ? 65535 : 255
        let samples = values.map { UInt16((min(max($0, 0), 1) * scale).rounded()) }
        self.init(width: width, height: height, layout: layout, bitDepth: bitDepth, samples: samples)
    }
}
