#!/usr/bin/env python3
"""Times compiled moe-mlir artifacts against ONNX Runtime on the same ONNX models, in one
run on one machine, and prints the ratios (ORT time / moe-mlir time; above 1 means
moe-mlir is faster).

The models are MoE layers in the forms exporters write (built by
test/models/generate.py at benchmark sizes): a Mixtral-shaped layer scaled to a CPU
(H 1024, I 3584, E 8, k 2) and a many-expert layer (H 1024, I 512, E 64, k 4).
moe-mlir runs through moe-bench (its parallel loops on OpenMP threads); ONNX Runtime
runs with the same thread count (intra-op threads).

    python3 tools/moe-bench/compare_ort.py --bin build/bin [--threads 1] [--tokens 1,8,128,512]

Needs numpy, onnx and onnxruntime.
"""
import argparse
import json
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test" / "models"))
import generate  # noqa: E402  (the fixture generator builds the graphs)

import onnxruntime  # noqa: E402

SHAPES = {
    "mixtral": dict(E=8, k=2, H=1024, I=3584),
    "many": dict(E=64, k=4, H=1024, I=512),
}
# ORT's batched_mm graph gathers a copy of the chosen experts' weights per token; past
# this many bytes of copies it is not run.
ORT_GATHER_LIMIT = 4e9


def forms(shape):
    """(label, Spec) for each form benchmarked at `shape`."""
    d = SHAPES[shape]
    return [
        ("contrib MoE (swiglu, interleaved)", generate.Spec(
            f"bench_{shape}_contrib", "contrib_moe", "", router="input",
            act={"kind": "silu", "gated": True, "alpha": 1.0, "beta": 0.0},
            contrib={"gate_up": "interleaved",
                     "attrs": {"k": d["k"], "activation_type": "swiglu",
                               "normalize_routing_weights": 1, "swiglu_fusion": 1}},
            **d)),
        ("batched_mm (transformers)", generate.Spec(
            f"bench_{shape}_batched", "batched_mm", "", batched=generate.CONCAT, **d)),
        ("dense all-experts", generate.Spec(
            f"bench_{shape}_dense", "dense", "", dense="stacked", **d)),
        ("unrolled expert loop", generate.Spec(
            f"bench_{shape}_loop", "unrolled_loop", "",
            unrolled={"linear": "matmul", "scatter": "scatternd"}, **d)),
    ]


def time_ort(session, feeds, warmup, iterations):
    for _ in range(warmup):
        session.run(None, feeds)
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def iterations_for(tokens):
    return (2, 10) if tokens >= 128 else (5, 50)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True, type=pathlib.Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tokens", default="1,8,128,512")
    parser.add_argument("--shapes", default="mixtral,many")
    parser.add_argument("--forms", default="", help="substrings of form labels to run")
    parser.add_argument("--mcpu", default="x86-64-v3",
                        help="moe-opt's --mcpu (native or x86-64-v4: the AVX-512 kernels)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                        help="moe-opt's --precision (bf16: expert weights stored in bf16)")
    args = parser.parse_args()
    tokens = [int(t) for t in args.tokens.split(",")]
    print(f"# {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
          f"{args.threads} thread(s), onnxruntime {onnxruntime.__version__}, "
          f"moe-opt --mcpu={args.mcpu} --precision={args.precision}")
    print("| shape | form | T | moe-mlir ms | ORT ms | ORT / moe-mlir | moe-mlir GFLOP/s "
          "| max error / bound |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="moe-bench-") as work:
        work = pathlib.Path(work)
        for shape in args.shapes.split(","):
            for label, spec in forms(shape):
                if args.forms and not any(f in label for f in args.forms.split(",")):
                    continue
                model = work / f"{spec.name}.onnx"
                model.write_bytes(spec.build().SerializeToString())
                library = work / f"{spec.name}.so"
                subprocess.run([str(args.bin / "moe-opt"), str(model), "--emit=lib",
                                f"--mcpu={args.mcpu}", f"--precision={args.precision}",
                                "-o", str(library)], check=True)
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = args.threads
                options.inter_op_num_threads = 1
                session = None
                try:
                    session = onnxruntime.InferenceSession(
                        str(model), options, providers=["CPUExecutionProvider"])
                except Exception as error:  # ORT refuses some forms
                    reason = str(error).splitlines()[0][:60]
                for t in tokens:
                    inputs = generate.make_inputs(spec, t)
                    files = []
                    for name, array in inputs.items():
                        path = work / f"{name}_{t}.npy"
                        np.save(path, array)
                        files.append(f"--input={name}=@{path}")
                    warmup, iterations = iterations_for(t)
                    out = subprocess.run(
                        [str(args.bin / "moe-bench"), str(library), *files,
                         f"--warmup={warmup}", f"--iterations={iterations}",
                         f"--threads={args.threads}", "--json"],
                        check=True, capture_output=True, text=True).stdout
                    ours = json.loads(out)
                    ours_ms = ours["median_ms"]
                    # The timed artifact's output against the fixtures' numpy reference.
                    result = work / f"y_{t}.npy"
                    subprocess.run([str(args.bin / "moe-run"), str(library), *files,
                                    f"--output=@{result}"], check=True)
                    reference = generate.reference(spec, inputs)
                    error = float(np.abs(np.load(result) - reference).max())
                    bound = (generate.RTOL * float(np.abs(reference).max()) + generate.ATOL)
                    gathered = t * spec.k * 3 * spec.H * spec.I * 4
                    if session is None:
                        theirs = f"refused: {reason}"
                        ratio = "-"
                    elif label.startswith("batched_mm") and gathered > ORT_GATHER_LIMIT:
                        theirs = f"not run: gathers {gathered / 1e9:.0f} GB"
                        ratio = "-"
                    else:
                        ort_ms = time_ort(session, inputs, warmup, iterations) * 1e3
                        theirs = f"{ort_ms:.3f}"
                        ratio = f"{ort_ms / ours_ms:.2f}"
                    print(f"| {shape} | {label} | {t} | {ours_ms:.3f} | {theirs} | {ratio} | "
                          f"{ours['gflop_per_s']:.1f} | {error / bound:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
