"""Independent numpy reference of the CogVLM / CogVLM2 forward pass, written from
/work/shared/docs/cogvlm-architecture.md and the fixture READMEs. Computes in float64 on the
bf16-rounded weights."""
import json
import os
import math
import numpy as np
import st

try:
    from math import erf as _erf
except ImportError:
    pass


def erf(x):
    # vectorised erf (numpy has none); use math.erf elementwise (tiny tensors)
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def silu(x):
    return x / (1.0 + np.exp(-x))


def layernorm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def rmsnorm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def softmax(s):
    s = s - s.max(-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(-1, keepdims=True)


class Model:
    def __init__(self, d):
        self.dir = d
        self.cfg = json.load(open(os.path.join(d, "config.json")))
        idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))
        self.W = {}
        for f in sorted(set(idx["weight_map"].values())):
            for k, v in st.load(os.path.join(d, f)).items():
                self.W[k] = v.astype(np.float64)
        assert set(self.W) == set(idx["weight_map"]), "index mismatch"
        c = self.cfg
        self.v2 = "model.vision.conv.weight" in self.W
        self.D = c["hidden_size"]
        self.H = c["num_attention_heads"]
        self.hd = self.D // self.H
        self.KV = c.get("num_multi_query_heads", self.H) if self.v2 else self.H
        self.nl = c["num_hidden_layers"]
        self.eps = c["rms_norm_eps"]
        vc = c["vision_config"]
        self.vc = vc

    def w(self, n):
        return self.W[n]

    # ---------------- vision -----------------
    def encode_image(self, pix, trace):
        vc = self.vc
        p = vc["patch_size"]
        S = pix.shape[-1]
        G = S // p
        Dv = vc["hidden_size"]
        Hv = vc["num_heads"]
        hdv = Dv // Hv
        eps = vc["layer_norm_eps"]
        pre = "model.vision."
        x = pix.astype(np.float64)[:, :G * p, :G * p]
        # patches (c, ky, kx) ordering, row-major grid
        patches = x.reshape(3, G, p, G, p).transpose(1, 3, 0, 2, 4).reshape(G * G, 3 * p * p)
        Wc = self.w(pre + "patch_embedding.proj.weight").reshape(Dv, -1)
        emb = patches @ Wc.T + self.w(pre + "patch_embedding.proj.bias")
        X = np.concatenate([self.w(pre + "patch_embedding.cls_embedding").reshape(1, Dv), emb], 0)
        X = X + self.w(pre + "patch_embedding.position_embedding.weight")
        trace("vision.patch_embedding_out", X)
        for j in range(vc["num_hidden_layers"]):
            lp = pre + f"transformer.layers.{j}."
            L = X.shape[0]
            qkv = X @ self.w(lp + "attention.query_key_value.weight").T + self.w(lp + "attention.query_key_value.bias")
            qkv = qkv.reshape(L, 3, Hv, hdv)
            q, k, v = (qkv[:, i].transpose(1, 0, 2) for i in range(3))  # [H, L, hd]
            s = q @ k.transpose(0, 2, 1) * hdv ** -0.5
            a = softmax(s) @ v  # [H, L, hd]
            a = a.transpose(1, 0, 2).reshape(L, Dv)
            a = a @ self.w(lp + "attention.dense.weight").T + self.w(lp + "attention.dense.bias")
            X = X + layernorm(a, self.w(lp + "input_layernorm.weight"), self.w(lp + "input_layernorm.bias"), eps)
            m = gelu(X @ self.w(lp + "mlp.fc1.weight").T + self.w(lp + "mlp.fc1.bias"))
            m = m @ self.w(lp + "mlp.fc2.weight").T + self.w(lp + "mlp.fc2.bias")
            X = X + layernorm(m, self.w(lp + "post_attention_layernorm.weight"),
                              self.w(lp + "post_attention_layernorm.bias"), eps)
            trace(f"vision.transformer.layers.{j}.out", X)
        Y = X[1:]
        if self.v2:
            grid = Y.reshape(G, G, Dv)  # [row, col, c]
            Wk = self.w(pre + "conv.weight")  # [O, C, 2, 2]
            bk = self.w(pre + "conv.bias")
            Go = (G - 2) // 2 + 1
            # im2col with the weight's (c, di, dj) order, then one matmul
            cols = grid[:2 * Go, :2 * Go].reshape(Go, 2, Go, 2, -1).transpose(0, 2, 4, 1, 3).reshape(Go * Go, -1)
            Y = cols @ Wk.reshape(Wk.shape[0], -1).T + bk
        trace("vision.linear_proj_in", Y)
        h = Y @ self.w(pre + "linear_proj.linear_proj.weight").T
        h = gelu(layernorm(h, self.w(pre + "linear_proj.norm1.weight"), self.w(pre + "linear_proj.norm1.bias"), 1e-5))
        y = silu(h @ self.w(pre + "linear_proj.gate_proj.weight").T) * (h @ self.w(pre + "linear_proj.dense_h_to_4h.weight").T)
        y = y @ self.w(pre + "linear_proj.dense_4h_to_h.weight").T
        trace("vision.linear_proj_out", y)
        out = np.concatenate([self.w(pre + "boi").reshape(1, -1), y, self.w(pre + "eoi").reshape(1, -1)], 0)
        trace("vision.out", out)
        return out

    # ---------------- layout ----------------
    @staticmethod
    def position_ids(t):
        t = list(t)
        n = len(t)
        tp = list(t)
        for i in range(n):
            if t[i] == 1:
                if i == 0 or t[i - 1] == 0 or i == n - 1 or t[i + 1] == 0:
                    tp[i] = 0
        inc = [0] * n
        for i in range(1, n):
            if tp[i] == 0 or (tp[i] == 1 and tp[i - 1] == 0):
                inc[i] = 1
        return np.cumsum(inc).astype(np.int64)

    @staticmethod
    def expert_mask(t):
        n = len(t)
        return np.array([1 if (i < n - 1 and t[i] == 1 and t[i + 1] == 1) else 0 for i in range(n)], dtype=np.int64)

    # ---------------- LLM -----------------
    def rope(self, x, pos):
        # x [n_heads, L, hd]
        inv = self.w("model.layers.0.self_attn.rotary_emb.inv_freq")
        ang = pos[:, None].astype(np.float64) * inv[None, :]
        c, s = np.cos(ang), np.sin(ang)
        h = self.hd // 2
        x1, x2 = x[..., :h], x[..., h:]
        return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], -1)

    def lm_forward(self, ids, types, feats, trace):
        n = len(ids)
        E = self.w("model.embed_tokens.weight")
        X = np.zeros((n, self.D))
        vi = [i for i in range(n) if types[i] == 1]
        for i in range(n):
            if types[i] == 0:
                X[i] = E[ids[i]]
        if vi:
            assert feats is not None and len(feats) == len(vi), (len(vi), None if feats is None else len(feats))
            X[vi] = feats
        trace("lm.inputs_embeds", X)
        pos = self.position_ids(types)
        vm = self.expert_mask(types).astype(bool)
        H, KV, hd, D = self.H, self.KV, self.hd, self.D
        causal = np.triu(np.ones((n, n), bool), 1)
        for l in range(self.nl):
            p = f"model.layers.{l}."
            h = rmsnorm(X, self.w(p + "input_layernorm.weight"), self.eps)
            qkv = np.where(vm[:, None], h @ self.w(p + "self_attn.vision_expert_query_key_value.weight").T
                           + (self.W.get(p + "self_attn.vision_expert_query_key_value.bias", 0.0)),
                           h @ self.w(p + "self_attn.language_expert_query_key_value.weight").T)
            q = qkv[:, :H * hd].reshape(n, H, hd).transpose(1, 0, 2)
            k = qkv[:, H * hd:(H + KV) * hd].reshape(n, KV, hd).transpose(1, 0, 2)
            v = qkv[:, (H + KV) * hd:].reshape(n, KV, hd).transpose(1, 0, 2)
            q = self.rope(q, pos)
            k = self.rope(k, pos)
            grp = H // KV
            k = np.repeat(k, grp, axis=0)
            v = np.repeat(v, grp, axis=0)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
            s = np.where(causal[None], -np.inf, s)
            a = (softmax(s) @ v).transpose(1, 0, 2).reshape(n, H * hd)
            o = np.where(vm[:, None], a @ self.w(p + "self_attn.vision_expert_dense.weight").T,
                         a @ self.w(p + "self_attn.language_expert_dense.weight").T)
            X = X + o
            m = rmsnorm(X, self.w(p + "post_attention_layernorm.weight"), self.eps)

            def mlp(pre):
                return (silu(m @ self.w(pre + "gate_proj.weight").T) * (m @ self.w(pre + "up_proj.weight").T)) @ self.w(pre + "down_proj.weight").T
            y = np.where(vm[:, None], mlp(p + "mlp.vision_mlp."), mlp(p + "mlp.language_mlp."))
            X = X + y
            trace(f"lm.layers.{l}.out", X)
        X = rmsnorm(X, self.w("model.norm.weight"), self.eps)
        trace("lm.final_norm_out", X)
        logits = X @ self.w("lm_head.weight").T
        trace("logits", logits)
        return logits

    def run(self, ids, types, pix=None, generate=0):
        out = {}

        def trace(name, a):
            out[name] = np.array(a)
        ids = [int(i) for i in ids]
        types = [int(t) for t in types]
        out["position_ids"] = self.position_ids(types)
        out["vision_expert_mask"] = self.expert_mask(types)
        feats = self.encode_image(pix, trace) if 1 in types else None
        logits = self.lm_forward(ids, types, feats, trace)
        if generate:
            toks, steps = [], []
            step = logits[-1]
            cur_ids, cur_t = list(ids), list(types)
            for g in range(generate):
                steps.append(step)
                nxt = int(np.argmax(step))
                toks.append(nxt)
                if g + 1 < generate:
                    cur_ids.append(nxt)
                    cur_t.append(0)
                    step = self.lm_forward(cur_ids, cur_t, feats, lambda *a: None)[-1]
            out["gen.new_token_ids"] = np.array(toks, np.int64)
            out["gen.step_logits"] = np.stack(steps)
            out["gen.position_ids_full"] = self.position_ids(types + [0] * generate)
        return out


def compare(ref, got, keys=None, quiet=False):
    """returns dict name -> max abs err (float) or 'MISMATCH'/'MISSING'."""
    res = {}
    for k in (keys or ref.keys()):
        if k not in got:
            res[k] = "MISSING"
            continue
        a, b = np.asarray(ref[k]), np.asarray(got[k])
        if a.shape != b.shape:
            res[k] = f"SHAPE {a.shape} vs {b.shape}"
            continue
        if a.dtype.kind in "iu":
            res[k] = "ok" if np.array_equal(a, b) else f"DIFF at {np.nonzero(a != b)[0][:5].tolist()}"
        else:
            res[k] = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
    if not quiet:
        for k, v in res.items():
            print(f"  {k:40s} {v if isinstance(v, str) else f'{v:.3e}'}")
    return res
