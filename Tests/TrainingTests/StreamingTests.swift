// PNG folders streamed through a bounded cache: the windowed order, bit-identical results to the
// same run with everything in memory, the cache's budget, and files that break mid-run.

import Datasets
import Engine
import Foundation
import Images
import Models
import Testing
import TestSupport
import Training

/// A folder of `count` RGB `width` x `height` PNGs (smooth gradients, different per file).
private func writePhotos(_ folder: String, count: Int, width: Int = 320, height: Int = 240) throws {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    for i in 0..<count {
        var values: [Float] = []
        values.reserveCapacity(width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let u = Float(x) / Float(width), v = Float(y) / Float(height), t = Float(i) * 0.37
                values += [0.5 + 0.4 * sin(6 * u + t), 0.5 + 0.4 * cos(5 * v - t), 0.5 + 0.3 * sin(4 * (u + v) + 2 * t)]
            }
        }
        let image = PNGImage(width: width, height: height, layout: .rgb, bitDepth: 8, values: values)
        try PNGCodec.write(image, to: folder + String(format: "/img-%02d.png", i))
    }
}

/// A small denoiser run on `data` whose decoded images take `cache` bytes at most.
private func streamingConfig(_ data: String, cache: Int, decoders: Int = 1) -> TrainingConfig {
    var config = TrainingConfig(family: .denoiser, data: data)
    if var d = config.model.as(ConvDenoiserConfig.self) {
        d.depth = 1
        d.width = 4
        config.model = .denoiser(d)
    }
    config.patch = 16
    config.patchesPerImage = 3
    config.batchSize = 4
    config.shards = 2
    config.epochs = 2
    config.seed = 3
    config.holdout = 0.2
    config.window = 3
    config.cacheMemory = cache
    config.decoders = decoders
    config.gridCount = 2
    config.logEvery = 2
    return config
}

@Suite(.serialized) struct StreamingTests {
    @Test func windowedOrderVisitsEverySampleOnceAWindowAtATime() {
        // 3 patches of each of 10 images: position k * 10 + i is image i's k-th patch.
        let imageOf = (0..<30).map { $0 % 10 }
        let order = WindowedOrder(imageOf: imageOf, window: 4, seed: 7)
        var first: [Int] = [], second: [Int] = []
        order.fill(&first, epoch: 0)
        order.fill(&second, epoch: 1)
        #expect(first.sorted() == Array(0..<30) && second.sorted() == Array(0..<30))
        #expect(first != second)
        // Windows of 4, 4 and 2 images, each image's 3 patches inside its window.
        for (start, end, images) in [(0, 12, 4), (12, 24, 4), (24, 30, 2)] {
            #expect(Set(first[start..<end].map { imageOf[$0] }).count == images)
        }
        var again: [Int] = []
        order.fill(&again, epoch: 0)
        #expect(again == first)
    }

    @Test func streamedRunIsBitIdenticalToTheRunInMemory() throws {
        let data = try makeScratchFolder("stream-data")
        try writePhotos(data, count: 10)
        let imageBytes = 320 * 240 * 3, budget = 1 << 20  // room for 4 of the 10 images
        let inMemory = try TrainingRun(config: streamingConfig(data, cache: 1 << 30), runDirectory: try makeScratchFolder("mem"))
        _ = try inMemory.run(report: { _ in }, log: { _ in })
        for decoders in [1, 3] {
            // Evaluations between epoch ends change nothing that trains.
            var config = streamingConfig(data, cache: budget, decoders: decoders)
            config.evalEvery = decoders == 3 ? 5 : nil
            let folder = try makeScratchFolder("streamed")
            let streamed = try TrainingRun(config: config, runDirectory: folder)
            var reports: [StepReport] = []
            _ = try streamed.run(report: { reports.append($0) }, log: { _ in })
            #expect(streamed.trainer.params.array == inMemory.trainer.params.array, "decoders \(decoders)")
            let counters = try #require(streamed.cacheCounters)
            // The budget held, and images were decoded again after eviction (8 training images).
            #expect(counters.peakBytes <= budget && counters.peakBytes >= 4 * imageBytes)
            #expect(counters.decodes > 8)
            #expect(reports.allSatisfy { $0.dataWait != nil && $0.cacheHitRate != nil })
            if decoders == 3 {
                let log = try String(contentsOfFile: folder + "/log.jsonl", encoding: .utf8)
                #expect(log.contains("\"type\":\"eval\"") && log.contains("\"data_wait\""))
                #expect(FileManager.default.fileExists(atPath: folder + "/grids/reconstruction-step-00000005.png"))
            }
        }
        // Stopped mid-epoch and resumed: the same bits.
        let folder = try makeScratchFolder("stream-resume")
        let interrupted = try TrainingRun(config: streamingConfig(data, cache: budget), runDirectory: folder)
        _ = try interrupted.run(report: { r in if r.epoch == 1 && r.batch == 2 { interrupted.stopThisRun = true } },
                                log: { _ in })
        #expect(interrupted.progress.epoch == 1)
        let resumed = try TrainingRun(config: streamingConfig(data, cache: budget), runDirectory: folder, resume: folder)
        _ = try resumed.run(report: { _ in }, log: { _ in })
        #expect(resumed.trainer.params.array == inMemory.trainer.params.array)
    }

    @Test func aCacheSmallerThanOneStepIsRefused() throws {
        let data = try makeScratchFolder("stream-small")
        try writePhotos(data, count: 10)
        var config = streamingConfig(data, cache: 1 << 20)
        config.batchSize = 8
        #expect {
            _ = try TrainingRun(config: config, runDirectory: try makeScratchFolder("small"))
        } throws: { error in
            "\(error)".contains("--cache-memory 1M holds fewer images than one step reads (8 of 225K each); give it "
                + "at least 1.8M")
        }
    }

    @Test func aFileTruncatedAfterTheHeaderPassIsNamedOrLeftOut() throws {
        for skipBad in [false, true] {
            let data = try makeScratchFolder("stream-broken")
            try writePhotos(data + "/train", count: 8)
            try writePhotos(data + "/test", count: 2)
            var config = streamingConfig(data, cache: 1 << 20)
            config.skipBad = skipBad
            let folder = try makeScratchFolder("broken-run")
            let run = try TrainingRun(config: config, runDirectory: folder)
            // The headers were read when the run was made; now the file loses its second half.
            let victim = data + "/train/img-05.png"
            let bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
            try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: victim))
            var lines: [String] = []
            if skipBad {
                _ = try run.run(report: { _ in }, log: { lines.append($0) })
                #expect(run.progress.epoch == 2)
                #expect(lines.contains { $0.contains("img-05.png") && $0.contains("left out") }, "\(lines)")
                let log = try String(contentsOfFile: folder + "/log.jsonl", encoding: .utf8)
                #expect(log.contains("\"type\":\"skipped\"") && log.contains("img-05.png"))
            } else {
                #expect {
                    _ = try run.run(report: { _ in }, log: { lines.append($0) })
                } throws: { error in
                    "\(error)".contains("img-05.png") && "\(error)".contains("--resume")
                }
                #expect(FileManager.default.fileExists(atPath: folder + "/checkpoints/last.safetensors"))
            }
        }
    }
}
