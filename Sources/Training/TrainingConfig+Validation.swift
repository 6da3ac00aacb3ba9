// One validation of a whole run config, whichever way it arrives (the CLI's options, `--config`,
// a checkpoint's metadata, a library user's value): every value the run would trap on, overflow
// with or silently misread is refused with the config key and the option that set it.

import Datasets
import Engine
import Foundation

extension TrainingConfig {
    /// Sizes and counts inside a model config (widths, filters, steps) are at most this: products of
    /// two stay far from overflow, and the memory check refuses what does not fit.
    public static let largestModelSize = 1 << 24
    public static let largestEpochs = 1_000_000
    public static let largestBatch = 1 << 20
    public static let largestShards = 4096
    public static let largestGridCount = 1000
    public static let largestSide = 1 << 16

    /// - Throws: `TrainingError` naming the first key whose value cannot run.
    public func validate() throws {
        if let problem = validationProblem() { throw TrainingError(problem) }
    }

    /// The first problem, as "config key K (--option): what is wrong", or nil.
    public func validationProblem() -> String? {
        func problem(_ key: String, _ option: String?, _ text: String) -> String {
            "config key \(key)" + (option.map { " (\($0))" } ?? "") + ": \(text)"
        }
        func range<T: Comparable>(_ key: String, _ option: String?, _ value: T, _ bounds: ClosedRange<T>) -> String? {
            bounds.contains(value) ? nil : problem(key, option, "\(value) is not in \(bounds.lowerBound)...\(bounds.upperBound)")
        }
        if data.isEmpty { return problem("data", "--data", "empty") }
        // `family` names a preset of the model's config; a mismatch would be two truths.
        if family.preset.key != model.key {
            return problem("family", "--model", "\(family.rawValue) is a \(family.preset.key) model, but the model "
                + "given is a \(model.key) config")
        }
        if let p = range("epochs", "--epochs", epochs, 1...Self.largestEpochs) { return p }
        if let p = range("batchSize", "--batch-size", batchSize, 1...Self.largestBatch) { return p }
        if let p = range("shards", "--shards", shards, 1...Self.largestShards) { return p }
        if !(holdout > 0 && (holdout < 1 || holdout == holdout.rounded())) {
            return problem("holdout", "--holdout", "\(holdout) is neither a fraction in (0, 1) nor a whole number of samples")
        }
        if let p = range("gridCount", "--grid-count", gridCount, 1...Self.largestGridCount) { return p }
        if let gridScale, let p = range("gridScale", "--grid-scale", gridScale, 1...16) { return p }
        if let p = range("checkpointEvery", "--checkpoint-every", checkpointEvery, 0...Int(Int32.max)) { return p }
        if let p = range("logEvery", "--log-every", logEvery, 1...Int(Int32.max)) { return p }
        if let timeLimit, !(timeLimit > 0 && timeLimit.isFinite) {
            return problem("timeLimit", "--time-limit", "\(timeLimit) is not a positive number of seconds")
        }
        if let patch, let p = range("patch", "--patch", patch, 1...Self.largestSide) { return p }
        if let patchesPerImage, let p = range("patchesPerImage", "--patches-per-image", patchesPerImage,
                                             1...Self.largestModelSize) { return p }
        if let channels, ![1, 2, 3, 4].contains(channels) {
            return problem("channels", "--channels", "\(channels) is not 1, 2, 3 or 4")
        }
        if !(background >= 0 && background <= 1) {
            return problem("background", "--background", "\(background) is not in 0...1")
        }
        for (key, option, value) in [("resize", "--resize", resize), ("crop", "--crop", crop)] {
            guard let value else { continue }
            if value.count != 2 || !value.allSatisfy({ (1...Self.largestSide).contains($0) }) {
                return problem(key, option, "\(value) is not [width, height] with each in 1...\(Self.largestSide)")
            }
        }
        if ResizeFilter(rawValue: resizeFilter) == nil {
            return problem("resizeFilter", "--resize-filter", "\(resizeFilter) is not one of "
                + ResizeFilter.allCases.map(\.rawValue).joined(separator: ", "))
        }
        if let maxPixels, maxPixels <= 0 { return problem("maxPixels", "--max-pixels", "\(maxPixels) is not positive") }
        if let cacheMemory, cacheMemory < 1 << 20 {
            return problem("cacheMemory", "--cache-memory", "\(cacheMemory) bytes is less than 1M")
        }
        for (key, option, value) in [("window", "--window", window), ("evalEvery", "--eval-every", evalEvery), ("decoders", "--decoders", decoders),
                                     ("validationImages", "--validation-images", validationImages),
                                     ("validationSamples", "--validation-samples", validationSamples)] {
            if let value, let p = range(key, option, value, 1...Self.largestModelSize) { return p }
        }
        do { _ = try Corruption(parsing: noise) } catch {
            return problem("noise", "--noise", "\(error)")
        }
        if let p = optimizer.validationProblem(key: "optimizer") { return p }
        for (name, phase) in (phaseOptimizers ?? [:]).sorted(by: { $0.key < $1.key }) {
            if let p = phase.validationProblem(key: "phaseOptimizers.\(name)") { return p }
        }
        return model.sizeProblem()
    }
}

