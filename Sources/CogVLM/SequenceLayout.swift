/// Token types of the CogVLM input sequence.
public enum TokenType: Int, Sendable {
    /// Text (and BOS): LANGUAGE_TOKEN_TYPE = 0.
    case language = 0
    /// Image slot (boi, patches, eoi): VISION_TOKEN_TYPE = 1.
    case vision = 1
}

/// The two CogVLM-specific rules that turn token types into rotary positions and expert choices.
/// Both are pure functions of the token-type array, pinned by tests against the fixtures.
public enum SequenceLayout {
    /// Position ids (ref: modeling_cogvlm.py `build_position_ids`; architecture doc §3.4).
    ///
    /// A vision token whose left neighbour is text (or that starts the sequence) is boi, one whose
    /// right neighbour is text (or that ends it) is eoi; both are re-labelled as text. Then the
    /// position advances on every text token and on the first patch after text, so all patch
    /// tokens share one position: BOS 0, boi 1, patches 2, eoi 3, text 4, 5, …
    public static func positionIDs(tokenTypes t: [TokenType]) -> [Int] {
        let n = t.count
        guard n > 0 else { return [] }
        var relabelled = t  // t' with boi/eoi marked as language
        for i in 0..<n where t[i] == .vision {
            let leftIsText = i == 0 || t[i - 1] == .language
            let rightIsText = i == n - 1 || t[i + 1] == .language
            if leftIsText || rightIsText { relabelled[i] = .language }
        }
        var positions = [Int](repeating: 0, count: n)
        for i in 1..<n {
            let increments = relabelled[i] == .language || (relabelled[i] == .vision && relabelled[i - 1] == .language)
            positions[i] = positions[i - 1] + (increments ? 1 : 0)
        }
        return positions
    }

    /// Expert routing (ref: modeling_cogvlm.py `get_expert_mask`; architecture doc §3.5):
    /// token `i` uses the vision expert iff it and token `i + 1` are both vision tokens. So boi and
    /// the patches use the vision expert, and **eoi uses the language expert**, as do BOS and text.
    /// Computed on the original types over the whole sequence.
    public static func visionExpertMask(tokenTypes t: [TokenType]) -> [Bool] {
        let n = t.count
        return (0..<n).map { i in i + 1 < n && t[i] == .vision && t[i + 1] == .vision }
    }
}
