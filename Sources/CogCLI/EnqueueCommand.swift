import ArgumentParser
import CogConfig
import CogDaemon
import CogJobStore
import Foundation
import Glibc

/// `cogjobs enqueue`: puts images in the job queue (the running daemon picks them up within a
/// second). Files go through the same `ImageIntake` as the daemon's watched folders.
struct EnqueueCommand: AsyncParsableCommand {
    /// Exit statuses (sysexits.h values where one fits).
    enum Status {
        /// Every input was enqueued or already had a job.
        static let success: Int32 = 0
        /// Some inputs could not be enqueued (missing, unreadable, a pattern matching nothing); the
        /// others were.
        static let someInputsFailed: Int32 = 1
        /// Bad arguments (unknown task, missing prompt, no inputs).
        static let usage: Int32 = 64
        /// The model directory cannot be read (its identity is part of every job).
        static let modelUnreadable: Int32 = 66
        /// The job database failed (cannot open, corrupt, read-only, disk full).
        static let databaseError: Int32 = 74
        /// The job database stayed locked by another process for the whole --busy-timeout.
        static let databaseBusy: Int32 = 75
        /// The configuration is invalid.
        static let configuration: Int32 = 78
    }

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

            Configuration: --config FILE (else $COGJOBS_CONFIG, else /etc/cogjobs/cogjobs.json) gives the \
            database, the model (its identity is stored with each job) and the generation defaults. Without a \
            configuration file, --database and --model (or COGJOBS_DATABASE and COGJOBS_MODEL) are enough.

