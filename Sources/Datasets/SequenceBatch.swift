// Minibatch rows of variable-length sequences: (T, D) standardized values, zero-padded after the
// sequence's length, then one float holding that length, so a model can mask the padding.

import Files
import Kernels

public struct SequenceBatchSource: BatchSource {
    public let sequences: SequenceSet
    public let standardization: Standardization?
    public let corruption: Corruption
    public let seed: UInt64
    /// Steps per row (the longest sequence the model takes).
    public let steps: Int

    /// - Throws: `InputError` when a sequence is longer than `steps`.
    public init(sequences: SequenceSet, standardization: Standardization?, corruption: Corruption = .none,
                seed: UInt64, steps: Int) throws {
        guard sequences.maxLength <= steps else {
            throw InputError(.tooSmall, path: sequences.source, "a sequence has \(sequences.maxLength) steps, "
                + "the model takes at most \(steps)")
        }
        self.sequences = sequences
        self.standardization = standardization
        self.corruption = corruption
        self.seed = seed
        self.steps = steps
    }

    public var rowWidth: Int { steps * sequences.features + 1 }

    public func fillLabels(indices: UnsafeBufferPointer<Int>, into labels: UnsafeMutablePointer<Int32>) {
        guard let known = sequences.labels else {
            labels.update(repeating: -1, count: indices.count)
            return
        }
        for r in 0..<indices.count { labels[r] = known[indices[r]] }
    }

    public var classCount: Int { sequences.classCount }

    /// Writes sequences `indices` as rows of `clean` and, when given, `corrupted`; noise touches
    /// only the valid steps, so padding stays zero.
    public func fill(indices: UnsafeBufferPointer<Int>, epoch: Int, clean: UnsafeMutablePointer<Float>,
                     corrupted: UnsafeMutablePointer<Float>?) {
        let width = rowWidth, d = sequences.features
        for r in 0..<indices.count {
            let index = indices[r], row = clean + r * width
            let n = sequences.length(of: index)
            sequences.copySequence(index, standardization: standardization, steps: steps, into: row)
            row[width - 1] = Float(n)
            if let corrupted {
                let noisy = corrupted + r * width
                noisy.update(from: row, count: width)
                corruption.apply(to: noisy, count: n * d, seed: seed, epoch: epoch, sampleIndex: index)
            }
        }
    }
}
