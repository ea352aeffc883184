import Foundation

/// A LLaMA-family tokenizer that reproduces Hugging Face token ids and text exactly.
///
/// Two families are supported, each loaded with ``load(directory:)``:
/// - LLaMA-2 / Vicuna SentencePiece BPE with byte fallback (CogVLM), from `tokenizer.json` or `tokenizer.model`;
/// - Llama-3 byte-level BPE (CogVLM2), from `tokenizer.json`.
///
/// Encoding follows the Hugging Face pipeline: added tokens (such as `<s>` or `<|eot_id|>`) are found in the
/// raw text first; every other piece of text is normalized, pre-tokenized and merged by BPE; BOS and EOS come
/// from the post-processor template (or `add_bos_token` / `add_eos_token`). Decoding follows the tokenizers
/// decoders. The value is immutable and can be shared between threads.
///
/// ```swift
/// let tokenizer = try Tokenizer.load(directory: modelDirectory)
/// let ids = tokenizer.encode("Question: What is in the image? Answer:", addSpecialTokens: false)
/// let text = tokenizer.decode(ids, skipSpecialTokens: true)
/// ```
public struct Tokenizer: Sendable {
    let normalizer: TextNormalizer
    let preTokenizer: Llama3PreTokenizer?
    let model: BPEModel
    let addedTokens: AddedTokenMatcher
    let decoder: TokenDecoder
    let tokenStrings: [String?]  // [vocabularySize] token string of each id, nil for unused ids
    let idsByTokenString: [[UInt8]: Int]  // token UTF-8 → id (exact bytes, not canonical equivalence)
    /// Ids put before the text when `addSpecialTokens` is true (BOS).
    let prefixIDs: [Int]
    /// Ids put after the text when `addSpecialTokens` is true (EOS, when configured).
    let suffixIDs: [Int]

    /// The beginning-of-sequence token, if the tokenizer has one.
    public let bosTokenID: Int?
    /// The end-of-sequence tokens named by the tokenizer files (one for LLaMA-2 and Llama-3). A model's
    /// generation config may add more, for example `<|eot_id|>` for CogVLM2.
    public let eosTokenIDs: [Int]
    /// The padding token, if the tokenizer files name one.
    public let padTokenID: Int?
    /// The unknown token, if the vocabulary has one.
    public let unknownTokenID: Int?
    /// transformers' `clean_up_tokenization_spaces` setting from `tokenizer_config.json` (false without one).
    /// ``decode(_:skipSpecialTokens:)`` does not apply it; apply ``cleanUpTokenizationSpaces(_:)`` when true to get
    /// what transformers' `decode` returns.
    public let cleansUpTokenizationSpaces: Bool

    /// The number of token ids: one more than the largest id, added tokens included.
    public var vocabularySize: Int { tokenStrings.count }

    /// The token string of `id` as stored in the vocabulary (`▁Hello`, `<0x0A>`, `Ġworld`, `<|eot_id|>`), or
    /// `nil` if there is no such id.
    public func tokenString(_ id: Int) -> String? {
        guard id >= 0 && id < tokenStrings.count else { return nil }
        return tokenStrings[id]
    }

    /// The id of a token string as stored in the vocabulary (compared by exact Unicode scalars), or `nil`.
    public func tokenID(_ tokenString: String) -> Int? {
        idsByTokenString[Array(tokenString.utf8)]
    }

    /// Whether `id` is a special token (dropped by `decode(_:skipSpecialTokens: true)`).
    public func isSpecialToken(_ id: Int) -> Bool {
        id >= 0 && id < decoder.isSpecial.count && decoder.isSpecial[id]
    }

    // MARK: Encoding

    /// Encodes `text` into token ids.
    ///
    /// - Parameters:
    ///   - addSpecialTokens: adds BOS (and EOS, where configured), as transformers' `add_special_tokens=True`.
    ///   - parseSpecialTokens: when true (the Hugging Face default), special-token strings in the text such as
    ///     `"<s>"` or `"<|eot_id|>"` become their ids; when false they are encoded as plain text, which is what
    ///     untrusted user text should get.
    public func encode(_ text: String, addSpecialTokens: Bool = true, parseSpecialTokens: Bool = true) -> [Int] {
        var output: [Int] = []
        output.reserveCapacity(text.utf8.count / 3 + prefixIDs.count + suffixIDs.count)
        if addSpecialTokens { output.append(contentsOf: prefixIDs) }
        let bytes = Array(text.utf8)  // [utf8 count] the text as UTF-8
        var scratch = EncodeScratch()
        if parseSpecialTokens && !addedTokens.isEmpty {
            let segments = bytes.withUnsafeBufferPointer { addedTokens.split($0) }
            for segment in segments {
                switch segment {
                case .token(let id):
                    output.append(id)
                case .text(let range):
                    encodePlainText(bytes[range], atTextStart: range.lowerBound == 0, into: &output, scratch: &scratch)
                }
            }
        } else if !bytes.isEmpty {
            encodePlainText(bytes[...], atTextStart: true, into: &output, scratch: &scratch)
        }
        if addSpecialTokens { output.append(contentsOf: suffixIDs) }
        return output
    }

