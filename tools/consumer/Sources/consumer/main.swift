// Trains a small dense autoencoder on synthetic images written as an IDX file, resumes it, and
// checks what a library user relies on: the loss falls, the checkpoint reloads with its config,
// and the reloaded model reconstructs as well as the run reported.
import Datasets
import Foundation
import Models
import Training

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("consumer: \(message)\n".utf8))
    exit(1)
}

let folder = NSTemporaryDirectory() + "autoencoders-consumer-\(getpid())"
try? FileManager.default.removeItem(atPath: folder)
try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: folder) }

// 600 smooth 12x12 images in the IDX format (magic 0x00000803: unsigned bytes, three dimensions).
let count = 600, side = 12
var idx: [UInt8] = [0, 0, 8, 3]
for n in [count, side, side] { idx += withUnsafeBytes(of: UInt32(n).bigEndian, Array.init) }
for i in 0..<count {
    for y in 0..<side {
        for x in 0..<side {
            let v = 0.5 + 0.45 * sin(Double(x) * 0.5 + Double(i % 17)) * cos(Double(y) * 0.4 + Double(i % 5))
            idx.append(UInt8((v * 255).rounded()))
        }
    }
}
let images = folder + "/images-idx3-ubyte"
try Data(idx).write(to: URL(fileURLWithPath: images))

func config(epochs: Int) -> TrainingConfig {
    var config = TrainingConfig(family: .dense, model: .dense(DenseAutoencoderConfig(widths: [0, 32, 8])), data: images)
    config.epochs = epochs
    config.batchSize = 50
    config.shards = 2
    config.seed = 7
    config.gridCount = 4
    return config
}

let run = folder + "/run"
let first = try TrainingRun(config: config(epochs: 1), runDirectory: run).run(report: { _ in }, log: { _ in })
let resumed = try TrainingRun(config: config(epochs: 6), runDirectory: run, resume: run, epochs: 6)
    .run(report: { _ in }, log: { print($0) })
guard let loss1 = first["test_loss"], let loss6 = resumed["test_loss"] else { fail("no test loss reported") }
guard loss6 < 0.8 * loss1 else { fail("test loss \(loss1) after 1 epoch, \(loss6) after 6: not learning") }

let contents = try Checkpoint.load(run)
guard let dense = contents.config.model.specification as? DenseAutoencoderConfig, dense.widths == [side * side, 32, 8],
      contents.progress.history.count == 6 else { fail("the checkpoint does not hold the run's model and 6 epochs") }
let reloaded = try TrainingRun.fromCheckpoint(run)
let evaluated = reloaded.evaluateTestSplit().objective
guard abs(evaluated - loss6) <= 1e-6 * max(1, loss6) else {
    fail("the reloaded model's test loss \(evaluated) differs from the run's \(loss6)")
}
print("consumer: test loss \(loss1) after 1 epoch, \(loss6) after 6 (resumed); reloaded checkpoint agrees")
