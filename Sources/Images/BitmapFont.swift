// A 3x5 pixel font for row labels in image grids and plot annotations: uppercase letters,
// digits and a few symbols (lowercase is drawn as uppercase), so no font library is needed.

/// Glyphs as 15-bit masks, rows top to bottom, the most significant bit the top-left pixel.
public enum BitmapFont {
    public static let glyphWidth = 3
    public static let glyphHeight = 5

    static let glyphs: [Character: UInt16] = [
        "A": 0b010101111101101,
        "B": 0b110101110101110,
        "C": 0b011100100100011,
        "D": 0b110101101101110,
        "E": 0b111100110100111,
        "F": 0b111100110100100,
        "G": 0b011100101101011,
        "H": 0b101101111101101,
        "I": 0b111010010010111,
        "J": 0b001001001101010,
        "K": 0b101101110101101,
        "L": 0b100100100100111,
        "M": 0b101111111101101,
        "N": 0b110101101101101,
        "O": 0b010101101101010,
        "P": 0b110101110100100,
        "Q": 0b010101101110011,
        "R": 0b110101110101101,
        "S": 0b011100010001110,
        "T": 0b111010010010010,
        "U": 0b101101101101111,
        "V": 0b101101101101010,
        "W": 0b101101111111101,
        "X": 0b101101010101101,
        "Y": 0b101101010010010,
        "Z": 0b111001010100111,
        "0": 0b111101101101111,
        "1": 0b010110010010111,
        "2": 0b110001010100111,
        "3": 0b110001010001110,
        "4": 0b101101111001001,
        "5": 0b111100110001110,
        "6": 0b011100111101111,
        "7": 0b111001010010010,
        "8": 0b111101111101111,
        "9": 0b111101111001110,
        "-": 0b000000111000000,
        ".": 0b000000000000010,
        ",": 0b000000000010100,
        ":": 0b000010000010000,
        "/": 0b001001010100100,
        " ": 0b000000000000000,
        "=": 0b000111000111000,
        "|": 0b010010010010010,
        "?": 0b110001010000010,
        "(": 0b010100100100010,
        ")": 0b010001001001010,
        "_": 0b000000000000111,
        "+": 0b000010111010000,
    ]

    /// Whether pixel (`x`, `y`) of `character`'s glyph is set; unknown characters draw as `?`.
    public static func isSet(_ character: Character, x: Int, y: Int) -> Bool {
        let upper = Character(character.uppercased())
        let mask = glyphs[upper] ?? glyphs["?"]!
        let bit = 14 - (y * glyphWidth + x)
        return mask & (1 << UInt16(bit)) != 0
    }

    /// Width in pixels of `text` drawn at `scale` with one scaled pixel between glyphs.
    public static func width(of text: String, scale: Int) -> Int {
        text.isEmpty ? 0 : (text.count * (glyphWidth + 1) - 1) * scale
    }

    /// Draws `text` into a single-channel canvas of `canvasWidth` floats per row.
    public static func draw(_ text: String, into canvas: inout [Float], canvasWidth: Int,
                            channels: Int, x0: Int, y0: Int, scale: Int, value: Float) {
        let canvasHeight = canvas.count / (canvasWidth * channels)
        for (i, character) in text.enumerated() {
            for gy in 0..<glyphHeight {
                for gx in 0..<glyphWidth where isSet(character, x: gx, y: gy) {
                    for sy in 0..<scale {
                        for sx in 0..<scale {
                            let x = x0 + (i * (glyphWidth + 1) + gx) * scale + sx
                            let y = y0 + gy * scale + sy
                            guard x >= 0, x < canvasWidth, y >= 0, y < canvasHeight else { continue }
                            for c in 0..<channels {
                                canvas[(y * canvasWidth + x) * channels + c] = value
                            }
                        }
                    }
                }
            }
        }
    }
}
