// Fuzz harnesses for every reader of untrusted files: each input must load or throw, never crash,
// hang or allocate more than its checked sizes allow. Built normally, `autoencoder-fuzz TARGET
// FILE...` replays files through a harness (the tests replay the corpus in Fuzz/corpus); built by
// tools/fuzz with -DFUZZING and the fuzzer and address sanitizers, libFuzzer drives the harness
// that AUTOENCODER_FUZZ_TARGET names.

import Datasets
import Engine
import Foundation
import Images
import Training

enum Harness: String, CaseIterable {
    case png, idx, ts, csv, safetensors, config

    /// Runs one input; errors are expected results, crashes are findings.
    func run(_ bytes: [UInt8]) {
        switch self {
        case .png:
            _ = try? PNGCodec.readHeader(bytes: bytes, maxPixels: 1 << 22)
            _ = try? PNGCodec.decode(bytes, maxPixels: 1 << 22)
        case .idx:
            _ = try? IDXFile.read(path: Harness.write(bytes, suffix: "-images-idx3-ubyte"))
        case .ts:
            _ = try? TSFile.load(Harness.write(bytes, suffix: "_TRAIN.ts"))
        case .csv:
            _ = try? SequenceCSV.load(Harness.write(bytes, suffix: ".csv"), idColumn: "id", labelColumn: "label")
        case .safetensors:
            _ = try? Checkpoint.load(Harness.write(bytes, suffix: ".safetensors"))
        case .config:
            // A config that validates must also size and build its model (as a run, resume or
            // evaluation does) without trapping.
            if var config = try? TrainingConfig.from(json: String(decoding: bytes, as: UTF8.self)) {
                _ = config.jsonString()
                let side = config.patch ?? 28
                let shape = ImageShape(channels: config.channels ?? 1, height: side, width: side)
                let sized: Void?
                if config.model.key == "sequence" {
                    sized = try? config.resolveSequenceModel(steps: 29, features: 12)
                } else {
                    sized = try? config.resolveModel(rowShape: shape)
                }
                if sized != nil, config.model.specification.validationError() == nil {
                    let model = config.makeModel(rowShape: shape)
                    _ = try? config.phaseOptimizerList(for: model)
                }
            }
        }
    }

    /// The readers take paths: one scratch file per process and suffix.
    static func write(_ bytes: [UInt8], suffix: String) -> String {
        let path = NSTemporaryDirectory() + "autoencoder-fuzz-\(getpid())\(suffix)"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }
}

#if FUZZING
nonisolated(unsafe) let fuzzTarget: Harness = {
    let name = ProcessInfo.processInfo.environment["AUTOENCODER_FUZZ_TARGET"] ?? ""
    guard let harness = Harness(rawValue: name) else {
        fatalError("set AUTOENCODER_FUZZ_TARGET to one of " + Harness.allCases.map(\.rawValue).joined(separator: ", "))
    }
    return harness
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    fuzzTarget.run(Array(UnsafeBufferPointer(start: data, count: count)))
    return 0
}
#else
@main
struct Replay {
    /// The file's bytes through stdio: Foundation's `FileManager.contents` leaks 4 KB on an empty
    /// file, which LeakSanitizer reports (the corpus holds empty files).
    static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n > 0 { bytes += chunk[0..<n] }
            if n < chunk.count { break }
        }
        return ferror(file) == 0 ? bytes : nil
    }

    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let harness = Harness(rawValue: name) else {
            FileHandle.standardError.write(Data(("usage: autoencoder-fuzz " + Harness.allCases.map(\.rawValue)
                .joined(separator: "|") + " FILE_OR_FOLDER...\n").utf8))
            exit(2)
        }
        var count = 0
        for path in arguments.dropFirst() {
            var isFolder: ObjCBool = false
            FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
            let files = isFolder.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
                : [path]
            for file in files {
                guard let bytes = Replay.read(file) else { continue }
                harness.run(bytes)
                count += 1
            }
        }
        print("\(name): \(count) input(s) replayed")
    }
}
#endif
