import Foundation

/// What the user wants from an image; each preset turns the user's prompt (and box) into the
/// query text the model was trained on. The wording of the grounding presets comes from the
/// official grounding templates (THUDM/CogVLM `utils/utils/template.py`, `shikra_template`, and
/// the README's "Task Prompts" section), so the grounding checkpoints see familiar questions.
///
/// (Named `TaskPreset`, not `Task`, so that it does not shadow Swift's `Task` in every module
/// that imports CogPipeline.)
public enum TaskPreset: String, Sendable, CaseIterable, Codable {
    /// A description of the image; the prompt, if given, replaces the default question.
    case caption
    /// A free question about the image; the prompt is the question (required).
    case vqa
    /// Referring expression → boxes; the prompt is the expression (required).
    case ground
    /// A description with a box for each mentioned object; the prompt, if given, replaces the
    /// default question.
    case groundCaption = "ground-caption"
    /// Box → description of that region; needs a box. A prompt, if given, is a custom question
    /// in which `<objs>` marks where the box goes.
    case describeBox = "describe-box"

    /// Default captioning question (the fixtures' query; the HF model cards ask "Describe this image").
    public static let captionQuestion = "Describe this image."

    /// ref: template.py `shikra_template['caption2box']`, third entry; `<expr>` is replaced by the
    /// referring expression.
    public static let groundTemplate = "Where is <expr>? answer in [[x0,y0,x1,y1]] format."

    /// ref: template.py `shikra_template['caption_with_box']`, first entry (also the README's
    /// example for "image description with grounding coordinates").
    public static let groundCaptionQuestion =
        "Can you provide a description of the image and include the coordinates [[x0,y0,x1,y1]] "
        + "for each mentioned object?"

    /// ref: template.py `shikra_template['box2caption']` entry "Tell me what you see within the
    /// designated area <objs> in the picture." (the README's example for box → description);
    /// `<objs>` is replaced by the box as `[[086,540,400,760]]`.
    public static let describeBoxTemplate = "Tell me what you see within the designated area <objs> in the picture."

    /// The query text for this task.
    /// - Parameters:
    ///   - prompt: the user's text (question, expression or custom wording, see each case).
    ///   - box: the region for `describeBox` (ignored by the other tasks).
    public func query(prompt: String? = nil, box: GroundingBox? = nil) throws -> String {
        let given = prompt.flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
        switch self {
        case .caption:
            return given ?? TaskPreset.captionQuestion
        case .vqa:
            guard let question = given else {
                throw PipelineError(.missingPrompt, "the vqa task needs a question; pass it with --prompt",
                                    field: "prompt")
            }
            return question
        case .ground:
            guard let expression = given else {
                throw PipelineError(.missingPrompt,
                    "the ground task needs the object to find (a referring expression such as \"the red car\"); "
                    + "pass it with --prompt", field: "prompt")
            }
            return TaskPreset.groundTemplate.replacingOccurrences(of: "<expr>", with: expression)
        case .groundCaption:
            return given ?? TaskPreset.groundCaptionQuestion
        case .describeBox:
            guard let box else {
                throw PipelineError(.missingBox,
                    "the describe-box task needs a box: x0,y0,x1,y1 in 0–999 thousandths of the image", field: "box")
            }
            let template = given ?? TaskPreset.describeBoxTemplate
            guard template.contains("<objs>") else {
                throw PipelineError(.badTemplate,
                    "a custom describe-box prompt must contain <objs> where the box goes, e.g. "
                    + "\"What is in <objs>?\"", field: "prompt")
            }
            return template.replacingOccurrences(of: "<objs>", with: box.promptText)
        }
    }

    /// Whether the answer is expected to contain boxes worth parsing.
    public var producesBoxes: Bool { self == .ground || self == .groundCaption }
}