extension OptimizerConfig {
    /// The first value of this optimizer that cannot train, as "config key K (--option): ...".
    func validationProblem(key: String) -> String? {
        func problem(_ name: String, _ option: String?, _ text: String) -> String {
            "config key \(key).\(name)" + (option.map { " (\($0))" } ?? "") + ": \(text)"
        }
        func unit(_ name: String, _ option: String?, _ value: Float) -> String? {
            value >= 0 && value < 1 ? nil : problem(name, option, "\(value) is not in [0, 1)")
        }
        if !(learningRate > 0 && learningRate.isFinite) {
            return problem("learningRate", "--lr", "\(learningRate) is not a positive number")
        }
        if let p = unit("momentum", "--momentum", momentum) { return p }
        if let p = unit("beta1", nil, beta1) { return p }
        if let p = unit("beta2", nil, beta2) { return p }
        if !(epsilon > 0 && epsilon.isFinite) { return problem("epsilon", nil, "\(epsilon) is not positive") }
        if !(weightDecay >= 0 && weightDecay.isFinite) {
            return problem("weightDecay", "--weight-decay", "\(weightDecay) is not >= 0")
        }
        if let clipNorm, !(clipNorm > 0 && clipNorm.isFinite) {
            return problem("clipNorm", "--clip-norm", "\(clipNorm) is not positive")
        }
        if let initialMomentum, let p = unit("initialMomentum", "--initial-momentum", initialMomentum) { return p }
        if let initialMomentumEpochs, initialMomentumEpochs < 0 {
            return problem("initialMomentumEpochs", "--initial-momentum", "\(initialMomentumEpochs) is negative")
        }
        let s = schedule
        if s.every < 1 { return problem("schedule.every", "--schedule step:EVERY:GAMMA", "\(s.every) is not positive") }
        if !(s.gamma > 0 && s.gamma.isFinite) {
            return problem("schedule.gamma", "--schedule step:EVERY:GAMMA", "\(s.gamma) is not positive")
        }
        if s.totalSteps < 1 { return problem("schedule.totalSteps", "--schedule", "\(s.totalSteps) is not positive") }
        if !(s.minFactor >= 0 && s.minFactor <= 1) {
            return problem("schedule.minFactor", "--schedule cosine:MIN", "\(s.minFactor) is not in 0...1")
        }
        if s.warmupSteps < 0 { return problem("schedule.warmupSteps", "--warmup", "\(s.warmupSteps) is negative") }
        return nil
    }
}

extension ModelSpec {
    /// A number inside the model config beyond `TrainingConfig.largestModelSize` (a width of
    /// 2^63-1 would overflow the parameter layout), as "config key model.K: ...", or nil.
    func sizeProblem() -> String? {
        guard let data = try? JSONEncoder().encode(self),
              let object = try? JSONSerialization.jsonObject(with: data) else { return nil }
        let limit = Double(TrainingConfig.largestModelSize)
        func walk(_ value: Any, _ path: String) -> String? {
            switch value {
            case let dictionary as [String: Any]:
                for key in dictionary.keys.sorted() {
                    if let p = walk(dictionary[key]!, path + "." + key) { return p }
                }
            case let array as [Any]:
                for (i, element) in array.enumerated() {
                    if let p = walk(element, path + "[\(i)]") { return p }
                }
            case let number as NSNumber:
                let v = number.doubleValue
                if !v.isFinite || abs(v) > limit {
                    return "config key \(path): \(number) is beyond the largest size a model takes (\(Int(limit)))"
                }
            default:
                break
            }
            return nil
        }
        return walk(object, "model")
    }
}
