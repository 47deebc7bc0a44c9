#!/usr/bin/env python3
"""com.microsoft.GroupQueryAttention as onnxruntime-genai's builder writes it
(packed or separate QKV, a KV cache, seqlens_k and total_sequence_length, rotary
caches, sliding window, softcap, head sinks, smooth softmax, attention bias,
position ids), compiled for the CPU once per configuration with dynamic batch,
sequence and past lengths, run with moe-run at several steps, and compared with
ONNX Runtime and with a numpy model of its CPU kernel: the output and both
present caches. Then com.microsoft.RotaryEmbedding on [B, S, hidden] and
[B, N, S, D] inputs, whole and partial rotary dimensions, plain and interleaved,
with [B, S] position ids or one offset.

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
        path, library = args.work / f"{name}.onnx", args.work / f"{name}.so"
        onnx.save(model, path)
        failure = compile_model(args.bin, path, library, args.target)
        if failure:
            print(f"{name}: compile failed MISMATCH\n{failure}")
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
            label = f"{name} B={batch} S={seq}"
            if isinstance(outputs, str):
                print(f"{label}: moe-run failed MISMATCH\n{outputs}")
                ok = False
                continue
            got = outputs["y"]
            good = True
            for against, who in ((rotary_reference(x, feeds["position_ids"], cos, sin, attrs,
                                                   rotary_dim), "numpy"),
                                 (session.run(None, feeds)[0], "ONNX Runtime")):
                error = float(np.max(np.abs(got - against))) if got.shape == against.shape \
                    else np.inf
                bound = 1e-5 * float(np.max(np.abs(against))) + 1e-6
                if error > bound:
                    print(f"{label}: differs from {who} by {error:.3g}")
                    good = False
            print(f"{label}: and ONNX Runtime {'ok' if good else 'MISMATCH'}")
            ok &= good
    return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, type=pathlib.Path)
    parser.add_argument("--work", required=True, type=pathlib.Path)
    parser.add_argument("--target", default="cpu", help="moe-opt --target (cpu, cuda-emulator)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    ok = True
    for name, (d, attrs, packed, rotary_dim, extra) in CONFIGS.items():
        model, cos, sin, sink = build(name, d, attrs, packed, rotary_dim, extra, rng)
        path = args.work / f"{name}.onnx"
        onnx.save(model, path)
        library = args.work / f"{name}.so"
        failure = compile_model(args.bin, path, library, args.target)
        if failure:
            print(f"{name}: compile failed MISMATCH\n{failure}")
            ok = False
            continue
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        for batch, seq, past, seqlens in STEPS:
            if "no_past" in extra and past:
                continue
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
            bias = None
            if "bias" in extra:
                bias = rng.standard_normal((1, 1, seq, int(feeds["total"]))).astype(np.float32)
                feeds["bias"] = bias
            want = reference(feeds, attrs, d, packed, cos, sin, sink, bias)
            # ONNX Runtime's CPU kernel takes a batch above 1 only one token at a time.
            peer = None
            if batch == 1 or seq == 1 or past == 0 and seqlens.max() + 1 == seq:
                peer = dict(zip(["y", "present_k", "present_v"], session.run(None, feeds)))
            outputs = run_model(args.bin, library, feeds, want, args.work)
            label = f"{name} B={batch} S={seq} past={past}"
            if isinstance(outputs, str):
                print(f"{label}: moe-run failed MISMATCH\n{outputs}")
                ok = False
                continue
            worst = 0.0
            good = True
            for key, ref in want.items():
                got = outputs[key]
                for against in [ref] + ([peer[key]] if peer else []):
                    if got.shape != against.shape:
                        print(f"{label}: {key} shape {list(got.shape)}, expected "
                              f"{list(against.shape)} MISMATCH")
                        good = False
                        continue
                    error = float(np.max(np.abs(got - against), initial=0.0))
                    bound = 1e-4 * float(np.max(np.abs(against), initial=0.0)) + 1e-5
                    good &= error <= bound
                    if error > bound:
                        print(f"{label}: {key} differs from "
                              f"{'numpy' if against is ref else 'ONNX Runtime'} by {error:.3g}")
                    worst = max(worst, error / bound)
            print(f"{label}: {'and ONNX Runtime ' if peer else ''}worst error "
                  f"{worst:.3g} of the bound {'ok' if good else 'MISMATCH'}")
            ok &= good
    ok &= check_rotary(args, rng)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
