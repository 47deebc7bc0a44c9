#!/usr/bin/env python3
"""Times attention's products of activations compiled by moe-mlir against ONNX Runtime
and PyTorch on the same graphs, in one run on one machine, and prints the ratios (peer
time / moe-mlir time; above 1 means moe-mlir is faster) beside the machine's FMA peak,
which it measures.

The graphs are what exporters write for attention without a fused op, at H heads,
sequence length S (a dynamic dimension of the graph) and head dimension D:

- scores: MatMul of Q [H, S, D] by K^T [H, D, S] (2 H S^2 D flops, an [H, S, S] result);
- values: MatMul of P [H, S, S] by V [H, S, D];
- attention: Transpose(K), MatMul, Mul by 1/sqrt(D), Softmax, MatMul on [1, H, S, D]
  inputs (transformers' eager attention, without a mask).

moe-mlir runs through moe-bench (its parallel loops on OpenMP threads), ONNX Runtime
with the same number of intra-op threads, PyTorch the same products with
torch.set_num_threads to that count (for attention also its fused
scaled_dot_product_attention). Every output is checked against numpy.

    python3 tools/moe-bench/compare_attention.py --bin build/bin [--threads 2]
        [--seq 4096] [--heads 8] [--dim 64] [--mcpu native] [--graphs scores,values]
        [--no-torch]

Needs numpy, onnx and onnxruntime; torch for the PyTorch columns.
"""
import argparse
import json
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from compare_ort import (compile_for_peak, ort_options, peaks, time_call,  # noqa: E402
                         torch_version_of)

FLOAT = TensorProto.FLOAT
# Outputs match numpy's within this share of their largest magnitude.
RTOL = 1e-4


def graph(name, heads, dim):
    """The ONNX model, its inputs' shapes (S for the sequence), the flops of one call
    as a function of S, and a numpy reference."""
    if name == "scores":
        nodes = [helper.make_node("MatMul", ["q", "kt"], ["y"])]
        inputs = {"q": [heads, "S", dim], "kt": [heads, dim, "S"]}
        output = [heads, "S", "S"]
        reference = lambda f: f["q"] @ f["kt"]  # noqa: E731
        flops = lambda s: 2 * heads * s * s * dim  # noqa: E731
    elif name == "values":
        nodes = [helper.make_node("MatMul", ["p", "v"], ["y"])]
        inputs = {"p": [heads, "S", "S"], "v": [heads, "S", dim]}
        output = [heads, "S", dim]
        reference = lambda f: f["p"] @ f["v"]  # noqa: E731
        flops = lambda s: 2 * heads * s * s * dim  # noqa: E731
    else:
        scale = helper.make_tensor("scale", FLOAT, [], [1.0 / np.sqrt(dim)])
        nodes = [
            helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
            helper.make_node("MatMul", ["q", "kt"], ["scores"]),
            helper.make_node("Mul", ["scores", "scale"], ["scaled"]),
            helper.make_node("Softmax", ["scaled"], ["probs"], axis=-1),
            helper.make_node("MatMul", ["probs", "v"], ["y"]),
        ]
        inputs = {n: [1, heads, "S", dim] for n in ("q", "k", "v")}
        output = [1, heads, "S", dim]

        def reference(f):
            s = f["q"] @ np.swapaxes(f["k"], -1, -2) / np.float32(np.sqrt(dim))
            s = np.exp(s - s.max(-1, keepdims=True))
            return (s / s.sum(-1, keepdims=True)) @ f["v"]
        flops = lambda s: 4 * heads * s * s * dim  # noqa: E731
    initializers = [scale] if name == "attention" else []
    model = helper.make_model(
        helper.make_graph(nodes, name,
                          [helper.make_tensor_value_info(n, FLOAT, s) for n, s in inputs.items()],
                          [helper.make_tensor_value_info("y", FLOAT, output)],
                          initializers),
        opset_imports=[helper.make_opsetid("", 17)])
    return model, inputs, flops, reference


