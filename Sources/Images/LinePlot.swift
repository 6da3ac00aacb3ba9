// A small line-plot renderer (loss curves per epoch) drawn pixel by pixel into an 8-bit RGB
// PNGImage, so the tool needs no plotting library. Axis ticks follow the "nice numbers" rule
// (1, 2 or 5 times a power of ten; Heckbert, "Nice numbers for graph labels", Graphics Gems
// 1990); lines are Bresenham's algorithm (IBM Systems Journal 4(1), 1965), 2 px thick, no
// anti-aliasing. Text is the 5x9 BitmapFont at scale 2.

import Foundation

/// A line plot of one or more series with a frame, ticks, labels and a legend.
///
/// Non-finite points are skipped (the line joins the finite neighbours); on a log-scale y axis
/// points with `y <= 0` are skipped too. A single point or a constant series gets a padded range.
public struct LinePlot: Sendable {
    public struct Series: Sendable {
        public var label: String
        public var color: (UInt8, UInt8, UInt8)
        public var points: [(x: Double, y: Double)]

        public init(label: String, color: (UInt8, UInt8, UInt8), points: [(x: Double, y: Double)]) {
            self.label = label
            self.color = color
            self.points = points
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var logScaleY: Bool
    public var series: [Series] = []
    /// Whether the legend box is drawn (right of the frame); small panels that share one
    /// legend, as in SequencePlot, leave it out to keep the width for data.
    public var showsLegend = true
    /// Half-width of the square marker at each point; 0 draws the lines only.
    public var markerRadius = 2
    /// False draws the markers alone: a scatter plot.
    public var connectsPoints = true

    public init(title: String, xLabel: String, yLabel: String, logScaleY: Bool = false) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.logScaleY = logScaleY
    }

    /// Appends a series drawn in `color`, listed in the legend as `label`.
    public mutating func add(_ label: String, color: (UInt8, UInt8, UInt8), points: [(x: Double, y: Double)]) {
        series.append(Series(label: label, color: color, points: points))
    }

    // MARK: Geometry

    /// Text scale: glyphs are 10x18 pixels with a 12-pixel advance.
    static let scale = 2
    static let textHeight = BitmapFont.glyphHeight * scale
    static let margin = 10
    static let tickLength = 5
    /// Pixels between the frame and the nearest possible data point, so markers at the ends of
    /// the range are not cut by the frame.
    static let inset = 8
    static let legendRow = textHeight + 6
    static let swatchWidth = 20

    static let black: RGB = (0, 0, 0)
    static let frameColor: RGB = (60, 60, 60)
    static let gridColor: RGB = (228, 228, 228)

    typealias RGB = (UInt8, UInt8, UInt8)

    /// Where everything goes for one image size.
    struct Layout {
        /// Frame lines, inclusive pixel coordinates.
        var left, top, right, bottom: Int
        var x: Axis
        var y: Axis
        /// Legend box, inclusive; nil when there are no series.
        var legend: (left: Int, top: Int, right: Int, bottom: Int)?

        /// Pixel column of data `x`, nil when it cannot be drawn.
        func column(_ x: Double) -> Int? {
            self.x.fraction(x).map { Int((Double(left + inset) + $0 * Double(right - left - 2 * inset)).rounded()) }
        }

        /// Pixel row of data `y` (larger `y` is higher, so a smaller row), nil when not drawable.
        func row(_ y: Double) -> Int? {
            self.y.fraction(y).map { Int((Double(bottom - inset) - $0 * Double(bottom - top - 2 * inset)).rounded()) }
        }
    }

    /// The plot frame in a `width` x `height` rendering: inclusive pixel coordinates of its lines.
    /// Data is drawn strictly inside it.
    public func frame(width: Int = 800, height: Int = 500) -> (left: Int, top: Int, right: Int, bottom: Int) {
        let layout = layout(width: width, height: height)
        return (layout.left, layout.top, layout.right, layout.bottom)
    }

    /// The labelled ticks of the x axis, from the drawable points of all series.
    public var xTicks: [(value: Double, label: String)] { axes().x.ticks }

    /// The labelled ticks of the y axis (values, not logarithms, on a log scale).
    public var yTicks: [(value: Double, label: String)] { axes().y.ticks }

