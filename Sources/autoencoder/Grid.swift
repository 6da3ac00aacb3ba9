// `autoencoder grid`: clean and corrupted samples side by side, one PNG; proves the data path.

import ArgumentParser
import Datasets
import Files
import Foundation
import Images

struct Grid: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a PNG grid of clean samples and their corrupted versions.")

    @OptionGroup var dataOptions: DataOptions

    @Option(help: "Noise: gaussian:S, salt-pepper:F, masking:F, joined by + (e.g. masking:0.2+clip).")
    var noise: String = "gaussian:0.3"

    @Option(help: "Number of samples (the first ones of the test split, or train if none).")
    var count: Int = 10

    @Option(help: "Samples per grid row; default min(count, 10).")
    var columns: Int?

    @Option(help: ArgumentHelp("Cut random WxH (or N x N) patches instead of whole images (sizes may vary).",
                               valueName: "WxH|N"))
    var patch: PixelSize?

    @Option(help: "Random seed of the noise.")
    var seed: UInt64 = 0

    @Option(help: "Epoch whose noise to draw (noise differs every epoch).")
    var epoch: Int = 0

    @Option(help: "Output PNG file.")
    var out: String = "grid.png"

    @OptionGroup var gridScale: GridScale

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive, got \(count)") }
        if let columns, columns <= 0 { throw ValidationError("--columns must be positive") }
        do {
            _ = try Corruption(parsing: noise)
        } catch let error as InputError {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        let source = try dataOptions.load(allowMixedSizes: patch != nil, sequencesHint: "grid shows images; "
            + "`inspect` describes sequence files and `train` plots them against their reconstructions")
        let dataset = source.test ?? source.train
        let corruption = try Corruption(parsing: noise)
        let assembler = try BatchAssembler(dataset: dataset, corruption: corruption, seed: seed,
                                           patch: patch.map { ($0.height, $0.width) })
        let n = min(count, dataset.count)
        let width = assembler.rowWidth
        var clean = [Float](repeating: 0, count: n * width)
        var noisy = clean
        let indices = Array(0..<n)
        indices.withUnsafeBufferPointer { ids in
            clean.withUnsafeMutableBufferPointer { c in
                noisy.withUnsafeMutableBufferPointer { d in
                    assembler.fill(indices: ids, epoch: epoch, clean: c.baseAddress!,
                                   corrupted: d.baseAddress!)
                }
            }
        }
        let shape = assembler.rowShape
        var grid = ImageGrid(tileWidth: shape.width, tileHeight: shape.height, channels: shape.channels)
        grid.scale = gridScale.scale ?? ImageGrid.readableScale(tileHeight: shape.height)
        grid.caption = "\(corruption), seed \(seed), epoch \(epoch)"
        let perRow = columns ?? min(n, 10)
        for start in stride(from: 0, to: n, by: perRow) {
            let range = (start * width)..<(min(start + perRow, n) * width)
            grid.addRow(label: "clean", tiles: Array(clean[range]))
            grid.addRow(label: "noisy", tiles: Array(noisy[range]))
        }
        do {
            try PNGCodec.write(grid.render(), to: out)
        } catch {
            throw CommandFailure(message: "\(error)")
        }
        print("wrote \(out): \(n) samples from \(dataset.source), noise \(corruption)")
    }
}
