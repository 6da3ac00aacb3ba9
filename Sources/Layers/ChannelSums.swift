// The bias gradient of a layer that adds one bias per channel at every position (the
// convolutions): `db[c] += sum over positions of dy[c, position]`.

/// Adds to `db[c]` the sum of `dy[c * length ..< (c + 1) * length]`, for `c` in `0..<channels`.
/// Each channel is summed in position order first, then added to `db[c]` once.
func addChannelSums(_ dy: UnsafePointer<Float>, channels: Int, length: Int, into db: UnsafeMutablePointer<Float>) {
    for c in 0..<channels {
        let row = dy + c * length
        var s: Float = 0
        for i in 0..<length { s += row[i] }
        db[c] += s
    }
}
