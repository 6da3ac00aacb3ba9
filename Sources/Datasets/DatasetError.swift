// Errors for everything the user points the tool at: each names the file or option, what was
// expected and what was found, in one line.

import Images

/// A data source that cannot be used, with a one-line reason naming the file.
public struct DatasetError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case notFound, unreadable, badMagic, badHeader, truncated, trailingData, absurdSize,
             countMismatch, corrupt, empty, mixedSizes, tooSmall, badOption
    }

    public let kind: Kind
    public let path: String
    public let reason: String

    public init(_ kind: Kind, path: String, _ reason: String) {
        self.kind = kind
        self.path = path
        self.reason = reason
    }

    public var description: String { path.isEmpty ? reason : "\(path.abbreviatedForMessages): \(reason)" }
}
