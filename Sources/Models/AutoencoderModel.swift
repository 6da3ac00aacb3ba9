// What the data-parallel engine needs from a model: a parameter layout split into phases (each
// with its own parameter group and optimizer), per-shard workspace sizes, and forward/backward
// on one shard's rows. Models whose loss couples samples declare a statistic that the engine
// sums over all shards between forward and backward.

import Foundation
import Kernels
import Layers

/// One phase of a training step: which parameters it updates.
public struct Phase: Sendable, Equatable {
    public let name: String
    public let group: Range<Int>
    /// Where outside its group the phase's backward writes gradients (backpropagating through
    /// another sub-network), which the engine zeroes after the update; nil: anywhere, so the
    /// engine zeroes the whole complement of the group.
    public let spills: Range<Int>?

    public init(name: String, group: Range<Int>, spills: Range<Int>? = nil) {
        self.name = name
        self.group = group
        self.spills = spills
    }
}

/// Where a step stands, passed to forward and backward: schedules (KL warm-up), phase-dependent
/// behaviour and stochastic layers read it.
public struct StepContext: Sendable, Equatable {
    /// Updates applied by phase 0 before this step (0 for the first step).
    public var step: Int
    public var epoch: Int
    /// Index into the model's `phases`.
    public var phase: Int
    /// False for evaluation: stochastic layers act as the identity, running state is not updated.
    public var training: Bool
    /// False for inference (`encode`, `bench`'s inference): no loss follows this forward, so passes
    /// that only feed a loss (a critic's) are skipped.
    public var scoring: Bool

    public init(step: Int = 0, epoch: Int = 0, phase: Int = 0, training: Bool, scoring: Bool = true) {
        self.step = step
        self.epoch = epoch
        self.phase = phase
        self.training = training
        self.scoring = scoring
    }

    /// An evaluation forward of phase 0.
    public static let evaluation = StepContext(training: false)
}

/// What the reported objective is averaged over.
public enum ObjectiveUnit: Sendable, Equatable {
    /// Per value (nn.MSELoss / BCEWithLogitsLoss 'mean'): sums divided by rows x values.
    case perValue
    /// Per sample, e.g. nats per image for likelihood models: sums divided by rows.
    case perSample
}

/// The core of a model: what every model gives the engine. What only some models have is a
/// capability protocol below (a batch statistic, loss parts and units, phases that skip epochs,
/// a fused training pass, non-finite diagnosis) or next to it (latent codes, clusters, likelihood,
/// filters, disentangling, benchmark shapes); code that needs one asks for the protocol.
public protocol AutoencoderModel: Sendable {
    var layout: ParameterLayout { get }
    /// Floats per sample of the (corrupted) input and of the clean target.
    var inputWidth: Int { get }
    var targetWidth: Int { get }
    /// Workspace columns (see `RegionAllocator`).
    var workspaceColumns: Int { get }
    var phases: [Phase] { get }

    func initialize(params: Arena, seed: UInt64)
    func input(_ ws: Workspace, rows: Int) -> Matrix
    func target(_ ws: Workspace, rows: Int) -> Matrix

    /// Forward for `context.phase`; adds this shard's part of the statistic into `statistic` if
    /// any (`BatchStatisticModel`). A training step runs the phases in order on the same rows, so
    /// a phase may reuse what the previous phase's forward left in the workspace when its
    /// parameters have not changed since.
    func forward(_ context: StepContext, _ ws: Workspace, rows: Int, params: Arena,
                 statistic: UnsafeMutablePointer<Float>?)
    /// Loss of this shard's rows and, when `grads` is given, its gradient scaled for a
    /// `globalRows` batch, added into `grads`. Call after `forward`. A phase may add gradients
    /// outside its own group (backpropagating through another sub-network); the engine discards them.
    func backward(_ context: StepContext, _ ws: Workspace, rows: Int, globalRows: Int, params: Arena,
                  grads: Arena?, statistic: UnsafePointer<Float>?) -> LossSums
    /// The reconstruction (values in the data's range) after an evaluation forward.
    func reconstruction(_ ws: Workspace, rows: Int) -> Matrix
}

extension AutoencoderModel {
    /// A shard's workspace; without `gradients` (evaluation only) it has no gradient slab.
    public func makeWorkspace(maxRows: Int, gradients: Bool = true) -> Workspace {
        Workspace(columns: workspaceColumns, maxRows: maxRows, parameterCount: gradients ? layout.count : 0,
                  statisticWidth: (self as? any BatchStatisticModel)?.statisticWidth ?? 0)
    }
}

