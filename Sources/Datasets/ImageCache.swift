// Decoded images of a PNG folder too large for memory, held in a bounded cache. Decoder threads
// walk the run's sample order ahead of training (a walk the run supplies, epoch by epoch) and
// decode each image the coming steps need into the cache; an image is evicted only when no step
// from the one in progress up to the walk's position still needs it. What a step sees does not
// depend on timing: the order is fixed, and a step starts only when all its images are in.

import Files
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The images of one epoch in the order this process reads them, and where each step's start.
public struct EpochWalk: Sendable {
    /// Image of each sample this process reads, step after step.
    public var images: [Int32]
    /// `images[stepStarts[b]..<stepStarts[b + 1]]` are step b's.
    public var stepStarts: [Int]

    public init(images: [Int32], stepStarts: [Int]) {
        self.images = images
        self.stepStarts = stepStarts
    }
}

// @unchecked Sendable: state changes under `condition`; unlocked reads are of the current step's images.
public final class ImageCache: @unchecked Sendable {
    public let index: PNGIndex
    public let options: PNGFolderOptions
    /// Bytes of decoded samples the cache may hold at once.
    public let budget: Int
    public let decoders: Int
    private var epochs = 0
    private var walk: @Sendable (Int) -> EpochWalk = { _ in EpochWalk(images: [], stepStarts: [0]) }

    enum Slot {
        case absent, loading, ready, failed(String)
    }

    private let condition = NSCondition()
    private var slots: [Slot]
    /// Raw storage (not arrays): shard workers read the entries of the current step's images
    /// without the lock while decoder threads write others.
    private let pointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    /// The step (`stepMark`) whose images each was last handed to; those are resident and stay
    /// so until the next `acquire`.
    private let marks: UnsafeMutablePointer<Int>
    private var stepMark = 0
    private var pins: [Int]
    /// The last position (see `position`) at which the walk so far needs each image.
    private var lastNeeded: [Int]
    private var resident: [Int] = []
    /// Images read instead of failed ones in the current step (`--skip-bad`), -1 for none.
    private let substitutes: UnsafeMutablePointer<Int32>
    private var walks: [Int: EpochWalk] = [:]
    private var walking: Set<Int> = []
    private var cursor = (epoch: 0, offset: 0)
    private var current = 0
    private var stopping = false
    private var running = 0
    private var waitingForRoom = 0
    public private(set) var usedBytes = 0
    /// The most bytes held at once (instrumented for tests: never above `budget`).
    public private(set) var peakBytes = 0
    /// Images decoded, and samples read, since the start.
    public private(set) var decodes = 0
    public private(set) var lookups = 0
    /// Files that failed mid-run and were left out (`--skip-bad`), reported once each.
    private var reported: Set<Int> = []
    public private(set) var newFailures: [InputError] = []

    /// The cache of `index`'s images with `budget` bytes, filled by `decoders` threads once started.
    public init(index: PNGIndex, options: PNGFolderOptions, budget: Int, decoders: Int) {
        self.index = index
        self.options = options
        self.budget = budget
        self.decoders = max(1, decoders)
        let n = index.files.count
        slots = [Slot](repeating: .absent, count: n)
        pointers = .allocate(capacity: n)
        pointers.initialize(repeating: nil, count: n)
        marks = .allocate(capacity: n)
        marks.initialize(repeating: -1, count: n)
        pins = [Int](repeating: 0, count: n)
        lastNeeded = [Int](repeating: -1, count: n)
        substitutes = .allocate(capacity: n)
        substitutes.initialize(repeating: -1, count: n)
    }

    /// Bytes of the largest decoded image.
    public var largestSampleBytes: Int { index.files.indices.map(index.sampleBytes).max() ?? 1 }

    /// Images per window of the order when not told: half of what the cache holds, so the next
    /// window decodes while this one trains.
    public var defaultWindow: Int { max(1, budget / largestSampleBytes / 2) }

    /// Refuses a budget that cannot hold the images of one step (`stepImages` samples).
    /// - Throws: `InputError` with the size it needs.
    public func check(stepImages: Int) throws {
        let largest = largestSampleBytes
        let needed = largest * min(stepImages, index.files.count)
        guard budget >= needed else {
            throw InputError(.badOption, path: index.folder, "--cache-memory \(Self.format(budget)) holds fewer "
                + "images than one step reads (\(stepImages) of \(Self.format(largest)) each); give it at least "
                + "\(Self.format(needed))")
        }
    }

