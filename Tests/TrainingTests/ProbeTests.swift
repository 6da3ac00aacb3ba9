// The measures of disentanglement must measure: a linear probe is near chance on codes that are
// noise, near perfect on codes that hold the label (linearly, among noise dimensions); the
// clustering error labels clusters by their training majority.

import Analysis
import Engine
import Foundation
import Kernels
import Testing
import Training

@Suite struct ProbeTests {
    /// Codes of `width` Gaussian values; with `signal`, dimension 0..<2 place each label on a circle.
    func codes(count: Int, width: Int, classes: Int, signal: Bool, seed: UInt64) -> ([Float], [Int32]) {
        var rng = SplitMix64(seed: seed)
        var codes = [Float](repeating: 0, count: count * width), labels = [Int32](repeating: 0, count: count)
        for r in 0..<count {
            let label = Int(rng.next() % UInt64(classes))
            labels[r] = Int32(label)
            for j in 0..<width { codes[r * width + j] = rng.nextGaussianPair().0 }
            if signal {
                let angle = 2 * Float.pi * Float(label) / Float(classes)
                codes[r * width] = 4 * cosf(angle) + 0.3 * codes[r * width]
                codes[r * width + 1] = 4 * sinf(angle) + 0.3 * codes[r * width + 1]
            }
        }
        return (codes, labels)
    }

    @Test func linearProbeIsNearChanceOnNoise() {
        let (train, trainLabels) = codes(count: 3000, width: 8, classes: 10, signal: false, seed: 1)
        let (test, testLabels) = codes(count: 2000, width: 8, classes: 10, signal: false, seed: 2)
        let probe = Probe(inputWidth: 8, classes: 10)
        probe.fit(features: train, labels: trainLabels, epochs: 20)
        let accuracy = probe.balancedAccuracy(test, labels: testLabels)
        let chance = Probe.chance(testLabels)
        #expect(chance == 0.1)
        #expect(abs(accuracy - chance) < 0.05, "accuracy \(accuracy), chance \(chance)")
    }

    @Test func linearProbeIsNearPerfectOnCodesHoldingTheLabel() {
        let (train, trainLabels) = codes(count: 3000, width: 8, classes: 10, signal: true, seed: 3)
        let (test, testLabels) = codes(count: 2000, width: 8, classes: 10, signal: true, seed: 4)
        let probe = Probe(inputWidth: 8, classes: 10)
        probe.fit(features: train, labels: trainLabels, epochs: 20)
        #expect(probe.accuracy(test, labels: testLabels) > 0.97)
        #expect(probe.balancedAccuracy(test, labels: testLabels) > 0.97)
    }

    /// Uneven classes: a probe on noise predicts the frequent class; its balanced accuracy stays at chance.
    @Test func balancedAccuracyDiscountsUnevenClasses() {
        let (train, trainLabels0) = codes(count: 3000, width: 4, classes: 3, signal: false, seed: 5)
        let (test, testLabels0) = codes(count: 2000, width: 4, classes: 3, signal: false, seed: 6)
        // Two thirds of the rows become class 0.
        var trainLabels = trainLabels0, testLabels = testLabels0
        for r in trainLabels.indices where r % 3 != 0 { trainLabels[r] = 0 }
        for r in testLabels.indices where r % 3 != 0 { testLabels[r] = 0 }
        let probe = Probe(inputWidth: 4, classes: 3)
        probe.fit(features: train, labels: trainLabels, epochs: 10)
        #expect(probe.accuracy(test, labels: testLabels) > 0.6)
        #expect(abs(probe.balancedAccuracy(test, labels: testLabels) - 1.0 / 3) < 0.06)
    }

    @Test func clusterLabelError() {
        // Cluster 0 is mostly 3s, cluster 1 mostly 5s, cluster 2 empty in training.
        let result = TrainingRun.clusterLabelError(trainClusters: [0, 0, 0, 1, 1], trainLabels: [3, 3, 4, 5, -1],
                                                   testClusters: [0, 0, 1, 2], testLabels: [3, 4, 5, 5], clusters: 3)
        #expect(result.used == 2)
        #expect(result.error == 0.5)
    }
}
