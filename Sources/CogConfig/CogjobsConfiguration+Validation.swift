import Foundation

extension CogjobsConfiguration {
    /// Checks every value; throws the first problem as a `ConfigError` naming its key path
    /// (e.g. `watch[1].task`) and what is allowed. Run it after decoding and after overrides.
    /// Enumeration values the file gave that are not allowed are among the problems: decoding keeps
    /// going past them so that every problem can be listed.
    public func validate() throws(ConfigError) {
        if let first = validationProblems().first { throw first }
    }

    /// Every problem, in key order (for `cogjobs check`, which lists them all).
    public func validationProblems() -> [ConfigError] {
        var problems: [ConfigError] = []
        problems += ConfigPaths.problems(databasePath, at: "database_path")
        if let missingFile, modelDirectory.isEmpty {
            problems.append(ConfigError(code: .missingKey, keyPath: "model_directory",
                                        message: "no configuration file at \(missingFile) and no model directory; "
                                            + "pass --config FILE, or --model DIR (or set COGJOBS_MODEL)"))
        } else {
            problems += ConfigPaths.problems(modelDirectory, at: "model_directory")
        }
        if let tokenizerDirectory {
            problems += ConfigPaths.problems(tokenizerDirectory, at: "tokenizer_directory")
        }
        if !(1...64).contains(workers) {
            problems.append(.invalid("workers", "must be between 1 and 64, got \(workers)"))
        }
        if let blasThreads, !(1...256).contains(blasThreads) {
            problems.append(.invalid("blas_threads",
                                     "must be between 1 and 256, or null for cores / workers; got \(blasThreads)"))
        }
        if !leaseDurationSeconds.isFinite || leaseDurationSeconds < 10 {
            problems.append(.invalid("lease_duration_seconds",
                                     "must be at least 10 (seconds), got \(leaseDurationSeconds)"))
        }
        if !shutdownDrainSeconds.isFinite || !(0...3600).contains(shutdownDrainSeconds) {
            problems.append(.invalid("shutdown_drain_seconds",
                                     "must be between 0 and 3600 (seconds), got \(shutdownDrainSeconds)"))
        }
        if !["auto", "exact", "fast"].contains(precision) {
            problems.append(.invalid("precision", "must be \"auto\", \"exact\" or \"fast\", got \"\(precision)\""))
        }
        if !(0...1_048_576).contains(prefixCacheMB) {
            problems.append(.invalid("prefix_cache_mb", "must be between 0 and 1048576, got \(prefixCacheMB)"))
        }
        if !(1...100).contains(maxAttempts) {
            problems.append(.invalid("max_attempts", "must be between 1 and 100, got \(maxAttempts)"))
        }
        if !retryBaseDelaySeconds.isFinite || !(0...86_400).contains(retryBaseDelaySeconds) {
            problems.append(.invalid("retry_base_delay_seconds",
                                     "must be between 0 and 86400 (seconds), got \(retryBaseDelaySeconds)"))
        }
        problems += limits.problems(at: "limits")
        for (index, folder) in watch.enumerated() {
            problems += folder.problems(at: "watch[\(index)]")
        }
        problems += overlappingFolderProblems()
        if let rejectedLogLevel {
            problems.append(StrictDecoding.unknownEnumerationValue(rejectedLogLevel, of: LogLevel.self,
                                                                   what: "a log level", keyPath: "log_level"))
        }
        problems += generation.problems(at: "generation")
        return problems
    }

    /// Two entries for the same folder, or one inside another that is watched recursively.
    private func overlappingFolderProblems() -> [ConfigError] {
        var problems: [ConfigError] = []
        let paths = watch.map { ConfigPaths.problems($0.path, at: "").isEmpty ? ConfigPaths.normalized($0.path) : nil }
        for j in watch.indices {
            guard let inner = paths[j] else { continue }
            for i in watch.indices where i != j {
                guard let outer = paths[i] else { continue }
                if (outer == inner && i < j)
                    || (watch[i].recursive && inner.hasPrefix(outer == "/" ? "/" : outer + "/")) {
                    problems.append(.invalid("watch[\(j)].path",
                        "overlaps with `watch[\(i)].path` (\(outer)); watch each folder once, or make the "
                            + "outer one non-recursive"))
                    break
                }
            }
        }
        return problems
    }
}
