// The TensorBoard Projector's files for a run's test codes: vectors.tsv (a code per row),
// metadata.tsv (label, class name, file), a sprite of the inputs for image data, and
// projector_config.pbtxt tying them together; what the projector plugin of `tensorboard
// --logdir` and the standalone Projector read.

import Files
import Foundation
import Images

extension TrainingRun {
    /// Writes the projector's files for `codes` (rows x `z`, the test split's, in its order) into
    /// `folder` and its config into `configFolder` (paths relative to it): `encode --projector
    /// DIR` writes both into DIR, a run folder its config at the top (where `tensorboard --logdir`
    /// looks) and the files under projector/.
    /// `keepingSprite`: an existing sprite is kept (a run's test inputs do not change by epoch).
    public func writeProjector(codes: [Float], labels: [Int32], width z: Int, to folder: String,
                               configFolder: String? = nil, keepingSprite: Bool = false) throws {
        let n = codes.count / max(z, 1)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var vectors = ""
        vectors.reserveCapacity(n * z * 10)
        for r in 0..<n {
            vectors += (0..<z).map { "\(codes[r * z + $0])" }.joined(separator: "\t") + "\n"
        }
        try AtomicFile.write(Data(vectors.utf8), to: folder + "/vectors.tsv")
        // Metadata: a header row, then one row per code (tabs and newlines in names become spaces).
        let names = classNames, files = testImages?.dataset.files ?? testSequences?.sequences.files
        func clean(_ text: String) -> String { text.map { $0 == "\t" || $0.isNewline ? " " : String($0) }.joined() }
        var metadata = "label\tclass" + (files == nil ? "" : "\tfile") + "\n"
        for r in 0..<n {
            let label = labels[r], id = testIndices[r]
            let name = label < 0 ? "" : names.flatMap { Int(label) < $0.count ? $0[Int(label)] : nil } ?? "\(label)"
            metadata += (label < 0 ? "" : "\(label)") + "\t" + clean(name)
            if let files { metadata += "\t" + clean(files[id]) }
            metadata += "\n"
        }
        try AtomicFile.write(Data(metadata.utf8), to: folder + "/metadata.tsv")
        let configFolder = configFolder ?? folder
        let relative = folder == configFolder ? "" : String(folder.dropFirst(configFolder.count + 1)) + "/"
        var config = "embeddings {\n  tensor_name: \"\(config.family.rawValue) test codes\"\n"
            + "  tensor_path: \"\(relative)vectors.tsv\"\n  metadata_path: \"\(relative)metadata.tsv\"\n"
        if let sprite = try writeSprite(count: n, to: folder + "/sprite.png", keeping: keepingSprite) {
            config += "  sprite {\n    image_path: \"\(relative)sprite.png\"\n"
                + "    single_image_dim: \(sprite.width)\n    single_image_dim: \(sprite.height)\n  }\n"
        }
        config += "}\n"
        try AtomicFile.write(Data(config.utf8), to: configFolder + "/projector_config.pbtxt")
    }

    /// The first `count` test inputs (clean) as one square sprite of thumbnails, row by row, at
    /// most 8192 pixels a side (the Projector's limit; thumbnails shrink to fit); nil for data
    /// that is not images of 1 or 3 channels. Returns the thumbnail size.
    func writeSprite(count: Int, to path: String, keeping: Bool) throws -> (width: Int, height: Int)? {
        guard let shape = try? gridShape(), count > 0 else { return nil }
        let perSide = Int(Double(count).squareRoot().rounded(.up))
        let shrink = max(1, (perSide * max(shape.width, shape.height) + 8191) / 8192)
        let (w, h) = (max(1, shape.width / shrink), max(1, shape.height / shrink))
        if keeping && FileManager.default.fileExists(atPath: path) { return (w, h) }
        let c = shape.channels, width = model.targetWidth, plane = shape.width * shape.height
        var canvas = [Float](repeating: 0, count: perSide * w * perSide * h * c)
        let batch = 256
        var clean = [Float](repeating: 0, count: batch * width)
        for start in stride(from: 0, to: count, by: batch) {
            let ids = Array(testIndices[start..<min(start + batch, count)])
            ids.withUnsafeBufferPointer { p in
                clean.withUnsafeMutableBufferPointer {
                    testSource.fill(indices: p, epoch: evaluationEpoch, clean: $0.baseAddress!, corrupted: nil)
                }
            }
            for (k, _) in ids.enumerated() {
                let i = start + k, x0 = (i % perSide) * w, y0 = (i / perSide) * h
                for y in 0..<h {
                    for x in 0..<w {
                        for ch in 0..<c {
                            let v = clean[k * width + ch * plane + (y * shrink) * shape.width + x * shrink]
                            canvas[((y0 + y) * perSide * w + x0 + x) * c + ch] = min(max(v, 0), 1)
                        }
                    }
                }
            }
        }
        try PNGCodec.write(PNGImage(width: perSide * w, height: perSide * h, layout: c == 3 ? .rgb : .gray,
                                    bitDepth: 8, values: canvas), to: path)
        return (w, h)
    }
}