    func axes() -> (x: Axis, y: Axis) {
        let drawable = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite && (!logScaleY || $0.y > 0) }
        return (Axis(values: drawable.map(\.x), logScale: false), Axis(values: drawable.map(\.y), logScale: logScaleY))
    }

    func layout(width: Int, height: Int) -> Layout {
        let (x, y) = axes()
        let s = Self.scale, m = Self.margin

        let widestTick = y.ticks.map { BitmapFont.width(of: $0.label, scale: s) }.max() ?? 0
        let left = m + (yLabel.isEmpty ? 0 : Self.textHeight + 8) + widestTick + 4 + Self.tickLength
        let top = m + (title.isEmpty ? Self.textHeight / 2 : Self.textHeight + 10)
        let bottom = height - 1 - (Self.tickLength + 4 + Self.textHeight
                                   + (xLabel.isEmpty ? 0 : 8 + Self.textHeight) + m)

        var right = width - 1 - m
        var legend: (Int, Int, Int, Int)?
        if showsLegend && !series.isEmpty {
            // The legend sits right of the frame, so it never hides data.
            let widestLabel = series.map { BitmapFont.width(of: $0.label, scale: s) }.max() ?? 0
            let legendWidth = 8 + Self.swatchWidth + 6 + widestLabel + 8
            let legendHeight = 8 + series.count * Self.legendRow - 6 + 8
            legend = (width - 1 - m - legendWidth, top, width - 1 - m, top + legendHeight)
            right = width - 1 - m - legendWidth - 10
        }
        precondition(right - left >= 4 * Self.inset && bottom - top >= 4 * Self.inset,
                     "plot of \(width)x\(height) pixels is too small for its labels and legend")
        return Layout(left: left, top: top, right: right, bottom: bottom, x: x, y: y, legend: legend)
    }

    // MARK: Rendering

    /// Draws the plot on a white background.
    public func render(width: Int = 800, height: Int = 500) -> PNGImage {
        let canvas = draw(width: width, height: height)
        return PNGImage(width: width, height: height, layout: .rgb, bitDepth: 8,
                        samples: canvas.pixels.map(UInt16.init))
    }

