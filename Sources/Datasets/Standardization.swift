// Per-feature standardization of sequence values, fitted on the training sequences and stored
// with a model so that inputs are scaled the same way later and reconstructions can be shown in
// the data's own units.

/// Per-feature mean and standard deviation: a model sees `(x - mean) / std`, and reconstructions
/// map back with `y * std + mean` to be shown in the data's own units.
public struct Standardization: Sendable, Codable, Equatable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count, "mean and std need one value per feature")
        precondition(std.allSatisfy { $0 > 0 && $0.isFinite }, "std must be positive and finite")
        self.mean = mean
        self.std = std
    }

    /// Fits mean and (population) standard deviation per feature over every step of the given
    /// sequences (all of them when `indices` is nil); padding never enters.
    ///
    /// A feature whose std is below `1e-6 * max(1, |mean|)` is constant up to float rounding;
    /// dividing by that would blow rounding noise up to unit size, so its std is taken as 1
    /// (as scikit-learn's StandardScaler does): its values become `x - mean` and invert exactly.
    public init(fitting set: SequenceSet, indices: [Int]? = nil) {
        let d = set.features
        var n = 0.0
        var sum = [Double](repeating: 0, count: d)
        let chosen = indices ?? Array(0..<set.count)
        for i in chosen {
            let values = set.values(of: i)
            var at = values.startIndex
            while at < values.endIndex {
                for f in 0..<d { sum[f] += Double(values[at + f]) }
                at += d
            }
            n += Double(set.length(of: i))
        }
        let mean = sum.map { n > 0 ? $0 / n : 0 }
        // Second pass about the mean: no cancellation from sum-of-squares minus squared sum.
        var squares = [Double](repeating: 0, count: d)
        for i in chosen {
            let values = set.values(of: i)
            var at = values.startIndex
            while at < values.endIndex {
                for f in 0..<d {
                    let centred = Double(values[at + f]) - mean[f]
                    squares[f] += centred * centred
                }
                at += d
            }
        }
        let std = (0..<d).map { f -> Float in
            let s = n > 0 ? (squares[f] / n).squareRoot() : 0
            return s < 1e-6 * max(1, abs(mean[f])) ? 1 : Float(s)
        }
        self.init(mean: mean.map { Float($0) }, std: std)
    }

    /// Decodes and checks what an init would: one std per mean, each positive and finite.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let mean = try container.decode([Float].self, forKey: .mean)
        let std = try container.decode([Float].self, forKey: .std)
        guard mean.count == std.count, std.allSatisfy({ $0 > 0 && $0.isFinite }),
              mean.allSatisfy(\.isFinite) else {
            throw DecodingError.dataCorruptedError(forKey: .std, in: container, debugDescription:
                "standardization needs finite means and positive finite stds, one per feature")
        }
        self.init(mean: mean, std: std)
    }

    public var features: Int { mean.count }

    /// Standardizes `values` in place: (T, D) step-major, `x -> (x - mean) / std` per feature.
    public func apply(to values: UnsafeMutableBufferPointer<Float>) {
        let d = features
        precondition(values.count % d == 0, "\(values.count) values are not whole steps of \(d) features")
        for s in 0..<(values.count / d) {
            for f in 0..<d { values[s * d + f] = (values[s * d + f] - mean[f]) / std[f] }
        }
    }

    /// Maps standardized `values` back to the data's units in place: `y -> y * std + mean`.
    public func invert(_ values: UnsafeMutableBufferPointer<Float>) {
        let d = features
        precondition(values.count % d == 0, "\(values.count) values are not whole steps of \(d) features")
        for s in 0..<(values.count / d) {
            for f in 0..<d { values[s * d + f] = values[s * d + f] * std[f] + mean[f] }
        }
    }

    /// `values` standardized, (T, D) step-major.
    public func applied(to values: [Float]) -> [Float] {
        var out = values
        out.withUnsafeMutableBufferPointer { apply(to: $0) }
        return out
    }

    /// Standardized `values` in the data's units, (T, D) step-major.
    public func inverted(_ values: [Float]) -> [Float] {
        var out = values
        out.withUnsafeMutableBufferPointer { invert($0) }
        return out
    }
}
