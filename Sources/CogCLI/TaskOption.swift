import ArgumentParser
import CogConfig

/// The `--task` values of every verb: the names of `TaskKind`. `enqueue` needs a known task to make a
/// job; `list`, `results` and `export` filter by one, where a typo would otherwise match nothing and
/// look like an empty queue.
enum TaskOption {
    /// The task named `name`, or a usage error (exit status 64) listing the tasks there are.
    static func kind(_ name: String) throws -> TaskKind {
        guard let kind = TaskKind(rawValue: name) else {
            let tasks = TaskKind.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("unknown task '\(name)'; one of \(tasks)")
        }
        return kind
    }

    /// Refuses an unknown task given to a filtering `--task` (nil: no filter).
    static func validate(_ name: String?) throws {
        if let name { _ = try kind(name) }
    }
}