    /// The plot as RGB bytes, for `render` and for figures that place several plots.
    func draw(width: Int, height: Int) -> Canvas {
        let layout = layout(width: width, height: height)
        var canvas = Canvas(width: width, height: height)
        let (left, top, right, bottom) = (layout.left, layout.top, layout.right, layout.bottom)
        let s = Self.scale, half = Self.textHeight / 2

        // Grid lines and ticks first, so the frame and data draw over them. In a small frame only
        // every k-th tick is labelled, so labels never overlap.
        func labelEvery(_ positions: [Int], room: Int) -> Int {
            let gaps = zip(positions, positions.dropFirst()).map { abs($1 - $0) }
            guard let gap = gaps.min(), gap > 0 else { return 1 }
            return max(1, (room + gap - 1) / gap)
        }
        let xs = layout.x.ticks.compactMap { layout.column($0.value) }
        let widest = layout.x.ticks.map { BitmapFont.width(of: $0.label, scale: s) }.max() ?? 0
        let xEvery = labelEvery(xs, room: widest + 3 * s)
        for (i, tick) in layout.x.ticks.enumerated() {
            guard let x = layout.column(tick.value) else { continue }
            canvas.fill(x, top + 1, x, bottom - 1, Self.gridColor)
            canvas.fill(x, bottom + 1, x, bottom + Self.tickLength, Self.frameColor)
            guard i % xEvery == 0 else { continue }
            let labelWidth = BitmapFont.width(of: tick.label, scale: s)
            canvas.text(tick.label, x: x - labelWidth / 2, y: bottom + Self.tickLength + 4, color: Self.black)
        }
        let yEvery = labelEvery(layout.y.ticks.compactMap { layout.row($0.value) }, room: 8 * s)
        for (i, tick) in layout.y.ticks.enumerated() {
            guard let y = layout.row(tick.value) else { continue }
            canvas.fill(left + 1, y, right - 1, y, Self.gridColor)
            canvas.fill(left - Self.tickLength, y, left - 1, y, Self.frameColor)
            guard i % yEvery == 0 else { continue }
            let labelWidth = BitmapFont.width(of: tick.label, scale: s)
            canvas.text(tick.label, x: left - Self.tickLength - 4 - labelWidth, y: y - half + 1, color: Self.black)
        }
        canvas.rectangle(left, top, right, bottom, Self.frameColor)

        // Data, clipped to the inside of the frame.
        canvas.clip = (left + 1, top + 1, right - 1, bottom - 1)
        for line in series {
            let pixels = line.points.compactMap { point -> (Int, Int)? in
                guard point.x.isFinite, point.y.isFinite,
                      let x = layout.column(point.x), let y = layout.row(point.y) else { return nil }
                return (x, y)
            }
            for (a, b) in zip(pixels, pixels.dropFirst()) where connectsPoints {
                canvas.line(from: a, to: b, line.color)
            }
            for (x, y) in pixels where markerRadius > 0 {
                canvas.fill(x - markerRadius, y - markerRadius, x + markerRadius, y + markerRadius, line.color)
            }
        }
        canvas.clip = nil

        if let box = layout.legend {
            canvas.fill(box.left, box.top, box.right, box.bottom, (255, 255, 255))
            canvas.rectangle(box.left, box.top, box.right, box.bottom, Self.frameColor)
            for (i, line) in series.enumerated() {
                let rowTop = box.top + 8 + i * Self.legendRow
                let middle = rowTop + half - 1
                let x0 = box.left + 8
                canvas.line(from: (x0, middle), to: (x0 + Self.swatchWidth - 2, middle), line.color)
                canvas.fill(x0 + Self.swatchWidth / 2 - 2, middle - 2, x0 + Self.swatchWidth / 2 + 2, middle + 2,
                            line.color)
                canvas.text(line.label, x: x0 + Self.swatchWidth + 6, y: rowTop, color: line.color)
            }
        }

        let frameMiddle = (left + right) / 2
        canvas.text(title, x: frameMiddle - BitmapFont.width(of: title, scale: s) / 2, y: Self.margin,
                    color: Self.black)
        canvas.text(xLabel, x: frameMiddle - BitmapFont.width(of: xLabel, scale: s) / 2,
                    y: bottom + Self.tickLength + 4 + Self.textHeight + 8, color: Self.black)
        // The y label reads bottom to top, centred on the frame.
        canvas.text(yLabel, x: Self.margin, y: (top + bottom) / 2 + BitmapFont.width(of: yLabel, scale: s) / 2,
                    color: Self.black, rotated: true)
        return canvas
    }
}

// MARK: - Axis

extension LinePlot {
    /// One axis: its range and labelled ticks. On a log axis positions are `log10(value)`.
    struct Axis {
        /// Range in axis coordinates (log10 of the value on a log axis).
        var low: Double
        var high: Double
        var logScale: Bool
        var ticks: [(value: Double, label: String)]

        /// Where `value` falls in the range, 0 at `low` and 1 at `high`; nil if not drawable.
        func fraction(_ value: Double) -> Double? {
            guard value.isFinite, !logScale || value > 0 else { return nil }
            return ((logScale ? log10(value) : value) - low) / (high - low)
        }

        init(values: [Double], logScale: Bool) {
            self.logScale = logScale
            var low = values.min() ?? (logScale ? 1 : 0)
            var high = values.max() ?? (logScale ? 10 : 1)
            if logScale {
                if low == high { low /= 2; high *= 2 }
                (self.low, self.high, ticks) = Self.logTicks(low, high)
            } else {
                if low == high {
                    let pad = low == 0 ? 1 : abs(low) * 0.1
                    low -= pad
                    high += pad
                }
                let (step, first, last) = Self.niceStep(low, high, extend: true)
                self.low = Double(first) * step
                self.high = Double(last) * step
                let values = (first...last).map { Double($0) * step }
                ticks = Array(zip(values, Self.labels(values, step: step)))
            }
        }

