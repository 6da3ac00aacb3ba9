// The caption font: every glyph it draws is told apart from every other (the old 3x5 font drew Z
// and 2 nearly alike), and text renders where `width(of:)` says.

import Images
import Testing

@Suite struct BitmapFontTests {
    /// `text` drawn at scale 1, cut back into one pixel picture per character.
    func pictures(of text: String) -> [[Bool]] {
        let w = BitmapFont.glyphWidth, h = BitmapFont.glyphHeight
        let width = BitmapFont.width(of: text, scale: 1)
        var canvas = [Float](repeating: 0, count: width * h)
        BitmapFont.draw(text, into: &canvas, canvasWidth: width, channels: 1, x0: 0, y0: 0, scale: 1, value: 1)
        return (0..<text.count).map { i in
            (0..<h).flatMap { y in (0..<w).map { x in canvas[y * width + i * (w + 1) + x] == 1 } }
        }
    }

    @Test func everyGlyphIsDistinct() {
        let characters = BitmapFont.characters
        let letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        for c in letters { #expect(characters.contains(c), "no glyph for \(c)") }
        let drawn = pictures(of: String(characters))
        for i in drawn.indices {
            #expect(drawn[i].contains(true) == (characters[i] != " "), "glyph \(characters[i]) draws nothing")
            for j in drawn.indices where j > i {
                #expect(drawn[i] != drawn[j], "\(characters[i]) and \(characters[j]) draw the same picture")
            }
        }
        // The pairs that misread in captions: Z/2, O/0, I/l/1, S/5, B/8.
        for pair in ["Z2", "O0", "Il", "l1", "I1", "S5", "B8"] {
            let p = pictures(of: pair)
            let differing = zip(p[0], p[1]).filter { $0 != $1 }.count
            #expect(differing >= 3, "\(pair) differ in \(differing) pixels")
        }
    }

    @Test func unknownCharactersDrawAsQuestionMarks() {
        #expect(pictures(of: "\u{3C3}")[0] == pictures(of: "?")[0])
    }

    @Test func scaledTextFillsItsWidth() {
        let text = "Z0 epoch 12", scale = 3
        let width = BitmapFont.width(of: text, scale: scale), height = BitmapFont.glyphHeight * scale
        var canvas = [Float](repeating: 0, count: width * height)
        BitmapFont.draw(text, into: &canvas, canvasWidth: width, channels: 1, x0: 0, y0: 0, scale: scale, value: 1)
        let columns = (0..<width).filter { x in (0..<height).contains { canvas[$0 * width + x] == 1 } }
        #expect(columns.first == 0)
        #expect(columns.last == width - 1)  // the 2 ends in a full bottom bar
    }
}