            Exit status:
              0   every input was enqueued or already had a job
              1   some inputs could not be enqueued (missing, unreadable, a pattern matched nothing)
              64  usage error (unknown task, a task that needs --prompt, no inputs)
              66  the model directory cannot be read
              74  the job database failed (cannot be opened, corrupt, read-only, disk full)
              75  the job database stayed locked by another process for --busy-timeout seconds; try again
              78  the configuration is invalid (the message names the key)
            """
    )

    @Argument(help: "Image files, folders, glob patterns, or - for a list on standard input.")
    var inputs: [String] = []

    @Option(name: .long, help: "Configuration file.")
    var config: String?

    @Option(name: .long, help: "Override `database_path`.")
    var database: String?

    @Option(name: .long, help: "Override `model_directory` (its identity is stored with each job).")
    var model: String?

    @Option(name: .long, help: "caption | vqa | ground | ground-caption | describe-box")
    var task: String = "caption"

    @Option(name: .long, help: "The question (vqa), expression (ground) or box x0,y0,x1,y1 (describe-box).")
    var prompt: String?

    @Option(name: .long, help: "Higher runs first (default 0; negative runs after everything at 0).")
    var priority: Int = 0

    @Flag(name: .long, help: "Enqueue even if the same image, task, prompt and model already has a job.")
    var force = false

    @Option(name: .long,
            help: "Do not start before this time: ISO 8601 (2026-05-01T08:00:00Z) or a delay (+90s, +15m, +2h, +1d).")
    var runAfter: String?

    @Flag(name: [.short, .long], help: "Also take images in subfolders of folder inputs.")
    var recursive = false

    @Flag(name: .long, help: "Print a JSON array with one object per input file instead of text lines.")
    var json = false

    @Option(name: .long, help: "Seconds to wait for a database locked by another process before giving up.")
    var busyTimeout: Double = 5

    func validate() throws {
        guard let kind = TaskKind(rawValue: task) else {
            let tasks = TaskKind.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("unknown task '\(task)'; one of \(tasks)")
        }
        if kind.requiresPrompt && (prompt ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw ValidationError("the \(task) task needs --prompt")
        }
        if inputs.isEmpty { throw ValidationError("give at least one image, folder, pattern, or - for standard input") }
        if busyTimeout < 0 || !busyTimeout.isFinite {
            throw ValidationError("--busy-timeout must be 0 or more seconds")
        }
        if let runAfter, Self.parseTime(runAfter, now: Date()) == nil {
            throw ValidationError("--run-after: cannot read '\(runAfter)'; write 2026-05-01T08:00:00Z or +15m")
        }
    }

    func run() async throws {
        throw ExitCode(execute())
    }

    /// One line (or JSON object) per input file.
    private struct Report: Encodable {
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

    private func execute() -> Int32 {
        let configuration: CogjobsConfiguration
        do {
            configuration = try loadConfiguration()
        } catch {
            return fail(Status.configuration, "\(error)")
        }
        let identity: String
        do {
            let directory = URL(fileURLWithPath: configuration.modelDirectory, isDirectory: true)
            identity = try ModelIdentity.of(directory: directory)
        } catch {
            return fail(Status.modelUnreadable, "\(error)")
        }
        var storeConfiguration = JobStore.Configuration()
        storeConfiguration.busyTimeout = .milliseconds(Int64(busyTimeout * 1000))
        storeConfiguration.defaultMaxAttempts = configuration.maxAttempts
        let store: JobStore
        do {
            store = try JobStore(path: configuration.databasePath, configuration: storeConfiguration)
        } catch let error as JobStoreError {
            return fail(error.code == .busy ? Status.databaseBusy : Status.databaseError, "\(error)")
        } catch {
            return fail(Status.databaseError, "\(error)")
        }

        let (files, problems) = InputExpansion.expand(inputs, recursive: recursive)
        var reports = problems.map {
            Report(path: $0.input, status: "error", code: "intake.no_input", message: $0.reason)
        }
        if !json { for report in reports { printError("\(report.path): \(report.message ?? "")") } }
        let spec = ImageIntake.JobSpec(task: task, prompt: prompt ?? "", priority: priority,
                                       paramsJSON: Self.paramsJSON(configuration.generation),
                                       runAfter: runAfter.flatMap { Self.parseTime($0, now: Date()) }, force: force)
        let intake = ImageIntake(model: identity)
        var status = problems.isEmpty ? Status.success : Status.someInputsFailed
        for file in files {
            var report = Report(path: file, status: "")
            do {
                let (_, outcome) = try intake.enqueue(URL(fileURLWithPath: file), spec: spec, into: store)
                switch outcome {
                case .enqueued(let jobID):
                    report.status = "enqueued"
                    report.jobID = jobID
                    if !json { print("enqueued job \(jobID): \(file)") }
                case .duplicate(let jobID, let state):
                    report.status = "duplicate"
                    report.jobID = jobID
                    report.state = state.rawValue
                    if !json { print("duplicate of job \(jobID) (\(state.rawValue)): \(file)") }
                }
            } catch let error as DaemonError {
                report.status = "error"
                report.code = error.code.rawValue
                report.message = error.description
                status = Status.someInputsFailed
                if !json { printError(error.description) }
            } catch let error as JobStoreError {
                // The database, not this file, is the problem: stop rather than fail every remaining file.
                report.status = "error"
                report.code = error.code.rawValue
                report.message = error.description
                reports.append(report)
                if json { printJSON(reports) }
                let remaining = files.count - reports.count + problems.count
                return fail(error.code == .busy ? Status.databaseBusy : Status.databaseError,
                            "\(error)\(remaining > 0 ? " (\(remaining) input(s) not attempted)" : "")")
            } catch {
                report.status = "error"
                report.code = "intake.failed"
                report.message = "\(error)"
                status = Status.someInputsFailed
                if !json { printError("\(file): \(error)") }
            }
            reports.append(report)
        }
        if json { printJSON(reports) }
        return status
    }

    private func loadConfiguration() throws -> CogjobsConfiguration {
        var overrides = ConfigOverrides(databasePath: database, modelDirectory: model)
        if database != nil { overrides.origins["database_path"] = "--database" }
        if model != nil { overrides.origins["model_directory"] = "--model" }
        let environment = ProcessInfo.processInfo.environment
        let file = config ?? CogjobsConfiguration.configPath(environment: environment)
        let environmentOverrides = try ConfigOverrides.fromEnvironment(environment)
        let hasDatabase = database != nil || environmentOverrides.databasePath != nil
        let hasModel = model != nil || environmentOverrides.modelDirectory != nil
        if config == nil, !FileManager.default.fileExists(atPath: file), hasDatabase, hasModel {
            // No configuration file: defaults plus the environment and flags.
            let configuration = CogjobsConfiguration(modelDirectory: "")
                .applying(overrides: environmentOverrides).applying(overrides: overrides)
            try configuration.validate()
            return configuration
        }
        return try CogjobsConfiguration.load(file: file, environment: environment, flags: overrides)
    }

    /// The `generation` object as stored in a job's `params_json` (sorted keys, like the daemon's).
    static func paramsJSON(_ generation: GenerationDefaults) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Numbers and an optional integer always encode; an empty object would mean "defaults".
        guard let data = try? encoder.encode(generation) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// ISO 8601 (`2026-05-01T08:00:00Z`, fractional seconds allowed) or `+N` with s, m, h or d.
    static func parseTime(_ text: String, now: Date) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("+"), let unit = trimmed.last, let amount = Double(trimmed.dropFirst().dropLast()),
           amount >= 0, amount.isFinite {
            let seconds: Double? = switch unit {
            case "s": amount
            case "m": amount * 60
            case "h": amount * 3600
            case "d": amount * 86_400
            default: nil
            }
            return seconds.map { now.addingTimeInterval($0) }
        }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: trimmed) { return date }
        formatter.formatOptions.insert(.withFractionalSeconds)
        return formatter.date(from: trimmed)
    }

    private func fail(_ status: Int32, _ message: String) -> Int32 {
        printError(message)
        return status
    }

    private func printError(_ message: String) {
        FileHandle.standardError.write(Data("cogjobs enqueue: \(message)\n".utf8))
    }

    private func printJSON(_ reports: [Report]) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(reports) else { return }  // strings and integers always encode
        print(String(decoding: data, as: UTF8.self))
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
