import Foundation

/// The configuration of the cogjobs daemon and CLI, read from a JSON file
/// (default `/etc/cogjobs/cogjobs.json`), then overridden by environment variables and flags.
///
/// Keys (snake_case in the file; `config/README.md` explains each, `config/cogjobs.example.json`
/// shows every key with its default; defaults live in `ConfigDefaults`):
///
/// | key | type | default |
/// | --- | --- | --- |
/// | `database_path` | string | `/var/lib/cogjobs/jobs.sqlite3` |
/// | `model_directory` | string | required |
/// | `tokenizer_directory` | string or null | null (the model directory) |
/// | `workers` | integer ≥ 1 | 1 |
/// | `blas_threads` | integer ≥ 1 or null | null (cores / workers) |
/// | `lease_duration_seconds` | number ≥ 10 | 120 |
/// | `shutdown_drain_seconds` | number ≥ 0 | 60 |
/// | `max_attempts` | integer ≥ 1 | 3 |
/// | `retry_base_delay_seconds` | number ≥ 0 | 30 |
/// | `precision` | `auto`, `exact` or `fast` | `auto` |
/// | `prefix_cache_mb` | integer ≥ 0 | 4096 |
/// | `batch_decode` | boolean | true |
/// | `limits` | object (`max_pixels`, `max_file_bytes`) | see `ImageLimits` |
/// | `watch` | array of objects | `[]` (see `WatchedFolder`) |
/// | `log_level` | string | `info` |
/// | `generation` | object | see `GenerationDefaults` |
///
/// Unknown keys are rejected (typos must not pass silently). Database migrations are embedded in
/// the binary, so there is no key for them.
public struct CogjobsConfiguration: Codable, Sendable, Equatable {
    /// `database_path`: the SQLite job database.
    public var databasePath: String
    /// `model_directory` (required): the CogVLM checkpoint folder (config.json + safetensors).
    public var modelDirectory: String
    /// `tokenizer_directory`: where `tokenizer.json`/`tokenizer.model` live; nil = the model directory.
    public var tokenizerDirectory: String?
    /// `workers`: inference workers sharing the one loaded model.
    public var workers: Int
    /// `blas_threads`: OpenBLAS threads per worker; nil = cores / workers (see `effectiveBLASThreads`).
    public var blasThreads: Int?
    /// `lease_duration_seconds`: how long a claimed job stays leased without renewal.
    public var leaseDurationSeconds: Double
    /// `shutdown_drain_seconds`: on SIGTERM, how long running jobs may take before being requeued.
    public var shutdownDrainSeconds: Double
    /// `max_attempts`: attempts per job before it fails for good.
    public var maxAttempts: Int
    /// `retry_base_delay_seconds`: the first retry delay; doubled per attempt, with jitter.
    public var retryBaseDelaySeconds: Double
    /// `precision`: `exact` (f32 activations: the reference's arithmetic), `fast` (prefill
    /// activations rounded to bf16 on AMX / AVX-512-BF16, several times faster) or `auto` (exact for
    /// a checkpoint as released, fast for a q8 / q4 conversion).
    public var precision: String
    /// `prefix_cache_mb`: memory for cached `BOS + image` prefixes, so several jobs on one image
    /// encode it once (0 = off).
    public var prefixCacheMB: Int
    /// `batch_decode`: workers advance the decode steps of their jobs together, one pass over the
    /// weights per step for every job decoding at the time (false: each worker decodes alone).
    public var batchDecode: Bool
    /// `limits`: image size limits.
    public var limits: ImageLimits
    /// `watch`: the watched folders.
    public var watch: [WatchedFolder]
    /// `log_level` (the file may write it in any case: `DEBUG` is `debug`).
    public var logLevel: LogLevel { didSet { rejectedLogLevel = nil } }
    /// `generation`: default text-generation settings.
    public var generation: GenerationDefaults
    /// The file's `log_level` text when it names no level (`logLevel` then holds the default):
    /// decoding goes on and `validationProblems()` reports it with the other bad values. Cleared when
    /// `logLevel` is set (e.g. by an override).
    var rejectedLogLevel: String?
    /// The configuration file that was looked for and does not exist, when this configuration is the
    /// defaults used without one (`withoutFile(at:)`); nil otherwise. An unset `model_directory` is
    /// then reported as "no configuration file at …" instead of as a bad value in that file.
    public internal(set) var missingFile: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case databasePath = "database_path"
        case modelDirectory = "model_directory"
        case tokenizerDirectory = "tokenizer_directory"
        case workers
        case blasThreads = "blas_threads"
        case leaseDurationSeconds = "lease_duration_seconds"
        case shutdownDrainSeconds = "shutdown_drain_seconds"
        case maxAttempts = "max_attempts"
        case retryBaseDelaySeconds = "retry_base_delay_seconds"
        case precision
        case prefixCacheMB = "prefix_cache_mb"
        case batchDecode = "batch_decode"
        case limits
        case watch
        case logLevel = "log_level"
        case generation
    }

    /// Creates a configuration; everything but `modelDirectory` defaults from `ConfigDefaults`.
    public init(databasePath: String = ConfigDefaults.databasePath, modelDirectory: String,
                tokenizerDirectory: String? = nil, workers: Int = ConfigDefaults.workers, blasThreads: Int? = nil,
                leaseDurationSeconds: Double = ConfigDefaults.leaseDurationSeconds,
                shutdownDrainSeconds: Double = ConfigDefaults.shutdownDrainSeconds,
                maxAttempts: Int = ConfigDefaults.maxAttempts,
                retryBaseDelaySeconds: Double = ConfigDefaults.retryBaseDelaySeconds,
                precision: String = ConfigDefaults.precision, prefixCacheMB: Int = ConfigDefaults.prefixCacheMB,
                batchDecode: Bool = ConfigDefaults.batchDecode,
                limits: ImageLimits = ImageLimits(), watch: [WatchedFolder] = [],
                logLevel: LogLevel = ConfigDefaults.logLevel, generation: GenerationDefaults = GenerationDefaults()) {
        self.databasePath = databasePath
        self.modelDirectory = modelDirectory
        self.tokenizerDirectory = tokenizerDirectory
        self.workers = workers
        self.blasThreads = blasThreads
        self.leaseDurationSeconds = leaseDurationSeconds
        self.shutdownDrainSeconds = shutdownDrainSeconds
        self.maxAttempts = maxAttempts
        self.retryBaseDelaySeconds = retryBaseDelaySeconds
        self.precision = precision
        self.prefixCacheMB = prefixCacheMB
        self.batchDecode = batchDecode
        self.limits = limits
        self.watch = watch
        self.logLevel = logLevel
        self.generation = generation
    }

    public init(from decoder: any Decoder) throws {
        try StrictDecoding.rejectUnknownKeys(in: decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        databasePath = try container.decode(.databasePath, default: ConfigDefaults.databasePath)
        modelDirectory = try container.decode(String.self, forKey: .modelDirectory)
        tokenizerDirectory = try container.decodeIfPresent(String.self, forKey: .tokenizerDirectory)
        workers = try container.decodeInteger(.workers, default: ConfigDefaults.workers)
        blasThreads = try container.decodeIntegerIfPresent(.blasThreads)
        leaseDurationSeconds = try container.decode(.leaseDurationSeconds, default: ConfigDefaults.leaseDurationSeconds)
        shutdownDrainSeconds = try container.decode(.shutdownDrainSeconds, default: ConfigDefaults.shutdownDrainSeconds)
        maxAttempts = try container.decodeInteger(.maxAttempts, default: ConfigDefaults.maxAttempts)
        retryBaseDelaySeconds = try container.decode(.retryBaseDelaySeconds,
                                                     default: ConfigDefaults.retryBaseDelaySeconds)
        precision = try container.decode(.precision, default: ConfigDefaults.precision)
        prefixCacheMB = try container.decodeInteger(.prefixCacheMB, default: ConfigDefaults.prefixCacheMB)
        batchDecode = try container.decode(.batchDecode, default: ConfigDefaults.batchDecode)
        limits = try container.decode(.limits, default: ImageLimits())
        watch = try container.decode(.watch, default: [])
        let logLevel = try container.decodeEnumeration(.logLevel, default: ConfigDefaults.logLevel,
                                                        parse: LogLevel.init(name:))
        self.logLevel = logLevel.value
        rejectedLogLevel = logLevel.rejected
        generation = try container.decode(.generation, default: GenerationDefaults())
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(databasePath, forKey: .databasePath)
        try container.encode(modelDirectory, forKey: .modelDirectory)
        try container.encode(tokenizerDirectory, forKey: .tokenizerDirectory)  // null when unset
        try container.encode(workers, forKey: .workers)
        try container.encode(blasThreads, forKey: .blasThreads)  // null when unset
        try container.encode(leaseDurationSeconds, forKey: .leaseDurationSeconds)
        try container.encode(shutdownDrainSeconds, forKey: .shutdownDrainSeconds)
        try container.encode(maxAttempts, forKey: .maxAttempts)
        try container.encode(retryBaseDelaySeconds, forKey: .retryBaseDelaySeconds)
        try container.encode(precision, forKey: .precision)
        try container.encode(prefixCacheMB, forKey: .prefixCacheMB)
        try container.encode(batchDecode, forKey: .batchDecode)
        try container.encode(limits, forKey: .limits)
        try container.encode(watch, forKey: .watch)
        try container.encode(logLevel, forKey: .logLevel)
        try container.encode(generation, forKey: .generation)
    }

    /// The defaults, for when there is no configuration file at `path` (the CLI's verbs treat the
    /// default file as optional): `model_directory` stays unset until an override names it, and
    /// `validationProblems()` then says that no file was found and how to name the model instead.
    public static func withoutFile(at path: String) -> CogjobsConfiguration {
        var configuration = CogjobsConfiguration(modelDirectory: "")
        configuration.missingFile = path
        return configuration
    }

    // MARK: - Derived values

    /// The tokenizer folder to use: `tokenizer_directory`, or the model directory.
    public var effectiveTokenizerDirectory: String { tokenizerDirectory ?? modelDirectory }

    /// OpenBLAS threads per worker: `blas_threads`, or `cores / workers` (at least 1).
    public func effectiveBLASThreads(cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        blasThreads ?? max(1, cores / max(1, workers))
    }

    /// `lease_duration_seconds` as a `Duration`.
    public var leaseDuration: Duration { .milliseconds(Int64(leaseDurationSeconds * 1000)) }
    /// `shutdown_drain_seconds` as a `Duration`.
    public var shutdownDrain: Duration { .milliseconds(Int64(shutdownDrainSeconds * 1000)) }
    /// `retry_base_delay_seconds` as a `Duration`.
    public var retryBaseDelay: Duration { .milliseconds(Int64(retryBaseDelaySeconds * 1000)) }
}
