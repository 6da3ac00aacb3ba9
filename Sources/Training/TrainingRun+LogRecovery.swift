// The log of a resumed run made to agree with the checkpoint it resumes from: a kill can land
// after lines about steps the checkpoint does not hold (they are trained again), or between an
// epoch's checkpoint and its log line (the record would be lost).

import Engine
import Files
import Foundation

extension TrainingRun {
    /// Rewrites `path` (atomically) without the lines about steps after the checkpoint, without a
    /// truncated last line or repeated epoch records, and with the epoch records the checkpoint's
    /// history holds but the log lacks.
    func reconcileLog(_ path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        let done = progress.epoch, inEpoch = progress.batchInEpoch
        var kept = Data()
        var logged = Set<Int>()
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { continue }
            let type = object["type"] as? String, epoch = object["epoch"] as? Int
            if type == "step", let epoch, let batch = object["batch"] as? Int,
               epoch > done + 1 || (epoch == done + 1 && batch > inEpoch) { continue }
            if type == "epoch", let epoch {
                if epoch > done || logged.contains(epoch) { continue }
                logged.insert(epoch)
            }
            kept.append(contentsOf: line)
            kept.append(UInt8(ascii: "\n"))
        }
        for record in progress.history where !logged.contains(record.epoch) {
            var entry: [String: Any] = ["type": "epoch", "epoch": record.epoch, "train_loss": record.trainLoss,
                                        "seconds": record.seconds, "from_checkpoint": true]
            entry["test_loss"] = record.testLoss
            entry["test_squared_error_per_image"] = record.testSquaredErrorPerImage
            entry["test_mse_per_pixel"] = record.testMSEPerPixel
            entry["test_psnr"] = record.testPSNR
            entry["test_psnr_noisy"] = record.testPSNRNoisy
            for (name, value) in record.trainParts ?? [:] { entry["train_" + name] = value }
            for (name, value) in record.testParts ?? [:] { entry["test_" + name] = value }
            kept.append(LogFile.json(entry))
            kept.append(UInt8(ascii: "\n"))
        }
        if kept != data { try AtomicFile.write(kept, to: path) }
    }
}
