// Measures of what a code holds: the unsupervised clustering error of an adversarial
// autoencoder's cluster head (Makhzani et al. 2015, section 6).

import Datasets
import Engine
import Foundation
import Models
import Training

extension TrainingRun {
    /// Clustering error of the test split: each cluster takes the most frequent label of the
    /// training samples assigned to it; a test sample counts as an error when its cluster's label
    /// is not its own. Needs an aae with clusters and labelled data.
    public func clusteringError() throws -> (error: Double, clusters: Int, used: Int) {
        guard let aae = model as? any ClusteringModel, aae.clusters > 0 else {
            throw TrainingError("clustering error needs an aae trained with --clusters K")
        }
        func assignments(_ source: any BatchSource, _ indices: [Int]) -> (clusters: [Int], labels: [Int32]) {
            let codes = trainer.encode(source, indices: indices, epoch: evaluationEpoch)
            let width = aae.codeWidth, k = aae.clusters
            let clusters = (0..<indices.count).map { r in
                (0..<k).max { codes[r * width + $0] < codes[r * width + $1] }!
            }
            var labels = [Int32](repeating: -1, count: indices.count)
            indices.withUnsafeBufferPointer { ids in
                labels.withUnsafeMutableBufferPointer { source.fillLabels(indices: ids, into: $0.baseAddress!) }
            }
            return (clusters, labels)
        }
        let train = assignments(trainSource, trainIndices), test = assignments(testSource, testIndices)
        guard train.labels.contains(where: { $0 >= 0 }), test.labels.contains(where: { $0 >= 0 }) else {
            throw TrainingError("clustering error needs labels in \(config.data)")
        }
        let result = Self.clusterLabelError(trainClusters: train.clusters, trainLabels: train.labels,
                                            testClusters: test.clusters, testLabels: test.labels, clusters: aae.clusters)
        return (result.error, aae.clusters, result.used)
    }

    /// The error of labelling each cluster by its most frequent training label (ties: the smaller
    /// label; a cluster with no training sample gets label -1, always wrong), over test samples
    /// with a label; `used` counts clusters holding training samples.
    public static func clusterLabelError(trainClusters: [Int], trainLabels: [Int32], testClusters: [Int],
                                         testLabels: [Int32], clusters: Int) -> (error: Double, used: Int) {
        var votes = [[Int32: Int]](repeating: [:], count: clusters)
        for (c, label) in zip(trainClusters, trainLabels) where label >= 0 { votes[c][label, default: 0] += 1 }
        let labelOf = votes.map { v in v.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key ?? -1 }
        var wrong = 0, counted = 0
        for (c, label) in zip(testClusters, testLabels) where label >= 0 {
            counted += 1
            if labelOf[c] != label { wrong += 1 }
        }
        return (Double(wrong) / Double(max(counted, 1)), votes.filter { !$0.isEmpty }.count)
    }
}
