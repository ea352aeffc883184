/// Every default of the cogjobs configuration, in one place.
///
/// `config/cogjobs.example.json` shows these values and a test checks that it does, so the
/// documentation cannot drift from the code.
public enum ConfigDefaults {
    /// Where the daemon and the CLI look for the configuration file (`COGJOBS_CONFIG` overrides it).
    public static let configPath = "/etc/cogjobs/cogjobs.json"
    /// `database_path`: the job database (inside the unit's `StateDirectory=cogjobs`).
    public static let databasePath = "/var/lib/cogjobs/jobs.sqlite3"
    /// `workers`: inference workers sharing one loaded model.
    public static let workers = 1
    /// `lease_duration_seconds`: how long a claimed job stays leased without a renewal.
    public static let leaseDurationSeconds = 120.0
    /// `shutdown_drain_seconds`: on SIGTERM, how long running jobs may take to finish before they
    /// are put back in the queue (without counting a failed attempt).
    public static let shutdownDrainSeconds = 60.0
    /// `precision`: `auto` — the reference's f32 arithmetic for a checkpoint as released, `fast` for
    /// a q8 / q4 conversion.
    public static let precision = "auto"
    /// `prefix_cache_mb`: room for about three CogVLM-17B image prefixes (f32 KV ≈ 1.3 GB each).
    public static let prefixCacheMB = 4096
    /// `batch_decode`: workers batch their decode steps (one pass over the weights for all).
    public static let batchDecode = true
    /// `max_attempts`: attempts per job before it fails for good.
    public static let maxAttempts = 3
    /// `retry_base_delay_seconds`: first retry delay; doubled per attempt, with jitter.
    public static let retryBaseDelaySeconds = 30.0
    /// `log_level`.
    public static let logLevel = LogLevel.info

    /// `limits.max_pixels`: images with more pixels (width × height) fail without being decoded.
    public static let maxPixels = 50_000_000
    /// `limits.max_file_bytes`: larger image files fail without being read.
    public static let maxFileBytes = 64 * 1024 * 1024

    /// `generation.max_new_tokens`.
    public static let maxNewTokens = 256
    /// `generation.temperature`: 0 means greedy decoding (deterministic).
    public static let temperature = 0.0
    /// `generation.top_p`: 1 disables nucleus filtering.
    public static let topP = 1.0
    /// `generation.top_k`: when sampling, draw among the 50 most likely tokens (Hugging Face
    /// `generate`'s default, which the official CogVLM code inherits); 0 disables the filter.
    /// Greedy decoding (temperature 0) ignores it. `cogjobs run --top-k` defaults to it too.
    public static let topK = 50
    /// `generation.repetition_penalty`: 1 disables it.
    public static let repetitionPenalty = 1.0

    /// `watch[].recursive`.
    public static let watchRecursive = true
    /// `watch[].temporary_patterns`: names of files still being written by their producer.
    public static let temporaryPatterns = ["*.tmp", "*.part", "*.crdownload", "*~", ".#*"]
    /// `watch[].extensions`: the image types picked up (the daemon still checks the file's bytes).
    public static let extensions = ["jpg", "jpeg", "png"]
    /// `watch[].sidecar`.
    public static let sidecar = SidecarFormat.none
    /// `watch[].priority`.
    public static let priority = 0
    /// `watch[].settle_seconds`: how long a file must stay unchanged before it is taken.
    public static let settleSeconds = 1.5
}
