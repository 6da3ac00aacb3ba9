// The engine with convolutional models: shard determinism for the conv autoencoder and the
// denoiser (trained on random patches), and whole-image denoising where tiles must agree with a
// single pass and odd sizes come back unchanged in size.

import Datasets
import Denoising
import Engine
import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport
import Training

/// Trains `model` for `steps` minibatches of 24 from a fixed order; returns the trainer.
func trainModel(_ model: any AutoencoderModel, source: any BatchSource, count: Int, shards: Int,
                steps: Int) -> Trainer {
    let trainer = Trainer(model: model, optimizers: [OptimizerConfig()], shards: shards, maxBatch: 24, seed: 5)
    let order = EpochOrder(count: count, seed: 5).permutation(epoch: 0)
    for k in 0..<steps {
        order[(k * 24)..<((k + 1) * 24)].withUnsafeBufferPointer {
            _ = trainer.trainStep(source, indices: $0, epoch: 0)
        }
    }
    return trainer
}

/// A small synthetic dataset of smooth 8-bit images of mixed sizes.
func smoothImages(count: Int, channels: Int) -> Dataset {
    var sizes: [(height: Int, width: Int)] = []
    var values: [UInt8] = []
    for i in 0..<count {
        let h = 20 + i % 5, w = 18 + (i * 3) % 7
        sizes.append((h, w))
        for c in 0..<channels {
            for y in 0..<h {
                for x in 0..<w {
                    let v = 0.5 + 0.4 * sin(Double(x + i) * 0.3 + Double(c)) * cos(Double(y) * 0.2)
                    values.append(UInt8((v * 255).rounded()))
                }
            }
        }
    }
    return Dataset(source: "synthetic", channels: channels, sizes: sizes, storage: .bytes(values), labels: nil)
}

/// Uniform values in [0, 1) from a seeded generator.
func uniformArray(_ count: Int, seed: UInt64) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in rng.nextUniform() }
}

@Suite struct ConvTrainingTests {
    @Test func convShardCountsAgreeAndRepeatBitIdentically() throws {
        let assembler = try sampleAssembler(noise: "gaussian:0.2")
        var config = ConvAutoencoderConfig()
        config.filters = [6, 4, 4]
        let count = assembler.dataset.count
        let one = trainModel(ConvAutoencoder(config), source: assembler, count: count, shards: 1, steps: 3)
        let three = trainModel(ConvAutoencoder(config), source: assembler, count: count, shards: 3, steps: 3)
        let again = trainModel(ConvAutoencoder(config), source: assembler, count: count, shards: 3, steps: 3)
        #expect(three.params.array == again.params.array)
        expectClose(three.params.array, one.params.array, relative: 1e-5, absolute: 1e-6)
    }

    @Test func denoiserOnPatchesIsShardDeterministic() throws {
        let dataset = smoothImages(count: 60, channels: 2)
        let assembler = try BatchAssembler(dataset: dataset, corruption: Corruption(parsing: "gaussian:25/255"),
                                           seed: 3, patch: (16, 16))
        var config = ConvDenoiserConfig(channels: 2)
        config.width = 4
        let one = trainModel(ConvDenoiser(config, height: 16, width: 16), source: assembler, count: 60, shards: 1,
                             steps: 2)
        let two = trainModel(ConvDenoiser(config, height: 16, width: 16), source: assembler, count: 60, shards: 2,
                             steps: 2)
        let twoAgain = trainModel(ConvDenoiser(config, height: 16, width: 16), source: assembler, count: 60,
                                  shards: 2, steps: 2)
        #expect(two.params.array == twoAgain.params.array)
        expectClose(two.params.array, one.params.array, relative: 1e-5, absolute: 1e-6)
    }

    /// A small randomly initialised denoiser (width 4) that runs in 16-pixel tiles.
    func randomDenoiser(channels: Int, depth: Int, seed: UInt64) -> ImageDenoiser {
        var config = ConvDenoiserConfig(channels: channels)
        config.depth = depth
        config.width = 4
        let model = ConvDenoiser(config, height: 8, width: 8)
        let params = FloatBuffer(count: model.layout.count)
        model.initialize(params: Arena(params), seed: seed)
        // The denoiser copies the parameters.
        return withExtendedLifetime(params) { ImageDenoiser(config: config, parameters: params.pointer, tile: 16) }
    }

