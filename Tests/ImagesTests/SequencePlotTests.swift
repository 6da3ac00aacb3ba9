// SequencePlot: the figure has the size `size` promises, each panel holds both the original's
// and the reconstruction's color, the written file is a PNG that decodes to the same pixels,
// and features past `maxFeatures` are left out.

import Foundation
import Images
import Testing
import TestSupport

@Suite struct SequencePlotTests {
    /// Pixels of exactly `color` in the `width` x `height` rectangle at (left, top).
    static func count(_ color: (UInt8, UInt8, UInt8), in image: PNGImage,
                      left: Int, top: Int, width: Int, height: Int) -> Int {
        var n = 0
        for y in top..<(top + height) {
            for x in left..<(left + width) {
                let at = (y * image.width + x) * 3
                if image.samples[at] == UInt16(color.0) && image.samples[at + 1] == UInt16(color.1)
                    && image.samples[at + 2] == UInt16(color.2) { n += 1 }
            }
        }
        return n
    }

    /// `steps` x `features` values: feature f is a sine at its own frequency; the
    /// "reconstruction" is shifted by 0.5 so the two lines never coincide.
    static func sequence(steps: Int, features: Int, shift: Float) -> [Float] {
        (0..<(steps * features)).map { i in sin(Float(i / features) * Float(i % features + 1) * 0.3) + shift }
    }

    @Test func panelsShowOriginalAndReconstruction() throws {
        let names = ["lpc1", "lpc2", "lpc3", "lpc4", "lpc5"]
        var plot = SequencePlot(featureNames: names)
        plot.add("speaker 1", original: Self.sequence(steps: 20, features: 5, shift: 0),
                 reconstruction: Self.sequence(steps: 20, features: 5, shift: 0.5))
        plot.add("speaker 2", original: Self.sequence(steps: 7, features: 5, shift: 1),
                 reconstruction: Self.sequence(steps: 7, features: 5, shift: 0.5))
        let image = plot.render(panelWidth: 200, panelHeight: 140, columns: 3)
        // 3 panels across; 2 rows of panels per sequence under its caption, legend on top.
        #expect(plot.size(panelWidth: 200, panelHeight: 140, columns: 3) == (600, 30 + 2 * (28 + 2 * 140)))
        #expect(image.width == 600 && image.height == 30 + 2 * (28 + 2 * 140))
        #expect(image.layout == .rgb && image.bitDepth == 8)

        for s in 0..<2 {
            for f in 0..<5 {
                let left = (f % 3) * 200, top = 30 + s * (28 + 280) + 28 + (f / 3) * 140
                let blue = Self.count(SequencePlot.originalColor, in: image, left: left, top: top, width: 200, height: 140)
                let red = Self.count(SequencePlot.reconstructionColor, in: image, left: left, top: top, width: 200, height: 140)
                #expect(blue > 40 && red > 40, "sequence \(s) feature \(f): \(blue) blue, \(red) red pixels")
            }
            // The sixth slot of the 3x2 grid is empty: no data colors there.
            let top = 30 + s * (28 + 280) + 28 + 140
            #expect(Self.count(SequencePlot.originalColor, in: image, left: 400, top: top, width: 200, height: 140) == 0)
        }

        let root = try makeScratchFolder("seqplot")
        try plot.write(to: root + "/plots/sequences.png", panelWidth: 200, panelHeight: 140, columns: 3)
        let read = try PNGCodec.read(path: root + "/plots/sequences.png")
        #expect(read.width == 600 && read.samples == image.samples)
        // Written atomically: no temporary file is left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/plots") == ["sequences.png"])
    }

    @Test func featuresPastTheLimitAreLeftOut() {
        let names = (0..<20).map { "dim\($0)" }
        var plot = SequencePlot(featureNames: names)
        plot.add("many", original: Self.sequence(steps: 5, features: 20, shift: 0),
                 reconstruction: Self.sequence(steps: 5, features: 20, shift: 0.2))
        #expect(plot.size() == (4 * 240, 30 + 28 + 3 * 160))
        plot.maxFeatures = 2
        let image = plot.render()
        #expect(image.width == 2 * 240 && image.height == 30 + 28 + 160)
    }
}
