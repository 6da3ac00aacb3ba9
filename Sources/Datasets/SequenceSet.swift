// Multivariate sequences of varying length held in memory once: Float values step-major, (T, D)
// per sequence, back to back, with optional class labels. Rows for a sequence model are (T, D)
// blocks standardized per feature and zero-padded to a fixed number of steps on demand.
// Loaders: SequenceCSV (a folder of CSV files, or one CSV with a sequence-id column), TSFile
// (the UEA/UCR `.ts` format); SequenceSource picks one from a path.

/// A set of multivariate sequences (and labels) in memory.
public struct SequenceSet: Sendable {
    /// Where the sequences came from (a file or folder path).
    public let source: String
    /// `D`: values per step.
    public var features: Int { featureNames.count }
    /// One name per feature: CSV header names, or `dim0`, `dim1`, ... when the source has none.
    public let featureNames: [String]
    /// All values, step-major: sequence i is `steps[i] * features` floats from `offsets[i] * features`.
    let storage: [Float]
    /// First step of each sequence; `offsets.count == count + 1`.
    let offsets: [Int]
    public let labels: [Int32]?
    /// Class names for labels, index = label.
    public let classNames: [String]?
    /// Source file of each sequence relative to `source`, for CSV folders.
    public let files: [String]?

    /// Sequences of `lengths[i]` steps whose `values` (step-major, `features` per step) lie back
    /// to back.
    public init(source: String, featureNames: [String], values: [Float], lengths: [Int],
                labels: [Int32]? = nil, classNames: [String]? = nil, files: [String]? = nil) {
        precondition(!featureNames.isEmpty, "a sequence set needs at least one feature")
        var offsets = [0]
        offsets.reserveCapacity(lengths.count + 1)
        for length in lengths {
            precondition(length > 0, "every sequence needs at least one step")
            offsets.append(offsets.last! + length)
        }
        precondition(offsets.last! * featureNames.count == values.count,
                     "values hold \(values.count) floats, lengths say \(offsets.last! * featureNames.count)")
        precondition(labels == nil || labels!.count == lengths.count, "labels count must match sequences")
        precondition(files == nil || files!.count == lengths.count, "files count must match sequences")
        if let labels, let classNames {
            precondition(labels.allSatisfy { $0 >= 0 && Int($0) < classNames.count }, "label outside classNames")
        }
        self.source = source
        self.featureNames = featureNames
        self.storage = values
        self.offsets = offsets
        self.labels = labels
        self.classNames = classNames
        self.files = files
    }

    public var count: Int { offsets.count - 1 }

    /// `T` of sequence `index`: its number of steps.
    public func length(of index: Int) -> Int { offsets[index + 1] - offsets[index] }

    /// The longest sequence's length (0 for an empty set).
    public var maxLength: Int { (0..<count).map(length(of:)).max() ?? 0 }

    /// The shortest sequence's length (0 for an empty set).
    public var minLength: Int { (0..<count).map(length(of:)).min() ?? 0 }

    /// Steps summed over all sequences.
    public var totalSteps: Int { offsets.last! }

    /// The raw values of sequence `index`, (T, D) step-major, without copying.
    public func values(of index: Int) -> ArraySlice<Float> {
        storage[(offsets[index] * features)..<(offsets[index + 1] * features)]
    }

    /// Writes sequence `index` as `steps` x `features` floats into `row`: standardized when
    /// `standardization` is given, zeros after the sequence's own length.
    ///
    /// The caller picks `steps >= length(of: index)` (usually `maxLength`); cutting a sequence
    /// short is a programmer error, not something to do silently.
    @inline(__always)
    public func copySequence(_ index: Int, standardization: Standardization?, steps: Int,
                             into row: UnsafeMutablePointer<Float>) {
        let d = features, t = length(of: index)
        precondition(t <= steps, "sequence \(index) has \(t) steps, row holds only \(steps)")
        let start = offsets[index] * d
        storage.withUnsafeBufferPointer { p in
            if let standardization {
                precondition(standardization.mean.count == d, "standardization is for another feature count")
                standardization.mean.withUnsafeBufferPointer { mean in
                    standardization.std.withUnsafeBufferPointer { std in
                        for s in 0..<t {
                            for f in 0..<d {
                                row[s * d + f] = (p[start + s * d + f] - mean[f]) / std[f]
                            }
                        }
                    }
                }
            } else {
                for i in 0..<(t * d) { row[i] = p[start + i] }
            }
        }
        for i in (t * d)..<(steps * d) { row[i] = 0 }
    }

    /// Number of label classes (class names, else the largest label + 1); 0 when unlabelled.
    public var classCount: Int {
        guard let labels else { return 0 }
        return max(classNames?.count ?? 0, Int(labels.max() ?? -1) + 1)
    }

    /// The sequences at `indices`, in that order, with their labels and file names.
    public func subset(_ indices: [Int]) -> SequenceSet {
        var values: [Float] = []
        values.reserveCapacity(indices.reduce(0) { $0 + length(of: $1) } * features)
        for i in indices { values.append(contentsOf: self.values(of: i)) }
        return SequenceSet(source: source, featureNames: featureNames, values: values,
                           lengths: indices.map(length(of:)), labels: labels.map { l in indices.map { l[$0] } },
                           classNames: classNames, files: files.map { f in indices.map { f[$0] } })
    }

    /// Number of sequences per label value (index = label), empty when unlabelled.
    public func labelHistogram() -> [Int] {
        guard let labels else { return [] }
        var counts = [Int](repeating: 0, count: max(classNames?.count ?? 0, Int(labels.max() ?? -1) + 1))
        for label in labels { counts[Int(label)] += 1 }
        return counts
    }
}
