// --augment: the 8 orientations of a square row are the square's symmetries (the same set the
// denoiser's self-ensemble uses), drawn per sample and epoch, reproducibly, for training rows only.

import Datasets
import Denoising
import Engine
import Foundation
import Images
import Kernels
import Testing
import TestSupport
import Training

@Suite struct AugmentationTests {
    @Test func theEightOrientationsAreTheSquaresSymmetries() {
        // Two channels of a 5x5 square with distinct values: no two orientations coincide.
        let shape = ImageShape(channels: 2, height: 5, width: 5)
        let original = (0..<50).map { Float($0) }
        var ours: Set<[Float]> = []
        for k in 0..<8 {
            var row = original
            row.withUnsafeMutableBufferPointer { BatchAssembler.orient($0.baseAddress!, shape: shape, as: k) }
            #expect(Set(row) == Set(original), "orientation \(k) moves values, it does not change them")
            ours.insert(row)
        }
        var ensemble: Set<[Float]> = []
        for mirrored in [false, true] {
            for turns in 0..<4 {
                ensemble.insert(ImageDenoiser.orient(original, channels: 2, height: 5, width: 5, mirrored: mirrored,
                                                     turns: turns))
            }
        }
        #expect(ours.count == 8 && ours == ensemble)
    }

    @Test func orientationsAreDrawnPerSampleAndEpoch() throws {
        var augmented = try sampleAssembler(noise: "none")
        augmented.augment = true
        let plain = try sampleAssembler(noise: "none")
        let ids = Array(0..<40)
        func rows(_ source: BatchAssembler, epoch: Int) -> [[Float]] {
            var out = [Float](repeating: 0, count: ids.count * 784)
            ids.withUnsafeBufferPointer { i in
                out.withUnsafeMutableBufferPointer { source.fill(indices: i, epoch: epoch, clean: $0.baseAddress!, corrupted: nil) }
            }
            return (0..<ids.count).map { Array(out[($0 * 784)..<(($0 + 1) * 784)]) }
        }
        let (base, first, again, next) = (rows(plain, epoch: 0), rows(augmented, epoch: 0), rows(augmented, epoch: 0),
                                          rows(augmented, epoch: 1))
        #expect(first == again)
        var turned = 0, changedAcrossEpochs = 0
        for r in ids {
            #expect(first[r].sorted() == base[r].sorted(), "sample \(r) keeps its pixels")
            if first[r] != base[r] { turned += 1 }
            if first[r] != next[r] { changedAcrossEpochs += 1 }
        }
        // 7 in 8 orientations differ from the original (digits have no symmetry).
        #expect(turned > 25 && changedAcrossEpochs > 25, "\(turned) turned, \(changedAcrossEpochs) changed")
    }

    @Test func runsRefuseAugmentingRowsThatAreNotSquare() throws {
        var config = TrainingConfig(family: .lstm, data: repositoryRoot + "/data/japanese-vowels")
        config.augment = true
        #expect(throws: TrainingError.self) { _ = try TrainingRun(config: config, runDirectory: try makeScratchFolder("aug")) }
        let folder = try makeScratchFolder("wide")
        for i in 0..<3 {
            try PNGCodec.write(PNGImage(width: 6, height: 4, layout: .gray, bitDepth: 8,
                                        values: (0..<24).map { Float(($0 + i) % 5) / 4 }), to: folder + "/w\(i).png")
        }
        var images = TrainingConfig(family: .dense, data: folder)
        images.augment = true
        do {
            _ = try TrainingRun(config: images, runDirectory: try makeScratchFolder("aug2"))
            Issue.record("6x4 images were augmented")
        } catch let error as TrainingError {
            #expect(error.message.contains("square"), "\(error.message)")
        }
        images.patch = 4
        images.noise = "gaussian:0.1"
        _ = try TrainingRun(config: images, runDirectory: try makeScratchFolder("aug3"))  // square patches are fine
    }
}
