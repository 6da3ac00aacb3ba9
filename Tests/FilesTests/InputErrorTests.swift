// The one-line messages of input errors: `path: reason`, the reason alone for an option that
// names no file, an unreadable empty path still shown as such, long paths cut to their ends.

import Files
import Testing

@Suite struct InputErrorTests {
    @Test func messagesNameTheFile() {
        #expect(InputError(.badMagic, path: "a/b.png", "not a PNG file").description == "a/b.png: not a PNG file")
        #expect(InputError(.badOption, path: "", "noise spec 'x': unknown").description == "noise spec 'x': unknown")
        #expect(InputError(.notFound, path: "", "no such file or folder").description == "no such file or folder")
        // `--checkpoint ""`: the reader says which (empty) name it could not read.
        #expect(InputError(.unreadable, path: "", "cannot read file").description == ": cannot read file")
    }

    @Test func longPathsAreAbbreviatedInMessages() {
        let path = String(repeating: "x", count: 50_000_000)
        let text = InputError(.badMagic, path: path, "not a PNG file").description
        #expect(text.count < 400 && text.contains("50000000 characters") && text.hasSuffix("not a PNG file"))
        #expect("short/path.png".abbreviatedForMessages == "short/path.png")
        let limit = String(repeating: "y", count: 300)
        #expect(limit.abbreviatedForMessages == limit)
    }
}
