// Whole-image denoising with a trained ConvDenoiser, for images of any size. The image is
// mirrored out by a small border and up to a multiple of the network's size step, then run in
// tiles whose margins cover the network's receptive field and whose corners sit on the pooling
// grid, so a tiled pass equals a single pass within float rounding while memory stays bounded
// by the tile size.

import Datasets
import Dispatch
import Engine
import Files
import Foundation
import Kernels
import Layers
import Models
import Training

public final class ImageDenoiser: Sendable {
    public let config: ConvDenoiserConfig
    let params: FloatBuffer
    /// Output pixels per tile side (a multiple of the size step).
    public let tile: Int
    /// Extra pixels each side of a tile that the network sees (covers the receptive field).
    public let margin: Int
    /// Mirrored pixels added around the image, so its edges get context like its interior.
    public let border: Int

    /// - Parameter parameters: the model's parameters (copied).
    public init(config: ConvDenoiserConfig, parameters: UnsafePointer<Float>, tile: Int = 192) {
        let step = config.sizeMultiple
        self.config = config
        self.tile = max(step, (tile + step - 1) / step * step)
        margin = (config.receptiveRadius + step - 1) / step * step
        border = 8
        let layout = ConvDenoiser(config, height: step, width: step, inference: true).layout
        params = FloatBuffer(count: layout.count)
        params.pointer.update(from: parameters, count: layout.count)
    }

    /// Loads a denoiser checkpoint (a file or a run folder).
    /// - Throws: `InputError` for unreadable files, `TrainingError` for other model families.
    public static func load(checkpoint path: String, tile: Int = 192) throws -> ImageDenoiser {
        let contents = try Checkpoint.load(path, preferring: "best")
        guard let config = contents.config.model.as(ConvDenoiserConfig.self) else {
            throw TrainingError("\(contents.path): a \(contents.config.family.rawValue) checkpoint; denoising "
                + "needs one trained with --model denoiser")
        }
        let layout = ConvDenoiser(config, height: config.sizeMultiple, width: config.sizeMultiple,
                                  inference: true).layout
        let values = FloatBuffer(count: layout.count)
        for slot in layout.slots {
            guard let tensor = contents.tensors[slot.name], tensor.shape == slot.shape else {
                throw InputError(.countMismatch, path: contents.path,
                                 "tensor \(slot.name) missing or not \(slot.shape)")
            }
            tensor.values.withUnsafeBufferPointer { (values.pointer + slot.offset).update(from: $0.baseAddress!, count: slot.count) }
        }
        return withExtendedLifetime(values) { ImageDenoiser(config: config, parameters: values.pointer, tile: tile) }
    }

    /// Per-thread state: models by window size and one workspace big enough for the largest window.
    // @unchecked Sendable: each worker thread uses only its own runner.
    public final class Runner: @unchecked Sendable {
        var models: [Int: ConvDenoiser] = [:]
        var workspace: Workspace?

        public init() {}
    }

    func model(height: Int, width: Int, runner: Runner) -> (ConvDenoiser, Workspace) {
        let key = height << 32 | width
        let model = runner.models[key] ?? ConvDenoiser(config, height: height, width: width, inference: true)
        runner.models[key] = model
        if runner.workspace == nil || runner.workspace!.buffer.count < model.workspaceColumns {
            // Size for a full tile window at least, so later windows reuse the buffer.
            let full = ConvDenoiser(config, height: max(height, tile + 2 * margin), width: max(width, tile + 2 * margin),
                                    inference: true)
            runner.workspace = Workspace(columns: max(full.workspaceColumns, model.workspaceColumns), maxRows: 1,
                                         parameterCount: 0)
        }
        return (model, runner.workspace!)
    }

    /// Denoises a planar image of `config.channels` channels with values in [0, 1].
    /// - Parameters:
    ///   - tiled: false runs the whole (padded) image in one pass.
    ///   - ensemble: also denoise the 7 other rotations and mirror images and average the 8 results
    ///     mapped back (self-ensemble; 8 times the work, the output is then equivariant under them).
    ///   - runners: one per thread; tiles are spread over them in parallel when there are several.
    public func denoise(_ image: [Float], height: Int, width: Int, tiled: Bool = true, ensemble: Bool = false,
                        runners: [Runner]) -> [Float] {
        guard ensemble else { return denoiseOnce(image, height: height, width: width, tiled: tiled, runners: runners) }
        let c = config.channels
        var sum = [Float](repeating: 0, count: image.count)
        for k in 0..<8 {
            let mirrored = k >= 4, turns = k % 4
            let (h, w) = turns % 2 == 0 ? (height, width) : (width, height)
            let seen = Self.orient(image, channels: c, height: height, width: width, mirrored: mirrored, turns: turns)
            let out = denoiseOnce(seen, height: h, width: w, tiled: tiled, runners: runners)
            let back = Self.unorient(out, channels: c, height: h, width: w, mirrored: mirrored, turns: turns)
            for i in sum.indices { sum[i] += back[i] }
        }
        return sum.map { $0 / 8 }
    }

