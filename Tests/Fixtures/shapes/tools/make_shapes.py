"""Regenerate Tests/Fixtures/shapes/<name>/: a tiny random checkpoint (make_model.py) plus the
numpy reference's outputs (ref.py) for one multimodal and one text-only input.

    cd Tests/Fixtures/shapes/tools && python3 make_shapes.py            # all models
    python3 make_shapes.py cogvlm-d40h5                                  # one

Needs only Python 3 and numpy (written with Python 3.11.7, numpy 2.4.6). Deterministic: the same
numpy version regenerates byte-identical files (numpy's default_rng streams are stable).
"""
import json
import os
import sys
import numpy as np
import st
import ref
import make_model as mm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)  # Tests/Fixtures/shapes
GENERATE = 6

# name -> (v2, hidden, heads, intermediate, layers, vocab, image, patch, vision hidden, vision heads,
#          vision intermediate, vision layers, KV heads (v2), config overrides, weight seed, input seed)
MODELS = {
    # v1 (cogvlm-chat-hf layout): head_dim 8 (the tiny fixture has 16), 5 heads, intermediate not a
    # multiple of 32, vocab 1000, 7-pixel patches on a 28-pixel image (4x4 = 16 patches), vision
    # head_dim 8 with 3 heads.
    "cogvlm-d40h5": (False, 40, 5, 100, 2, 1000, 28, 7, 24, 3, 64, 2, None, None, 4101, 4102),
    # v2 (cogvlm2-llama3-chat layout): grouped-query attention with 4 query heads per KV head
    # (8 query heads, 2 KV heads, head_dim 8), a 512-token vocab holding bos/eos/pad, 7-pixel
    # patches on a 56-pixel image (8x8 grid -> 2x2 conv -> 4x4 = 16 image tokens).
    "cogvlm2-d64gqa4": (True, 64, 8, 144, 2, 512, 56, 7, 32, 4, 64, 2, 2,
                        {"bos_token_id": 500, "eos_token_id": [501, 509], "pad_token_id": 502}, 4201, 4202),
}


def image_slots(cfg, v2):
    vc = cfg["vision_config"]
    g = vc["image_size"] // vc["patch_size"]
    if v2:
        g //= 2
    return g * g + 2  # boi + image tokens + eoi


def text_ids(rng, n, lo, hi, avoid):
    out = []
    while len(out) < n:
        t = int(rng.integers(lo, hi))
        if t not in avoid:
            out.append(t)
    return out


def record(model, ids, types, pix):
    out = model.run(ids, types, pix, generate=GENERATE)
    t = {"input_ids": np.array(ids, np.int64), "token_type_ids": np.array(types, np.int64)}
    if pix is not None:
        t["pixel_values"] = pix.astype(np.float32)
    for k in sorted(out):
        a = np.asarray(out[k])
        t[k] = a.astype(np.int64) if a.dtype.kind in "iu" else a.astype(np.float32)
    # ref.py generates without a cache (each step re-runs the whole sequence), so these are also
    # the uncached tokens; the name matches the official fixtures' so the same checks apply.
    t["gen_nocache.new_token_ids"] = t["gen.new_token_ids"].copy()
    # How far each greedy pick is from the runner-up (a pick closer than ~1e-3 could flip on
    # rounding differences; the seeds were chosen so none is).
    steps = out["gen.step_logits"]
    top2 = np.sort(steps, axis=-1)[:, -2:]
    return t, float(np.min(top2[:, 1] - top2[:, 0]))


def build(name):
    v2, D, H, I, nl, vocab, img, patch, Dv, Hv, Iv, nlv, KV, over, wseed, iseed = MODELS[name]
    d = os.path.join(ROOT, name)
    cfg = mm.make(d, v2, D, H, I, nl, vocab, img, patch, Dv, Hv, Iv, nlv, KV=KV, seed=wseed, cfg_over=over)
    rng = np.random.default_rng(iseed)
    bos, pad = cfg["bos_token_id"], cfg["pad_token_id"]
    eos = cfg["eos_token_id"] if isinstance(cfg["eos_token_id"], list) else [cfg["eos_token_id"]]
    special = {bos, pad, *eos}
    k = image_slots(cfg, v2)
    S = img
    pix = rng.standard_normal((3, S, S)).astype(np.float32)
    mm_ids = [bos] + [pad] * k + text_ids(rng, 6, 3, vocab, special)
    mm_types = [0] + [1] * k + [0] * 6
    txt_ids = [bos] + text_ids(rng, 8, 3, vocab, special)
    txt_types = [0] * len(txt_ids)
    model = ref.Model(d)
    os.makedirs(os.path.join(d, "expected"), exist_ok=True)
    for prompt, ids, types, p in (("mm", mm_ids, mm_types, pix), ("text_only", txt_ids, txt_types, None)):
        t, margin = record(model, ids, types, p)
        st.save(os.path.join(d, "expected", f"{prompt}.safetensors"), t, metadata={"generator": "make_shapes.py"})
        print(f"{name}/{prompt}: L={len(ids)} tokens {t['gen.new_token_ids'].tolist()} "
              f"smallest top-1 margin {margin:.3e}")


if __name__ == "__main__":
    for n in sys.argv[1:] or list(MODELS):
        build(n)
