// Helpers shared by the test targets: tolerance checks that report at the caller's line,
// scratch folders, and the locations of committed data.

import Foundation
import Testing

/// Expects `actual` and `expected` to agree element-wise within `absolute + relative * |expected|`.
public func expectClose(_ actual: [Float], _ expected: [Float], relative: Float = 1e-5,
                        absolute: Float = 1e-6, _ comment: String = "",
                        sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual.count == expected.count else {
        Issue.record(Comment(rawValue: "\(comment) count \(actual.count) != \(expected.count)"),
                     sourceLocation: sourceLocation)
        return
    }
    var worst = 0, worstExcess: Float = 0, failures = 0
    for i in 0..<actual.count {
        let allowed = absolute + relative * abs(expected[i])
        let error = abs(actual[i] - expected[i])
        if !(error <= allowed) {
            failures += 1
            if error - allowed > worstExcess || failures == 1 {
                worst = i
                worstExcess = error - allowed
            }
        }
    }
    if failures > 0 {
        let message = "\(comment) \(failures) of \(actual.count) values differ; worst at \(worst): "
            + "\(actual[worst]) vs \(expected[worst])"
        Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
    }
}

public func expectClose(_ actual: Float, _ expected: Float, relative: Float = 1e-5,
                        absolute: Float = 1e-6, _ comment: String = "",
                        sourceLocation: SourceLocation = #_sourceLocation) {
    expectClose([actual], [expected], relative: relative, absolute: absolute, comment,
                sourceLocation: sourceLocation)
}

/// A fresh empty folder under the system temporary folder.
public func makeScratchFolder(_ name: String = "test") throws -> String {
    let path = NSTemporaryDirectory() + "autoencoders-\(name)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The repository root, found from this file's location.
public let repositoryRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path

/// The bundled MNIST sample folder.
public var bundledMNISTSample: String { repositoryRoot + "/data/mnist-sample" }

/// Writes bytes to a file (test inputs).
public func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}
