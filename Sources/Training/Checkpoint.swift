// Checkpoints as safetensors: parameters by dotted name (PyTorch layouts), optimizer moments as
// `optimizer.<name>.m` / `.v`, model training state, and `__metadata__` holding the JSON config,
// step, epoch, progress within the epoch and the loss history. Written atomically.

import Engine
import Files
import Foundation
import Layers
import Models

/// Where a run stands: what `--resume` continues from.
public struct RunProgress: Sendable, Codable, Equatable {
    /// The epoch being trained (0-based) and the batches of it already done.
    public var epoch: Int = 0
    public var batchInEpoch: Int = 0
    /// Per-epoch history for plots and metrics.
    public var history: [EpochRecord] = []
    /// Within an epoch: the sums over its batches done so far (loss times rows, rows, loss parts)
    /// and its training seconds, so a resumed epoch's record covers the whole epoch.
    public var epochLossSum: Double?
    public var epochSamples: Int?
    public var epochPartSums: [Double]?
    public var epochSeconds: Double?

    public init() {}
}

public struct EpochRecord: Sendable, Codable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var testLoss: Double?
    public var testSquaredErrorPerImage: Double?
    public var testMSEPerPixel: Double?
    /// Denoisers: mean PSNR (dB) of the denoised and of the noisy validation crops.
    public var testPSNR: Double?
    public var testPSNRNoisy: Double?
    public var seconds: Double
    /// The model's named loss parts per sample (e.g. `reconstruction`, `kl`), train and test.
    public var trainParts: [String: Double]?
    public var testParts: [String: Double]?
}

public enum Checkpoint {
    public static let format = "autoencoders-checkpoint-1"

