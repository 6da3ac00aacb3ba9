// The error of the engine and of the runs built on it.

/// Errors that stop a run, each a one-line reason.
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