    deinit {
        stop()
        for i in resident { munmap(pointers[i], index.sampleBytes(i)) }
        substitutes.deallocate()
        pointers.deallocate()
        marks.deallocate()
    }

    /// "2.0G", "512M": a byte count as `--cache-memory` takes it.
    public static func format(_ bytes: Int) -> String {
        if bytes >= 1 << 30 { return String(format: "%.1fG", Double(bytes) / Double(1 << 30)) }
        if bytes >= 1 << 20 { return String(format: "%.1fM", Double(bytes) / Double(1 << 20)).replacingOccurrences(of: ".0M", with: "M") }
        return String(format: "%.0fK", (Double(bytes) / 1024).rounded(.up))
    }

    /// A walk position as one ordered number.
    private func position(_ epoch: Int, _ offset: Int) -> Int { epoch << 40 | offset }

    /// Starts the decoder threads at step `step` of epoch `epoch` (a resumed run starts mid-epoch)
    /// of a run of `epochs` whose epoch e is read in the order `walk(e)`.
    public func start(epoch: Int, step: Int, epochs: Int, walk: @escaping @Sendable (Int) -> EpochWalk) {
        guard epoch < epochs, running == 0 else { return }
        self.epochs = epochs
        self.walk = walk
        let first = walk(epoch)
        condition.lock()
        stopping = false
        walks[epoch] = first
        cursor = (epoch, first.stepStarts[min(step, first.stepStarts.count - 1)])
        current = position(cursor.epoch, cursor.offset)
        running = decoders
        condition.unlock()
        for _ in 0..<decoders {
            let thread = Thread { [unowned self] in self.decodeLoop() }
            thread.name = "png-decoder"
            thread.start()
        }
    }

    /// Stops the decoder threads (after their current image) and waits for them.
    public func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    /// Waits until every image of step `step` of `epoch` is in the cache and keeps them there
    /// until the next call. With `skipBad`, a file that fails is replaced in this step by the
    /// step's first good image (and listed in `newFailures` once); otherwise it stops the run.
    /// Returns the seconds spent waiting.
    /// - Throws: `InputError` of kind `.unreadable` for a failed file (without `skipBad`), or when
    ///   all fail; nothing else.
    public func acquire(epoch: Int, step: Int, skipBad: Bool) throws -> Double {
        condition.lock()
        defer { condition.unlock() }
        while walks[epoch] == nil { condition.wait() }
        let stepWalk = walks[epoch]!
        let range = stepWalk.stepStarts[step]..<stepWalk.stepStarts[step + 1]
        current = position(epoch, range.lowerBound)
        // Walks of epochs before this one are done with.
        for old in walks.keys where old < epoch { walks[old] = nil }
        condition.broadcast()
        let end = position(epoch, range.upperBound)
        var waited = 0.0
        func ready() -> Bool {
            guard position(cursor.epoch, cursor.offset) >= end || cursor.epoch > epoch else { return false }
            for p in range {
                if case .loading = slots[Int(stepWalk.images[p])] { return false }
            }
            return true
        }
        if !ready() {
            let started = Date()
            while !ready() { condition.wait() }
            waited = Date().timeIntervalSince(started)
        }
        lookups += range.count
        stepMark += 1
        var good: Int32 = -1
        for p in range {
            let image = Int(stepWalk.images[p])
            substitutes[image] = -1
            if case .ready = slots[image] {
                marks[image] = stepMark
                if good < 0 { good = Int32(image) }
            }
        }
        for p in range {
            let image = Int(stepWalk.images[p])
            guard case .failed(let reason) = slots[image] else { continue }
            let failure = InputError(.unreadable, path: index.path(of: image), reason)
            guard skipBad else { throw failure }
            guard good >= 0 else {
                throw InputError(.unreadable, path: failure.path,
                                 failure.reason + " (and every other image of this step)")
            }
            substitutes[image] = good
            if reported.insert(image).inserted { newFailures.append(failure) }
        }
        return waited
    }

    /// Waits until the cache is full: every decoder waits for training to free room (or has
    /// finished the run's order). Returns the seconds waited.
    public func waitUntilFull() -> Double {
        let started = Date()
        condition.lock()
        while running > 0 && waitingForRoom < running { condition.wait() }
        condition.unlock()
        return Date().timeIntervalSince(started)
    }

    /// Images decoded and samples read so far, and the most bytes held at once.
    public func counters() -> (decodes: Int, lookups: Int, peakBytes: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (decodes, lookups, peakBytes)
    }

