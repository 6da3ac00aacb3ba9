// LinePlot: the image has the requested size, series colors land inside the frame where their
// values say (constant y on one row band, larger y higher), ticks are 4-6 nice steps with
// legible labels, and NaN, infinite or non-positive (log scale) points are skipped.

import Foundation
import Images
import Testing
import TestSupport

@Suite struct LinePlotTests {
    static let red: (UInt8, UInt8, UInt8) = (220, 40, 40)
    static let blue: (UInt8, UInt8, UInt8) = (30, 90, 220)

    /// (column, row) of every pixel of `color` strictly inside `plot`'s frame.
    static func pixels(of color: (UInt8, UInt8, UInt8), in image: PNGImage, plot: LinePlot)
        -> [(x: Int, y: Int)] {
        let frame = plot.frame(width: image.width, height: image.height)
        var found: [(Int, Int)] = []
        for y in (frame.top + 1)..<frame.bottom {
            for x in (frame.left + 1)..<frame.right {
                let at = (y * image.width + x) * 3
                if image.samples[at] == UInt16(color.0) && image.samples[at + 1] == UInt16(color.1)
                    && image.samples[at + 2] == UInt16(color.2) {
                    found.append((x, y))
                }
            }
        }
        return found
    }

    static func lossPlot(logScale: Bool = false) -> LinePlot {
        var plot = LinePlot(title: "Loss", xLabel: "epoch", yLabel: "mean squared error", logScaleY: logScale)
        plot.add("train", color: red, points: [(1, 0.071), (2, 0.042), (3, 0.031), (4, 0.0265), (5, 0.0241)])
        plot.add("test", color: blue, points: [(1, 0.052), (2, 0.038), (3, 0.0302), (4, 0.0277), (5, 0.026)])
        return plot
    }

    @Test func renderedImageHasTheRequestedSize() {
        let plot = Self.lossPlot()
        for (width, height) in [(640, 400), (400, 260), (801, 555)] {
            let image = plot.render(width: width, height: height)
            #expect(image.width == width && image.height == height)
            #expect(image.layout == .rgb && image.bitDepth == 8)
            #expect(image.samples.count == width * height * 3)
        }
        #expect(plot.render().width == 800 && plot.render().height == 500)
    }

    @Test(arguments: [false, true])
    func seriesColorsAppearInsideTheFrame(logScale: Bool) {
        let plot = Self.lossPlot(logScale: logScale)
        let image = plot.render()
        // Five 5x5 markers plus the lines between them.
        #expect(Self.pixels(of: Self.red, in: image, plot: plot).count > 5 * 25)
        #expect(Self.pixels(of: Self.blue, in: image, plot: plot).count > 5 * 25)
        #expect(Self.pixels(of: (0, 200, 0), in: image, plot: plot).isEmpty)
        // The legend, right of the frame, lists each label in its series' color.
        let frame = plot.frame()
        for color in [Self.red, Self.blue] {
            let legend = (frame.top..<image.height).flatMap { y in ((frame.right + 1)..<image.width).filter { x in
                let at = (y * image.width + x) * 3
                return image.samples[at] == UInt16(color.0) && image.samples[at + 1] == UInt16(color.1)
                    && image.samples[at + 2] == UInt16(color.2)
            } }
            #expect(legend.count > 40)
        }
    }

    @Test(arguments: [false, true])
    func constantSeriesIsOneRowBand(logScale: Bool) {
        var plot = LinePlot(title: "flat", xLabel: "x", yLabel: "y", logScaleY: logScale)
        plot.add("flat", color: Self.red, points: (0..<10).map { (Double($0), 0.25) })
        let image = plot.render()
        let frame = plot.frame()
        let found = Self.pixels(of: Self.red, in: image, plot: plot)
        let rows = found.map(\.y), columns = found.map(\.x)
        let top = rows.min() ?? 0, bottom = rows.max() ?? 0
        // A 2 px line with 5 px markers: at most 5 rows, away from the frame's edges.
        #expect(!found.isEmpty)
        #expect(bottom - top <= 4)
        #expect(top > frame.top + 10 && bottom < frame.bottom - 10)
        // It runs across most of the frame.
        #expect((columns.max() ?? 0) - (columns.min() ?? 0) > (frame.right - frame.left) * 3 / 4)
    }

