#!/usr/bin/env python3
"""com.microsoft.GroupQueryAttention as onnxruntime-genai's builder writes it
(packed or separate QKV, a KV cache, seqlens_k and total_sequence_length, rotary
caches, sliding window, softcap, head sinks, smooth softmax, attention bias,
position ids), compiled for the CPU once per configuration with dynamic batch,
sequence and past lengths, run with moe-run at several steps, and compared with
ONNX Runtime and with a numpy model of its CPU kernel: the output and both
present caches. Then com.microsoft.RotaryEmbedding on [B, S, hidden] and
[B, N, S, D] inputs, whole and partial rotary dimensions, plain and interleaved,
with [B, S] position ids or one offset. Then com.microsoft.MultiHeadAttention in
the layouts and with the masks MHA_CONFIGS lists, against numpy and ONNX Runtime.

    contrib_attention.py --bin build/bin --work DIR
"""
import argparse
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from moe_tools import compile_model, run_model

N, KV = 4, 2
POSITIONS = 64

# name: (head size, attributes, packed, rotary dim, extra inputs)
CONFIGS = {
    "separate_rotary": (16, dict(do_rotary=1), False, 16, ()),
    "packed_window_sink": (16, dict(do_rotary=1, local_window_size=3), True, 16, ("sink",)),
    "interleaved_partial_softcap": (
        32, dict(do_rotary=1, rotary_interleaved=1, softcap=2.0, scale=0.3), True, 16, ()),
    "bias_smooth": (16, dict(smooth_softmax=1), False, 0, ("bias",)),
    "position_ids": (16, dict(do_rotary=1), False, 16, ("position_ids",)),
    "no_past": (16, dict(do_rotary=1, local_window_size=5), True, 16, ("no_past",)),
}

# (batch, new tokens, past tokens, seqlens_k or None for past + new - 1)
STEPS = [(1, 7, 0, None), (1, 1, 5, None), (1, 7, 4, None), (1, 1, 0, None),
         (1, 33, 0, None), (2, 1, 6, [5, 3]), (2, 5, 0, [4, 2])]


def compiled(args, name, model):
    """`model` saved as `name`.onnx under args.work and compiled; the artifact, or None
    after printing why not."""
    path, library = args.work / f"{name}.onnx", args.work / f"{name}.so"
    onnx.save(model, path)
    failure = compile_model(args.bin, path, library, args.target)
    if failure:
        print(f"{name}: compile failed MISMATCH\n{failure}")
        return None
    return library


def compare(label, outputs, references, rtol):
    """Prints whether moe-run's `outputs` (a dict, or its diagnostics) match each
    (who, {name: array}) of `references` within rtol * max|reference| + 1e-5 (1e-6 for
    rtol below 1e-4), with the worst error as a fraction of that bound; returns it."""
    if isinstance(outputs, str):
        print(f"{label}: moe-run failed MISMATCH\n{outputs}")
        return False
    good, worst = True, 0.0
    atol = 1e-5 if rtol >= 1e-4 else 1e-6
    for who, reference in references:
        for key, against in reference.items():
            got = outputs[key]
            if got.shape != against.shape:
                print(f"{label}: {key} shape {list(got.shape)}, {who} {list(against.shape)}")
                good = False
                continue
            error = float(np.max(np.abs(got - against), initial=0.0))
            bound = rtol * float(np.max(np.abs(against), initial=0.0)) + atol
            if error > bound:
                print(f"{label}: {key} differs from {who} by {error:.3g}")
                good = False
            worst = max(worst, error / bound)
    peers = " and ".join(who for who, _ in references)
    print(f"{label}: against {peers} worst error {worst:.3g} of the bound "
          f"{'ok' if good else 'MISMATCH'}")
    return good


def rotate(x, positions, cos, sin, interleaved):
    """x [S, heads, D] rotated at positions [S]."""
    half = cos.shape[1]
    c, s = cos[positions][:, None, :], sin[positions][:, None, :]
    y = x.copy()
    if interleaved:
        x1, x2 = x[..., 0:2 * half:2], x[..., 1:2 * half:2]
        y[..., 0:2 * half:2], y[..., 1:2 * half:2] = x1 * c - x2 * s, x2 * c + x1 * s
    else:
        x1, x2 = x[..., :half], x[..., half:2 * half]
        y[..., :half], y[..., half:2 * half] = x1 * c - x2 * s, x2 * c + x1 * s
    return y