    /// Mirrors each channel plane left-right (when `mirrored`), then turns it 90 degrees
    /// counter-clockwise `turns` times; odd turns swap height and width.
    public static func orient(_ image: [Float], channels: Int, height: Int, width: Int, mirrored: Bool,
                              turns: Int) -> [Float] {
        var plane = image, h = height, w = width
        if mirrored {
            for ch in 0..<channels {
                for y in 0..<h {
                    for x in 0..<w { plane[(ch * h + y) * w + x] = image[(ch * h + y) * w + (w - 1 - x)] }
                }
            }
        }
        for _ in 0..<(turns % 4) {
            var turned = plane
            // Counter-clockwise: out (w x h) at (y, x) is in (h x w) at (x, w - 1 - y).
            for ch in 0..<channels {
                for y in 0..<w {
                    for x in 0..<h { turned[(ch * w + y) * h + x] = plane[(ch * h + x) * w + (w - 1 - y)] }
                }
            }
            plane = turned
            swap(&h, &w)
        }
        return plane
    }

    /// Undoes `orient`: `height` and `width` are those of the oriented image.
    public static func unorient(_ image: [Float], channels: Int, height: Int, width: Int, mirrored: Bool,
                                turns: Int) -> [Float] {
        let back = (4 - turns % 4) % 4
        let turned = orient(image, channels: channels, height: height, width: width, mirrored: false, turns: back)
        guard mirrored else { return turned }
        let (h, w) = back % 2 == 0 ? (height, width) : (width, height)
        return orient(turned, channels: channels, height: h, width: w, mirrored: true, turns: 0)
    }

    func denoiseOnce(_ image: [Float], height: Int, width: Int, tiled: Bool, runners: [Runner]) -> [Float] {
        let c = config.channels, step = config.sizeMultiple
        precondition(image.count == c * height * width, "image has \(image.count) values, expected \(c * height * width)")
        let ph = (height + 2 * border + step - 1) / step * step, pw = (width + 2 * border + step - 1) / step * step
        var padded = [Float](repeating: 0, count: c * ph * pw)
        for ch in 0..<c {
            for y in 0..<ph {
                let sy = Self.mirror(y - border, height)
                for x in 0..<pw {
                    padded[(ch * ph + y) * pw + x] = image[(ch * height + sy) * width + Self.mirror(x - border, width)]
                }
            }
        }
        var tiles: [(y: Int, x: Int, h: Int, w: Int)] = []
        if tiled {
            for y in stride(from: 0, to: ph, by: tile) {
                for x in stride(from: 0, to: pw, by: tile) { tiles.append((y, x, min(tile, ph - y), min(tile, pw - x))) }
            }
        } else {
            tiles = [(0, 0, ph, pw)]
        }
        var output = [Float](repeating: 0, count: c * ph * pw)
        padded.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                let src = Unchecked(source.baseAddress!), dst = Unchecked(target.baseAddress!)
                let tiles = tiles
                let work: @Sendable (Int) -> Void = { worker in
                    for t in stride(from: worker, to: tiles.count, by: runners.count) {
                        self.run(tile: tiles[t], padded: src.value, height: ph, width: pw, into: dst.value,
                                 runner: runners[worker])
                    }
                }
                if runners.count > 1 && tiles.count > 1 {
                    DispatchQueue.concurrentPerform(iterations: min(runners.count, tiles.count), execute: work)
                } else {
                    work(0)
                }
            }
        }
        var result = [Float](repeating: 0, count: c * height * width)
        for ch in 0..<c {
            for y in 0..<height {
                for x in 0..<width { result[(ch * height + y) * width + x] = output[(ch * ph + y + border) * pw + x + border] }
            }
        }
        return result
    }

    /// Runs the window around one tile and writes the tile's part of the result.
    func run(tile t: (y: Int, x: Int, h: Int, w: Int), padded: UnsafePointer<Float>, height ph: Int, width pw: Int,
             into output: UnsafeMutablePointer<Float>, runner: Runner) {
        let c = config.channels
        let top = max(0, t.y - margin), left = max(0, t.x - margin)
        let bottom = min(ph, t.y + t.h + margin), right = min(pw, t.x + t.w + margin)
        let wh = bottom - top, ww = right - left
        let (model, ws) = model(height: wh, width: ww, runner: runner)
        let input = model.input(ws, rows: 1).base
        for ch in 0..<c {
            for y in 0..<wh {
                (input + (ch * wh + y) * ww).update(from: padded + (ch * ph + top + y) * pw + left, count: ww)
            }
        }
        withExtendedLifetime(params) {
            model.forward(.evaluation, ws, rows: 1, params: Arena(params), statistic: nil)
        }
        let out = model.reconstruction(ws, rows: 1).base
        for ch in 0..<c {
            for y in 0..<t.h {
                (output + (ch * ph + t.y + y) * pw + t.x)
                    .update(from: out + (ch * wh + t.y - top + y) * ww + (t.x - left), count: t.w)
            }
        }
    }

    /// Index into 0..<n mirrored at both ends (without repeating the edge), for any offset.
    static func mirror(_ i: Int, _ n: Int) -> Int {
        guard n > 1 else { return 0 }
        let period = 2 * (n - 1)
        let j = ((i % period) + period) % period
        return j < n ? j : period - j
    }
}
