import CogJobStore

/// Turns SQLite errors from connections the CLI opens itself (`migrate`) into `JobStoreError`s that
/// name the database, with the same codes and messages the store uses (`store.busy`,
/// `store.corrupt` for a file that is not a database, …), so they map to the same exit statuses.
enum StoreErrors {
    static func wrap(_ error: SQLiteError, path: String, busyTimeoutMilliseconds: Int64) -> JobStoreError {
        let classified = JobStoreError.from(error, path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        guard classified.code == .sqlite else { return classified }
        // Anything unclassified while opening and configuring: the likely causes are the file's.
        return JobStoreError(code: .openFailed,
                             message: "cannot open or set up the job database; check the path, the folder's "
                                 + "permissions and the free space",
                             databasePath: path, underlying: error)
    }
}
