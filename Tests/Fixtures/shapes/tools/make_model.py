"""Write a tiny random CogVLM (v1) / CogVLM2 (v2) checkpoint in the fixtures' HF layout."""
import copy
import json
import os
import shutil
import numpy as np
import st

# config.json / generation_config.json templates: the official tiny fixtures (same keys and layout
# as the real releases), found relative to this file (Tests/Fixtures/shapes/tools/).
_HERE = os.path.dirname(os.path.abspath(__file__))
FX = {False: os.path.join(_HERE, "..", "..", "cogvlm-tiny"), True: os.path.join(_HERE, "..", "..", "cogvlm2-tiny")}


def make(out, v2, D, H, I, nl, vocab, img, patch, Dv, Hv, Iv, nlv, KV=None, seed=0, cfg_over=None):
    rng = np.random.default_rng(seed)
    hd = D // H
    assert hd * H == D and hd % 2 == 0
    KV = KV if KV is not None else H
    G = img // patch
    Tn = lambda *s, std=1.0: (rng.standard_normal(s) * std).astype(np.float32)
    lin = lambda o, i: Tn(o, i, std=(1 / i) ** 0.5)
    gain = lambda n: (1 + Tn(n, std=0.1))
    W = {}
    W["model.embed_tokens.weight"] = Tn(vocab, D, std=0.5)
    base = 500000.0 if v2 else 10000.0
    inv = (1.0 / (base ** (np.arange(0, hd, 2, dtype=np.float32) / hd))).astype(np.float32)
    qkv_out = (H + 2 * KV) * hd if v2 else 3 * D
    for l in range(nl):
        p = f"model.layers.{l}."
        W[p + "input_layernorm.weight"] = gain(D)
        W[p + "post_attention_layernorm.weight"] = gain(D)
        for e in ("language", "vision"):
            W[p + f"self_attn.{e}_expert_query_key_value.weight"] = lin(qkv_out, D)
            W[p + f"self_attn.{e}_expert_dense.weight"] = lin(D, H * hd)
            W[p + f"mlp.{e}_mlp.gate_proj.weight"] = lin(I, D)
            W[p + f"mlp.{e}_mlp.up_proj.weight"] = lin(I, D)
            W[p + f"mlp.{e}_mlp.down_proj.weight"] = lin(D, I)
        if v2:
            W[p + "self_attn.vision_expert_query_key_value.bias"] = Tn(qkv_out, std=0.1)
        W[p + "self_attn.rotary_emb.inv_freq"] = inv.copy()
    W["model.norm.weight"] = gain(D)
    W["lm_head.weight"] = lin(vocab, D)
    v = "model.vision."
    W[v + "patch_embedding.proj.weight"] = Tn(Dv, 3, patch, patch, std=(1 / (3 * patch * patch)) ** 0.5)
    W[v + "patch_embedding.proj.bias"] = Tn(Dv, std=0.1)
    W[v + "patch_embedding.cls_embedding"] = Tn(1, Dv, std=0.5)
    W[v + "patch_embedding.position_embedding.weight"] = Tn(G * G + 1, Dv, std=0.5)
    for j in range(nlv):
        p = v + f"transformer.layers.{j}."
        for n in ("input_layernorm", "post_attention_layernorm"):
            W[p + n + ".weight"] = gain(Dv)
            W[p + n + ".bias"] = Tn(Dv, std=0.05)
        W[p + "attention.query_key_value.weight"] = lin(3 * Dv, Dv)
        W[p + "attention.query_key_value.bias"] = Tn(3 * Dv, std=0.1)
        W[p + "attention.dense.weight"] = lin(Dv, Dv)
        W[p + "attention.dense.bias"] = Tn(Dv, std=0.1)
        W[p + "mlp.fc1.weight"] = lin(Iv, Dv)
        W[p + "mlp.fc1.bias"] = Tn(Iv, std=0.1)
        W[p + "mlp.fc2.weight"] = lin(Dv, Iv)
        W[p + "mlp.fc2.bias"] = Tn(Dv, std=0.1)
    if v2:
        W[v + "conv.weight"] = Tn(Dv, Dv, 2, 2, std=(1 / (4 * Dv)) ** 0.5)
        W[v + "conv.bias"] = Tn(Dv, std=0.1)
    W[v + "linear_proj.linear_proj.weight"] = lin(D, Dv)
    W[v + "linear_proj.norm1.weight"] = gain(D)
    W[v + "linear_proj.norm1.bias"] = Tn(D, std=0.05)
    W[v + "linear_proj.gate_proj.weight"] = lin(I, D)
    W[v + "linear_proj.dense_h_to_4h.weight"] = lin(I, D)
    W[v + "linear_proj.dense_4h_to_h.weight"] = lin(D, I)
    W[v + "boi"] = Tn(1, 1, D, std=0.5)
    W[v + "eoi"] = Tn(1, 1, D, std=0.5)

    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    s1 = {k: W[k] for k in sorted(W) if k == "model.embed_tokens.weight" or k.startswith("model.layers.0.")}
    s2 = {k: W[k] for k in sorted(W) if k not in s1}
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    wm = {}
    for nm, sh in zip(names, (s1, s2)):
        st.save(os.path.join(out, nm), sh, bf16_names="all", metadata={"format": "pt"})
        for k in sh:
            wm[k] = nm
    total = sum(a.size * 2 for a in W.values())
    json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(wm.items()))},
              open(os.path.join(out, "model.safetensors.index.json"), "w"), indent=2)
    cfg = json.load(open(os.path.join(FX[v2], "config.json")))
    cfg["_name_or_path"] = os.path.basename(out)
    cfg.update(hidden_size=D, num_attention_heads=H, intermediate_size=I, num_hidden_layers=nl, vocab_size=vocab)
    if v2:
        cfg["num_multi_query_heads"] = KV
    cfg["vision_config"].update(hidden_size=Dv, image_size=img, patch_size=patch, num_heads=Hv,
                                intermediate_size=Iv, num_hidden_layers=nlv, num_positions=G * G + 1)
    for k, val in (cfg_over or {}).items():
        if k == "vision_config":
            cfg["vision_config"].update(val)
        else:
            cfg[k] = val
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
    gc = json.load(open(os.path.join(FX[v2], "generation_config.json")))
    for k in ("bos_token_id", "eos_token_id", "pad_token_id"):
        gc[k] = cfg[k]
    json.dump(gc, open(os.path.join(out, "generation_config.json"), "w"), indent=2)
    return cfg
