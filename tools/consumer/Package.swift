// swift-tools-version:6.0
// A package that depends on Autoencoders as any other package would, by URL and version, and
// trains a model through the library API alone. tools/check-consumer points the URL at a tagged
// clone of this repository (SwiftPM refuses dependencies whose targets use unsafe flags, so this
// building at all is the check that no product reaches one).
import PackageDescription

let package = Package(
    name: "consumer",
    dependencies: [
        .package(url: "AUTOENCODERS_URL", from: "AUTOENCODERS_VERSION"),
    ],
    targets: [
        .executableTarget(name: "consumer", dependencies: [
            .product(name: "Training", package: "Autoencoders"),
            .product(name: "Models", package: "Autoencoders"),
            .product(name: "Datasets", package: "Autoencoders"),
        ]),
    ]
)