        /// A 1, 2 or 5 x 10^k step giving 4 to 6 ticks over [low, high] (or the count nearest 5),
        /// and the first and last tick as multiples of it. With `extend` the ticks enclose the
        /// range, otherwise they lie inside it.
        static func niceStep(_ low: Double, _ high: Double, extend: Bool) -> (step: Double, first: Int, last: Int) {
            let base = (log10(high - low) - 1).rounded(.down) - 1
            var best: (step: Double, first: Int, last: Int)?
            var bestMiss = Int.max
            for k in 0..<12 {
                let step = [1.0, 2, 5][k % 3] * pow(10, base + Double(k / 3))
                // The small slack keeps 0.6 / 0.2 = 2.9999999 from adding a tick.
                let first = Int(extend ? (low / step + 1e-9).rounded(.down) : (low / step - 1e-9).rounded(.up))
                let last = Int(extend ? (high / step - 1e-9).rounded(.up) : (high / step + 1e-9).rounded(.down))
                let count = last - first + 1
                if (4...6).contains(count) { return (step, first, last) }
                let miss = abs(count - 5)
                if miss < bestMiss { (best, bestMiss) = ((step, first, last), miss) }
            }
            return best!
        }

        /// Ticks for a log axis over [low, high] (both positive): the first of decades, 1-3,
        /// 1-2-5 or 1-to-9 per decade that gives 4 to 6 ticks, else linear nice ticks inside the
        /// range (narrower than a decade). The range is padded 5% in log space.
        static func logTicks(_ low: Double, _ high: Double)
            -> (low: Double, high: Double, ticks: [(value: Double, label: String)]) {
            let span = log10(high) - log10(low)
            let (l, h) = (log10(low) - 0.05 * span, log10(high) + 0.05 * span)
            let (lowValue, highValue) = (pow(10, l), pow(10, h))
            let decades = Int(l.rounded(.down))...Int(h.rounded(.up))
            func inRange(_ multipliers: [Double], every stride: Int = 1) -> [Double] {
                var values: [Double] = []
                for k in decades where k % stride == 0 {
                    for multiplier in multipliers {
                        let value = multiplier * pow(10, Double(k))
                        if value >= lowValue * (1 - 1e-9) && value <= highValue * (1 + 1e-9) { values.append(value) }
                    }
                }
                return values
            }
            // Every 1st, 2nd, 3rd... decade until at most 6 remain.
            var stride = 1
            while inRange([1], every: stride).count > 6 { stride += 1 }
            for candidate in [inRange([1], every: stride), inRange([1, 3]), inRange([1, 2, 5]),
                              inRange([1, 2, 3, 4, 5, 6, 7, 8, 9])] where (4...6).contains(candidate.count) {
                return (l, h, Array(zip(candidate, labels(candidate, step: nil))))
            }
            if span >= 1 {
                // Wide ranges always have decade ticks, even if only 2 or 3 of them.
                let decadeTicks = inRange([1], every: stride)
                return (l, h, Array(zip(decadeTicks, labels(decadeTicks, step: nil))))
            }
            let (step, first, last) = niceStep(lowValue, highValue, extend: false)
            let values = (first...last).map { Double($0) * step }.filter { $0 > 0 }
            return (l, h, Array(zip(values, labels(values, step: step))))
        }

        /// Tick labels the bitmap font can draw, in `2.5E-4` style for tiny or huge values.
        ///
        /// With a `step` (evenly spaced ticks) all labels share its decimals and one style, so
        /// `0.05 0.10 0.15` line up; without one (log decades) each value is written on its own,
        /// so `1 0.1 0.01 1E-3` stay short.
        static func labels(_ values: [Double], step: Double?) -> [String] {
            func isExtreme(_ magnitude: Double) -> Bool { magnitude >= 1e6 || magnitude < 1e-3 }
            let magnitudes = values.map(abs).filter { $0 > 0 }
            let allScientific = isExtreme(magnitudes.max() ?? 1) || isExtreme(magnitudes.min() ?? 1)
            return values.map { value in
                if value == 0 || (step.map { abs(value) < $0 * 1e-6 } ?? false) { return "0" }
                let scientific = step == nil ? isExtreme(abs(value)) : allScientific
                if scientific { return Self.scientific(value) }
                // Steps (and log tick values) are m x 10^k, so -k decimals show them exactly.
                let decimals = max(0, -Int((log10(step ?? abs(value)) + 1e-9).rounded(.down)))
                return fixed(value, decimals: decimals)
            }
        }

