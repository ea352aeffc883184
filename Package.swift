// swift-tools-version: 6.2
// cogjobs — CogVLM on CPU as a durable, systemd-managed job runner.
//
// Module layering (arrows point at what a module imports; no cycles):
//   C shims:      CBLAS, CSQLite, CSystemd, CImageCodecs, CKernels
//   numeric:      CogTensor → CKernels (OpenBLAS is dlopen-ed at run time, see BLAS.swift; CBLAS is for tests)
//   loaders:      CogWeights → CogTensor;  CogImage → CImageCodecs;  CogTokenizer (Foundation only)
//   model:        CogVLM → CogTensor, CogWeights
//   pipeline:     CogPipeline → CogVLM, CogTokenizer, CogImage (prompts, sampling, grounding, one-shot runs)
//   jobs:         CogJobStore → CSQLite;  CogScheduler → CogJobStore;  CogWatcher → SystemPackage
//   composition:  CogConfig (Foundation);  CogDaemon → everything + ServiceLifecycle, Logging, CSystemd
//   front end:    CogCLI → ArgumentParser + the above;  `cogjobs` executable → CogCLI
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]


let package = Package(
    name: "cogjobs",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cogjobs", targets: ["cogjobs"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),  // LogHandler.log(event:)
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // MARK: C libraries and shims
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CSystemd", path: "Sources/CSystemd", pkgConfig: "libsystemd",
                       providers: [.apt(["libsystemd-dev"])]),
        .target(name: "CImageCodecs", path: "Sources/CImageCodecs",
                cSettings: [.unsafeFlags(["-I/usr/include/libpng16"])],
                linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),
        .target(name: "CKernels", path: "Sources/CKernels",
                cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),

        // MARK: Libraries
        .target(name: "CogTensor", dependencies: ["CKernels"], swiftSettings: swiftSettings),
        .target(name: "CogWeights", dependencies: ["CogTensor"], swiftSettings: swiftSettings),
        .target(name: "CogTokenizer", swiftSettings: swiftSettings),
        .target(name: "CogImage", dependencies: ["CImageCodecs"], swiftSettings: swiftSettings),
        .target(name: "CogVLM", dependencies: ["CogTensor", "CogWeights", "CKernels"], swiftSettings: swiftSettings),
        .target(name: "CogPipeline", dependencies: ["CogVLM", "CogTensor", "CogTokenizer", "CogImage"],
                swiftSettings: swiftSettings),
        .target(name: "CogJobStore", dependencies: ["CSQLite"], swiftSettings: swiftSettings),
        .target(name: "CogScheduler", dependencies: ["CogJobStore"], swiftSettings: swiftSettings),
        .target(name: "CogWatcher", dependencies: [.product(name: "SystemPackage", package: "swift-system")],
                swiftSettings: swiftSettings),
        .target(name: "CogConfig", swiftSettings: swiftSettings),
        .target(name: "CogDaemon", dependencies: [
            "CogConfig", "CogPipeline", "CogJobStore", "CogScheduler", "CogWatcher", "CSystemd",
            "CogImage", "CogTokenizer", "CogVLM", "CogWeights", "CogTensor", "CSQLite",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .target(name: "CogCLI", dependencies: [
            "CogConfig", "CogPipeline", "CogJobStore", "CogDaemon", "CogWeights", "CogTensor", "CogTokenizer", "CogImage", "CogWatcher", "CKernels",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "cogjobs", dependencies: ["CogCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: swiftSettings),

        // MARK: Test support and tests
        .target(name: "CogTestSupport", dependencies: ["CogTensor", "CogWeights"], path: "Tests/CogTestSupport",
                swiftSettings: swiftSettings),
        .testTarget(name: "CogTensorTests", dependencies: ["CogTensor", "CKernels", "CBLAS", "CogTestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "CogWeightsTests", dependencies: ["CogWeights", "CogVLM", "CogTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "CogTokenizerTests", dependencies: ["CogTokenizer", "CogTestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "CogImageTests", dependencies: ["CogImage", "CogTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "CogVLMTests", dependencies: ["CogVLM", "CogTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "CogPipelineTests", dependencies: ["CogPipeline", "CogTestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "CogJobStoreTests", dependencies: ["CogJobStore", "CogTestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "CogSchedulerTests", dependencies: ["CogScheduler", "CogJobStore", "CogTestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "CogWatcherTests", dependencies: ["CogWatcher", "CogTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "CogConfigTests", dependencies: ["CogConfig", "CogTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "CogDaemonTests", dependencies: ["CogDaemon", "CogConfig", "CogJobStore", "CogImage",
                                                           "CogPipeline", "CogScheduler", "CogTestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "CogCLITests", dependencies: ["CogCLI", "CogPipeline", "CogWatcher", "CogTestSupport"], swiftSettings: swiftSettings),
    ]
)