/// A model whose loss couples the rows of a batch: a statistic each shard adds its rows' part to
/// in `forward`, summed over all shards by the engine before `backward` (batch sparsity, a VAE's
/// batch KL), and running training state kept across steps and in checkpoints.
public protocol BatchStatisticModel: AutoencoderModel {
    /// Width of the cross-shard statistic (0 when this configuration does not couple rows).
    var statisticWidth: Int { get }
    /// Floats of training state kept across steps (running averages), saved in checkpoints.
    var stateWidth: Int { get }
    /// Turns the statistic summed over all shards into what backward uses (may update `state`).
    func finishStatistic(_ statistic: UnsafeMutablePointer<Float>, globalRows: Int,
                         state: UnsafeMutablePointer<Float>, training: Bool)
}

extension BatchStatisticModel {
    public var stateWidth: Int { 0 }
}

/// A model whose reported figures are not the plain per-value objective: named loss parts, a
/// per-sample objective, bookkeeping values in its target rows, or a training gap to report.
public protocol LossReportingModel: AutoencoderModel {
    /// Names of the loss parts a step reports in `LossSums.parts` (sums over rows, e.g.
    /// `reconstruction`, `kl`), at most `LossParts.capacity`.
    var lossPartNames: [String] { get }
    /// The unit of the reported objective.
    var objectiveUnit: ObjectiveUnit { get }
    /// Values per target row that carry data (per-value figures divide by it); `targetWidth`
    /// unless rows carry extra bookkeeping such as a sequence length.
    var valuesPerTarget: Int { get }
    /// True when each epoch should also evaluate a fixed subset of the training data, logging
    /// each loss part's gap (test minus training), e.g. an RBM's free energy gap.
    var reportsTrainingGap: Bool { get }
}

extension LossReportingModel {
    public var lossPartNames: [String] { [] }
    public var objectiveUnit: ObjectiveUnit { .perValue }
    public var valuesPerTarget: Int { targetWidth }
    public var reportsTrainingGap: Bool { false }
}

/// What a run reports of any model: the `LossReportingModel` answers, or the plain ones.
public struct LossReporting: Sendable {
    public let lossPartNames: [String]
    public let objectiveUnit: ObjectiveUnit
    public let valuesPerTarget: Int
    public let reportsTrainingGap: Bool

    public init(_ model: any AutoencoderModel) {
        let reporting = model as? any LossReportingModel
        lossPartNames = reporting?.lossPartNames ?? []
        objectiveUnit = reporting?.objectiveUnit ?? .perValue
        valuesPerTarget = reporting?.valuesPerTarget ?? model.targetWidth
        reportsTrainingGap = reporting?.reportsTrainingGap ?? false
    }
}

/// A model that trains some phases in some epochs only (a decoder fine-tuned alone at the end).
public protocol PhaseScheduledModel: AutoencoderModel {
    /// Whether training steps of `epoch` (from 0) run `phase`.
    func runsPhase(_ phase: Int, epoch: Int) -> Bool
}

/// A model whose `backward` with gradients runs the training forward itself (a few rows at a
/// time, forward and backward back to back while the activations are in cache): the engine skips
/// the separate training `forward` when the model has no batch statistic.
public protocol FusedTrainingModel: AutoencoderModel {
    var forwardsInBackward: Bool { get }
}

/// A model that can name the first layer whose output holds NaN or infinity after a forward.
public protocol NonFiniteDiagnosis: AutoencoderModel {
    func firstNonFiniteLayer(_ ws: Workspace, rows: Int) -> String?
}

/// A model whose forward GEMMs `bench` can count (FLOPs) and time alone (the sgemm reference).
public protocol BenchmarkShapes: AutoencoderModel {
    /// Forward GEMM shapes per sample (m x k times k x n).
    var gemmShapes: [(m: Int, k: Int, n: Int)] { get }
    /// True when a shard's GEMMs stack its rows (dense, recurrent): m grows with rows per shard.
    var gemmRowsStack: Bool { get }
}

extension BenchmarkShapes {
    public var gemmRowsStack: Bool { true }
}

/// A model whose code starts with a softmax cluster head (an adversarial autoencoder's
/// unsupervised clustering): its first `clusters` columns, none when 0.
public protocol ClusteringModel: LatentModel {
    var clusters: Int { get }
}

