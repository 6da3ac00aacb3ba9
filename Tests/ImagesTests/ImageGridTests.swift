// ImageGrid geometry: tiles land where `tileOrigin` says, gutters keep the background, labels
// draw pixels in the label column only.

import Images
import Testing

@Suite struct ImageGridTests {
    @Test func tilesAndGuttersAreWhereExpected() {
        // Two rows of three 4x3 gray tiles, tile t of row r filled with (r*3+t+1)/10.
        var grid = ImageGrid(tileWidth: 4, tileHeight: 3, channels: 1, gutter: 2, background: 0.5)
        for r in 0..<2 {
            grid.addRow(tiles: (0..<3).flatMap { t in [Float](repeating: Float(r * 3 + t + 1) / 10, count: 12) })
        }
        let image = grid.render()
        #expect(image.width == 2 + 3 * (4 + 2))
        #expect(image.height == 2 + 2 * (3 + 2))
        for r in 0..<2 {
            for t in 0..<3 {
                let (x0, y0) = grid.tileOrigin(row: r, column: t)
                for y in 0..<3 {
                    for x in 0..<4 {
                        let v = image.samples[(y0 + y) * image.width + x0 + x]
                        #expect(v == UInt16((Float(r * 3 + t + 1) / 10 * 255).rounded()))
                    }
                }
            }
        }
        #expect(image.samples[0] == 128)  // corner gutter
        #expect(image.samples[1 * image.width + 6 + 4] == 128)  // between tiles 0 and 1
    }

    @Test func rgbTilesArePlanarInput() {
        // One 1x1 RGB tile (C, H, W) = (3, 1, 1): red.
        var grid = ImageGrid(tileWidth: 1, tileHeight: 1, channels: 3, gutter: 1, background: 0)
        grid.addRow(tiles: [1, 0, 0])
        let image = grid.render()
        #expect(image.layout == .rgb)
        let at = (1 * image.width + 1) * 3
        #expect(Array(image.samples[at..<(at + 3)]) == [255, 0, 0])
    }

    @Test func labelsDrawInTheLabelColumnOnly() {
        var grid = ImageGrid(tileWidth: 12, tileHeight: 12, channels: 1, gutter: 2, background: 0.5)
        grid.addRow(label: "clean", tiles: [Float](repeating: 0.25, count: 144))
        grid.addRow(tiles: [Float](repeating: 0.25, count: 144))
        let image = grid.render()
        let (tileX, _) = grid.tileOrigin(row: 0, column: 0)
        #expect(tileX >= 2 + BitmapFont.width(of: "clean", scale: 1))  // room for the five glyphs
        var ink = 0
        for y in 0..<image.height {
            for x in 0..<tileX where image.samples[y * image.width + x] == 0 {
                ink += 1
                #expect(y < 2 + 12 + 2, "label ink stays in its row")
            }
        }
        #expect(ink > 40)
    }

    /// `scale` draws each tile pixel as a block; a caption takes a band above the rows.
    @Test func scaledTilesAndCaption() {
        var grid = ImageGrid(tileWidth: 3, tileHeight: 2, channels: 1, gutter: 2, background: 0.5)
        let tile: [Float] = [0, 0.2, 0.4, 0.6, 0.8, 1]
        grid.addRow(tiles: tile + tile)
        grid.scale = 3
        grid.caption = "ep 7"
        let image = grid.render()
        // The caption grows with the tiles: glyphs at scale 3, one line plus the gutter below.
        let band = (BitmapFont.glyphHeight + 2) * 3 + 2 - 1
        #expect(image.width == BitmapFont.width(of: "ep 7", scale: 3) + 2 * 2 + 2 && image.height == band + 2 + 6 + 2)
        for column in 0..<2 {
            let (x0, y0) = grid.tileOrigin(row: 0, column: column)
            #expect(y0 == band + 2)
            for y in 0..<6 {
                for x in 0..<9 {
                    let expected = UInt16((tile[(y / 3) * 3 + x / 3] * 255).rounded())
                    #expect(image.samples[(y0 + y) * image.width + x0 + x] == expected, "(\(x), \(y))")
                }
            }
        }
        // The caption's ink (black on the mid-gray background) lies in its band.
        let ink = (0..<image.samples.count).filter { image.samples[$0] == 0 && $0 / image.width < band }.count
        #expect(ink > 20)
        // A caption wider than the tiles widens the image; each line takes a band.
        grid.scale = 1
        grid.caption = "a caption much wider than two tiles"
        #expect(grid.render().width == BitmapFont.width(of: grid.caption!, scale: 1) + 2 * 2 + 2)
        grid.caption = "line one\nline two, the wider"
        let twoLines = grid.render()
        #expect(twoLines.width == BitmapFont.width(of: "line two, the wider", scale: 1) + 2 * 2 + 2)
        #expect(twoLines.height == 2 * (BitmapFont.glyphHeight + 2) + 2 - 1 + 2 + 2 + 2)
        #expect(ImageGrid.readableScale(tileHeight: 28) == 2 && ImageGrid.readableScale(tileHeight: 64) == 1)
        // A line past 64 glyphs wraps at spaces to that width (the tiles are narrower): every word
        // kept in order, every line within it, the image no wider.
        let words = (0..<40).map { "word\($0)" }
        grid.caption = words.joined(separator: " ")
        let limit = BitmapFont.width(of: String(repeating: "m", count: 64), scale: 1)
        let wrapped = grid.render()
        #expect(wrapped.width <= limit && BitmapFont.width(of: grid.caption!, scale: 1) > 3 * limit, "\(wrapped.width)")
        #expect(grid.captionLines.count > 1 && grid.captionLines.joined(separator: " ") == grid.caption)
        #expect(grid.captionLines.allSatisfy { BitmapFont.width(of: $0, scale: 1) <= limit - 2 * 2 - 2 })
        #expect(wrapped.height == grid.captionLines.count * (BitmapFont.glyphHeight + 2) + 2 - 1 + 2 + 2 + 2)
    }
}
