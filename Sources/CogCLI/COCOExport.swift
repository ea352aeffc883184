import CogJobStore
import Foundation

/// Builds the COCO object-detection JSON of `cogjobs export --format coco` from result rows.
///
/// Mapping (also in docs/cli.md):
/// - `images`: every image with at least one exported box, once, numbered 1, 2, … in export order
///   (the order of its first result); `file_name` is the image path, `width` / `height` its size
///   in pixels, plus `sha256`. Images of unknown size are left out (COCO needs the size) and
///   reported by `skippedImages`.
/// - `categories`: one per distinct phrase (whitespace-trimmed; an empty phrase becomes `object`),
///   numbered 1, 2, … in name order, with `supercategory` `phrase`.
/// - `annotations`: one per box, numbered 1, 2, … in export order: `bbox` = `[x, y, w, h]` in
///   pixels of the original image (`[px_x0, px_y0, px_x1 − px_x0, px_y1 − px_y0]`, rounded to
///   0.01), `area` = w × h, `iscrowd` 0, plus `result_id`, `job_id`, `task` and `box_1000` (the
///   model's normalized corners `[x0, y0, x1, y1]`, 0–999).
struct COCOExport {
    /// Category name for a box without a phrase.
    static let unnamedCategory = "object"

    private var images: [Image] = []
    private var imageIDs: [String: Int] = [:]  // sha256 → COCO image id
    private var annotations: [PendingAnnotation] = []
    /// Paths of images with boxes whose size is unknown (left out).
    private(set) var skippedImages: [String] = []

    init() {}

    /// Adds the boxes of one result.
    mutating func add(_ row: ResultRow) {
        guard !row.boxes.isEmpty else { return }
        guard let width = row.imageWidth, let height = row.imageHeight else {
            if !skippedImages.contains(row.imagePath) { skippedImages.append(row.imagePath) }
            return
        }
        let imageID: Int
        if let known = imageIDs[row.imageSHA256] {
            imageID = known
        } else {
            imageID = images.count + 1
            imageIDs[row.imageSHA256] = imageID
            images.append(Image(id: imageID, fileName: row.imagePath, width: width, height: height,
                                sha256: row.imageSHA256))
        }
        for box in row.boxes {
            annotations.append(PendingAnnotation(imageID: imageID, resultID: row.resultID, jobID: row.jobID,
                                                 task: row.task, category: Self.categoryName(box.phrase), box: box))
        }
    }

    /// Number of annotations (boxes) so far.
    var annotationCount: Int { annotations.count }

    /// The COCO document.
    func document(description: String, created: Date) -> Document {
        let names = Set(annotations.map(\.category)).sorted()
        let categoryIDs = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0 + 1) })
        let categories = names.enumerated().map { Category(id: $0 + 1, name: $1, supercategory: "phrase") }
        let built = annotations.enumerated().map { index, pending in
            let box = pending.box
            let x = Self.rounded(box.pixelX0), y = Self.rounded(box.pixelY0)
            let w = Self.rounded(box.pixelX1 - box.pixelX0), h = Self.rounded(box.pixelY1 - box.pixelY0)
            return Annotation(id: index + 1, imageID: pending.imageID, categoryID: categoryIDs[pending.category] ?? 0,
                              bbox: [x, y, w, h], area: Self.rounded(w * h), iscrowd: 0, resultID: pending.resultID,
                              jobID: pending.jobID, task: pending.task, box1000: [box.x0, box.y0, box.x1, box.y1])
        }
        return Document(info: Info(description: description, dateCreated: TextFormat.iso8601(created)),
                        images: images, annotations: built, categories: categories)
    }

    static func categoryName(_ phrase: String) -> String {
        let trimmed = phrase.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? unnamedCategory : trimmed
    }

    static func rounded(_ value: Double) -> Double { (value * 100).rounded() / 100 }

    // MARK: Records

    private struct PendingAnnotation {
        var imageID: Int
        var resultID: Int64
        var jobID: Int64
        var task: String
        var category: String
        var box: GroundingBox
    }

    struct Document: Encodable {
        var info: Info
        var images: [Image]
        var annotations: [Annotation]
        var categories: [Category]
    }

    struct Info: Encodable {
        var description: String
        var dateCreated: String
        enum CodingKeys: String, CodingKey {
            case description, dateCreated = "date_created"
        }
    }

    struct Image: Encodable {
        var id: Int
        var fileName: String
        var width: Int
        var height: Int
        var sha256: String
        enum CodingKeys: String, CodingKey {
            case id, width, height, sha256, fileName = "file_name"
        }
    }

    struct Category: Encodable {
        var id: Int
        var name: String
        var supercategory: String
    }

    struct Annotation: Encodable {
        var id: Int
        var imageID: Int
        var categoryID: Int
        var bbox: [Double]
        var area: Double
        var iscrowd: Int
        var resultID: Int64
        var jobID: Int64
        var task: String
        var box1000: [Int]
        enum CodingKeys: String, CodingKey {
            case id, bbox, area, iscrowd, task
            case imageID = "image_id", categoryID = "category_id", resultID = "result_id", jobID = "job_id"
            case box1000 = "box_1000"
        }
    }
}
