// Sequential readers for raw and gzip-compressed files (zlib inflate, streaming), so a header can
// be validated before the memory for the body is allocated.

import CZlib
import Files
import Foundation

/// Reads a file front to back, transparently inflating gzip (detected by its magic bytes).
final class ByteStream {
    let path: String
    /// Size of the file on disk (compressed size for gzip).
    let fileSize: Int
    let isCompressed: Bool
    private let handle: FileHandle
    private var zstream = z_stream()
    private var input: UnsafeMutablePointer<UInt8>
    private let inputCapacity = 1 << 16
    private var inputEnded = false
    private var streamEnded = false

    init(path: String) throws {
        self.path = path
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw InputError(.notFound, path: path, "no such file")
        }
        guard !isFolder.boolValue, let handle = FileHandle(forReadingAtPath: path) else {
            throw InputError(.unreadable, path: path, "cannot open for reading")
        }
        self.handle = handle
        // The open file's size (FileManager's attributes describe a symbolic link itself).
        fileSize = Int((try? handle.seekToEnd()) ?? 0)
        try? handle.seek(toOffset: 0)
        input = .allocate(capacity: inputCapacity)
        let magic = (try? handle.read(upToCount: 2)) ?? Data()
        isCompressed = magic.count == 2 && magic[magic.startIndex] == 0x1F
            && magic[magic.startIndex + 1] == 0x8B
        try? handle.seek(toOffset: 0)
        if isCompressed {
            // 15 + 32: maximum window, accept a gzip or zlib header.
            let status = inflateInit2_(&zstream, 15 + 32, zlibVersion(),
                                       Int32(MemoryLayout<z_stream>.size))
            guard status == Z_OK else {
                throw InputError(.corrupt, path: path, "zlib init failed (\(status))")
            }
        }
    }

    deinit {
        if isCompressed { inflateEnd(&zstream) }
        input.deallocate()
        try? handle.close()
    }

    /// Fills `buffer` as far as the data goes; returns the number of bytes written.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        if !isCompressed {
            var filled = 0
            while filled < buffer.count {
                let chunk = try readRaw(max: min(buffer.count - filled, 1 << 24))
                if chunk.isEmpty { break }
                chunk.copyBytes(to: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                filled += chunk.count
            }
            return filled
        }
        // zlib counts output in UInt32: fill buffers over 4 GiB in windows of 1 GiB.
        let base = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var written = 0
        while written < buffer.count && !streamEnded {
            let window = min(buffer.count - written, 1 << 30)
            zstream.next_out = base + written
            zstream.avail_out = UInt32(window)
            while zstream.avail_out > 0 && !streamEnded {
                if zstream.avail_in == 0 && !inputEnded {
                    let chunk = try readRaw(max: inputCapacity)
                    if chunk.isEmpty {
                        inputEnded = true
                    } else {
                        chunk.copyBytes(to: input, count: chunk.count)
                        zstream.next_in = input
                        zstream.avail_in = UInt32(chunk.count)
                    }
                }
                let status = inflate(&zstream, Z_NO_FLUSH)
                switch status {
                case Z_STREAM_END:
                    // A gzip file may hold several members; continue with the next one if present.
                    if zstream.avail_in == 0 {
                        let chunk = try readRaw(max: inputCapacity)
                        if chunk.isEmpty {
                            streamEnded = true
                        } else {
                            chunk.copyBytes(to: input, count: chunk.count)
                            zstream.next_in = input
                            zstream.avail_in = UInt32(chunk.count)
                        }
                    }
                    if !streamEnded { inflateReset(&zstream) }
                case Z_OK:
                    break
                case Z_BUF_ERROR where inputEnded:
                    throw InputError(.truncated, path: path, "gzip stream ends early (file truncated)")
                case Z_BUF_ERROR:
                    break
                default:
                    let message = zstream.msg.map { String(cString: $0) } ?? "status \(status)"
                    throw InputError(.corrupt, path: path, "corrupt gzip data: \(message)")
                }
            }
            written += window - Int(zstream.avail_out)
        }
        return written
    }

    /// Reads up to `count` bytes into a new array (for headers and small reads).
    func read(count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = try bytes.withUnsafeMutableBytes { try read(into: $0) }
        return Array(bytes[0..<got])
    }

    /// True when no byte remains.
    func atEnd() throws -> Bool {
        try read(count: 1).isEmpty
    }

    /// Counts the remaining bytes (used to report how much trailing data a file holds).
    func countRemaining() throws -> Int {
        var total = 0
        var scratch = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = try scratch.withUnsafeMutableBytes { try read(into: $0) }
            if got == 0 { return total }
            total += got
        }
    }

    private func readRaw(max: Int) throws -> Data {
        do {
            return try handle.read(upToCount: max) ?? Data()
        } catch {
            throw InputError(.unreadable, path: path, "read failed: \(error.localizedDescription)")
        }
    }
}
