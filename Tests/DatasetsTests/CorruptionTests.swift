// Corruption noise: statistics within tolerance, keyed by (seed, epoch, sample) so batching
// does not change it, fresh every epoch, and the clean rows are never touched.

import Datasets
import Files
import Testing
import TestSupport

@Suite struct CorruptionTests {
    @Test func parsesSpecs() throws {
        #expect(try Corruption(parsing: "gaussian:0.3").steps == [.gaussian(std: 0.3)])
        #expect(try Corruption(parsing: "gaussian:25/255").steps == [.gaussian(std: 25.0 / 255)])
        #expect(try Corruption(parsing: "gaussian:5/255..55/255").steps
            == [.gaussianRange(low: 5.0 / 255, high: 55.0 / 255)])
        #expect(throws: InputError.self) { try Corruption(parsing: "gaussian:0.5..0.1") }
        let combined = try Corruption(parsing: "masking:0.2+salt-pepper:0.1+clip")
        #expect(combined.steps == [.masking(fraction: 0.2), .saltAndPepper(fraction: 0.1)])
        #expect(combined.clip)
        #expect(try Corruption(parsing: "none").isNone)
        for bad in ["gausian:0.3", "gaussian", "masking:1.5", "gaussian:-1", "salt-pepper:x", "clip:1",
                    "gaussian:1/0"] {
            #expect(throws: InputError.self, "\(bad)") { try Corruption(parsing: bad) }
        }
    }

    /// Specs print as they were written (25/255, not 0.09803922) and read back to the same noise.
    @Test func specsPrintAsWrittenAndReadBack() throws {
        for (spec, printed) in [("gaussian:25/255", "gaussian:25/255"), ("gaussian:0.2", "gaussian:0.2"),
                                ("gaussian:0.09803922", "gaussian:25/255"), ("gaussian:50/255+clip", "gaussian:50/255+clip"),
                                ("gaussian:5/255..55/255", "gaussian:5/255..55/255"), ("gaussian:0.3..0.5", "gaussian:0.3..0.5"),
                                ("gaussian:1/7", "gaussian:0.14285715"), ("masking:0.25", "masking:0.25")] {
            let corruption = try Corruption(parsing: spec)
            #expect(corruption.description == printed, "\(spec)")
            #expect(try Corruption(parsing: corruption.description) == corruption, "\(spec)")
        }
    }

    func noisy(_ spec: String, value: Float = 0.5, count: Int = 200_000, epoch: Int = 0,
               sample: Int = 7) throws -> [Float] {
        let corruption = try Corruption(parsing: spec)
        var row = [Float](repeating: value, count: count)
        row.withUnsafeMutableBufferPointer {
            corruption.apply(to: $0.baseAddress!, count: count, seed: 11, epoch: epoch, sampleIndex: sample)
        }
        return row
    }

    @Test func gaussianStatistics() throws {
        let row = try noisy("gaussian:0.2")
        let mean = row.reduce(0, +) / Float(row.count)
        let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(row.count)
        expectClose(mean, 0.5, relative: 0, absolute: 0.003)
        expectClose(variance.squareRoot(), 0.2, relative: 0.01)
        let clipped = try noisy("gaussian:0.5+clip")
        #expect(clipped.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(clipped.contains(0) && clipped.contains(1))
    }

    @Test func sigmaRangeDrawsOneSigmaPerSample() throws {
        // Each sample's noise has one sigma, spread over the range across samples.
        let spec = try Corruption(parsing: "gaussian:0.1..0.3")
        var sigmas: [Float] = []
        for sample in 0..<40 {
            var row = [Float](repeating: 0, count: 4000)
            row.withUnsafeMutableBufferPointer {
                spec.apply(to: $0.baseAddress!, count: $0.count, seed: 1, epoch: 0, sampleIndex: sample)
            }
            sigmas.append((row.map { $0 * $0 }.reduce(0, +) / Float(row.count)).squareRoot())
        }
        #expect(sigmas.allSatisfy { $0 > 0.095 && $0 < 0.31 })
        #expect(sigmas.min()! < 0.13 && sigmas.max()! > 0.27)
    }

    @Test func maskingAndSaltPepperFractions() throws {
        let masked = try noisy("masking:0.25")
        let zeroFraction = Float(masked.filter { $0 == 0 }.count) / Float(masked.count)
        expectClose(zeroFraction, 0.25, relative: 0, absolute: 0.005)
        let salted = try noisy("salt-pepper:0.1")
        let salt = Float(salted.filter { $0 == 1 }.count) / Float(salted.count)
        let pepper = Float(salted.filter { $0 == 0 }.count) / Float(salted.count)
        expectClose(salt, 0.05, relative: 0, absolute: 0.003)
        expectClose(pepper, 0.05, relative: 0, absolute: 0.003)
    }

    @Test func sameKeySameNoiseNewEpochNewNoise() throws {
        #expect(try noisy("gaussian:0.1", count: 100) == noisy("gaussian:0.1", count: 100))
        #expect(try noisy("gaussian:0.1", count: 100) != noisy("gaussian:0.1", count: 100, epoch: 1))
        #expect(try noisy("gaussian:0.1", count: 100) != noisy("gaussian:0.1", count: 100, sample: 8))
    }

    @Test func batchCompositionDoesNotChangeNoiseAndCleanIsUntouched() throws {
        let (train, _) = try MNIST.loadFolder(bundledMNISTSample)
        let assembler = try BatchAssembler(dataset: train!, corruption: Corruption(parsing: "gaussian:0.3"),
                                           seed: 5)
        let width = assembler.rowWidth
        func batch(_ ids: [Int], epoch: Int) -> (clean: [Float], noisy: [Float]) {
            var clean = [Float](repeating: 0, count: ids.count * width)
            var noisy = clean
            ids.withUnsafeBufferPointer { p in
                clean.withUnsafeMutableBufferPointer { c in
                    noisy.withUnsafeMutableBufferPointer { n in
                        assembler.fill(indices: p, epoch: epoch, clean: c.baseAddress!, corrupted: n.baseAddress!)
                    }
                }
            }
            return (clean, noisy)
        }
        let big = batch([3, 99, 42, 7], epoch: 2)
        let small = batch([42], epoch: 2)
        #expect(Array(big.noisy[(2 * width)..<(3 * width)]) == small.noisy)
        #expect(big.noisy != batch([3, 99, 42, 7], epoch: 3).noisy)
        // Clean rows equal the stored pixels.
        var reference = [Float](repeating: 0, count: width)
        reference.withUnsafeMutableBufferPointer { train!.copySample(42, into: $0.baseAddress!) }
        #expect(small.clean == reference)
        #expect(small.noisy != reference)
    }

    @Test func patchesAreDeterministicAndInsideTheImage() throws {
        let root = try makeScratchFolder("patches")
        try copySuite(["basn2c08.png", "cdfn2c08.png"], to: root)
        let dataset = try PNGFolder.load(root, options: PNGFolderOptions(allowMixedSizes: true)).dataset
        #expect(throws: InputError.self) { try BatchAssembler(dataset: dataset, seed: 1) }
        #expect(throws: InputError.self) { try BatchAssembler(dataset: dataset, seed: 1, patch: (9, 9)) }
        let assembler = try BatchAssembler(dataset: dataset, seed: 1, patch: (8, 8))
        #expect(assembler.rowWidth == 3 * 8 * 8)
        var first = [Float](repeating: 0, count: 2 * 192), again = first, later = first
        let ids = [0, 1]
        ids.withUnsafeBufferPointer { p in
            first.withUnsafeMutableBufferPointer { assembler.fill(indices: p, epoch: 0, clean: $0.baseAddress!, corrupted: nil) }
            again.withUnsafeMutableBufferPointer { assembler.fill(indices: p, epoch: 0, clean: $0.baseAddress!, corrupted: nil) }
            later.withUnsafeMutableBufferPointer { assembler.fill(indices: p, epoch: 1, clean: $0.baseAddress!, corrupted: nil) }
        }
        #expect(first == again)
        #expect(first != later)
    }
}

@Suite struct EpochOrderTests {
    @Test func seededPermutations() {
        let order = EpochOrder(count: 1000, seed: 3)
        let a = order.permutation(epoch: 0)
        #expect(a.sorted() == Array(0..<1000))
        #expect(a == EpochOrder(count: 1000, seed: 3).permutation(epoch: 0))
        #expect(a != order.permutation(epoch: 1))
        #expect(a != EpochOrder(count: 1000, seed: 4).permutation(epoch: 0))
        #expect(EpochOrder(count: 5, seed: 3, shuffle: false).permutation(epoch: 9) == [0, 1, 2, 3, 4])
    }
}
