import ArgumentParser
import CogConfig
import CogDaemon
import CogJobStore
import CogPipeline
import Foundation
import Glibc

/// `cogjobs enqueue`: puts images in the job queue (the running daemon picks them up within a
/// second). Files go through the same `ImageIntake` as the daemon's watched folders.
struct EnqueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Add images to the job queue.",
        discussion: """
            INPUT is an image file, a folder (its JPEG and PNG files; with --recursive also those in \
            subfolders; hidden names skipped), a quoted glob pattern ('photos/*.jpg'), or - to read one input \
            per line from standard input. Each image is identified by the SHA-256 of its bytes: an image that \
            already has a job for the same task, prompt and model is reported as a duplicate of that job \
            (whatever its state) unless --force is given. Unreadable headers are not rejected here: the job \
            fails with the decoder's error code when it runs, visible in `cogjobs status` and in SQL.

            The model (its identity is stored with each job and is part of the duplicate check) and the \
            generation settings come from the configuration file; --model (or COGJOBS_MODEL) names the model \
            directory when there is no configuration file. The daemon runs every job with the model it \
            serves (it logs a notice for a job enqueued for another; the result records the model used). The database is found as for every verb (see \
            --database) and must exist: the daemon or `cogjobs migrate` creates it.

            Exit status: 0 every input was enqueued or already had a job; 1 some inputs could not be enqueued \
            (missing, unreadable, a pattern matching nothing; the others were), or the configuration or model \
            directory is unusable; 3 the database stayed locked by another process for --busy-timeout seconds \
            (nothing more is tried; run again); 4 the database cannot be used (missing, not migrated, \
            read-only, disk full); 64 usage error (unknown task, a task that needs --prompt, no inputs).
            """
    )

    @OptionGroup var store: StoreOptions

    @Argument(help: "Image files, folders, glob patterns, or - for a list on standard input.")
    var inputs: [String] = []

    @Option(name: .long,
            help: "Model directory (overrides `model_directory`; its identity is stored with each job for the duplicate check; the daemon runs jobs with its own model).")
    var model: String?

    @Option(name: .long, help: "caption | vqa | ground | ground-caption | describe-box")
    var task: String = "caption"

    @Option(name: .long, help: "The question (vqa), expression (ground) or box x0,y0,x1,y1 (describe-box).")
    var prompt: String?

    // .unconditional: `--priority -5` takes -5 as the value instead of reading it as an option.
    @Option(name: .long, parsing: .unconditional,
            help: "Higher runs first (default 0; negative, e.g. --priority -5, runs after everything at 0).")
    var priority: Int = 0

    @Flag(name: .long, help: "Enqueue even if the same image, task, prompt and model already has a job.")
    var force = false

    @Option(name: .long,
            help: "Do not start before this time: ISO 8601 (2026-05-01T08:00:00Z) or a delay (+90s, +15m, +1h30m).")
    var runAfter: String?

    @Flag(name: [.short, .long], help: "Also take images in subfolders of folder inputs.")
    var recursive = false

    @Flag(name: .long, help: "Print a JSON array with one object per input file instead of text lines.")
    var json = false

    func validate() throws {
        let kind = try TaskOption.kind(task)
        if kind.requiresPrompt && (prompt ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw ValidationError("the \(task) task needs --prompt")
        }
        if kind == .describeBox, let prompt {
            // The job's prompt is its box: a typo would otherwise fail only when the job runs.
            // Its own code first (as `run --box` reports it), then what it concerns: one code, exit status 64.
            do {
                _ = try GroundingBox(parsing: prompt)
            } catch {
                let report = ErrorReport(error)
                throw ValidationError("\(report.code): --prompt: \(report.message)")
            }
        }
        if inputs.isEmpty { throw ValidationError("give at least one image, folder, pattern, or - for standard input") }
        if let runAfter, Self.parseTime(runAfter, now: Date()) == nil {
            throw ValidationError("--run-after: cannot read '\(runAfter)'; write 2026-05-01T08:00:00Z or +15m")
        }
    }

    /// One line (or JSON object) per input.
    struct Report: Encodable {
        var path: String
        var status: String
        var jobID: Int64?
        var state: String?
        var code: String?
        var message: String?

        enum CodingKeys: String, CodingKey {
            case path, status, jobID = "job_id", state, code, message
        }
    }

    /// Some inputs were not enqueued (each already reported); exit status 1.
    struct InputsFailed: ReportableError, CustomStringConvertible {
        var failed: Int
        var total: Int
        var errorCode: String { "intake.inputs_failed" }
        var errorMessage: String { "\(failed) of \(total) inputs could not be enqueued (see the messages above)" }
        var description: String { "\(errorCode): \(errorMessage)" }
    }

    func run() throws {
        try reportingFailures {
            let context = CommandContext.current
            let configuration = try loadConfiguration(environment: context.environment)
            let directory = URL(fileURLWithPath: configuration.modelDirectory, isDirectory: true)
            let intake = ImageIntake(model: try ModelIdentity.of(directory: directory))
            var storeConfiguration = try store.storeConfiguration(.existing)
            storeConfiguration.defaultMaxAttempts = configuration.maxAttempts
            let location = try store.databaseLocation(environment: context.environment)
            let jobStore = try JobStore(path: location.path, configuration: storeConfiguration)

            let (files, problems) = InputExpansion.expand(inputs, recursive: recursive)
            var reports = problems.map {
                Report(path: $0.input, status: "error", code: "intake.no_input", message: $0.reason)
            }
            if !json {
                for report in reports {
                    context.warn("Error: intake.no_input: \(report.path): \(report.message ?? "")")
                }
            }
            let spec = ImageIntake.JobSpec(task: task, prompt: prompt ?? "", priority: priority,
                                           paramsJSON: Self.paramsJSON(configuration.generation),
                                           runAfter: runAfter.flatMap { Self.parseTime($0, now: context.clock()) },
                                           force: force)
            // Strings and integers always encode; the defer also prints what was done before a fatal error.
            defer { if json, let text = try? JSONOutput.document(reports) { context.write(text) } }
            for file in files {
                var report = Report(path: file, status: "")
                do {
                    let (_, outcome) = try intake.enqueue(URL(fileURLWithPath: file), spec: spec, into: jobStore)
                    switch outcome {
                    case .enqueued(let jobID):
                        (report.status, report.jobID) = ("enqueued", jobID)
                        if !json { context.writeLine("enqueued job \(jobID): \(file)") }
                    case .duplicate(let jobID, let state):
                        (report.status, report.jobID, report.state) = ("duplicate", jobID, state.rawValue)
                        if !json { context.writeLine("duplicate of job \(jobID) (\(state.rawValue)): \(file)") }
                    }
                    reports.append(report)
                } catch let error as DaemonError {
                    (report.status, report.code, report.message) = ("error", error.code.rawValue, error.detail)
                    reports.append(report)
                    if !json { context.warn("Error: \(error)") }
                } catch let error as JobStoreError {
                    // The database, not this file, is the problem: stop rather than fail every remaining file.
                    (report.status, report.code, report.message) = ("error", error.code.rawValue, error.detail)
                    reports.append(report)
                    throw error
                }
            }
            let failed = reports.filter { $0.status == "error" }.count
            if failed > 0 { throw InputsFailed(failed: failed, total: reports.count) }
        }
    }

    /// The configuration: the file (`--config`, `COGJOBS_CONFIG`, or the default path when it
    /// exists) with the environment and `--model` applied; without a file, the defaults plus
    /// the environment and `--model`, which must then name the model.
    private func loadConfiguration(environment: [String: String]) throws -> CogjobsConfiguration {
        var overrides = ConfigOverrides(modelDirectory: model)
        if model != nil { overrides.origins["model_directory"] = "--model" }
        let file = store.configurationFile(environment: environment)
        if file.named || FileManager.default.fileExists(atPath: file.path) {
            return try CogjobsConfiguration.load(file: file.path, environment: environment, flags: overrides)
        }
        let configuration = CogjobsConfiguration(modelDirectory: "")
            .applying(overrides: try ConfigOverrides.fromEnvironment(environment)).applying(overrides: overrides)
        guard !configuration.modelDirectory.isEmpty else {
            throw ConfigError(code: .missingKey, keyPath: "model_directory",
                              message: "no configuration file and no model directory; pass --model DIR "
                                  + "(or set COGJOBS_MODEL), or --config FILE")
        }
        try configuration.validate()
        return configuration
    }

    /// The `generation` object as stored in a job's `params_json` (sorted keys, like the daemon's).
    static func paramsJSON(_ generation: GenerationDefaults) -> String {
        // Plain numbers and an optional integer always encode; an empty object would mean "defaults".
        (try? JSONOutput.line(generation)) ?? "{}"
    }

    /// ISO 8601 (`2026-05-01T08:00:00Z`, fractional seconds allowed) or `+` and a `TimeSpan` (`+15m`).
    static func parseTime(_ text: String, now: Date) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("+") {
            return TimeSpan(argument: String(trimmed.dropFirst())).map { now.addingTimeInterval($0.seconds) }
        }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: trimmed) { return date }
        formatter.formatOptions.insert(.withFractionalSeconds)
        return formatter.date(from: trimmed)
    }
}