        /// `value` with `decimals` digits after the point, rounded half away from zero.
        static func fixed(_ value: Double, decimals: Int) -> String {
            let scaled = (abs(value) * pow(10, Double(decimals))).rounded()
            var digits = String(format: "%.0f", scaled)
            if decimals > 0 {
                if digits.count <= decimals { digits = String(repeating: "0", count: decimals - digits.count + 1) + digits }
                digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -decimals))
            }
            return (value < 0 ? "-" : "") + digits
        }

        /// `value` as mantissa `E` exponent, e.g. `1E-3`, `2.5E-4`, `-1.25E6`.
        static func scientific(_ value: Double) -> String {
            var exponent = Int((log10(abs(value)) + 1e-9).rounded(.down))
            var mantissa = (abs(value) / pow(10, Double(exponent)) * 100).rounded() / 100
            if mantissa >= 10 { mantissa /= 10; exponent += 1 }
            var text = fixed(mantissa, decimals: 2)
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
            return (value < 0 ? "-" : "") + text + "E\(exponent)"
        }
    }
}

// MARK: - Canvas

extension LinePlot {
    /// An RGB byte canvas with the few primitives the plot needs; all drawing is clipped.
    struct Canvas {
        let width: Int
        let height: Int
        var pixels: [UInt8]
        /// Inclusive rectangle drawing is limited to, besides the image bounds.
        var clip: (left: Int, top: Int, right: Int, bottom: Int)?

        init(width: Int, height: Int) {
            self.width = width
            self.height = height
            pixels = [UInt8](repeating: 255, count: width * height * 3)
        }

        mutating func set(_ x: Int, _ y: Int, _ color: RGB) {
            guard x >= 0, x < width, y >= 0, y < height else { return }
            if let clip, x < clip.left || x > clip.right || y < clip.top || y > clip.bottom { return }
            let at = (y * width + x) * 3
            pixels[at] = color.0
            pixels[at + 1] = color.1
            pixels[at + 2] = color.2
        }

        /// Fills the inclusive rectangle (x0, y0)-(x1, y1).
        mutating func fill(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ color: RGB) {
            guard x0 <= x1, y0 <= y1 else { return }
            for y in y0...y1 { for x in x0...x1 { set(x, y, color) } }
        }

        /// The 1-pixel outline of the inclusive rectangle.
        mutating func rectangle(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ color: RGB) {
            fill(x0, y0, x1, y0, color)
            fill(x0, y1, x1, y1, color)
            fill(x0, y0, x0, y1, color)
            fill(x1, y0, x1, y1, color)
        }

        /// A 2-pixel-thick line: Bresenham's integer walk, each step setting a 2x2 block.
        mutating func line(from a: (Int, Int), to b: (Int, Int), _ color: RGB) {
            var (x, y) = a
            let dx = abs(b.0 - x), dy = -abs(b.1 - y)
            let sx = x < b.0 ? 1 : -1, sy = y < b.1 ? 1 : -1
            var error = dx + dy
            while true {
                fill(x, y, x + 1, y + 1, color)
                if x == b.0 && y == b.1 { break }
                let e2 = 2 * error
                if e2 >= dy { error += dy; x += sx }
                if e2 <= dx { error += dx; y += sy }
            }
        }

        /// Draws `text` with its top-left corner at (x, y); `rotated` turns it a quarter turn
        /// counter-clockwise about that corner, so it reads upwards from (x, y).
        mutating func text(_ text: String, x: Int, y: Int, color: RGB, rotated: Bool = false) {
            guard !text.isEmpty else { return }
            // BitmapFont draws one gray level into a float canvas: use it as a mask.
            let maskWidth = BitmapFont.width(of: text, scale: LinePlot.scale)
            let maskHeight = LinePlot.textHeight
            var mask = [Float](repeating: 0, count: maskWidth * maskHeight)
            BitmapFont.draw(text, into: &mask, canvasWidth: maskWidth, channels: 1, x0: 0, y0: 0,
                            scale: LinePlot.scale, value: 1)
            for my in 0..<maskHeight {
                for mx in 0..<maskWidth where mask[my * maskWidth + mx] > 0 {
                    if rotated { set(x + my, y - mx, color) } else { set(x + mx, y + my, color) }
                }
            }
        }
    }
}
