import CogWatcher
import Logging

/// The daemon's log handler: `StreamLogHandler` on standard error (journald reads it), with every
/// message kept on one line. File names come from users (a watched folder may receive
/// `"a\nfake line.jpg"`) and error descriptions may quote multi-line SQL; a raw newline would split
/// one event into several journal entries or forge one. Line feeds, carriage returns and other
/// control characters (tab excepted) are written as `\n`, `\r`, `\xHH`.
struct OneLineLogHandler: LogHandler {
    private var stream: StreamLogHandler

    init(label: String, level: Logger.Level) {
        stream = StreamLogHandler.standardError(label: label)
        stream.logLevel = level
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    var metadata: Logger.Metadata {
        get { stream.metadata }
        set { stream.metadata = newValue }
    }

    var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { stream[metadataKey: key] }
        set { stream[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = "\(Self.oneLine(event.message.description))"
        stream.log(event: event)
    }

    /// `text` with line breaks and control characters other than tab escaped.
    static func oneLine(_ text: String) -> String { PrintableText.escapingControlCharacters(text, keepingTabs: true) }
}