    @Test(arguments: [false, true])
    func largerValuesAreDrawnHigher(logScale: Bool) {
        var plot = LinePlot(title: "", xLabel: "", yLabel: "", logScaleY: logScale)
        plot.add("low", color: Self.red, points: [(1, 2)])
        plot.add("high", color: Self.blue, points: [(1.5, 3)])
        let image = plot.render()
        let low = Self.pixels(of: Self.red, in: image, plot: plot)
        let high = Self.pixels(of: Self.blue, in: image, plot: plot)
        #expect(low.count == 25 && high.count == 25)  // one whole 5x5 marker each
        #expect((high.map(\.y).max() ?? .max) < (low.map(\.y).min() ?? 0))
        #expect((high.map(\.x).min() ?? 0) > (low.map(\.x).max() ?? .max))
    }

    @Test func nonFinitePointsAreSkipped() {
        var plot = LinePlot(title: "diverged", xLabel: "epoch", yLabel: "loss", logScaleY: true)
        plot.add("train", color: Self.red, points: [(1, 0.5), (2, .nan), (3, .infinity), (.nan, 1), (4, 0.25), (5, -1), (6, 0)])
        plot.add("all bad", color: Self.blue, points: [(1, .nan), (.infinity, 2)])
        plot.add("empty", color: (0, 160, 0), points: [])
        let image = plot.render()
        #expect(image.width == 800)
        #expect(!Self.pixels(of: Self.red, in: image, plot: plot).isEmpty)
        #expect(Self.pixels(of: Self.blue, in: image, plot: plot).isEmpty)

        // Nothing drawable at all still renders axes.
        var empty = LinePlot(title: "nothing", xLabel: "x", yLabel: "y")
        empty.add("nan", color: Self.red, points: [(.nan, .nan)])
        #expect(empty.render(width: 320, height: 200).height == 200)
        #expect((4...6).contains(empty.yTicks.count))
    }

    /// Whether `step` is 1, 2 or 5 times a power of ten.
    static func isNice(_ step: Double) -> Bool {
        let mantissa = step / pow(10, log10(step).rounded(.down))
        return [1.0, 2, 5, 10].contains { abs(mantissa - $0) < 1e-6 }
    }

    @Test(arguments: [(0.0, 1.0), (0.0241, 0.071), (3.0, 3.0), (-7.5, 120), (1, 20), (0.00012, 0.00049),
                      (1e6, 3.5e6), (1000.1, 1000.3), (-2, -1)])
    func linearTicksAreFourToSixNiceSteps(low: Double, high: Double) {
        var plot = LinePlot(title: "", xLabel: "", yLabel: "")
        plot.add("s", color: Self.red, points: [(low, low), (high, high)])
        for ticks in [plot.xTicks, plot.yTicks] {
            #expect((4...6).contains(ticks.count), "\(ticks)")
            let steps = zip(ticks.dropFirst(), ticks).map { $0.value - $1.value }
            #expect(steps.allSatisfy { Self.isNice($0) && abs($0 - steps[0]) < 1e-9 * abs(steps[0]) }, "\(ticks)")
            // The ticks enclose the data, and every label parses back to its value.
            #expect(ticks.first!.value <= low && ticks.last!.value >= high)
            for tick in ticks {
                let parsed = Double(tick.label)
                #expect(parsed != nil && abs(parsed! - tick.value) <= 1e-9 * max(1, abs(tick.value)), "\(tick)")
            }
        }
    }

    @Test func tickLabelsAreReadable() {
        var plot = LinePlot(title: "", xLabel: "", yLabel: "")
        plot.add("s", color: Self.red, points: [(0, 0), (1, 0.001)])
        #expect(plot.xTicks.map(\.label) == ["0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        #expect(plot.yTicks.map(\.label) == ["0", "2E-4", "4E-4", "6E-4", "8E-4", "1E-3"])

        var log = LinePlot(title: "", xLabel: "", yLabel: "", logScaleY: true)
        log.add("s", color: Self.red, points: [(0, 0.01), (1, 3.25)])
        #expect(log.yTicks.map(\.label) == ["0.01", "0.1", "1"] || log.yTicks.count >= 4, "\(log.yTicks)")
        #expect(log.yTicks.allSatisfy { Double($0.label) != nil })
    }

    @Test func renderedPlotSurvivesPNGRoundTrip() throws {
        let image = Self.lossPlot(logScale: true).render()
        #expect(try PNGCodec.decode(PNGCodec.encode(image)).samples == image.samples)
    }
}
