// The one error for everything the user points the tool at (data files and folders, PNGs,
// checkpoints, options that describe data): each names the file, what was expected and what was
// found, in one line.

/// An input that cannot be used, with a one-line reason naming the file.
public struct InputError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case notFound, unreadable, badMagic, badHeader, truncated, trailingData, absurdSize,
             countMismatch, corrupt, empty, mixedSizes, tooSmall, badOption
    }

    public let kind: Kind
    /// The file concerned; empty for an option that names none (a noise spec).
    public let path: String
    public let reason: String

    public init(_ kind: Kind, path: String, _ reason: String) {
        self.kind = kind
        self.path = path
        self.reason = reason
    }

    /// `path: reason`, the path abbreviated; the reason alone when no file is concerned (an empty
    /// path). A file that cannot be read is named even when its name is empty (`: cannot read
    /// file`), as the PNG and checkpoint readers have always said of `--checkpoint ""`.
    public var description: String {
        path.isEmpty && kind != .unreadable ? reason : "\(path.abbreviatedForMessages): \(reason)"
    }
}
