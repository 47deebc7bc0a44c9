#!/usr/bin/env python3
"""com.microsoft.MoE as transformers' exporter (CUDA fusions) and older
onnxruntime-genai Mixtral builds write it: fc1 and fc3 with activation_type = silu,
`silu(x fc1^T) * (x fc3^T)`, and a `[B, S, H]` input (B and S dynamic) with a
`[B*S, E]` router. Compiled for the CPU, run with moe-run at (B, S) = (1, 1), (1, 7),
(3, 11), compared with numpy (ONNX Runtime's CPU kernel refuses fc3).

With --sparse-mixer the node has `use_sparse_mixer = 1` (Phi-MoE's routing, top-2 with
the jitter 0.01 of ONNX Runtime's CUDA kernel, which has no CPU kernel), and the router
logits come in near-tied groups so that the mixer's masked softmax sees several experts.

    contrib_moe_fc3.py --bin build/bin --work DIR [--sparse-mixer]
"""
import argparse
import pathlib
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

H, I, E, K = 16, 24, 4, 2


JITTER = 0.01


def softmax_routing(logits):
    """Top-k of the softmax, renormalised: (ids, weights) of one token."""
    p = np.exp(logits - logits.max())
    p /= p.sum()
    chosen = np.argsort(-p, kind="stable")[:K]
    return chosen, p[chosen] / p[chosen].sum()


def sparse_mixer_routing(logits):
    """Phi-MoE's sparse mixer at inference: per pass the largest logit m left, its
    weight the softmax at m over the experts left whose logit l has
    (m - l) / max(|l|, m) <= 2 * jitter."""
    left = np.ones(E, dtype=bool)
    chosen, weights = [], []
    for _ in range(K):
        scores = np.where(left, logits, -np.inf)
        e = int(np.argmax(scores))
        m = scores[e]
        near = left & ((m - logits) / np.maximum(np.abs(logits), m) <= 2 * JITTER)
        weights.append(1.0 / np.exp(logits[near] - m).sum())
        chosen.append(e)
        left[e] = False
    return chosen, weights


def reference(x, logits, fc1, fc2, fc3, route):
    tokens = x.reshape(-1, H).astype(np.float64)
    y = np.zeros_like(tokens)
    for t in range(tokens.shape[0]):
        chosen, weights = route(logits[t].astype(np.float64))
        for e, w in zip(chosen, weights):
            g = fc1[e] @ tokens[t]
            u = fc3[e] @ tokens[t]
            y[t] += w * (fc2[e] @ (g / (1 + np.exp(-g)) * u))
    return y.reshape(x.shape).astype(np.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, type=pathlib.Path)
    parser.add_argument("--work", required=True, type=pathlib.Path)
    parser.add_argument("--sparse-mixer", action="store_true")
    args = parser.parse_args()
    routing = {"use_sparse_mixer": 1} if args.sparse_mixer else {"normalize_routing_weights": 1}
    route = sparse_mixer_routing if args.sparse_mixer else softmax_routing
    args.work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    fc1 = (rng.standard_normal((E, I, H)) / H ** 0.5).astype(np.float32)
    fc3 = (rng.standard_normal((E, I, H)) / H ** 0.5).astype(np.float32)
    fc2 = (rng.standard_normal((E, H, I)) / I ** 0.5).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MoE", ["x", "router_probs", "fc1", "", "fc2", "", "fc3"], ["y"],
                          domain="com.microsoft", k=K, activation_type="silu", **routing)],
        "moe_fc3",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "S", H]),
         helper.make_tensor_value_info("router_probs", TensorProto.FLOAT, ["BS", E])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", "S", H])],
        [numpy_helper.from_array(fc1, "fc1"), numpy_helper.from_array(fc2, "fc2"),
         numpy_helper.from_array(fc3, "fc3")])
    model = args.work / "moe_fc3.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                      helper.make_opsetid("com.microsoft", 1)]),
              model)
    library = args.work / "moe_fc3.so"
    compiled = subprocess.run([str(args.bin / "moe-opt"), str(model), "--emit=lib",
                               "--target=cpu", "-o", str(library)], capture_output=True, text=True)
    if compiled.returncode != 0:
        print(f"compile failed MISMATCH\n{compiled.stderr}")
        return 1
    ok = True
    for b, s in ((1, 1), (1, 7), (3, 11)):
        x = rng.standard_normal((b, s, H)).astype(np.float32)
        logits = (3 * rng.standard_normal((b * s, E))).astype(np.float32)
        if args.sparse_mixer:
            # Pairs of experts within 0-3 % of each other.
            logits[:, 1::2] = logits[:, 0::2] * (1 - 0.03 * rng.random((b * s, E // 2)))
        np.save(args.work / "x.npy", x)
        np.save(args.work / "r.npy", logits)
        out = args.work / "y.npy"
        ran = subprocess.run([str(args.bin / "moe-run"), str(library),
                              f"--input=x=@{args.work / 'x.npy'}",
                              f"--input=router_probs=@{args.work / 'r.npy'}",
                              f"--output=@{out}"], capture_output=True, text=True)
        if ran.returncode != 0:
            print(f"B={b} S={s}: moe-run failed MISMATCH\n{ran.stderr}")
            ok = False
            continue
        y, ref = np.load(out), reference(x, logits, fc1, fc2, fc3, route)
        error = float(np.max(np.abs(y - ref)))
        bound = 1e-4 * float(np.max(np.abs(ref))) + 1e-6
        good = y.shape == ref.shape and error <= bound
        print(f"B={b} S={s}: shape {list(y.shape)}, max abs error {error:.3g} (bound {bound:.3g})"
              f" {'ok' if good else 'MISMATCH'}")
        ok &= good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