    /// Working memory reused across the segments of one `encode` call.
    private struct EncodeScratch {
        var model = BPEModel.Scratch()
        var preTokenizer = Llama3PreTokenizer.Scratch()
        var preTokens: [Range<Int>] = []  // [pre-tokens] byte ranges in the normalized segment
    }

    /// Normalizes, pre-tokenizes and BPE-encodes one piece of text that contains no added token.
    private func encodePlainText(
        _ segment: ArraySlice<UInt8>, atTextStart: Bool, into output: inout [Int], scratch: inout EncodeScratch
    ) {
        let normalized: ArraySlice<UInt8> =
            normalizer.isIdentity ? segment : normalizer.normalize(segment, atTextStart: atTextStart)[...]
        guard let preTokenizer else {
            model.encode(normalized, into: &output, scratch: &scratch.model)
            return
        }
        scratch.preTokens.removeAll(keepingCapacity: true)
        normalized.withUnsafeBufferPointer { buffer in
            preTokenizer.split(buffer, scratch: &scratch.preTokenizer) { scratch.preTokens.append($0) }
        }
        let base = normalized.startIndex
        for range in scratch.preTokens {
            model.encode(
                normalized[(base + range.lowerBound)..<(base + range.upperBound)], into: &output,
                scratch: &scratch.model)
        }
    }

    // MARK: Decoding

    /// Decodes token ids into text, as Hugging Face tokenizers' `decode` does.
    ///
    /// SentencePiece byte tokens (`<0xE2>` …) are joined and read as UTF-8, and the dummy-prefix space at the
    /// start is removed; byte-level tokens are read as UTF-8 with invalid sequences replaced by U+FFFD. Ids with
    /// no token are skipped.
    ///
    /// - Parameter skipSpecialTokens: leaves out special tokens (`<s>`, `</s>`, `<unk>`, `<|eot_id|>` …).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        decoder.decode(ids, skipSpecialTokens: skipSpecialTokens)
    }

    /// transformers' `clean_up_tokenization`: removes the space before `.`, `?`, `!`, `,` and in a few English
    /// contractions (`"Hello , world ."` → `"Hello, world."`). CogVLM2's tokenizer applies it on decode.
    // ref: transformers tokenization_utils_base.py PreTrainedTokenizerBase.clean_up_tokenization
    public static func cleanUpTokenizationSpaces(_ text: String) -> String {
        let replacements = [
            (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
        ]
        // Replace on UTF-8 bytes: the patterns are ASCII, so this matches Python's code-point `str.replace`
        // (Foundation's `replacingOccurrences` would compare whole grapheme clusters instead).
        var bytes = Array(text.utf8)
        for (pattern, replacement) in replacements {
            bytes = TextNormalizer.replacing(Array(pattern.utf8), with: Array(replacement.utf8), in: bytes)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Tokenizer {
    /// Why this tokenizer cannot be the tokenizer of a model with `vocabularySize` embedding rows and
    /// beginning-of-sequence id `modelBOS`, or nil if it can: more tokens than the model has rows, or
    /// another BOS id (a LLaMA-2 tokenizer, BOS 1 in 32 000 ids, fits a Llama-3 model's 128 256 rows
    /// and would silently produce nonsense). `advice` is appended to the reason.
    public func mismatch(modelVocabularySize: Int, modelBOS: Int) -> String? {
        if vocabularySize > modelVocabularySize {
            return "the tokenizer has \(vocabularySize) tokens but the model's vocabulary has \(modelVocabularySize)"
        }
        if let bosTokenID, bosTokenID != modelBOS {
            return "the tokenizer's beginning-of-sequence token is id \(bosTokenID) but the model's is \(modelBOS) "
                + "(bos_token_id in config.json)"
        }
        return nil
    }
}
