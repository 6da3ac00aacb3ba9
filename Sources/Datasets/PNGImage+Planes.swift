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

extension PNGImage {
    /// The image with its color planes passed through `transform`, which takes and returns
    /// `channels` planes: each color channel on its own for a 1-channel transform of a color
    /// image, three equal channels in and their mean out for a 3-channel transform of a gray one.
    public func mappingColorPlanes(channels: Int, _ transform: ([Float]) -> [Float]) -> PNGImage {
        let n = width * height, colors = colorChannels, planes = colorPlanes
        var result: [Float]
        if channels == colors {
            result = transform(planes)
        } else if channels == 1 {
            result = []
            for c in 0..<colors { result += transform(Array(planes[(c * n)..<((c + 1) * n)])) }
        } else {
            let rgb = transform(planes + planes + planes)
            result = (0..<n).map { (rgb[$0] + rgb[n + $0] + rgb[2 * n + $0]) / 3 }
        }
        return replacingColorPlanes(result)
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
