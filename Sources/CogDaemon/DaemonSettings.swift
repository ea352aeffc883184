import CogConfig
import Foundation
import Synchronization

/// The configuration in effect, shared by the daemon's services and worker threads; a SIGHUP
/// reload replaces it as a whole (after the new one was validated and its watcher started).
final class DaemonSettings: Sendable {
    private let value: Mutex<(configuration: CogjobsConfiguration, paramsJSON: String)>

    init(_ configuration: CogjobsConfiguration) {
        value = Mutex((configuration, Self.paramsJSON(configuration.generation)))
    }

    var current: CogjobsConfiguration { value.withLock { $0.configuration } }

    /// `generation` as the JSON stored in new jobs' `params_json`.
    var paramsJSON: String { value.withLock { $0.paramsJSON } }

    func replace(with configuration: CogjobsConfiguration) {
        let json = Self.paramsJSON(configuration.generation)
        value.withLock { $0 = (configuration, json) }
    }

    /// The generation settings as a JSON object with sorted keys (what `ModelJobExecutor` reads back).
    static func paramsJSON(_ generation: GenerationDefaults) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain numbers and an optional integer cannot fail; an empty object keeps the defaults.
        guard let data = try? encoder.encode(generation) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