def torch_calls(name, dim, threads, wanted=True):
    """{label: f(feeds) -> array} of PyTorch's ways to compute `name`; {} without torch
    (or unless `wanted`)."""
    if not wanted:
        return {}
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(threads)

    def wrap(body):
        def run(feeds):
            with torch.inference_mode():
                return body({n: torch.from_numpy(a) for n, a in feeds.items()}).numpy()
        return run
    if name == "scores":
        return {"PyTorch": wrap(lambda t: t["q"] @ t["kt"])}
    if name == "values":
        return {"PyTorch": wrap(lambda t: t["p"] @ t["v"])}
    return {
        "PyTorch": wrap(lambda t: torch.softmax(
            t["q"] @ t["k"].transpose(-1, -2) * (1.0 / dim ** 0.5), dim=-1) @ t["v"]),
        "PyTorch SDPA": wrap(lambda t: torch.nn.functional.scaled_dot_product_attention(
            t["q"], t["k"], t["v"])),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True, type=pathlib.Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seq", default="4096", help="sequence lengths, comma-separated")
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--graphs", default="scores,values,attention")
    parser.add_argument("--mcpu", default="native",
                        help="moe-opt's --mcpu (native or x86-64-v4: the AVX-512 kernels)")
    parser.add_argument("--no-torch", action="store_true", help="leave out the PyTorch column")
    parser.add_argument("--iterations", type=int, default=5,
                        help="timed calls above 1 GFLOP (100 below)")
    args = parser.parse_args()
    limits = peaks(args.bin, args.threads)
    torch_version = torch_version_of(not args.no_torch)
    print(f"# {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
          f"{args.threads} thread(s), onnxruntime {onnxruntime.__version__}, "
          f"torch {torch_version}, moe-opt --mcpu={args.mcpu}, H {args.heads}, D {args.dim}")
    print(f"# one core's f32 FMA peak: {limits['fma_avx2_gflop_per_s']:.0f} GFLOP/s AVX2, "
          f"{limits['fma_avx512_gflop_per_s']:.0f} AVX-512")
    print("| graph | S | GFLOP | moe-mlir ms | GFLOP/s (% of FMA peak) | ORT ms "
          "| ORT / moe-mlir | PyTorch ms | PyTorch / moe-mlir | max error / bound |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="moe-attention-") as work:
        work = pathlib.Path(work)
        for name in args.graphs.split(","):
            model, shapes, flops, reference = graph(name, args.heads, args.dim)
            path, library = work / f"{name}.onnx", work / f"{name}.so"
            onnx.save(model, str(path))
            peak = compile_for_peak(args.bin, path, library, limits, args.threads,
                                    f"--mcpu={args.mcpu}")
            session = onnxruntime.InferenceSession(str(path), ort_options(args.threads),
                                                   providers=["CPUExecutionProvider"])
            peers = torch_calls(name, args.dim, args.threads, not args.no_torch)
            for s in (int(v) for v in args.seq.split(",")):
                feeds = {n: rng.standard_normal([s if d == "S" else d for d in shape],
                                                dtype=np.float32)
                         for n, shape in shapes.items()}
                files = []
                for n, array in feeds.items():
                    np.save(work / f"{n}.npy", array)
                    files.append(f"--input={n}=@{work / f'{n}.npy'}")
                # Small calls: more of them, after a longer warm-up.
                warmup, iterations = (1, args.iterations) if flops(s) > 1e9 else (5, 100)
                out = subprocess.run(
                    [str(args.bin / "moe-bench"), str(library), *files, f"--warmup={warmup}",
                     f"--iterations={iterations}", f"--threads={args.threads}",
                     "--json"], check=True, capture_output=True, text=True).stdout
                ours_ms = json.loads(out)["median_ms"]
                result = work / "y.npy"
                subprocess.run([str(args.bin / "moe-run"), str(library), *files,
                                f"--output=@{result}"], check=True)
                want = reference(feeds)
                bound = RTOL * float(np.abs(want).max())
                error = float(np.abs(np.load(result) - want).max())
                ort_ms = time_call(lambda: session.run(None, feeds), warmup,
                                   iterations) * 1e3
                theirs = []
                for label, call in peers.items():
                    their_error = float(np.abs(call(feeds) - want).max())
                    if their_error > bound:
                        theirs.append(f"{label} wrong: {their_error:.3g}")
                        continue
                    ms = time_call(lambda: call(feeds), warmup, iterations) * 1e3
                    theirs.append((label, ms))
                def ms(value):
                    return f"{value:.3f}" if value < 10 else f"{value:.1f}"
                gflop = flops(s) / 1e9
                rate = gflop / (ours_ms * 1e-3)
                torch_ms = " / ".join(f"{ms(t[1])} ({t[0]})" if isinstance(t, tuple) else t
                                      for t in theirs) or "-"
                torch_ratio = " / ".join(f"{t[1] / ours_ms:.2f}" for t in theirs
                                         if isinstance(t, tuple)) or "-"
                print(f"| {name} | {s} | {gflop:.3g} | {ms(ours_ms)} | {rate:.0f} "
                      f"({100 * rate / peak:.0f} %) | {ms(ort_ms)} | {ort_ms / ours_ms:.2f} | "
                      f"{torch_ms} | {torch_ratio} | {error / bound:.2f} |", flush=True)
                del feeds, want
    return 0


if __name__ == "__main__":
    sys.exit(main())
