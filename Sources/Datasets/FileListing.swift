// Finding the data files of a folder: PNG images, CSV sequences.

import Foundation

/// Regular files under `folder` (recursively) whose names end in `.ext` (any case), as paths
/// relative to `folder`, sorted.
func filesRecursively(in folder: String, withExtension ext: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
    let suffix = "." + ext.lowercased()
    var files: [String] = []
    while let relative = walker.nextObject() as? String {
        guard relative.lowercased().hasSuffix(suffix) else { continue }
        var isFolder: ObjCBool = false
        let full = (folder as NSString).appendingPathComponent(relative)
        if FileManager.default.fileExists(atPath: full, isDirectory: &isFolder), !isFolder.boolValue {
            files.append(relative)
        }
    }
    return files.sorted()
}
