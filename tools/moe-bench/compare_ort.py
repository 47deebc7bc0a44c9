#!/usr/bin/env python3
"""Times compiled moe-mlir artifacts against ONNX Runtime and PyTorch on the same MoE
layers, in one run on one machine, and prints the ratios (peer time / moe-mlir time;
above 1 means moe-mlir is faster) beside the machine's limits, which it measures.

The models are MoE layers in the forms exporters write (built by
test/models/generate.py at benchmark sizes): a Mixtral-shaped layer scaled to a CPU
(H 1024, I 3584, E 8, k 2), a many-expert layer (H 1024, I 512, E 64, k 4) and a
Qwen3-30B-A3B-shaped layer (H 2048, I 768, E 128, k 8; its 2.4 GB of weights in an
external data file). moe-mlir runs through moe-bench (its parallel loops on OpenMP
threads); ONNX Runtime with the same number of intra-op threads; PyTorch (when
installed) runs transformers' eager MoE block (MixtralSparseMoeBlock's loop over the
routed experts, index_add_ back) on the same weights and routing inputs, with
torch.set_num_threads to the same count.

Limits, from `moe-bench --peak`: the f32 FMA peak of one core in the ISA the artifact
uses (AVX-512 where its `cpu` line has avx512f, else AVX2) times the threads; the
threads' read bandwidth from memory (a 1 GiB buffer); and their read bandwidth over a
buffer the size of the weights a call reads, read again and again (warm: what repeated
calls over the same experts could reach from the caches). Each row gives moe-mlir's
GFLOP/s as a share of the first and its weight GB/s as shares of the other two.

    python3 tools/moe-bench/compare_ort.py --bin build/bin [--threads 1] [--tokens 1,8,128,512]
        [--mcpu native] [--precision bf16] [--shapes mixtral,many,qwen3] [--forms contrib]

Needs numpy, onnx and onnxruntime; torch for the PyTorch column.
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
import onnx

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test" / "models"))
import generate  # noqa: E402  (the fixture generator builds the graphs)

import onnxruntime  # noqa: E402

SHAPES = {
    "mixtral": dict(E=8, k=2, H=1024, I=3584),
    "many": dict(E=64, k=4, H=1024, I=512),
    "qwen3": dict(E=128, k=8, H=2048, I=768),
}
# The tolerance of --precision=bf16, as the CPU fixtures check it.
BF16_RTOL = 1e-2
# Models above this many bytes keep their weights in an external data file (a
# protobuf holds at most 2 GB).
EXTERNAL_DATA_BYTES = 1 << 30
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


def torch_block(spec, threads):
    """transformers' eager MoE block (MixtralSparseMoeBlock's loop) over the spec's
    weights, routing softmax -> top-k -> renormalised on the router's logits (the
    `router_probs` input, or the router matmul); None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    ex = spec.experts
    wg, wu, wd = (torch.from_numpy(w) for w in (ex.wg, ex.wu, ex.wd))

    def run(inputs):
        x = torch.from_numpy(inputs["x"])
        if spec.router == "input":
            logits = torch.from_numpy(inputs["router_probs"])
        else:
            logits = x @ torch.from_numpy(spec.wr)
            if spec.br is not None:
                logits = logits + torch.from_numpy(spec.br)
        with torch.inference_mode():
            probs = torch.softmax(logits, dim=-1, dtype=torch.float32)
            weights, ids = torch.topk(probs, spec.k, dim=-1)
            weights = weights / weights.sum(dim=-1, keepdim=True)
            out = torch.zeros_like(x)
            mask = torch.nn.functional.one_hot(ids, num_classes=spec.E).permute(2, 1, 0)
            for e in torch.nonzero(mask.sum(dim=(-1, -2)) > 0).flatten().tolist():
                slot, token = torch.where(mask[e])
                rows = x[token]
                h = torch.nn.functional.silu(rows @ wg[e].T) * (rows @ wu[e].T)
                out.index_add_(0, token, (h @ wd[e].T) * weights[token, slot, None])
            return out.numpy()
    return run


