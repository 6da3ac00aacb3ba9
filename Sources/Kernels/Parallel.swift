// Parallel loops over libdispatch's `dispatch_apply_f` (the primitive under
// DispatchQueue.concurrentPerform). concurrentPerform copies its closure into a heap block on
// every call; passing the closure by pointer to dispatch_apply_f keeps a training step free of
// allocations.

import CDispatch
import Dispatch

public enum Parallel {
    /// Runs `body(i)` for `i` in `0..<iterations` on the cores (inline when there is one
    /// iteration); returns when all are done.
    @inline(__always)
    public static func forEach(_ iterations: Int, _ body: @Sendable (Int) -> Void) {
        if iterations <= 0 { return }
        if iterations == 1 {
            body(0)
            return
        }
        withoutActuallyEscaping(body) { escapable in
            var function = escapable
            withUnsafeMutablePointer(to: &function) { pointer in
                dispatch_apply_f(iterations, nil, pointer) { context, i in
                    context!.assumingMemoryBound(to: (@Sendable (Int) -> Void).self).pointee(i)
                }
            }
        }
    }
}
