// SplitMix64 matches the published reference sequence and keyed streams are independent;
// fillGaussian writes the pairs nextGaussianPair draws.

import Kernels
import Testing

@Suite struct SplitMix64Tests {
    @Test func matchesReferenceSequence() {
        // Reference values of splitmix64.c (Vigna) seeded with 0.
        var rng = SplitMix64(seed: 0)
        #expect(rng.next() == 0xE220_A839_7B1D_CDAF)
        #expect(rng.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(rng.next() == 0x06C4_5D18_8009_454F)
    }

    @Test func keyedStreamsDependOnEveryComponent() {
        var a = SplitMix64(key: 1, 2, 3)
        var b = SplitMix64(key: 1, 2, 3)
        var c = SplitMix64(key: 1, 2, 4)
        var d = SplitMix64(key: 2, 1, 3)
        let first = a.next()
        #expect(first == b.next())
        #expect(first != c.next())
        #expect(first != d.next())
    }

    @Test func uniformAndGaussianMoments() {
        var rng = SplitMix64(key: 42)
        var sum = 0.0, squares = 0.0, uniformSum = 0.0
        let n = 100_000
        for _ in 0..<(n / 2) {
            let (x, y) = rng.nextGaussianPair()
            sum += Double(x + y)
            squares += Double(x * x + y * y)
            let u = rng.nextUniform()
            #expect(u >= 0 && u < 1)
            uniformSum += Double(u)
        }
        #expect(abs(sum / Double(n)) < 0.02)
        #expect(abs(squares / Double(n) - 1) < 0.02)
        #expect(abs(uniformSum / Double(n / 2) - 0.5) < 0.01)
    }

    @Test(arguments: [0, 1, 6, 7])
    func fillGaussianWritesPairsInOrder(count: Int) {
        var filler = SplitMix64(key: 7), drawer = SplitMix64(key: 7)
        var values = [Float](repeating: .nan, count: count + 1)
        values.withUnsafeMutableBufferPointer { filler.fillGaussian($0.baseAddress!, count: count, scale: 0.5) }
        var expected: [Float] = []
        while expected.count < count {
            let (a, b) = drawer.nextGaussianPair()
            expected += [0.5 * a, 0.5 * b]
        }
        #expect(Array(values[0..<count]) == Array(expected.prefix(count)))
        #expect(values[count].isNaN, "nothing written past count")
        #expect(filler.state == drawer.state, "an odd count still draws a whole pair")
    }
}