/// Turns `cogjobs enqueue` inputs into image file paths (absolute, in a stable order).
enum InputExpansion {
    /// Extensions taken from folders (files named explicitly are taken whatever their name).
    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

    /// The files, and inputs that yielded nothing (with why).
    static func expand(_ inputs: [String], recursive: Bool, standardInput: () -> [String] = readStandardInput)
        -> (files: [String], problems: [(input: String, reason: String)])
    {
        var files: [String] = [], problems: [(input: String, reason: String)] = []
        var seen: Set<String> = []
        func add(_ path: String) {
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            if seen.insert(absolute).inserted { files.append(absolute) }
        }
        var queue = inputs
        if let dash = queue.firstIndex(of: "-") { queue.replaceSubrange(dash...dash, with: standardInput()) }
        for input in queue {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: input, isDirectory: &isFolder) {
                if isFolder.boolValue {
                    let found = folderImages(input, recursive: recursive)
                    if found.isEmpty { problems.append((input, "no JPEG or PNG images in this folder"
                                                            + (recursive ? "" : " (use --recursive for subfolders)"))) }
                    found.forEach(add)
                } else {
                    add(input)
                }
            } else if input.contains(where: { "*?[".contains($0) }) {
                let matches = glob(input)
                if matches.isEmpty { problems.append((input, "no file matches this pattern")) }
                for match in matches {
                    var isDirectory: ObjCBool = false
                    let exists = FileManager.default.fileExists(atPath: match, isDirectory: &isDirectory)
                    if exists && !isDirectory.boolValue { add(match) }
                }
            } else if input.unicodeScalars.contains("\u{FFFD}") {
                // The shell passed bytes that are not UTF-8; the argument reached us with U+FFFD in
                // their place, so the name cannot be opened as given.
                problems.append((input, "no such file or folder as given: the name is not valid UTF-8 (shown with "
                                    + "U+FFFD), which cogjobs cannot open by name; rename the file to a UTF-8 name"))
            } else {
                problems.append((input, "no such file or folder"))
            }
        }
        return (files, problems)
    }

    static func readStandardInput() -> [String] {
        var lines: [String] = []
        while let line = readLine(strippingNewline: true) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if !trimmed.isEmpty { lines.append(trimmed) }
        }
        return lines
    }

    private static func folderImages(_ folder: String, recursive: Bool) -> [String] {
        let root = URL(fileURLWithPath: folder, isDirectory: true)
        let keys: [URLResourceKey] = [.isRegularFileKey]
        var urls: [URL] = []
        if recursive {
            let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: keys,
                                                            options: [.skipsHiddenFiles])
            while let url = enumerator?.nextObject() as? URL { urls.append(url) }
        } else {
            // An unreadable folder yields nothing, which is reported as "no images in this folder".
            urls = (try? FileManager.default.contentsOfDirectory(at: root, includingPropertiesForKeys: keys,
                                                                 options: [.skipsHiddenFiles])) ?? []
        }
        return urls.filter { url in
            imageExtensions.contains(url.pathExtension.lowercased())
                // An entry whose type cannot be read is skipped like any non-file.
                && ((try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) ?? false) == true
        }.map(\.path).sorted()
    }

    /// `glob(3)`: sorted matches of `pattern`.
    private static func glob(_ pattern: String) -> [String] {
        var matches = glob_t()
        defer { globfree(&matches) }
        guard Glibc.glob(pattern, 0, nil, &matches) == 0 else { return [] }
        return (0..<Int(matches.gl_pathc)).compactMap { index in
            matches.gl_pathv[index].map { String(cString: $0) }
        }
    }
}
