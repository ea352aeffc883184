import CogJobStore
import CogScheduler
import Foundation

/// **Test-only** executor (`COGJOBS_TEST_EXECUTOR=echo`, see `TestSwitches`): does everything the
/// model executor does around the model — reads the image, checks its size, hash and header,
/// decodes it with the configured limits (so bad images fail with the same codes), reports
/// progress and honours stop requests between "tokens" — but instead of generating it echoes the
/// job back, with one box over the middle of the image. The queue tests use it so that what they
/// measure is the queue, not the model.
public struct EchoJobExecutor: JobExecutor {
    public var imageLoader: JobImageLoader
    public var tokens: Int
    public var tokenMilliseconds: Int
    public var stallMilliseconds: Int
    /// Stored as the result's model: marks results that came from this executor.
    public var modelIdentity: String

    public init(imageLoader: JobImageLoader, tokens: Int, tokenMilliseconds: Int, stallMilliseconds: Int,
                modelIdentity: String) {
        self.imageLoader = imageLoader
        self.tokens = tokens
        self.tokenMilliseconds = tokenMilliseconds
        self.stallMilliseconds = stallMilliseconds
        self.modelIdentity = modelIdentity
    }

    public func execute(_ job: ClaimedJob, control: JobControl) throws -> JobOutput {
        let start = ContinuousClock.now
        control.report(phase: "decode-image", tokensGenerated: 0)
        let image = try imageLoader.load(job)
        let preprocessed = ContinuousClock.now
        if stallMilliseconds > 0 {
            control.report(phase: "prefill", tokensGenerated: 0)
            Thread.sleep(forTimeInterval: Double(stallMilliseconds) / 1000)  // a hung step: no progress reports
        }
        for token in 0..<tokens {
            try control.checkStop()
            if tokenMilliseconds > 0 { Thread.sleep(forTimeInterval: Double(tokenMilliseconds) / 1000) }
            control.report(phase: "generate", tokensGenerated: token + 1)
        }
        try control.checkStop()
        let text = "echo \(job.task) \"\(job.prompt)\" \(image.width)x\(image.height) \(job.image.sha256.prefix(12))"
        let box = GroundingBox(phrase: "the middle", x0: 250, y0: 250, x1: 750, y1: 750, imageWidth: image.width,
                               imageHeight: image.height)
        let end = ContinuousClock.now
        return JobOutput(text: text, rawOutput: text + " the middle[[250,250,750,750]]", promptTokens: 1,
                         generatedTokens: tokens, preprocessMilliseconds: Self.milliseconds(preprocessed - start),
                         decodeMilliseconds: Self.milliseconds(end - preprocessed),
                         totalMilliseconds: Self.milliseconds(end - start), model: modelIdentity, boxes: [box])
    }

    static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
