// Rows x columns of equal-size tiles with a gutter and optional row labels, rendered to an 8-bit
// PNG. Used for clean | corrupted | reconstruction grids of one fixed sample batch.

/// A grid of tiles; each row is a batch of images in NCHW order with values in [0, 1].
public struct ImageGrid: Sendable {
    public let tileWidth: Int
    public let tileHeight: Int
    /// 1 (gray) or 3 (RGB).
    public let channels: Int
    /// Pixels between tiles and around the grid.
    public var gutter: Int
    /// Gray level of the gutter and label background.
    public var background: Float
    /// Each tile pixel drawn as a `scale` x `scale` block (nearest neighbour), for small tiles.
    public var scale = 1
    /// Text above the rows (model, epoch, figures; lines split at newlines), or nil. It grows with
    /// `scale` (up to 3x), so it stays readable beside enlarged tiles.
    public var caption: String?
    public private(set) var rows: [(label: String?, tiles: [Float])] = []

    public init(tileWidth: Int, tileHeight: Int, channels: Int, gutter: Int = 2,
                background: Float = 0.5) {
        precondition(channels == 1 || channels == 3, "grid channels must be 1 or 3, got \(channels)")
        precondition(tileWidth > 0 && tileHeight > 0, "tile size must be positive")
        self.tileWidth = tileWidth
        self.tileHeight = tileHeight
        self.channels = channels
        self.gutter = gutter
        self.background = background
    }

    var tileSize: Int { channels * tileHeight * tileWidth }

    /// Appends a row of tiles. `tiles` holds `count` images of shape (C, H, W).
    public mutating func addRow(label: String? = nil, tiles: UnsafeBufferPointer<Float>) {
        precondition(tiles.count % tileSize == 0,
                     "row of \(tiles.count) floats is not a whole number of \(tileSize)-float tiles")
        rows.append((label, Array(tiles)))
    }

    public mutating func addRow(label: String? = nil, tiles: [Float]) {
        tiles.withUnsafeBufferPointer { addRow(label: label, tiles: $0) }
    }

    public var columnCount: Int { rows.map { $0.tiles.count / tileSize }.max() ?? 0 }

    /// Scale of label glyphs: 2 when a row is tall enough, else 1.
    var labelScale: Int { tileHeight * scale >= 2 * BitmapFont.glyphHeight + 2 ? 2 : 1 }

    /// The scale at which tiles of `tileHeight` pixels are at least 48 pixels tall (at most 4): the
    /// default of the tool's grids, so that 28-pixel digits are not drawn thumbnail-small.
    public static func readableScale(tileHeight: Int) -> Int {
        tileHeight >= 48 ? 1 : min(4, (48 + tileHeight - 1) / tileHeight)
    }

    /// Scale of the caption's glyphs.
    var textScale: Int { min(max(scale, 1), 3) }

    /// Width of the labels and tiles, caption aside.
    var gridWidth: Int { labelWidth + gutter + max(columnCount, 1) * (tileWidth * scale + gutter) }

    /// The caption's lines, each written line wrapped at spaces to the grid's width (at least 64
    /// glyphs wide), so that a long caption does not stretch a narrow grid.
    public var captionLines: [String] {
        guard let caption else { return [] }
        let glyphs = BitmapFont.width(of: String(repeating: "m", count: 64), scale: textScale)
        let limit = max(gridWidth, glyphs) - 2 * gutter - 2
        var lines: [String] = []
        for written in caption.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = ""
            for word in written.split(separator: " ", omittingEmptySubsequences: false) {
                let longer = line.isEmpty ? String(word) : line + " " + word
                if !line.isEmpty && BitmapFont.width(of: longer, scale: textScale) > limit {
                    lines.append(line)
                    line = String(word)
                } else {
                    line = longer
                }
            }
            lines.append(line)
        }
        return lines
    }

    /// Height of one caption line, glyphs and the space below them.
    var captionLineHeight: Int { (BitmapFont.glyphHeight + 2) * textScale }

    /// Pixels above the first row taken by the caption (its lines and a gutter below).
    var captionHeight: Int { caption == nil ? 0 : captionLines.count * captionLineHeight + gutter - 1 }

    var labelWidth: Int {
        let widest = rows.compactMap { $0.label }.map { BitmapFont.width(of: $0, scale: labelScale) }
            .max() ?? 0
        return widest == 0 ? 0 : widest + 2 * labelScale
    }

    /// Renders the grid to an 8-bit gray or RGB image.
    public func render() -> PNGImage {
        precondition(scale >= 1, "grid scale must be at least 1")
        let left = labelWidth
        let (cellWidth, cellHeight) = (tileWidth * scale, tileHeight * scale)
        let top = captionHeight
        let captionWidth = captionLines.map { BitmapFont.width(of: $0, scale: textScale) + 2 * gutter + 2 }
            .max() ?? 0
        let width = max(gridWidth, captionWidth)
        let height = top + gutter + max(rows.count, 1) * (cellHeight + gutter)
        var canvas = [Float](repeating: background, count: width * height * channels)
        let ink: Float = background < 0.5 ? 1 : 0
        for (i, line) in captionLines.enumerated() {
            BitmapFont.draw(line, into: &canvas, canvasWidth: width, channels: channels, x0: gutter + 1,
                            y0: gutter + i * captionLineHeight, scale: textScale, value: ink)
        }
        let plane = tileHeight * tileWidth
        for (r, row) in rows.enumerated() {
            let y0 = top + gutter + r * (cellHeight + gutter)
            if let label = row.label, left > 0 {
                let textHeight = BitmapFont.glyphHeight * labelScale
                BitmapFont.draw(label, into: &canvas, canvasWidth: width, channels: channels,
                                x0: gutter + labelScale, y0: y0 + (cellHeight - textHeight) / 2,
                                scale: labelScale, value: ink)
            }
            for t in 0..<(row.tiles.count / tileSize) {
                let x0 = left + gutter + t * (cellWidth + gutter)
                let base = t * tileSize
                for y in 0..<cellHeight {
                    for x in 0..<cellWidth {
                        let out = ((y0 + y) * width + x0 + x) * channels
                        let source = base + (y / scale) * tileWidth + x / scale
                        for c in 0..<channels { canvas[out + c] = row.tiles[source + c * plane] }
                    }
                }
            }
        }
        return PNGImage(width: width, height: height, layout: channels == 3 ? .rgb : .gray,
                        bitDepth: 8, values: canvas)
    }

    /// The pixel rectangle of tile (`row`, `column`) in the rendered image: (x, y) of its corner.
    public func tileOrigin(row: Int, column: Int) -> (x: Int, y: Int) {
        (labelWidth + gutter + column * (tileWidth * scale + gutter), captionHeight + gutter + row * (tileHeight * scale + gutter))
    }
}
