// Resizing of planar float images: area averaging (exact pixel-overlap weights, the right filter
// for downscaling) and bilinear with half-pixel centres (PyTorch `align_corners=False`).

/// How `--resize` resamples.
public enum ResizeFilter: String, Sendable, CaseIterable {
    case area, bilinear
}

enum Resampling {
    /// Weights mapping `source` samples to `target` samples along one axis:
    /// for each output index, a list of (input index, weight) summing to 1.
    static func weights(source: Int, target: Int, filter: ResizeFilter) -> [[(Int, Float)]] {
        let scale = Double(source) / Double(target)
        return (0..<target).map { i in
            switch filter {
            case .area:
                let start = Double(i) * scale, end = Double(i + 1) * scale
                var taps: [(Int, Float)] = []
                var j = Int(start)
                while Double(j) < end && j < source {
                    let overlap = min(end, Double(j + 1)) - max(start, Double(j))
                    if overlap > 1e-12 { taps.append((j, Float(overlap / scale))) }
                    j += 1
                }
                return taps
            case .bilinear:
                let centre = (Double(i) + 0.5) * scale - 0.5
                let clamped = min(max(centre, 0), Double(source - 1))
                let j0 = Int(clamped.rounded(.down))
                let j1 = min(j0 + 1, source - 1)
                let t = Float(clamped - Double(j0))
                return j1 == j0 || t == 0 ? [(j0, Float(1))] : [(j0, 1 - t), (j1, t)]
            }
        }
    }

    /// Resizes a (C, H, W) image to (C, `height`, `width`).
    static func resize(_ image: [Float], channels: Int, height: Int, width: Int,
                       toHeight newHeight: Int, toWidth newWidth: Int, filter: ResizeFilter) -> [Float] {
        if height == newHeight && width == newWidth { return image }
        let wx = weights(source: width, target: newWidth, filter: filter)
        let wy = weights(source: height, target: newHeight, filter: filter)
        // Horizontal pass: (C, H, W) -> (C, H, W').
        var horizontal = [Float](repeating: 0, count: channels * height * newWidth)
        for c in 0..<channels {
            for y in 0..<height {
                let inBase = (c * height + y) * width, outBase = (c * height + y) * newWidth
                for x in 0..<newWidth {
                    var sum: Float = 0
                    for (j, w) in wx[x] { sum += w * image[inBase + j] }
                    horizontal[outBase + x] = sum
                }
            }
        }
        // Vertical pass: (C, H, W') -> (C, H', W').
        var out = [Float](repeating: 0, count: channels * newHeight * newWidth)
        for c in 0..<channels {
            for y in 0..<newHeight {
                let outBase = (c * newHeight + y) * newWidth
                for (j, w) in wy[y] {
                    let inBase = (c * height + j) * newWidth
                    for x in 0..<newWidth { out[outBase + x] += w * horizontal[inBase + x] }
                }
            }
        }
        return out
    }

    /// The centred `height` x `width` window of a (C, H, W) image.
    static func centerCrop(_ image: [Float], channels: Int, height: Int, width: Int,
                           toHeight newHeight: Int, toWidth newWidth: Int) -> [Float] {
        let top = (height - newHeight) / 2, left = (width - newWidth) / 2
        var out = [Float]()
        out.reserveCapacity(channels * newHeight * newWidth)
        for c in 0..<channels {
            for y in 0..<newHeight {
                let base = (c * height + top + y) * width + left
                out.append(contentsOf: image[base..<(base + newWidth)])
            }
        }
        return out
    }
}
