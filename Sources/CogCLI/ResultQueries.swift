import CogJobStore
import Foundation

/// Read-only queries over the documented views (docs/sql.md) that the store's API does not cover:
/// the latest result per (image, task) with its boxes.
enum ResultQueries {
    /// Filters for `latest(in:…)`.
    struct Filter {
        var task: String?
        /// Only images whose path contains this text.
        var pathContains: String?
        /// Only results stored at or after this time.
        var since: Date?
        var limit: Int
    }

    /// The newest result of every (image, task) matching `filter` (`v_latest_results`), newest
    /// first, with raw output and boxes.
    static func latest(in store: JobStore, _ filter: Filter) throws -> [ResultRow] {
        let sinceMilliseconds = filter.since.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
        let rows = try store.query("""
            SELECT l.result_id, l.job_id, l.image_path, l.image_sha256, l.width, l.height, l.task, l.prompt,
                   l.text, r.raw_output, l.model, l.generated_tokens, l.total_ms, l.finished_at
            FROM v_latest_results l JOIN results r ON r.id = l.result_id
            WHERE (?1 IS NULL OR l.task = ?1) AND (?2 IS NULL OR instr(l.image_path, ?2) > 0)
              AND (?3 IS NULL OR l.finished_at >= ?3)
            ORDER BY l.finished_at DESC, l.result_id DESC
            LIMIT ?4
            """, [filter.task, filter.pathContains, sinceMilliseconds, filter.limit])
        var results = rows.map { (row: [SQLValue]) -> ResultRow in
            ResultRow(resultID: row[0].int64 ?? 0, jobID: row[1].int64 ?? 0, imagePath: row[2].string ?? "",
                      imageSHA256: row[3].string ?? "", imageWidth: row[4].int64.map(Int.init),
                      imageHeight: row[5].int64.map(Int.init), task: row[6].string ?? "",
                      prompt: row[7].string ?? "", text: row[8].string ?? "", rawOutput: row[9].string ?? "",
                      model: row[10].string ?? "", generatedTokens: Int(row[11].int64 ?? 0),
                      totalMilliseconds: row[12].double ?? 0,
                      finishedAt: Date(timeIntervalSince1970: Double(row[13].int64 ?? 0) / 1000), boxes: [])
        }
        let boxes = try boxes(in: store, resultIDs: results.map(\.resultID))
        for index in results.indices { results[index].boxes = boxes[results[index].resultID] ?? [] }
        return results
    }

    /// The ids of the newest result of every (image, task), optionally for one task.
    static func latestResultIDs(in store: JobStore, task: String?) throws -> Set<Int64> {
        let rows = try store.query("SELECT result_id FROM v_latest_results WHERE ?1 IS NULL OR task = ?1", [task])
        return Set(rows.compactMap { $0.first?.int64 })
    }

    /// Boxes of the given results (`v_boxes`), in box order, by result id.
    static func boxes(in store: JobStore, resultIDs: [Int64]) throws -> [Int64: [GroundingBox]] {
        var boxes: [Int64: [GroundingBox]] = [:]
        let chunkSize = 500  // well below SQLite's limit on bound parameters
        for start in stride(from: 0, to: resultIDs.count, by: chunkSize) {
            let chunk = Array(resultIDs[start..<min(start + chunkSize, resultIDs.count)])
            let placeholders = chunk.map { _ in "?" }.joined(separator: ", ")
            let rows = try store.query("""
                SELECT result_id, phrase, x0, y0, x1, y1, px_x0, px_y0, px_x1, px_y1 FROM v_boxes
                WHERE result_id IN (\(placeholders)) ORDER BY result_id, box_index
                """, chunk)
            for row in rows {
                guard let resultID = row[0].int64 else { continue }
                func int(_ i: Int) -> Int { Int(row[i].int64 ?? 0) }
                func real(_ i: Int) -> Double { row[i].double ?? 0 }
                boxes[resultID, default: []].append(GroundingBox(
                    phrase: row[1].string ?? "", x0: int(2), y0: int(3), x1: int(4), y1: int(5),
                    pixelX0: real(6), pixelY0: real(7), pixelX1: real(8), pixelY1: real(9)))
            }
        }
        return boxes
    }
}
