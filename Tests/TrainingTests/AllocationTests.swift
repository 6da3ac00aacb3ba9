// Zero allocations per training step after warm-up, for every family and form (dense family,
// sequences, adversarial, disentangling, AdaIN, RBM, VAEs, convolutional autoencoders, the U-Net
// denoiser on its Winograd path, staged pretraining and fine-tuning) and for the GEMM shapes that
// OpenBLAS's AVX-512 kernels would allocate for. tools/test runs this suite in an optimised build
// once per OpenBLAS kernel family the CPU can run (OPENBLAS_CORETYPE).

import CAllocationCounter
import Datasets
import Engine
import Foundation
import Kernels
import Layers
import Models
import Testing
import TestSupport
import Training

/// Three warm-up steps, then five more on the first `rows` samples that must not allocate.
func expectStepsAllocateNothing(_ trainer: Trainer, _ source: any BatchSource, rows: Int,
                                sourceLocation: SourceLocation = #_sourceLocation) {
    Array(0..<rows).withUnsafeBufferPointer { p in
        for _ in 0..<3 { trainer.trainStep(source, indices: p, epoch: 0) }
        let before = allocation_count()
        for _ in 0..<5 { trainer.trainStep(source, indices: p, epoch: 1) }
        let allocations = allocation_count() - before
        #expect(allocations == 0, "\(allocations) allocations in 5 steps", sourceLocation: sourceLocation)
        if allocations > 0 {
            // One more step with the counter printing where its first allocation comes from.
            allocation_trace(1)
            trainer.trainStep(source, indices: p, epoch: 1)
            allocation_trace(0)
        }
    }
}

/// The same for a new trainer of `model` on 2 shards with room for `rows`.
func expectStepsAllocateNothing(_ model: any AutoencoderModel, _ source: any BatchSource, rows: Int,
                                optimizer: OptimizerConfig = OptimizerConfig(), threadsPerShard: Int = 1,
                                sourceLocation: SourceLocation = #_sourceLocation) {
    let trainer = Trainer(model: model, optimizers: [optimizer], shards: 2, maxBatch: rows, seed: 1,
                          threadsPerShard: threadsPerShard)
    expectStepsAllocateNothing(trainer, source, rows: rows, sourceLocation: sourceLocation)
}

/// Serialized: the allocation counter counts every malloc in the process.
@Suite(.serialized) struct AllocationTests {
    @Test(.enabled(if: optimizedBuild, "needs an optimised build (swift test -c release)"))
    func stepAllocatesNothingAfterWarmUpWithThreadsPerShard() throws {
        let source: any BatchSource = try sampleAssembler()
        expectStepsAllocateNothing(DenseAutoencoder(DenseAutoencoderConfig(widths: [784, 256, 64])), source,
                                   rows: 48, threadsPerShard: 2)
    }

    /// The same for a sequence model (stacked, bidirectional, masks, scheduled teacher forcing).
    @Test(.enabled(if: optimizedBuild, "needs an optimised build (swift test -c release)"))
    func stepAllocatesNothingAfterWarmUpForSequences() throws {
        let source: any BatchSource = try vowelSource()
        var config = SequenceAutoencoderConfig(cell: .lstm, steps: 29, features: 12)
        config.hidden = 16
        config.layers = 2
        config.bidirectional = true
        config.variableLength = true
        config.output = .linear
        config.decoderInput = .previous
        config.teacherForcing = 0.5
        var optimizer = OptimizerConfig()
        optimizer.clipNorm = 1
        expectStepsAllocateNothing(SequenceAutoencoder(config), source, rows: 30, optimizer: optimizer)
    }

    /// The adversarial autoencoder with clusters (three phases, two discriminators), and with the
    /// clustering terms.
    @Test(.enabled(if: optimizedBuild, "needs an optimised build (swift test -c release)"))
    func stepAllocatesNothingAfterWarmUpForAdversarial() throws {
        let source: any BatchSource = try sampleAssembler(noise: "none")
        expectStepsAllocateNothing(AdversarialAutoencoder(smallAAE(clusters: 4)), source, rows: 48)
        // Moved and turned inputs, a second view through the encoder and the balance term.
        var config = smallAAE(clusters: 4)
        (config.shift, config.rotate, config.consistency, config.balance) = (2, 10, 0.1, 0.02)
        (config.imageChannels, config.imageHeight, config.imageWidth) = (1, 28, 28)
        expectStepsAllocateNothing(AdversarialAutoencoder(config), source, rows: 48)
    }

