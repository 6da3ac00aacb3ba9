// Everything needed to reproduce a training run, saved as the run folder's config.json and in
// every checkpoint's metadata; built by the CLI from its options, read back by --resume.

import Datasets
import Foundation
import Layers
import Models

/// The model families `train --model` accepts.
public enum ModelFamily: String, Sendable, Codable, CaseIterable {
    case dense, deep, sparse, denoising, dropout, contractive
}

public struct TrainingConfig: Sendable, Codable, Equatable {
    public var family: ModelFamily
    public var model: DenseAutoencoderConfig
    public var optimizer: OptimizerConfig
    public var data: String
    public var channels: Int?
    public var background: Float = 0
    public var resize: [Int]?
    public var resizeFilter: String = ResizeFilter.area.rawValue
    public var crop: [Int]?
    public var skipBad = false
    public var noise: String = "none"
    public var epochs: Int = 10
    public var batchSize: Int = 256
    public var shards: Int = 1
    public var seed: UInt64 = 0
    /// Fraction of the training data held out for evaluation when the source has no test split.
    public var holdout: Double = 0.1
    /// Samples in the reconstruction grid.
    public var gridCount: Int = 10
    /// Also checkpoint every this many steps (0: once per epoch).
    public var checkpointEvery: Int = 0
    /// Steps between log lines.
    public var logEvery: Int = 50
    /// Stop after the epoch during which this many seconds of training have passed (nil: none).
    public var timeLimit: Double?

    public init(family: ModelFamily, model: DenseAutoencoderConfig, optimizer: OptimizerConfig, data: String) {
        self.family = family
        self.model = model
        self.optimizer = optimizer
        self.data = data
    }

    public var folderOptions: PNGFolderOptions {
        PNGFolderOptions(channels: channels, background: background,
                         resize: resize.map { ($0[0], $0[1]) },
                         resizeFilter: ResizeFilter(rawValue: resizeFilter) ?? .area,
                         crop: crop.map { ($0[0], $0[1]) }, skipBad: skipBad)
    }

    public func jsonString(pretty: Bool = false) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    public static func from(json: String) throws -> TrainingConfig {
        try JSONDecoder().decode(TrainingConfig.self, from: Data(json.utf8))
    }

    /// Default encoder widths of each family for inputs of `inputWidth` floats.
    public static func defaultWidths(_ family: ModelFamily, inputWidth d: Int) -> [Int] {
        switch family {
        case .dense: [d, 32]
        case .deep: [d, 1000, 500, 250, 30]
        case .sparse: [d, 64]
        case .denoising: [d, 256, 64]
        case .dropout: [d, 512, 128, 32]
        case .contractive: [d, 128]
        }
    }
}
