import CogJobStore
import Foundation

/// One result with its image and boxes, as `results` and `export` handle it: built from the
/// store's `ExportRow` (export) or from the `v_latest_results` view (results).
struct ResultRow: Sendable, Equatable {
    var resultID: Int64
    var jobID: Int64
    var imagePath: String
    var imageSHA256: String
    var imageWidth: Int?
    var imageHeight: Int?
    var task: String
    var prompt: String
    var text: String
    var rawOutput: String
    var model: String
    var generatedTokens: Int
    var totalMilliseconds: Double
    var finishedAt: Date
    var boxes: [GroundingBox]

    init(resultID: Int64, jobID: Int64, imagePath: String, imageSHA256: String, imageWidth: Int?, imageHeight: Int?,
         task: String, prompt: String, text: String, rawOutput: String, model: String, generatedTokens: Int,
         totalMilliseconds: Double, finishedAt: Date, boxes: [GroundingBox]) {
        self.resultID = resultID
        self.jobID = jobID
        self.imagePath = imagePath
        self.imageSHA256 = imageSHA256
        self.imageWidth = imageWidth
        self.imageHeight = imageHeight
        self.task = task
        self.prompt = prompt
        self.text = text
        self.rawOutput = rawOutput
        self.model = model
        self.generatedTokens = generatedTokens
        self.totalMilliseconds = totalMilliseconds
        self.finishedAt = finishedAt
        self.boxes = boxes
    }

    init(_ row: ExportRow) {
        self.init(resultID: row.resultID, jobID: row.jobID, imagePath: row.imagePath, imageSHA256: row.imageSHA256,
                  imageWidth: row.imageWidth, imageHeight: row.imageHeight, task: row.task, prompt: row.prompt,
                  text: row.text, rawOutput: row.rawOutput, model: row.model, generatedTokens: row.generatedTokens,
                  totalMilliseconds: row.totalMilliseconds, finishedAt: row.finishedAt, boxes: row.boxes)
    }
}