    /// The disentangling model (variational code, adversary phase, decoder stages), without and
    /// with the swap critic (a second pass of the decoder, the critic on real and swapped images)
    /// and the scatter penalty (a batch statistic).
    @Test(.enabled(if: optimizedBuild, "needs an optimised build (swift test -c release)"), arguments: [0, 0.1] as [Float])
    func stepAllocatesNothingAfterWarmUpForDisentangling(swapWeight: Float) throws {
        let source: any BatchSource = try sampleAssembler(noise: "none")
        var config = DisentanglingAutoencoderConfig(widths: [784, 32, 4])
        config.classes = 10
        config.swapWeight = swapWeight
        config.scatterWeight = swapWeight > 0 ? 1 : 0
        expectStepsAllocateNothing(DisentanglingAutoencoder(config), source, rows: 48)
    }

    /// The AdaIN two-encoder form (convolutions, instance norms, AdaIN, a variational content code),
    /// without and with the conversion critic (a second decoding, the critic on real rows and conversions).
    @Test(.enabled(if: optimizedBuild, "needs an optimised build (swift test -c release)"), arguments: [0, 0.1] as [Float])
    func stepAllocatesNothingAfterWarmUpForAdaIN(swapWeight: Float) throws {
        let source: any BatchSource = try sampleAssembler(noise: "none")
        var config = DisentanglingAutoencoderConfig(widths: [784])
        config.form = .adain
        config.classes = 10
        config.swapWeight = swapWeight
        config.channels = 8
        (config.imageChannels, config.imageHeight, config.imageWidth) = (1, 28, 28)
        expectStepsAllocateNothing(AdaINAutoencoder(config), source, rows: 16)
    }

    /// The RBM (Gibbs sampling, CD statistics, SGD with momentum).
    @Test(.enabled(if: optimizedBuild, "needs an optimised build (swift test -c release)"))
    func stepAllocatesNothingAfterWarmUpForRBM() throws {
        let source: any BatchSource = try sampleAssembler(noise: "none")
        expectStepsAllocateNothing(RestrictedBoltzmannMachine(RBMConfig(visible: 784, hidden: 64)), source,
                                   rows: 48, optimizer: ModelFamily.rbm.defaultOptimizer)
    }

    /// The dense VAE (Bernoulli decoder, KL warm-up, free bits: the cross-shard statistic).
    @Test(.enabled(if: optimizedBuild, "needs an optimised build (swift test -c release)"))
    func stepAllocatesNothingAfterWarmUpForDenseVAE() throws {
        let source: any BatchSource = try sampleAssembler(noise: "none")
        var config = VariationalAutoencoderConfig(widths: [784, 40, 5])
        config.warmupSteps = 100
        config.freeBits = 0.1
        expectStepsAllocateNothing(VariationalAutoencoder(config), source, rows: 48)
    }

    /// The dense VAE with a learned-variance Gaussian decoder.
    @Test(.enabled(if: optimizedBuild, "needs an optimised build (swift test -c release)"))
    func stepAllocatesNothingAfterWarmUpForGaussianVAE() throws {
        let source: any BatchSource = try sampleAssembler(noise: "none")
        var config = VariationalAutoencoderConfig(widths: [784, 24, 3])
        config.decoder = .gaussianLearned
        expectStepsAllocateNothing(VariationalAutoencoder(config), source, rows: 48)
    }

    /// The convolutional VAE.
    @Test(.enabled(if: optimizedBuild, "needs an optimised build (swift test -c release)"))
    func stepAllocatesNothingAfterWarmUpForConvVAE() throws {
        let source: any BatchSource = try sampleAssembler(noise: "none")
        var config = VariationalAutoencoderConfig(widths: [6])
        config.architecture = .conv
        config.filters = [4, 8]
        expectStepsAllocateNothing(VariationalAutoencoder(config), source, rows: 16)
    }

    /// The convolutional autoencoder in both architectures (pooled: M2; strided), alone and with a
    /// team of 2 threads per shard.
    @Test(.enabled(if: optimizedBuild, "needs an optimised build (swift test -c release)"),
          arguments: [ConvArchitecture.pooled, .strided], [1, 2])
    func stepAllocatesNothingAfterWarmUpForConvAutoencoder(architecture: ConvArchitecture, threadsPerShard: Int) throws {
        let source: any BatchSource = try sampleAssembler(noise: "gaussian:0.2")
        var config = ConvAutoencoderConfig()
        config.filters = [6, 4, 4]
        config.architecture = architecture
        expectStepsAllocateNothing(ConvAutoencoder(config), source, rows: 16, threadsPerShard: threadsPerShard)
    }