def time_call(call, warmup, iterations):
    for _ in range(warmup):
        call()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peaks(bin_dir, threads, footprint=0):
    out = subprocess.run([str(bin_dir / "moe-bench"), "--peak", f"--threads={threads}",
                          f"--footprint={int(footprint)}", "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def torch_version_of(wanted):
    """torch's version for a table's header: "not run" unless `wanted`, "not installed"
    where it does not import."""
    if not wanted:
        return "not run"
    try:
        import torch
    except ImportError:
        return "not installed"
    return torch.__version__


def compile_for_peak(bin_dir, model, library, limits, threads, *flags):
    """moe-opt `model` to `library` with `flags`; the FMA peak (GFLOP/s) of the ISA the
    artifact's code uses (AVX-512 where its `cpu` line has avx512f) times `threads`."""
    subprocess.run([str(bin_dir / "moe-opt"), str(model), "--emit=lib", *flags,
                    "-o", str(library)], check=True)
    signature = subprocess.run([str(bin_dir / "moe-run"), str(library), "--signature"],
                               check=True, capture_output=True, text=True).stdout
    wide = any(line.startswith("cpu ") and " avx512f" in line
               for line in signature.splitlines())
    return threads * limits["fma_avx512_gflop_per_s" if wide else "fma_avx2_gflop_per_s"]


def ort_options(threads):
    """ONNX Runtime's session options for `threads` intra-op threads."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return options


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
    parser.add_argument("--no-torch", action="store_true", help="leave out the PyTorch column")
    args = parser.parse_args()
    tokens = [int(t) for t in args.tokens.split(",")]
    # bf16 expert weights: within 1 % of the largest output (test/e2e/run_fixtures.py).
    rtol = BF16_RTOL if args.precision == "bf16" else generate.RTOL
    limits = peaks(args.bin, args.threads)
    torch_version = torch_version_of(not args.no_torch)
    print(f"# {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
          f"{args.threads} thread(s), onnxruntime {onnxruntime.__version__}, "
          f"torch {torch_version}, moe-opt --mcpu={args.mcpu} --precision={args.precision}")
    print(f"# one core's f32 FMA peak: {limits['fma_avx2_gflop_per_s']:.0f} GFLOP/s AVX2, "
          f"{limits['fma_avx512_gflop_per_s']:.0f} AVX-512; memory read with "
          f"{args.threads} thread(s): {limits['read_gb_per_s']:.1f} GB/s")
    print("| shape | form | T | moe-mlir ms | ORT ms | ORT / moe-mlir | PyTorch ms "
          "| PyTorch / moe-mlir | GFLOP/s (% of FMA peak) "
          "| weights GB/s (% of memory read, % of warm read) | max error / bound |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="moe-bench-") as work:
        work = pathlib.Path(work)
        for shape in args.shapes.split(","):
            for label, spec in forms(shape):
                if args.forms and not any(f in label for f in args.forms.split(",")):
                    continue
                model = work / f"{spec.name}.onnx"
                proto = spec.build()
                if sum(len(init.raw_data) for init in proto.graph.initializer) \
                        > EXTERNAL_DATA_BYTES:
                    onnx.save_model(proto, str(model), save_as_external_data=True,
                                    location=f"{spec.name}.data")
                    onnx.checker.check_model(str(model), full_check=False)
                else:
                    model.write_bytes(proto.SerializeToString())
                del proto
                library = work / f"{spec.name}.so"
                peak = compile_for_peak(args.bin, model, library, limits, args.threads,
                                        f"--mcpu={args.mcpu}",
                                        f"--precision={args.precision}")
                options = ort_options(args.threads)
                session = None
                try:
                    session = onnxruntime.InferenceSession(
                        str(model), options, providers=["CPUExecutionProvider"])
                except Exception as error:  # ORT refuses some forms
                    reason = str(error).splitlines()[0][:60]
                block = None
                if not args.no_torch and spec.act.get("kind") == "silu":
                    block = torch_block(spec, args.threads)
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
                    bound = (rtol * float(np.abs(reference).max()) + generate.ATOL)
                    gathered = t * spec.k * 3 * spec.H * spec.I * 4
                    if session is None:
                        theirs, ratio = f"refused: {reason}", "-"
                    elif label.startswith("batched_mm") and gathered > ORT_GATHER_LIMIT:
                        theirs, ratio = f"not run: gathers {gathered / 1e9:.0f} GB", "-"
                    else:
                        ort_ms = time_call(lambda: session.run(None, inputs), warmup,
                                           iterations) * 1e3
                        theirs, ratio = f"{ort_ms:.3f}", f"{ort_ms / ours_ms:.2f}"
                    torch_ms, torch_ratio = "-", "-"
                    if block is not None:
                        torch_error = float(np.abs(block(inputs) - reference).max())
                        if torch_error > bound:
                            torch_ms = f"wrong: error {torch_error:.3g} > {bound:.3g}"
                        else:
                            value = time_call(lambda: block(inputs), warmup, iterations) * 1e3
                            torch_ms, torch_ratio = f"{value:.3f}", f"{value / ours_ms:.2f}"
                    read = ours["weight_gb_per_s"] * ours_ms * 1e-3 * 1e9
                    warm = peaks(args.bin, args.threads, read)["footprint_read_gb_per_s"]
                    print(f"| {shape} | {label} | {t} | {ours_ms:.3f} | {theirs} | {ratio} | "
                          f"{torch_ms} | {torch_ratio} | {ours['gflop_per_s']:.1f} "
                          f"({100 * ours['gflop_per_s'] / peak:.0f} %) | "
                          f"{ours['weight_gb_per_s']:.1f} "
                          f"({100 * ours['weight_gb_per_s'] / limits['read_gb_per_s']:.0f} %, "
                          f"{100 * ours['weight_gb_per_s'] / warm:.0f} % of {warm:.0f}) | "
                          f"{error / bound:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