def reference(feeds, attrs, d, packed, cos, sin, sink, bias):
    """ONNX Runtime's CPU kernel: per batch entry, total = seqlens_k + 1 and the
    past is total - S (none in a first prompt, S > 1 and S == total_sequence_length);
    query s at past + s sees the keys up to it within the entry's total, the last
    local_window_size of those with a window. Tokens are at past + s, or at
    position_ids (in a first prompt, only its very first one, counted on from)."""
    q = feeds["q"]
    batch, seq = q.shape[:2]
    if packed:
        heads = q.reshape(batch, seq, N + 2 * KV, d)
        qh, kh, vh = heads[:, :, :N], heads[:, :, N:N + KV], heads[:, :, N + KV:]
    else:
        qh = q.reshape(batch, seq, N, d)
        kh = feeds["k"].reshape(batch, seq, KV, d)
        vh = feeds["v"].reshape(batch, seq, KV, d)
    past_k = feeds.get("past_k", np.zeros((batch, KV, 0, d), np.float32))
    past_v = feeds.get("past_v", np.zeros((batch, KV, 0, d), np.float32))
    total = int(feeds["total"])
    first = seq > 1 and seq == total
    length = max(total, past_k.shape[2])
    present_k = np.zeros((batch, KV, length, d), np.float64)
    present_v = np.zeros_like(present_k)
    out = np.zeros((batch, seq, N, d), np.float64)
    scale = attrs.get("scale", 0.0) or 1 / np.sqrt(d)
    window = attrs.get("local_window_size", -1)
    softcap = attrs.get("softcap", 0.0)
    for b in range(batch):
        tokens = int(feeds["seqlens_k"][b]) + 1
        past = 0 if first else tokens - seq
        positions = past + np.arange(seq)
        if "position_ids" in feeds:
            ids = feeds["position_ids"]
            positions = ids[0, 0] + np.arange(seq) if first else ids[b]
        qb, kb = qh[b].astype(np.float64), kh[b].astype(np.float64)
        if attrs.get("do_rotary"):
            qb = rotate(qb, positions, cos, sin, attrs.get("rotary_interleaved", 0))
            kb = rotate(kb, positions, cos, sin, attrs.get("rotary_interleaved", 0))
        present_k[b, :, :past] = past_k[b, :, :past]
        present_v[b, :, :past] = past_v[b, :, :past]
        present_k[b, :, past:past + seq] = kb.transpose(1, 0, 2)
        present_v[b, :, past:past + seq] = vh[b].transpose(1, 0, 2)
        keys = np.arange(length)
        for n in range(N):
            h = n // (N // KV)
            scores = qb[:, n] @ present_k[b, h].T * scale
            if softcap > 0:
                scores = softcap * np.tanh(scores / softcap)
            if bias is not None:
                scores = scores + bias[0, 0][:, :length]
            for s in range(seq):
                end = min(past + s + 1, tokens)
                keep = keys < end
                if window > 0:
                    keep &= keys >= end - window
                row = np.where(keep, scores[s], -np.inf)
                extra = sink[n] if sink is not None else (0.0 if attrs.get("smooth_softmax") else None)
                m = row.max() if extra is None else max(row.max(), extra)
                e = np.exp(row - m)
                denominator = e.sum() + (np.exp(extra - m) if extra is not None else 0.0)
                out[b, s, n] = (e / denominator) @ present_v[b, h]
    return {"y": out.reshape(batch, seq, N * d), "present_k": present_k,
            "present_v": present_v}


