import CSQLite
@testable import CogJobStore
import Testing

@Suite("SQLite wrapper and SHA-256")
struct SQLiteWrapperTests {
    @Test("SHA-256 matches the FIPS 180-4 example vectors")
    func sha256Vectors() {
        #expect(SHA256.hexDigest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hexDigest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hexDigest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // 1,000,000 × "a" exercises many blocks.
        #expect(SHA256.hexDigest([UInt8](repeating: 0x61, count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // 55 and 56 bytes straddle the padding boundary.
        #expect(SHA256.hexDigest(String(repeating: "a", count: 55))
            == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
        #expect(SHA256.hexDigest(String(repeating: "a", count: 56))
            == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
    }

    @Test("values round-trip through bind and column, including NUL bytes and empty blobs")
    func roundTrip() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE t (a, b, c, d, e)")
        let text = "quote ' and \"; DROP TABLE t; -- \u{0}nul and ünïcödé"
        try db.run("INSERT INTO t VALUES (?, ?, ?, ?, ?)",
                   [Int64.max, 2.5, text, SQLValue.blob([]), SQLValue.null])
        let row = try #require(try db.rows("SELECT a, b, c, d, e, typeof(d) FROM t").first)
        #expect(row[0] == .integer(Int64.max))
        #expect(row[1] == .real(2.5))
        #expect(row[2] == .text(text))
        #expect(row[3] == .blob([]))
        #expect(row[4] == .null)
        #expect(row[5] == .text("blob"))
    }

    @Test("errors carry result code, extended code, message and SQL")
    func errorsCarryDetails() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
        try db.run("INSERT INTO t (v) VALUES ('x')")
        let sql = "INSERT INTO t (v) VALUES ('x')"
        let error = try #require(throws: SQLiteError.self) { try db.run(sql) }
        #expect(error.resultCode == SQLITE_CONSTRAINT)
        #expect(error.extendedCode == 2067)  // SQLITE_CONSTRAINT_UNIQUE
        #expect(error.message.contains("UNIQUE"))
        #expect(error.sql == sql)
        let syntax = try #require(throws: SQLiteError.self) { try db.prepare("SELEKT 1") }
        #expect(syntax.resultCode == SQLITE_ERROR)
        #expect(syntax.sql == "SELEKT 1")
    }

    @Test("a failing transaction body rolls back")
    func transactionRollsBack() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE t (v INTEGER NOT NULL)")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try db.transaction {
                try db.run("INSERT INTO t VALUES (1)")
                throw Boom()
            }
        }
        #expect(!db.isInTransaction)
        #expect(try db.rows("SELECT count(*) FROM t").first?.first == .integer(0))
    }

    @Test("retry policy: exponential, capped, jitter only lengthens")
    func retryPolicy() {
        let policy = RetryPolicy(baseSeconds: 10, capSeconds: 600, jitter: 0.25)
        #expect(policy.delaySeconds(afterAttempt: 1, unitRandom: 0) == 10)
        #expect(policy.delaySeconds(afterAttempt: 2, unitRandom: 0) == 20)
        #expect(policy.delaySeconds(afterAttempt: 3, unitRandom: 0.999) < 50)
        #expect(policy.delaySeconds(afterAttempt: 3, unitRandom: 0.5) == 45)
        #expect(policy.delaySeconds(afterAttempt: 20, unitRandom: 0) == 600)
        #expect(policy.delaySeconds(afterAttempt: 500, unitRandom: 1) == 750)
    }
}
