// TensorBoard event files: the CRC-32C of TFRecord framing, records read back as written, bad
// files refused, and a resumed run's file keeping no step past its checkpoint.
// (tools/check-tensorboard reads real runs with TensorBoard's own reader.)

import Foundation
import Testing
import TestSupport
import Training

@Suite struct EventFileTests {
    @Test func crc32cMatchesTheStandardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // 32 zero bytes: the iSCSI test vector (RFC 3720, B.4).
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    }

    @Test func recordsReadBackWithTheirSteps() throws {
        let folder = try makeScratchFolder("events")
        let file = try EventFile(folder: folder)
        file.write([.scalar(tag: "train/loss", value: 0.5)], step: 3)
        file.write([.scalar(tag: "train/loss", value: 0.25), .text(tag: "run/note", markdown: "a **b**")], step: 300_000)
        file.write([.png(tag: "grid", bytes: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48,
                                              0x44, 0x52, 0, 0, 0, 7, 0, 0, 0, 5, 8, 2])], step: 4)
        let records = try EventFile.records(at: file.path)
        // The file-version event first (no step field), then ours.
        #expect(records.map(\.step) == [nil, 3, 300_000, 4])
        #expect(String(decoding: records[0].payload, as: UTF8.self).contains("brain.Event:2"))
        #expect(file.path.contains("/events.out.tfevents."))
        // A flipped byte in a payload, or a file cut short, is refused, naming the file.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file.path)))
        bytes[bytes.count - 10] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: folder + "/bad"))
        #expect { try EventFile.records(at: folder + "/bad") } throws: { "\($0)".contains("bad record checksum") }
        try Data(bytes.prefix(bytes.count - 3)).write(to: URL(fileURLWithPath: folder + "/short"))
        #expect { try EventFile.records(at: folder + "/short") } throws: { "\($0)".contains(folder + "/short") }
    }

    @Test func resumingDropsStepsPastTheCheckpoint() throws {
        let folder = try makeScratchFolder("events-resume")
        let first = try EventFile(folder: folder)
        for step in 1...10 { first.write([.scalar(tag: "train/loss", value: Float(step))], step: step) }
        // Checkpointed at step 6, then killed after logging step 10: steps 7-10 come again.
        let resumed = try EventFile(folder: folder, keepingStepsThrough: 6)
        #expect(resumed.path == first.path)
        for step in 7...12 { resumed.write([.scalar(tag: "train/loss", value: Float(step))], step: step) }
        #expect(try EventFile.records(at: resumed.path).map(\.step) == [nil] + (1...12).map { $0 })
    }
}