/// A model with an importance-weighted likelihood estimate (Burda et al. 2016).
public protocol LikelihoodModel: AutoencoderModel {
    /// log p(x|z) + log p(z) - log q(z|x) of each row for the z its last forward pass drew.
    func logImportanceWeights(_ ws: Workspace, rows: Int, into weights: UnsafeMutablePointer<Double>)
}

/// A model whose hidden units each weigh the whole input: their weights, shown as images, are
/// its filters.
public protocol FilterModel: AutoencoderModel {
    /// Hidden units, and where in the parameters their weights start (`filterCount` rows of one
    /// weight per input value).
    var filterCount: Int { get }
    var filterOffset: Int { get }
}

/// A model with a code: encode to it, decode from it (latent tools: encode, sample, interpolate,
/// traverse, latent plots).
public protocol LatentModel: AutoencoderModel {
    /// Floats per code.
    var codeWidth: Int { get }
    /// The code of each row after an evaluation forward (a VAE's posterior mean).
    func code(_ ws: Workspace, rows: Int) -> Matrix
    /// Where `decode` reads codes from.
    func latentInput(_ ws: Workspace, rows: Int) -> Matrix
    /// Decodes the codes in `latentInput` into `reconstruction(ws, rows:)`.
    func decode(_ ws: Workspace, rows: Int, params: Arena)
    /// The prior codes are drawn from (N(0, I) for variational models), nil when there is none.
    var prior: LatentPrior? { get }
    /// Components of the prior a draw can be asked for (mixture components, clusters), else 0.
    var priorComponents: Int { get }
    /// One code from the prior (`codeWidth` values): from `component` when it is in range,
    /// spread scaled by `temperature`.
    func drawCode(into code: UnsafeMutablePointer<Float>, rng: inout SplitMix64, component: Int, temperature: Float)
}

extension LatentModel {
    public var prior: LatentPrior? { nil }
    public var priorComponents: Int { prior?.components ?? 0 }
    public func drawCode(into code: UnsafeMutablePointer<Float>, rng: inout SplitMix64, component: Int,
                         temperature: Float) {
        prior?.draw(into: code, width: codeWidth, rng: &rng, component: component, temperature: temperature)
    }
}

/// Dense layers named `name.N`, the activation after each hidden width, then a dense output:
/// the adversaries, critics and discriminators.
func perceptronLayers(_ name: String, input: Int, hidden: [Int], output: Int, activation: ActivationKind,
                      layout: inout ParameterLayout, initializer: Initializer) -> [any Layer] {
    var layers: [any Layer] = []
    var width = input
    for h in hidden {
        layers.append(Dense(width, h, name: "\(name).\(layers.count)", layout: &layout, initializer: initializer))
        layers.append(Activation(activation, width: h))
        width = h
    }
    layers.append(Dense(width, output, name: "\(name).\(layers.count)", layout: &layout, initializer: initializer))
    return layers
}

/// Softmax cross-entropy of each row's logits against `label(r)` (rows whose label is < 0 count
/// nothing), summed, and against the uniform distribution (the confusion loss). With `dLogits`,
/// writes `scale` times the gradient of the first (of the second with `uniform`) there, zero on
/// unlabelled rows.
func softmaxCrossEntropy(_ logits: Matrix, dLogits: Matrix?, rows: Int, classes: Int, scale: Float,
                         uniform: Bool = false, label: (Int) -> Int) -> (labelled: Double, confusion: Double) {
    var labelled = 0.0, confusion = 0.0
    let k = Float(classes)
    for r in 0..<rows {
        let l = logits.row(r), g = dLogits?.row(r), y = label(r)
        if let g { for j in 0..<classes { g[j] = 0 } }
        guard y >= 0 else { continue }
        var top = l[0]
        for j in 1..<classes { top = max(top, l[j]) }
        var sum: Float = 0, mean: Float = 0
        for j in 0..<classes {
            sum += expf(l[j] - top)
            mean += l[j]
        }
        let logSum = top + logf(sum)
        labelled += Double(logSum - l[y])
        confusion += Double(logSum - mean / k)
        guard let g else { continue }
        for j in 0..<classes {
            let p = expf(l[j] - logSum)
            g[j] = scale * (p - (uniform ? 1 / k : (j == y ? 1 : 0)))
        }
    }
    return (labelled, confusion)
}
