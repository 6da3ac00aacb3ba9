// swift-tools-version:6.0
import PackageDescription

// Linux only (x86-64 and other glibc systems): the engine reads /proc, wraps glibc's malloc for
// its allocation counter and links the system's OpenBLAS, libpng and zlib. SwiftPM has no way to
// name Linux as the one platform, so no platform is declared.
let package = Package(
    name: "Autoencoders",
    products: [
        .executable(name: "autoencoder", targets: ["autoencoder"]),
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "Layers", targets: ["Layers"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Analysis", targets: ["Analysis"]),
        .library(name: "Denoising", targets: ["Denoising"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Images", targets: ["Images"]),
        .library(name: "Files", targets: ["Files"]),
        // Preloaded by `bench` runs that count allocations (LD_PRELOAD); not in the shipped binary.
        .library(name: "AllocationCounter", type: .dynamic, targets: ["CAllocationCounter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // MARK: C shims
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

        // 16-bit straight-alpha PNG through libpng's low-level API (needs setjmp, so in C).
        .target(name: "CPNGStraight", dependencies: ["CPNG"]),

        // Worker pool and vectorised optimizer loops (C: restrict pointers, target_clones). No unsafe
        // flags, so the library products can be consumed as a dependency: SwiftPM's release -O2
        // vectorises these loops as -O3 did, and the one libm call (sqrtf, errno-setting) is
        // __builtin_elementwise_sqrt.
        .target(name: "CKernels"),

        // Process-wide allocation counter (wraps glibc's malloc family): linked into the tests,
        // preloaded into `autoencoder bench` as libAllocationCounter.so.
        .target(name: "CAllocationCounter"),

        // MARK: Libraries (each folder's README.md says what the module owns and may import)
        .target(name: "Files", exclude: ["README.md"]),
        .target(name: "Kernels", dependencies: ["COpenBLAS", "CKernels"], exclude: ["README.md"]),
        .target(name: "Layers", dependencies: ["Kernels", "CKernels"], exclude: ["README.md"]),
        .target(name: "Models", dependencies: ["Kernels", "Layers"], exclude: ["README.md"]),
        .target(name: "Images", dependencies: ["Files", "CPNG", "CPNGStraight"], exclude: ["README.md"]),
        .target(name: "Datasets", dependencies: ["Files", "Kernels", "Images", "CZlib"], exclude: ["README.md"]),
        .target(name: "Engine", dependencies: ["Files", "Kernels", "Layers", "Models", "Datasets", "CKernels"],
                exclude: ["README.md"]),
        .target(name: "Training", dependencies: ["Engine", "Files", "Kernels", "Layers", "Models", "Datasets",
                                                 "Images", "CKernels"],
                exclude: ["README.md"]),
        .target(name: "Analysis", dependencies: ["Training", "Engine", "Files", "Kernels", "Layers", "Models", "Datasets",
                                                 "Images"],
                exclude: ["README.md"]),
        .target(name: "Denoising", dependencies: ["Training", "Engine", "Files", "Kernels", "Layers", "Models", "Datasets",
                                                  "Images"],
                exclude: ["README.md"]),

        // MARK: Executable
        .executableTarget(name: "autoencoder", dependencies: [
            "Analysis", "Datasets", "Denoising", "Engine", "Files", "Images", "Kernels", "Layers", "Models", "Training",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], exclude: ["README.md"]),

        // Replays inputs through the fuzz harnesses; tools/fuzz builds it with libFuzzer.
        .executableTarget(name: "autoencoder-fuzz", dependencies: ["Datasets", "Engine", "Images", "Training"]),

        // MARK: Test support
        .target(name: "TestSupport", dependencies: ["CZlib", "Kernels"], path: "Tests/TestSupport"),

        // MARK: Tests
        .testTarget(name: "FilesTests", dependencies: ["Files", "TestSupport"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernels", "TestSupport"]),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "Kernels", "CKernels", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Layers", "Kernels", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "TrainingTests", dependencies: ["Analysis", "Denoising", "Engine", "Training", "Models", "Layers", "Kernels", "Datasets",
                                                          "Files", "Images", "TestSupport", "CAllocationCounter"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "ImagesTests", dependencies: ["Images", "Files", "Kernels", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Files", "Images", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["autoencoder", "autoencoder-fuzz", "Datasets", "Engine", "Images", "Layers",
                                                     "Models", "Training",
                                                     "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
