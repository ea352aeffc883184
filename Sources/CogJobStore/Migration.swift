/// One forward-only schema migration: `migrations/NNNN_name.sql`, embedded in the binary.
public struct Migration: Sendable, Equatable {
    /// The number in the file name (`0001_initial.sql` → 1). Versions are applied in ascending order.
    public let version: Int
    /// The rest of the file name (`initial`).
    public let name: String
    /// The file's exact text.
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// SHA-256 (lower-case hex) of the SQL text's UTF-8 bytes, as recorded in `schema_migrations`.
    public var checksum: String { SHA256.hexDigest(sql) }

    /// The file name the migration ships as (`0001_initial.sql`).
    public var fileName: String {
        let digits = String(version)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits + "_" + name + ".sql"
    }

    /// The migrations compiled into this binary, in version order.
    public static var shipped: [Migration] { EmbeddedMigrations.all }
}
