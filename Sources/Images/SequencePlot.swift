// Original versus reconstructed multivariate sequences as one PNG: for each sequence a caption
// row, then one small LinePlot panel per feature (value against step) in a grid, the original
// in blue and the reconstruction in red, with one shared legend at the top.

import Foundation

/// A figure of sequences and their reconstructions, one panel per feature.
public struct SequencePlot: Sendable {
    /// One sequence: `original` and `reconstruction` are (T, D) step-major, in the same units.
    public struct Sequence: Sendable {
        public var caption: String
        public var original: [Float]
        public var reconstruction: [Float]
        /// A third series of its own length (a conversion's target-speaker reference), or nil.
        public var reference: [Float]?

        public init(caption: String, original: [Float], reconstruction: [Float], reference: [Float]? = nil) {
            self.caption = caption
            self.original = original
            self.reconstruction = reconstruction
            self.reference = reference
        }
    }

    public static let originalColor: (UInt8, UInt8, UInt8) = (30, 90, 220)
    public static let reconstructionColor: (UInt8, UInt8, UInt8) = (220, 40, 40)
    public static let referenceColor: (UInt8, UInt8, UInt8) = (40, 160, 60)
    /// Legend names of the original, reconstruction and reference series.
    public var seriesNames = (original: "original", reconstruction: "reconstruction", reference: "reference")
    /// What the panels' axes hold, shown beside the legend.
    public var axes = "x: step, y: value per feature"
    /// Height of the legend strip at the top and of each sequence's caption row.
    public static let legendHeight = 30
    public static let captionHeight = 28

    /// `D` names, one per feature, used as panel titles.
    public let featureNames: [String]
    public private(set) var sequences: [Sequence] = []
    /// Features shown per sequence: the first `maxFeatures` (the caption says when there are more).
    public var maxFeatures = 12

    public init(featureNames: [String]) {
        precondition(!featureNames.isEmpty, "a sequence plot needs at least one feature")
        self.featureNames = featureNames
    }

    /// Adds a sequence; `original` and `reconstruction` hold the same whole number of steps.
    public mutating func add(_ caption: String, original: [Float], reconstruction: [Float], reference: [Float]? = nil) {
        precondition(original.count == reconstruction.count, "original and reconstruction differ in size")
        precondition(!original.isEmpty && original.count % featureNames.count == 0,
                     "\(original.count) values are not whole steps of \(featureNames.count) features")
        precondition((reference?.count ?? 0) % featureNames.count == 0, "the reference is not whole steps")
        sequences.append(Sequence(caption: caption, original: original, reconstruction: reconstruction,
                                  reference: reference))
    }

    var shownFeatures: Int { min(featureNames.count, maxFeatures) }

    /// Pixel size of `render` with these arguments: `min(columns, features shown)` panels wide;
    /// the legend strip plus, per sequence, a caption row and `ceil(shown / columns)` panel rows.
    public func size(panelWidth: Int = 240, panelHeight: Int = 160, columns: Int = 4) -> (width: Int, height: Int) {
        let across = min(columns, shownFeatures)
        let rows = (shownFeatures + across - 1) / across
        return (across * panelWidth, Self.legendHeight + sequences.count * (Self.captionHeight + rows * panelHeight))
    }

    /// Draws every sequence on a white background, 8-bit RGB.
    public func render(panelWidth: Int = 240, panelHeight: Int = 160, columns: Int = 4) -> PNGImage {
        precondition(columns > 0, "columns must be positive")
        let (width, height) = size(panelWidth: panelWidth, panelHeight: panelHeight, columns: columns)
        let across = min(columns, shownFeatures)
        let d = featureNames.count
        var canvas = LinePlot.Canvas(width: width, height: height)

        // Legend: a swatch and a name per series, once for the figure.
        var x = LinePlot.margin
        let legendTop = (Self.legendHeight - LinePlot.textHeight) / 2
        var legend = [(seriesNames.original, Self.originalColor), (seriesNames.reconstruction, Self.reconstructionColor)]
        if sequences.contains(where: { $0.reference != nil }) { legend.append((seriesNames.reference, Self.referenceColor)) }
        for (name, color) in legend {
            let middle = legendTop + LinePlot.textHeight / 2 - 1
            canvas.line(from: (x, middle), to: (x + LinePlot.swatchWidth - 2, middle), color)
            canvas.text(name, x: x + LinePlot.swatchWidth + 6, y: legendTop, color: color)
            x += LinePlot.swatchWidth + 6 + BitmapFont.width(of: name, scale: LinePlot.scale) + 24
        }
        // The panels' axes, once for the figure (a label per small panel would crowd it).
        canvas.text(axes, x: x + 12, y: legendTop, color: LinePlot.black)

        var top = Self.legendHeight
        for sequence in sequences {
            let steps = sequence.original.count / d
            var caption = sequence.caption
            if shownFeatures < d { caption += " (first \(shownFeatures) of \(d) features)" }
            canvas.fill(0, top, width - 1, top, LinePlot.gridColor)
            canvas.text(caption, x: LinePlot.margin, y: top + (Self.captionHeight - LinePlot.textHeight) / 2,
                        color: LinePlot.black)
            top += Self.captionHeight
            for f in 0..<shownFeatures {
                var panel = LinePlot(title: featureNames[f], xLabel: "", yLabel: "")
                panel.showsLegend = false
                panel.markerRadius = 1
                panel.add("original", color: Self.originalColor,
                          points: (0..<steps).map { (Double($0), Double(sequence.original[$0 * d + f])) })
                panel.add("reconstruction", color: Self.reconstructionColor,
                          points: (0..<steps).map { (Double($0), Double(sequence.reconstruction[$0 * d + f])) })
                if let reference = sequence.reference {
                    panel.add("reference", color: Self.referenceColor,
                              points: (0..<(reference.count / d)).map { (Double($0), Double(reference[$0 * d + f])) })
                }
                let pixels = panel.draw(width: panelWidth, height: panelHeight).pixels
                let left = (f % across) * panelWidth, panelTop = top + (f / across) * panelHeight
                for row in 0..<panelHeight {
                    let from = row * panelWidth * 3, to = ((panelTop + row) * width + left) * 3
                    canvas.pixels.replaceSubrange(to..<(to + panelWidth * 3), with: pixels[from..<(from + panelWidth * 3)])
                }
            }
            top += (shownFeatures + across - 1) / across * panelHeight
        }
        return PNGImage(width: width, height: height, layout: .rgb, bitDepth: 8,
                        samples: canvas.pixels.map(UInt16.init))
    }

    /// Renders and writes the figure to `path` atomically (temporary file, then rename).
    /// - Throws: `InputError` or `FileWriteError` naming the path.
    public func write(to path: String, panelWidth: Int = 240, panelHeight: Int = 160, columns: Int = 4) throws {
        try PNGCodec.write(render(panelWidth: panelWidth, panelHeight: panelHeight, columns: columns), to: path)
    }
}