    /// The U-Net denoiser on random patches, wide enough for its Winograd path (24 x 24 channels and
    /// more), with flips and turns; also with threads per shard.
    @Test(.enabled(if: optimizedBuild, "needs an optimised build (swift test -c release)"), arguments: [1, 2])
    func stepAllocatesNothingAfterWarmUpForWinogradDenoiser(threadsPerShard: Int) throws {
        var assembler = try BatchAssembler(dataset: smoothImages(count: 24, channels: 1),
                                           corruption: Corruption(parsing: "gaussian:25/255"), seed: 3, patch: (16, 16))
        assembler.augment = true
        var config = ConvDenoiserConfig(channels: 1)
        config.width = 24
        expectStepsAllocateNothing(ConvDenoiser(config, height: 16, width: 16), assembler,
                                   rows: 8, threadsPerShard: threadsPerShard)
    }

    /// The GRU sequence autoencoder (the LSTM has its own test above), alone and on a team.
    @Test(.enabled(if: optimizedBuild, "needs an optimised build (swift test -c release)"), arguments: [1, 2])
    func stepAllocatesNothingAfterWarmUpForGRU(threadsPerShard: Int) throws {
        let source: any BatchSource = try vowelSource()
        var config = SequenceAutoencoderConfig(cell: .gru, steps: 29, features: 12)
        config.hidden = 20
        config.output = .linear
        expectStepsAllocateNothing(SequenceAutoencoder(config), source, rows: 30, threadsPerShard: threadsPerShard)
    }

    /// A staged run: a stage above the first (reading the codes of the one below) and the
    /// fine-tuning of the unrolled stack, each reloaded from its checkpoint as a resume does.
    @Test(.enabled(if: optimizedBuild, "needs an optimised build (swift test -c release)"))
    func stepAllocatesNothingAfterWarmUpForStagedRun() throws {
        let folder = try makeScratchFolder("allocation-staged")
        let (staged, _) = try runStaged(try stagedPlan(.dae), folder: folder)
        let stageFolder = folder + "/stages/dae-2"
        let stage = try TrainingRun(config: try Checkpoint.load(stageFolder).config, runDirectory: stageFolder,
                                    resume: stageFolder)
        expectStepsAllocateNothing(stage.trainer, stage.trainSource, rows: 48)
        let finetune = try #require(staged.finetuneRun)
        expectStepsAllocateNothing(finetune.trainer, finetune.trainSource, rows: 48)
    }

    /// The GEMM shapes OpenBLAS 0.3.21's AVX-512 small-matrix kernel allocates for (A B with
    /// n % 16 in 1...8, k >= 32, m n k <= 100^3), called as the layers call them.
    @Test(.enabled(if: optimizedBuild, "needs an optimised build (swift test -c release)"))
    func gemmAllocatesNothingOnSmallKernelShapes() {
        BLAS.useSingleThread()
        let a = FloatBuffer(count: 64 * 784), b = FloatBuffer(count: 784 * 200), c = FloatBuffer(count: 64 * 200)
        let shapes = [(8, 196, 72), (16, 4, 784), (48, 20, 64), (3, 8, 32), (64, 100, 100), (30, 49, 33)]
        func run() {
            for (m, n, k) in shapes {
                gemm(a.matrix(rows: m, cols: k), b.matrix(rows: k, cols: n), into: c.matrix(rows: m, cols: n))
                gemm(a.matrix(rows: m, cols: k), b.matrix(rows: k, cols: n), into: c.matrix(rows: m, cols: n), beta: 1)
            }
        }
        run()
        let before = allocation_count()
        run()
        let allocations = allocation_count() - before
        #expect(allocations == 0, "\(allocations) allocations in \(2 * shapes.count) products (\(BLAS.coreName))")
    }

    /// Debug builds allocate in unspecialised generic code and closure thunks, so this runs in
    /// optimised builds: `tools/test` runs it with `swift test -c release`.
    @Test(.enabled(if: optimizedBuild, "needs an optimised build (swift test -c release)"))
    func stepAllocatesNothingAfterWarmUp() throws {
        var assembler = try sampleAssembler()
        assembler.augment = true
        var config = smallConfig()
        config.codeActivation = .sigmoid
        config.sparsity = .kl(target: 0.05, weight: 0.01, momentum: 0.9)
        var optimizer = OptimizerConfig()
        optimizer.clipNorm = 1
        expectStepsAllocateNothing(DenseAutoencoder(config), assembler, rows: 48, optimizer: optimizer)
        // The counter does count: an array allocation shows.
        let before = allocation_count()
        let array = [Int](repeating: 1, count: 1000 + Int(before % 7))
        #expect(allocation_count() > before && array.count > 0)
    }
}
