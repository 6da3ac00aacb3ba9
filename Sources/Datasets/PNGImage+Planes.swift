// A PNG's color channels as planar floats in [0, 1] and back, leaving alpha and the file's
// size, layout and bit depth as they are: what `denoise` and `noise` change in an image.

import Images

extension PNGImage {
    /// Color channels of the image: 3 for RGB(A), 1 for gray (with or without alpha).
    public var colorChannels: Int { layout.isColor ? 3 : 1 }

    /// The color channels as planes (`colorChannels x height x width`) in [0, 1]; alpha left out.
    public var colorPlanes: [Float] {
        let n = width * height, k = layout.channels, colors = colorChannels
        let scale = 1 / maxValue
        var planes = [Float](repeating: 0, count: colors * n)
        for p in 0..<n {
            for c in 0..<colors { planes[c * n + p] = Float(samples[p * k + c]) * scale }
        }
        return planes
    }

    /// The same image with its color channels replaced by `planes` (as `colorPlanes` gives
    /// them), clipped to [0, 1] and rounded to the bit depth; alpha unchanged.
    public func replacingColorPlanes(_ planes: [Float]) -> PNGImage {
        let n = width * height, k = layout.channels, colors = colorChannels
        precondition(planes.count == colors * n, "planes must hold \(colors) x \(height) x \(width) values")
        var out = samples
        let top = maxValue
        for p in 0..<n {
            for c in 0..<colors { out[p * k + c] = UInt16((min(max(planes[c * n + p], 0), 1) * top).rounded()) }
        }
        return PNGImage(width: width, height: height, layout: layout, bitDepth: bitDepth, samples: out)
    }
}

extension Corruption {
    /// A noisy copy of `image`: its color channels corrupted as one sample keyed by (`seed`,
    /// `sampleIndex`) at epoch 0, as `evaluate` keys the images it scores; alpha, size, layout
    /// and bit depth unchanged, values clipped to the PNG's range.
    public func apply(to image: PNGImage, seed: UInt64, sampleIndex: Int) -> PNGImage {
        var planes = image.colorPlanes
        planes.withUnsafeMutableBufferPointer {
            apply(to: $0.baseAddress!, count: $0.count, seed: seed, epoch: 0, sampleIndex: sampleIndex)
        }
        return image.replacingColorPlanes(planes)
    }
}
