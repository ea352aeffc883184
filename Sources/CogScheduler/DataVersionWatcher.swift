import CogJobStore

/// Notices commits made by other connections (a `cogjobs enqueue` in another process, the
/// daemon's intake connection) without taking any lock: SQLite's `PRAGMA data_version` changes
/// on a connection whenever another connection committed since it was last read.
///
/// Owned by the supervisor thread (a `SQLiteConnection` is not thread-safe). If the connection
/// cannot be opened the watcher reports "changed" every time, so the pool degrades to claiming
/// on every check instead of missing work.
final class DataVersionWatcher {
    private let connection: SQLiteConnection?
    private var lastVersion: Int64?
    /// Why the watcher could not open its connection, if it could not.
    let openError: SQLiteError?

    init(databasePath: String) {
        do {
            connection = try SQLiteConnection(path: databasePath, create: false, busyTimeoutMilliseconds: 1_000)
            openError = nil
        } catch {
            connection = nil
            openError = error
        }
    }

    /// `true` if another connection committed since the previous call (and on the first call).
    func changed() -> Bool {
        guard let connection else { return true }
        let version: Int64?
        do {
            version = try connection.rows("PRAGMA data_version").first?.first?.int64
        } catch {
            // A failed read (the file locked for longer than the timeout) must not hide work.
            return true
        }
        defer { lastVersion = version }
        return version == nil || version != lastVersion
    }
}
