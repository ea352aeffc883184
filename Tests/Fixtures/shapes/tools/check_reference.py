"""Check ref.py against the official fixtures (Tests/Fixtures/cogvlm-tiny, cogvlm2-tiny), whose
expected outputs came from the official PyTorch code: every prompt (per-layer hidden states, logits,
12 greedy steps) and every vision intermediate. Prints the worst error; ints must match exactly.

    cd Tests/Fixtures/shapes/tools && python3 check_reference.py
"""
import os
import numpy as np
import st
import ref

F = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
worst, bad = {}, []
for fx, prompts in [("cogvlm-tiny", ["mm_a", "mm_b", "text_only"]), ("cogvlm2-tiny", ["mm_a", "text_only"])]:
    d = os.path.join(F, fx)
    m = ref.Model(d)
    pix = st.load(os.path.join(d, "expected/preprocess.safetensors"))["pixel_values"]
    vis = st.load(os.path.join(d, "expected/vision.safetensors"))
    for p in prompts:
        e = st.load(os.path.join(d, f"expected/{p}.safetensors"))
        gen = len(e["gen.new_token_ids"]) if "gen.new_token_ids" in e else 0
        out = m.run(e["input_ids"], e["token_type_ids"], pix, generate=gen)
        print(fx, p)
        r = ref.compare(out, {**e, **vis})
        for k, v in r.items():
            if isinstance(v, str):
                if v != "ok":
                    bad.append((fx, p, k, v))
            else:
                worst[k] = max(worst.get(k, 0.0), v)
print(f"worst float error: {max(worst.values()):.3e}; integer mismatches: {bad or 'none'}")