    @Test(arguments: [(1, 0), (1, 2), (3, 2), (1, 3)])
    func tiledDenoisingMatchesOnePass(channels: Int, depth: Int) {
        // Tiles much smaller than the image, so interior, edge and corner tiles all occur.
        let denoiser = randomDenoiser(channels: channels, depth: depth, seed: 7)
        let height = 53, width = 37
        let image = uniformArray(channels * height * width, seed: 2)
        let runners = [ImageDenoiser.Runner(), ImageDenoiser.Runner()]
        let whole = denoiser.denoise(image, height: height, width: width, tiled: false, runners: runners)
        let tiled = denoiser.denoise(image, height: height, width: width, tiled: true, runners: runners)
        #expect(whole.count == image.count)
        expectClose(tiled, whole, relative: 1e-5, absolute: 1e-5)
        // The network did something: the output is not the input.
        #expect(zip(whole, image).contains { abs($0 - $1) > 1e-3 })
    }

    @Test func orientationsAreEightDistinctInvertibleMaps() {
        let channels = 2, height = 3, width = 5
        let image = (0..<(channels * height * width)).map(Float.init)
        var seen: Set<[Float]> = []
        for k in 0..<8 {
            let turned = ImageDenoiser.orient(image, channels: channels, height: height, width: width,
                                              mirrored: k >= 4, turns: k % 4)
            seen.insert(turned)
            let (h, w) = k % 2 == 0 ? (height, width) : (width, height)
            #expect(ImageDenoiser.unorient(turned, channels: channels, height: h, width: w, mirrored: k >= 4,
                                           turns: k % 4) == image)
        }
        #expect(seen.count == 8)
        // One counter-clockwise turn of [[0 1 2] [3 4 5]] (2 x 3) is [[2 5] [1 4] [0 3]].
        #expect(ImageDenoiser.orient([0, 1, 2, 3, 4, 5], channels: 1, height: 2, width: 3, mirrored: false,
                                     turns: 1) == [2, 5, 1, 4, 0, 3])
    }

    @Test func selfEnsembleIsEquivariantUnderRotationsAndMirrors() {
        // Averaging over the group makes the output of a turned or mirrored input the turned or
        // mirrored output, which a single pass (bottom/right padding, pooling grid) does not give.
        let denoiser = randomDenoiser(channels: 1, depth: 2, seed: 3)
        let height = 29, width = 22
        let image = uniformArray(height * width, seed: 5)
        let runners = [ImageDenoiser.Runner()]
        let plain = denoiser.denoise(image, height: height, width: width, runners: runners)
        let averaged = denoiser.denoise(image, height: height, width: width, ensemble: true, runners: runners)
        let turnedInput = ImageDenoiser.orient(image, channels: 1, height: height, width: width, mirrored: true,
                                               turns: 1)
        func turned(_ output: [Float]) -> [Float] {
            ImageDenoiser.orient(output, channels: 1, height: height, width: width, mirrored: true, turns: 1)
        }
        let ofTurned = denoiser.denoise(turnedInput, height: width, width: height, ensemble: true, runners: runners)
        expectClose(ofTurned, turned(averaged), relative: 1e-5, absolute: 1e-6)
        let plainOfTurned = denoiser.denoise(turnedInput, height: width, width: height, runners: runners)
        #expect(zip(plainOfTurned, turned(plain)).contains { abs($0 - $1) > 1e-4 })
        #expect(zip(averaged, plain).contains { abs($0 - $1) > 1e-4 })
    }

    @Test func receptiveRadiusBoundsTheInfluenceOfAPixel() {
        // Changing one input pixel must leave outputs further away than the radius unchanged.
        var config = ConvDenoiserConfig(channels: 1)
        config.width = 3
        let size = 96
        let model = ConvDenoiser(config, height: size, width: size)
        let params = FloatBuffer(count: model.layout.count)
        defer { withExtendedLifetime(params) {} }
        model.initialize(params: Arena(params), seed: 1)
        let ws = model.makeWorkspace(maxRows: 1)
        func run(_ poke: Float) -> [Float] {
            let x = model.input(ws, rows: 1).base
            for i in 0..<(size * size) { x[i] = 0.5 }
            x[(size / 2) * size + size / 2] = poke
            model.forward(StepContext(training: false), ws, rows: 1, params: Arena(params), statistic: nil)
            return model.reconstruction(ws, rows: 1).array
        }
        let a = run(0.5), b = run(5)
        var reach = 0
        for y in 0..<size {
            for x in 0..<size where abs(a[y * size + x] - b[y * size + x]) > 0 {
                reach = max(reach, abs(y - size / 2), abs(x - size / 2))
            }
        }
        #expect(reach > 0)
        #expect(reach <= config.receptiveRadius)
    }
}