def build(name, d, attrs, packed, rotary_dim, extra, rng):
    hidden = (N + 2 * KV) * d if packed else N * d
    inputs = [helper.make_tensor_value_info("q", TensorProto.FLOAT, ["B", "S", hidden])]
    names = ["q", "", ""]
    if not packed:
        names[1:3] = ["k", "v"]
        inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["B", "S", KV * d])
                   for n in ("k", "v")]
    if "no_past" in extra:
        names += ["", ""]
    else:
        names += ["past_k", "past_v"]
        inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["B", KV, "P", d])
                   for n in ("past_k", "past_v")]
    names += ["seqlens_k", "total"]
    inputs += [helper.make_tensor_value_info("seqlens_k", TensorProto.INT32, ["B"]),
               helper.make_tensor_value_info("total", TensorProto.INT32, [])]
    initializers = []
    cos = sin = sink = None
    if rotary_dim:
        angles = np.outer(np.arange(POSITIONS), rng.random(rotary_dim // 2) + 0.1)
        cos, sin = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
        initializers += [numpy_helper.from_array(cos, "cos"), numpy_helper.from_array(sin, "sin")]
        names += ["cos", "sin"]
    else:
        names += ["", ""]
    if "position_ids" in extra:
        names.append("position_ids")
        inputs.append(helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["B", "S"]))
    else:
        names.append("")
    if "bias" in extra:
        names.append("bias")
        inputs.append(helper.make_tensor_value_info("bias", TensorProto.FLOAT, [1, 1, "S", "T"]))
    else:
        names.append("")
    if "sink" in extra:
        sink = rng.standard_normal(N).astype(np.float32)
        initializers.append(numpy_helper.from_array(sink, "sink"))
        names.append("sink")
    while names[-1] == "":
        names.pop()
    node = helper.make_node("GroupQueryAttention", names, ["y", "present_k", "present_v"],
                            domain="com.microsoft", num_heads=N, kv_num_heads=KV, **attrs)
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", "S", N * d]),
               helper.make_tensor_value_info("present_k", TensorProto.FLOAT, ["B", KV, "T", d]),
               helper.make_tensor_value_info("present_v", TensorProto.FLOAT, ["B", KV, "T", d])]
    graph = helper.make_graph([node], name, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    return model, cos, sin, sink


# com.microsoft.RotaryEmbedding: name -> (input shape with named dynamic sizes,
# attributes, rotary dim, position_ids shape)
ROTARY = {
    "bsh_whole_head": (["B", "S", 64], {}, 16, ["B", "S"]),
    "bsh_partial": (["B", "S", 128], dict(num_heads=4, rotary_embedding_dim=16), 16, ["B", "S"]),
    "bnsd_interleaved_offset": (["B", 4, "S", 32], dict(interleaved=1), 32, [1]),
}


def rotary_reference(x, positions, cos, sin, attrs, rotary_dim):
    """Every head of x rotated on its first rotary_dim dimensions."""
    interleaved = attrs.get("interleaved", 0)
    if x.ndim == 4:
        batch, heads, seq, d = x.shape
        tokens = x.transpose(0, 2, 1, 3)
    else:
        batch, seq, hidden = x.shape
        d = hidden // attrs["num_heads"] if attrs.get("num_heads") else rotary_dim
        tokens = x.reshape(batch, seq, hidden // d, d)
    if positions.ndim == 1:
        positions = np.broadcast_to(positions[0] + np.arange(seq), (batch, seq))
    out = np.stack([rotate(tokens[b].astype(np.float64), positions[b], cos, sin, interleaved)
                    for b in range(batch)])
    return out.transpose(0, 2, 1, 3) if x.ndim == 4 else out.reshape(x.shape)


def check_rotary(args, rng):
    """RotaryEmbedding at (B, S) = (1, 1), (1, 7), (2, 5) against ONNX Runtime and numpy."""
    ok = True
    for name, (shape, attrs, rotary_dim, position_shape) in ROTARY.items():
        angles = np.outer(np.arange(POSITIONS), rng.random(rotary_dim // 2) + 0.1)
        cos, sin = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
        node = helper.make_node("RotaryEmbedding", ["x", "position_ids", "cos", "sin"], ["y"],
                                domain="com.microsoft", **attrs)
        graph = helper.make_graph(
            [node], name,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape),
             helper.make_tensor_value_info("position_ids", TensorProto.INT64, position_shape)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
            [numpy_helper.from_array(cos, "cos"), numpy_helper.from_array(sin, "sin")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                        helper.make_opsetid("com.microsoft", 1)])
        library = compiled(args, name, model)
        if not library:
            ok = False
            continue
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        for batch, seq in ((1, 1), (1, 7), (2, 5)):
            dims = [{"B": batch, "S": seq}.get(d, d) for d in shape]
            x = rng.standard_normal(dims).astype(np.float32)
            positions = rng.integers(0, POSITIONS - seq,
                                     [{"B": batch, "S": seq}.get(d, d) for d in position_shape])
            feeds = {"x": x, "position_ids": positions.astype(np.int64)}
            outputs = run_model(args.bin, library, feeds, ["y"], args.work)
            want = rotary_reference(x, feeds["position_ids"], cos, sin, attrs, rotary_dim)
            ok &= compare(f"{name} B={batch} S={seq}", outputs,
                          [("numpy", {"y": want}),
                           ("ONNX Runtime", {"y": session.run(None, feeds)[0]})], 1e-5)
    return ok


# com.microsoft.MultiHeadAttention: name -> (layout, attributes, extra inputs). Layouts:
# `hidden` q, k, v [B, S or L, N * D]; `heads` k, v [B, N, L, D]; `packed_kv` k
# [B, L, N, 2, D]; `packed_qkv` q [B, S, N, 3, D] (ONNX Runtime's CPU kernel runs
# neither packed form: numpy alone checks them). Extras: bias, past (past_key and
# past_value), mask1 ([B] lengths), mask2 ([B, T]), mask3 ([B, S, T]), attn_bias
# ([B, N, S, T]), attn_bias_1 ([1, 1, S, T]), value_24 (a value head size of 24).
MHA_HEADS, MHA_D = 4, 16
MHA_CONFIGS = {
    "bias_causal_past": ("hidden", dict(unidirectional=1), ("bias", "past")),
    "lengths_scale": ("hidden", dict(scale=0.3), ("mask1", "past")),
    "mask2_bias_filter": ("hidden", dict(mask_filter_value=-100.0),
                          ("mask2", "attn_bias", "past")),
    "mask3_causal_value24": ("hidden", dict(unidirectional=1), ("mask3", "value_24")),
    "cross_heads": ("heads", {}, ("attn_bias_1",)),
    "packed_kv_bias": ("packed_kv", {}, ("bias", "past")),
    "packed_qkv_causal": ("packed_qkv", dict(unidirectional=1), ()),
}
# (batch, query tokens, new key tokens, past tokens); self-attention has as many new
# keys as queries.
MHA_STEPS = [(1, 1, 1, 5), (1, 7, 7, 0), (2, 5, 5, 3), (1, 33, 33, 0), (2, 1, 1, 6),
             (2, 3, 9, 0)]


def mha_build(name, layout, attrs, extra):
    """The one-node model and its input names, all sizes but the heads dynamic."""
    n, d = MHA_HEADS, MHA_D
    dv = 24 if "value_24" in extra else d
    f = TensorProto.FLOAT
    info = helper.make_tensor_value_info
    names, inputs, initializers = ["q", "", ""], [], []
    if layout == "packed_qkv":
        inputs.append(info("q", f, ["B", "S", n, 3, d]))
    else:
        inputs.append(info("q", f, ["B", "S", n * d]))
    if layout == "hidden":
        names[1:3] = ["k", "v"]
        inputs += [info("k", f, ["B", "L", n * d]), info("v", f, ["B", "L", n * dv])]
    elif layout == "heads":
        names[1:3] = ["k", "v"]
        inputs += [info("k", f, ["B", n, "L", d]), info("v", f, ["B", n, "L", dv])]
    elif layout == "packed_kv":
        names[1] = "k"
        inputs.append(info("k", f, ["B", "L", n, 2, d]))
    names.append("bias" if "bias" in extra else "")
    if "bias" in extra:
        initializers.append(numpy_helper.from_array(
            np.random.default_rng(3).standard_normal(n * (2 * d + dv)).astype(np.float32),
            "bias"))
    mask = next((e for e in extra if e.startswith("mask")), None)
    names.append("mask" if mask else "")
    if mask:
        inputs.append(info("mask", TensorProto.INT32,
                           {"mask1": ["B"], "mask2": ["B", "T"], "mask3": ["B", "S", "T"]}[mask]))
    bias = next((e for e in extra if e.startswith("attn_bias")), None)
    names.append("attn_bias" if bias else "")
    if bias:
        inputs.append(info("attn_bias", f,
                           ["B", n, "S", "T"] if bias == "attn_bias" else [1, 1, "S", "T"]))
    outputs = ["y"]
    if "past" in extra:
        names += ["past_k", "past_v"]
        inputs += [info("past_k", f, ["B", n, "P", d]), info("past_v", f, ["B", n, "P", dv])]
        outputs += ["present_k", "present_v"]
    while names[-1] == "":
        names.pop()
    node = helper.make_node("MultiHeadAttention", names, outputs, domain="com.microsoft",
                            num_heads=n, **attrs)
    graph = helper.make_graph(
        [node], name, inputs,
        [info("y", f, ["B", "S", n * dv])] +
        [info(o, f, ["B", n, "T", d if o == "present_k" else dv]) for o in outputs[1:]],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    bias_values = numpy_helper.to_array(initializers[0]) if initializers else None
    return model, dv, bias_values


def mha_reference(feeds, layout, attrs, dv, bias):
    """MultiHeadAttention in float64: heads with their bias after the past ones,
    scaled scores plus attention_bias, mask_filter_value added at padding keys, and
    with unidirectional no key after past + s."""
    n, d = MHA_HEADS, MHA_D
    q = feeds["q"].astype(np.float64)
    batch, seq = q.shape[:2]
    if layout == "packed_qkv":
        qh, kh, vh = (q[:, :, :, i].transpose(0, 2, 1, 3) for i in range(3))
    else:
        qh = q.reshape(batch, seq, n, d).transpose(0, 2, 1, 3)
        k = feeds["k"].astype(np.float64)
        if layout == "hidden":
            kh = k.reshape(batch, -1, n, d).transpose(0, 2, 1, 3)
            vh = feeds["v"].astype(np.float64).reshape(batch, -1, n, dv).transpose(0, 2, 1, 3)
        elif layout == "heads":
            kh, vh = k, feeds["v"].astype(np.float64)
        else:
            kh, vh = k[:, :, :, 0].transpose(0, 2, 1, 3), k[:, :, :, 1].transpose(0, 2, 1, 3)
    if bias is not None:
        qh = qh + bias[:n * d].reshape(1, n, 1, d)
        kh = kh + bias[n * d:2 * n * d].reshape(1, n, 1, d)
        vh = vh + bias[2 * n * d:].reshape(1, n, 1, dv)
    past = 0
    if "past_k" in feeds:
        past = feeds["past_k"].shape[2]
        kh = np.concatenate([feeds["past_k"], kh], axis=2)
        vh = np.concatenate([feeds["past_v"], vh], axis=2)
    total = kh.shape[2]
    scores = qh @ kh.transpose(0, 1, 3, 2) * attrs.get("scale", 1 / np.sqrt(d))
    if "attn_bias" in feeds:
        scores = scores + feeds["attn_bias"]
    if "mask" in feeds:
        mask = feeds["mask"]
        padded = (np.arange(total)[None, :] >= mask[:, None])[:, None, None] if mask.ndim == 1 \
            else (mask == 0)[:, None, None] if mask.ndim == 2 else (mask == 0)[:, None]
        scores = scores + np.where(padded, attrs.get("mask_filter_value", -10000.0), 0.0)
    if attrs.get("unidirectional"):
        after = np.arange(total)[None, :] > past + np.arange(seq)[:, None]
        scores = np.where(after, -np.inf, scores)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    probabilities = scores / scores.sum(-1, keepdims=True)
    out = (probabilities @ vh).transpose(0, 2, 1, 3).reshape(batch, seq, n * dv)
    want = {"y": out}
    if "past_k" in feeds:
        want.update(present_k=kh, present_v=vh)
    return want


def mha_feeds(layout, extra, dv, batch, seq, kv, past, rng):
    n, d = MHA_HEADS, MHA_D
    normal = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    feeds = {"q": normal(batch, seq, n, 3, d) if layout == "packed_qkv" else
             normal(batch, seq, n * d)}
    if layout == "hidden":
        feeds.update(k=normal(batch, kv, n * d), v=normal(batch, kv, n * dv))
    elif layout == "heads":
        feeds.update(k=normal(batch, n, kv, d), v=normal(batch, n, kv, dv))
    elif layout == "packed_kv":
        feeds["k"] = normal(batch, kv, n, 2, d)
    if "past" in extra:
        feeds.update(past_k=normal(batch, n, past, d), past_v=normal(batch, n, past, dv))
    total = (seq if layout == "packed_qkv" else kv) + (past if "past" in extra else 0)
    # Every query keeps at least its first key: a row of padding alone is a sum of
    # values rounded at mask_filter_value's scale.
    if "mask1" in extra:
        feeds["mask"] = rng.integers(1, total + 1, batch).astype(np.int32)
    for form, shape in (("mask2", (batch, total)), ("mask3", (batch, seq, total))):
        if form in extra:
            mask = rng.integers(0, 2, shape).astype(np.int32)
            mask[..., 0] = 1
            feeds["mask"] = mask
    if "attn_bias" in extra:
        feeds["attn_bias"] = normal(batch, n, seq, total)
    if "attn_bias_1" in extra:
        feeds["attn_bias"] = normal(1, 1, seq, total)
    return feeds


def check_mha(args, rng):
    """MultiHeadAttention in each configuration at MHA_STEPS against numpy and, for
    the forms its CPU kernel runs, ONNX Runtime."""
    ok = True
    for name, (layout, attrs, extra) in MHA_CONFIGS.items():
        model, dv, bias = mha_build(name, layout, attrs, extra)
        library = compiled(args, name, model)
        if not library:
            ok = False
            continue
        session = None
        if not layout.startswith("packed"):
            session = ort.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
        for batch, seq, kv, past in MHA_STEPS:
            self_attention = layout != "heads"
            if self_attention and kv != seq or past and "past" not in extra:
                continue
            feeds = mha_feeds(layout, extra, dv, batch, seq, kv, past, rng)
            want = mha_reference(feeds, layout, attrs, dv, bias)
            references = [("numpy", want)]
            if session:
                references.append(("ONNX Runtime",
                                   dict(zip(want, session.run(list(want), feeds)))))
            outputs = run_model(args.bin, library, feeds, want, args.work)
            ok &= compare(f"MultiHeadAttention {name} B={batch} S={seq} L={kv} past={past}",
                          outputs, references, 1e-4)
    return ok


def gqa_feeds(batch, seq, past, seqlens, d, packed, extra, rng):
    """GroupQueryAttention's inputs for `seq` new tokens after a `past`-long cache,
    each entry's total from `seqlens` (past + seq - 1 for every entry when None)."""
    hidden = (N + 2 * KV) * d if packed else N * d
    seqlens = np.array(seqlens or [past + seq - 1] * batch, np.int32)
    feeds = {"q": rng.standard_normal((batch, seq, hidden)).astype(np.float32),
             "seqlens_k": seqlens, "total": np.array(max(seqlens) + 1, np.int32)}
    if past or seqlens.max() + 1 > seq:
        feeds["total"] = np.array(max(past + seq, seqlens.max() + 1), np.int32)
    if not packed:
        for n in ("k", "v"):
            feeds[n] = rng.standard_normal((batch, seq, KV * d)).astype(np.float32)
    if "no_past" not in extra:
        for n in ("past_k", "past_v"):
            feeds[n] = rng.standard_normal((batch, KV, past, d)).astype(np.float32)
    if "position_ids" in extra:
        feeds["position_ids"] = rng.integers(0, POSITIONS, (batch, seq)).astype(np.int64)
    if "bias" in extra:
        feeds["bias"] = rng.standard_normal((1, 1, seq, int(feeds["total"]))).astype(np.float32)
    return feeds


# Windowed caches (sliding_window_cache = 1): name -> (capacity C, head size,
# attributes, packed, rotary dim, extra inputs); local_window_size is 3.
WINDOW = 3
WINDOWED = {
    "windowed_exact": (3, 16, dict(do_rotary=1), True, 16, ("sink",)),
    "windowed_slack_bias": (5, 16, dict(softcap=2.0), False, 0, ("bias",)),
}
# Steps whose pasts outgrow the capacity, so the cache has evicted; steps longer
# than the capacity; ragged decode batches, one entry's first token among them.
WINDOWED_STEPS = [(1, 4, 0, None), (1, 1, 4, None), (1, 1, 5, None), (1, 1, 6, None),
                  (1, 1, 9, None), (1, 3, 10, None), (1, 7, 13, None), (1, 9, 0, None),
                  (2, 1, 8, [7, 2]), (2, 1, 6, [5, 0])]


def resident(tokens, capacity):
    """How many of the most recent of `tokens` positions a windowed cache holds."""
    evict = capacity - WINDOW + 1
    return tokens if tokens <= capacity else tokens - evict * -(-(tokens - capacity) // evict)


def check_windowed(args, rng):
    """GroupQueryAttention with a window-sized cache (sliding_window_cache = 1) at
    WINDOWED_STEPS: the full-cache reference's output, and its most recent positions
    as rows [0, L) of the present caches (later rows zeroed), against numpy and ONNX
    Runtime. The past buffers hold an entry's L(past) most recent positions, noise
    after them."""
    ok = True
    for name, (capacity, d, attrs, packed, rotary_dim, extra) in WINDOWED.items():
        attrs = dict(attrs, local_window_size=WINDOW)
        model, cos, sin, sink = build(name, d, dict(attrs, sliding_window_cache=1), packed,
                                      rotary_dim, extra, rng)
        library = compiled(args, name, model)
        if not library:
            ok = False
            continue
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        for batch, seq, past, seqlens in WINDOWED_STEPS:
            feeds = gqa_feeds(batch, seq, past, seqlens, d, packed, extra, rng)
            full = reference(feeds, attrs, d, packed, cos, sin, sink, feeds.get("bias"))
            first = seq > 1 and seq == int(feeds["total"])
            windowed = dict(feeds)
            for key in ("past_k", "past_v"):
                windowed[key] = rng.standard_normal((batch, KV, capacity, d)).astype(np.float32)
            want = {"y": full["y"]}
            for key in ("present_k", "present_v"):
                want[key] = np.zeros((batch, KV, capacity, d))
            kept = []
            for b in range(batch):
                tokens = int(feeds["seqlens_k"][b]) + 1
                before = 0 if first else tokens - seq
                held = resident(before, capacity)
                for key in ("past_k", "past_v"):
                    windowed[key][b, :, :held] = feeds[key][b, :, before - held:before]
                kept.append(resident(tokens, capacity))
                for key in ("present_k", "present_v"):
                    want[key][b, :, :kept[b]] = full[key][b, :, tokens - kept[b]:tokens]
            peer = dict(zip(["y", "present_k", "present_v"], session.run(None, windowed)))
            for key in ("present_k", "present_v"):
                for b in range(batch):
                    peer[key][b, :, kept[b]:] = 0
            outputs = run_model(args.bin, library, windowed, want, args.work)
            ok &= compare(f"{name} B={batch} S={seq} past={past}", outputs,
                          [("numpy", want), ("ONNX Runtime", peer)], 1e-4)
    return ok


def check_gqa(args, rng):
    """GroupQueryAttention in each of CONFIGS at STEPS against numpy and, where its
    CPU kernel runs the batch, ONNX Runtime."""
    ok = True
    for name, (d, attrs, packed, rotary_dim, extra) in CONFIGS.items():
        model, cos, sin, sink = build(name, d, attrs, packed, rotary_dim, extra, rng)
        library = compiled(args, name, model)
        if not library:
            ok = False
            continue
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        for batch, seq, past, seqlens in STEPS:
            if "no_past" in extra and past:
                continue
            feeds = gqa_feeds(batch, seq, past, seqlens, d, packed, extra, rng)
            seqlens = feeds["seqlens_k"]
            want = reference(feeds, attrs, d, packed, cos, sin, sink, feeds.get("bias"))
            references = [("numpy", want)]
            # ONNX Runtime's CPU kernel takes a batch above 1 only one token at a time.
            if batch == 1 or seq == 1 or past == 0 and seqlens.max() + 1 == seq:
                references.append(("ONNX Runtime", dict(zip(["y", "present_k", "present_v"],
                                                            session.run(None, feeds)))))
            outputs = run_model(args.bin, library, feeds, want, args.work)
            ok &= compare(f"{name} B={batch} S={seq} past={past}", outputs, references, 1e-4)
    return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, type=pathlib.Path)
    parser.add_argument("--work", required=True, type=pathlib.Path)
    parser.add_argument("--target", default="cpu", help="moe-opt --target (cpu, cuda-emulator)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    ok = check_gqa(args, rng)
    ok &= check_windowed(args, rng)
    ok &= check_rotary(args, rng)
    ok &= check_mha(args, rng)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
