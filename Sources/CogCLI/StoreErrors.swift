import CogJobStore

/// Turns SQLite errors from connections the CLI opens itself (`migrate`) into `JobStoreError`s that
/// name the database, with the same codes the store uses, so they map to the same exit statuses.
enum StoreErrors {
    static func wrap(_ error: SQLiteError, path: String, busyTimeoutMilliseconds: Int64) -> JobStoreError {
        if error.isBusy {
            return JobStoreError(code: .busy,
                                 message: "the job database is locked by another process or connection; waited for "
                                     + "\(busyTimeoutMilliseconds) ms and gave up. Try again later; if it persists, "
                                     + "find the process holding the lock",
                                 databasePath: path, underlying: error)
        }
        return JobStoreError(code: .openFailed,
                             message: "cannot open or set up the job database; check the path, the folder's "
                                 + "permissions and the free space",
                             databasePath: path, underlying: error)
    }
}