    /// Takes the failures found since the last call.
    public func takeFailures() -> [InputError] {
        condition.lock()
        defer { condition.unlock() }
        let failures = newFailures
        newFailures = []
        return failures
    }

    /// The image whose pixels stand for `image` in the current step (itself unless it failed).
    @inline(__always)
    public func stored(_ image: Int) -> Int {
        let other = substitutes[image]
        return other < 0 ? image : Int(other)
    }

    /// Runs `body` with image `image`'s samples (8- or 16-bit, as the index says). An image not in
    /// the cache (a pass outside the training order, such as an evaluation of training samples)
    /// is decoded for the call; one that no longer decodes gives nil.
    public func withSamples<R>(of image: Int, _ body: (UnsafeRawPointer?) -> R) -> R {
        // The current step's images: no lock (set before the step's workers start, kept until
        // the next step's acquire, which runs after they end).
        if marks[image] == stepMark, let pointer = pointers[image] { return body(pointer) }
        condition.lock()
        if case .ready = slots[image], let pointer = pointers[image] {
            pins[image] += 1
            condition.unlock()
            defer {
                condition.lock()
                pins[image] -= 1
                condition.unlock()
            }
            return body(pointer)
        }
        condition.unlock()
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: index.sampleBytes(image), alignment: 16)
        defer { scratch.deallocate() }
        let decoded = (try? PNGFolder.decodeSample(index, image, options: options, into: scratch)) != nil
        return body(decoded ? UnsafeRawPointer(scratch) : nil)
    }

    private func decodeLoop() {
        condition.lock()
        defer {
            running -= 1
            condition.broadcast()
            condition.unlock()
        }
        while !stopping {
            guard cursor.epoch < epochs else { return }
            guard let epochWalk = walks[cursor.epoch] else {
                // The first thread here computes the epoch's walk (outside the lock).
                let epoch = cursor.epoch
                if walking.insert(epoch).inserted {
                    condition.unlock()
                    let next = walk(epoch)
                    condition.lock()
                    walks[epoch] = next
                    walking.remove(epoch)
                    condition.broadcast()
                } else {
                    condition.wait()
                }
                continue
            }
            if cursor.offset >= epochWalk.images.count {
                cursor = (cursor.epoch + 1, 0)
                continue
            }
            let here = position(cursor.epoch, cursor.offset)
            let image = Int(epochWalk.images[cursor.offset])
            if case .absent = slots[image] {
                let bytes = index.sampleBytes(image)
                while usedBytes + bytes > budget, let victim = evictable() { evict(victim) }
                guard usedBytes + bytes <= budget else {
                    waitingForRoom += 1
                    condition.broadcast()
                    condition.wait()  // until training moves on and frees images
                    waitingForRoom -= 1
                    continue
                }
                slots[image] = .loading
                usedBytes += bytes
                peakBytes = max(peakBytes, usedBytes)
                lastNeeded[image] = here
                resident.append(image)
                cursor.offset += 1
                condition.unlock()
                let memory = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                var failure: String?
                if memory == MAP_FAILED || memory == nil {
                    failure = "no memory for its decoded samples"
                } else {
                    do {
                        _ = try PNGFolder.decodeSample(index, image, options: options, into: memory!)
                    } catch let error as InputError {
                        failure = error.reason
                    } catch {
                        failure = "\(error)"
                    }
                }
                condition.lock()
                decodes += 1
                if let failure {
                    if memory != MAP_FAILED, let memory { munmap(memory, bytes) }
                    slots[image] = .failed(failure)
                    usedBytes -= bytes
                    resident.removeAll { $0 == image }
                } else {
                    pointers[image] = memory
                    slots[image] = .ready
                }
                condition.broadcast()
            } else {
                lastNeeded[image] = here
                cursor.offset += 1
            }
        }
    }

    /// A resident image that no step from the current one up to the cursor reads, unpinned.
    private func evictable() -> Int? {
        var best: Int?
        for image in resident where lastNeeded[image] < current && pins[image] == 0 {
            if case .ready = slots[image], best.map({ lastNeeded[image] < lastNeeded[$0] }) ?? true { best = image }
        }
        return best
    }

    private func evict(_ image: Int) {
        munmap(pointers[image], index.sampleBytes(image))
        pointers[image] = nil
        slots[image] = .absent
        usedBytes -= index.sampleBytes(image)
        resident.removeAll { $0 == image }
    }
}
