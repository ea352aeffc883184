import Foundation

extension CogjobsConfiguration {
    /// The configuration file to read: `COGJOBS_CONFIG` if set, else `/etc/cogjobs/cogjobs.json`.
    public static func configPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let path = environment["COGJOBS_CONFIG"], !path.isEmpty { return path }
        return ConfigDefaults.configPath
    }

    /// Reads, overrides and validates the configuration, the way the daemon and the CLI start.
    ///
    /// 1. read `file` (nil: `configPath(environment:)`) and decode it strictly (a repeated key, a
    ///    trailing comma, unknown keys, wrong types and missing required keys are errors naming the
    ///    key);
    /// 2. resolve relative paths in the file against the file's folder;
    /// 3. apply the `COGJOBS_*` environment variables, then `flags`;
    /// 4. `validate()`; an error about an overridden key says where the value came from.
    public static func load(file: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment,
                            flags: ConfigOverrides = ConfigOverrides()) throws(ConfigError) -> CogjobsConfiguration {
        let path = file ?? configPath(environment: environment)
        let environmentOverrides = try ConfigOverrides.fromEnvironment(environment)
        let configuration = try decodeFile(at: path)
            .applying(overrides: environmentOverrides)
            .applying(overrides: flags)
        do {
            try configuration.validate()
        } catch {
            var error = error
            if let keyPath = error.keyPath {
                error.origin = flags.origins[keyPath] ?? environmentOverrides.origins[keyPath]
            }
            if error.origin == nil { error.file = path }
            throw error
        }
        return configuration
    }

    /// Reads and strictly decodes a configuration file, resolving relative paths against its folder.
    /// Does not validate values (see `validate()`, `validationProblems()`), so a tool can still show
    /// and check a bad configuration: an enumeration value that is not allowed (`watch[].task`,
    /// `watch[].sidecar`, `log_level`) decodes to a placeholder and is reported by validation, like
    /// `workers: 0`. Use the result only after validating it.
    public static func decodeFile(at path: String) throws(ConfigError) -> CogjobsConfiguration {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ConfigError(code: .fileMissing, keyPath: nil,
                              message: "the configuration file does not exist; copy "
                                  + "config/cogjobs.example.json there and edit it, or point --config "
                                  + "(or COGJOBS_CONFIG) at yours",
                              file: path)
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigError(code: .unreadable, keyPath: nil,
                              message: "cannot read the configuration file (\(error.localizedDescription)); "
                                  + "check its permissions (the daemon's user must be able to read it)",
                              file: path)
        }
        var configuration: CogjobsConfiguration
        do {
            configuration = try decode(data)
        } catch {
            var error = error
            error.file = path
            throw error
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        configuration.resolveRelativePaths(against: folder)
        return configuration
    }

    /// Strictly decodes configuration JSON (no path resolution, no validation; see `decodeFile(at:)`).
    ///
    /// - Throws: `config.bad_json` (not JSON, or a trailing comma, with line and column),
    ///   `config.duplicate_key` (a key twice in one object), `config.unknown_key`,
    ///   `config.wrong_type`, `config.missing_key`; each names the key path where there is one.
    public static func decode(_ data: Data) throws(ConfigError) -> CogjobsConfiguration {
        // Syntax first: JSONSerialization says where the text breaks; JSONDecoder on Linux does not.
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            throw ConfigError(code: .badJSON, keyPath: nil,
                              message: "not valid JSON: \(detail)\(Self.lineAndColumn(in: data, detail: detail)); "
                                  + "JSON has no comments and no trailing commas")
        }
        // Then what Foundation lets through: repeated keys (first wins silently) and trailing commas.
        try StrictJSONScanner.check(data)
        do {
            return try JSONDecoder().decode(CogjobsConfiguration.self, from: data)
        } catch let error as ConfigError {
            throw error
        } catch let error as DecodingError {
            throw StrictDecoding.configError(from: error)
        } catch {
            throw ConfigError(code: .badJSON, keyPath: nil, message: "cannot decode: \(error)")
        }
    }

    /// " (line L, column C)" for a parser message that says "around character N", else "".
    private static func lineAndColumn(in data: Data, detail: String) -> String {
        guard let range = detail.range(of: "character ") else { return "" }
        let digits = detail[range.upperBound...].prefix(while: \.isNumber)
        guard let offset = Int(digits), offset <= data.count else { return "" }
        return " (" + StrictJSONScanner.lineAndColumn(ofOffset: offset, in: data) + ")"
    }

    /// Makes every relative path absolute against `folder` (the configuration file's folder).
    mutating func resolveRelativePaths(against folder: String) {
        databasePath = ConfigPaths.resolve(databasePath, against: folder)
        modelDirectory = ConfigPaths.resolve(modelDirectory, against: folder)
        tokenizerDirectory = tokenizerDirectory.map { ConfigPaths.resolve($0, against: folder) }
        for index in watch.indices {
            watch[index].path = ConfigPaths.resolve(watch[index].path, against: folder)
            watch[index].moveDoneTo = watch[index].moveDoneTo.map { ConfigPaths.resolve($0, against: folder) }
            watch[index].moveFailedTo = watch[index].moveFailedTo.map { ConfigPaths.resolve($0, against: folder) }
        }
    }
}
