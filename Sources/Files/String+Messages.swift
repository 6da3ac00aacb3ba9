// How a path or a value stands in a one-line error message: long ones (a 50 MB `--data` string)
// are cut to their start and end.

extension String {
    /// This path or value as an error message shows it: whole up to 300 characters, else its
    /// start and end (a 50 MB `--data` string is not echoed whole).
    public var abbreviatedForMessages: String {
        guard count > 300 else { return self }
        return "\(prefix(200))...\(suffix(60)) (\(count) characters)"
    }
}