    /// Writes the trainer's parameters, optimizer state and progress to `path` (atomically).
    public static func save(_ trainer: Trainer, config: TrainingConfig, progress: RunProgress, to path: String) throws {
        precondition(trainer.trains, "a trainer made to evaluate has no optimizer state to save")
        let layout = trainer.model.layout
        var tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)] = []
        func view(_ buffer: UnsafeMutablePointer<Float>, _ slot: ParameterSlot) -> UnsafeBufferPointer<Float> {
            UnsafeBufferPointer(start: buffer + slot.offset, count: slot.count)
        }
        for slot in layout.slots {
            tensors.append((slot.name, slot.shape, view(trainer.params.pointer, slot)))
        }
        let adaptive = trainer.optimizers.contains { $0.kind != .sgd }
        for (prefix, offset, slots) in momentTensors(trainer) {
            for slot in slots {
                tensors.append((prefix + "\(slot.name).m", slot.shape, view(trainer.optimizerState.m.pointer + offset, slot)))
                if adaptive {
                    tensors.append((prefix + "\(slot.name).v", slot.shape, view(trainer.optimizerState.v.pointer + offset, slot)))
                }
            }
        }
        if trainer.modelState.count > 0 {
            tensors.append(("state.model", [trainer.modelState.count],
                            UnsafeBufferPointer(start: trainer.modelState.pointer, count: trainer.modelState.count)))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let metadata: [String: String] = [
            "format": format,
            "config": config.jsonString(),
            "progress": String(decoding: try encoder.encode(progress), as: UTF8.self),
            "updates": trainer.optimizerState.updates.map(String.init).joined(separator: ","),
            "step": String(trainer.step),
            "epoch": String(progress.epoch),
            "seed": String(trainer.seed),
            "shards": String(trainer.shards),
        ]
        try withExtendedLifetime(trainer) {
            try SafeTensors.write(tensors, metadata: metadata, to: path)
        }
    }

    /// A checkpoint read back: its config, progress and tensors.
    public struct Contents: Sendable {
        public let path: String
        public let config: TrainingConfig
        public let progress: RunProgress
        public let updates: [Int]
        public let tensors: [String: SafeTensors.Tensor]

        public init(path: String, config: TrainingConfig, progress: RunProgress, updates: [Int],
                    tensors: [String: SafeTensors.Tensor]) {
            self.path = path
            self.config = config
            self.progress = progress
            self.updates = updates
            self.tensors = tensors
        }
    }

    /// The moment tensors: `optimizer.<slot>` for every slot (the first block), and
    /// `optimizer.<phase>.<slot>` for the slots of a phase that keeps its own moments.
    static func momentTensors(_ trainer: Trainer) -> [(prefix: String, offset: Int, slots: [ParameterSlot])] {
        let layout = trainer.model.layout, state = trainer.optimizerState
        var result: [(String, Int, [ParameterSlot])] = [("optimizer.", 0, layout.slots)]
        for (phase, offset) in zip(trainer.model.phases, state.momentOffsets) where offset > 0 {
            let slots = layout.slots.filter { phase.group.contains($0.offset) }
            result.append(("optimizer.\(phase.name).", offset, slots))
        }
        return result
    }

    /// Reads a checkpoint file, or one inside a run folder: `checkpoints/NAME.safetensors` for
    /// `preferring` NAME (e.g. `best`, what the tools use), else `last` (what a resume uses).
    public static func load(_ path: String, preferring name: String = "last") throws -> Contents {
        var file = path
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            let preferred = (path as NSString).appendingPathComponent("checkpoints/\(name).safetensors")
            file = FileManager.default.fileExists(atPath: preferred) ? preferred
                : (path as NSString).appendingPathComponent("checkpoints/last.safetensors")
        }
        let (tensors, _, metadata) = try SafeTensors.read(path: file)
        guard metadata["format"] == format, let configJSON = metadata["config"],
              let progressJSON = metadata["progress"] else {
            throw InputError(.badMagic, path: file, "not a checkpoint of this tool (no \(format) metadata)")
        }
        let config: TrainingConfig, progress: RunProgress
        do {
            config = try TrainingConfig.from(json: configJSON)
            progress = try JSONDecoder().decode(RunProgress.self, from: Data(progressJSON.utf8))
        } catch let error as TrainingError {
            throw InputError(.badHeader, path: file, error.message)
        } catch let error as DecodingError {
            throw InputError(.badHeader, path: file, "checkpoint progress unreadable: "
                + TrainingConfig.describe(error).replacingOccurrences(of: "config key", with: "key"))
        } catch {
            throw InputError(.badHeader, path: file, "checkpoint metadata unreadable (\(error.localizedDescription))")
        }
        if progress.epoch < 0 || progress.batchInEpoch < 0 || progress.epoch > TrainingConfig.largestEpochs {
            throw InputError(.corrupt, path: file, "checkpoint progress says epoch \(progress.epoch), batch "
                + "\(progress.batchInEpoch): not a position in a run")
        }
        let updateTexts = (metadata["updates"] ?? "").split(separator: ",")
        let updates = updateTexts.compactMap { Int($0) }.filter { $0 >= 0 }
        if updates.count != updateTexts.count {
            throw InputError(.corrupt, path: file, "checkpoint update counts \(metadata["updates"] ?? "") are not "
                + "numbers >= 0")
        }
        // Weights that diverged would run through every later step and trap or print nan.
        for name in tensors.keys.sorted() where !name.hasPrefix("optimizer.") {
            if let bad = tensors[name]!.values.firstIndex(where: { !$0.isFinite }) {
                throw InputError(.corrupt, path: file, "tensor \(name) holds \(tensors[name]!.values[bad]) at "
                    + "index \(bad): the run diverged before this checkpoint; use an earlier one or retrain "
                    + "with a lower --lr")
            }
        }
        return Contents(path: file, config: config, progress: progress, updates: updates, tensors: tensors)
    }

    /// Copies parameters and the model's running state (and, when `optimizer`, moments and update
    /// counts) into `trainer`.
    /// - Throws: when a tensor is missing or has another shape than the model's.
    public static func restore(_ contents: Contents, into trainer: Trainer, optimizer: Bool = true) throws {
        precondition(trainer.trains || !optimizer, "a trainer made to evaluate takes the parameters only")
        func copy(_ name: String, _ shape: [Int], into pointer: UnsafeMutablePointer<Float>) throws {
            guard let tensor = contents.tensors[name] else {
                throw InputError(.corrupt, path: contents.path, "missing tensor \(name)")
            }
            guard tensor.shape == shape else {
                throw InputError(.countMismatch, path: contents.path, "tensor \(name) has shape \(tensor.shape), "
                    + "the model expects \(shape)")
            }
            tensor.values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: $0.count) }
        }
        for slot in trainer.model.layout.slots {
            try copy(slot.name, slot.shape, into: trainer.params.pointer + slot.offset)
        }
        // The model's running state (a running average sparsity) is part of what it computes,
        // evaluating too.
        if trainer.modelState.count > 0 {
            try copy("state.model", [trainer.modelState.count], into: trainer.modelState.pointer)
        }
        if optimizer {
            for (prefix, offset, slots) in momentTensors(trainer) {
                for slot in slots {
                    try copy(prefix + "\(slot.name).m", slot.shape, into: trainer.optimizerState.m.pointer + offset + slot.offset)
                    if contents.tensors[prefix + "\(slot.name).v"] != nil {
                        try copy(prefix + "\(slot.name).v", slot.shape,
                                 into: trainer.optimizerState.v.pointer + offset + slot.offset)
                    }
                }
            }
            // Adam's bias correction and the schedules need every phase's update count.
            guard contents.updates.count == trainer.optimizerState.updates.count else {
                throw InputError(.countMismatch, path: contents.path,
                                 "holds update counts for \(contents.updates.count) "
                                 + "phase(s), the model has \(trainer.optimizerState.updates.count)")
            }
            trainer.optimizerState.updates = contents.updates
        }
    }
}
