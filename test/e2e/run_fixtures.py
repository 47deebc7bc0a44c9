#!/usr/bin/env python3
"""Compiles fixture models (test/models/<name>) with `moe-opt --emit=lib --target=cpu` (or
another target that makes CPU artifacts, `--target=cuda-emulator`), runs
each compiled artifact with `moe-run` at every token count in the fixture's manifest (one
artifact serves them all), and compares the outputs with the numpy references under the
manifest's tolerance, and with ONNX Runtime where it runs the form and is installed.

    run_fixtures.py --bin build/bin test/models/batched_mm_gptoss [...]
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

try:
    import onnxruntime
except ImportError:  # the numpy references still apply
    onnxruntime = None


# The relative tolerance of a model whose matmuls run on tensor cores in bf16 or fp16
# (--precision): their operands are rounded to 8 or 11 significant bits.
PRECISION_RTOL = {"bf16": 2e-2, "fp16": 3e-3}
# On the CPU, --precision=bf16 rounds only the expert weights (a relative error of at
# most 2^-9 each); activations and sums stay f32, so the outputs stay within 1 % of the
# largest.
CPU_PRECISION_RTOL = {"bf16": 1e-2}
PRECISION = "fp32"


def bound_of(manifest, reference):
    tolerance = manifest["tolerance"]
    rtol = max(tolerance["rtol"], PRECISION_RTOL.get(PRECISION, 0.0))
    return rtol * float(np.max(np.abs(reference))) + tolerance["atol"]


def check_model(args, model_dir: pathlib.Path, work: pathlib.Path) -> bool:
    manifest = json.loads((model_dir / "manifest.json").read_text())
    name = manifest["name"]
    library = work / f"{name}.so"
    compiled = subprocess.run(
        [str(args.bin / "moe-opt"), str(model_dir / manifest["model"]), "--emit=lib",
         f"--target={args.target}", f"--precision={args.precision}", f"-O{args.opt}",
         f"--mcpu={args.mcpu}", "-o", str(library)],
        capture_output=True, text=True)
    if compiled.returncode != 0:
        print(f"{name}: compile failed MISMATCH\n{compiled.stderr}")
        return False
    session = None
    if onnxruntime is not None and manifest.get("ort", False):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(model_dir / manifest["model"]), options,
                                               providers=["CPUExecutionProvider"])
    ok = True
    for case in manifest["cases"]:
        # Every output the case lists (a KV-cache model's logits and present keys and
        # values), each against its reference.
        specs = case["outputs"]
        outs = [work / f"{name}_T{case['T']}_{i}.npy" for i in range(len(specs))]
        inputs = [f"--input={spec['name']}=@{model_dir / spec['file']}" for spec in case["inputs"]]
        wanted = [f"--output={spec['name']}=@{out}" if len(specs) > 1 else f"--output=@{out}"
                  for spec, out in zip(specs, outs)]
        ran = subprocess.run([str(args.bin / "moe-run"), str(library), *inputs, *wanted],
                             capture_output=True, text=True)
        if ran.returncode != 0:
            print(f"{name} T={case['T']}: moe-run failed MISMATCH\n{ran.stderr}")
            ok = False
            continue
        theirs = None
        if session is not None:
            feeds = {spec["name"]: np.load(model_dir / spec["file"]) for spec in case["inputs"]}
            produced = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
            theirs = [produced[spec["name"]] if len(specs) > 1 else next(iter(produced.values()))
                      for spec in specs]
        for i, (spec, out) in enumerate(zip(specs, outs)):
            output = np.load(out)
            reference = np.load(model_dir / spec["file"])
            label = f"{name} T={case['T']}" + (f" {spec['name']}" if len(specs) > 1 else "")
            if output.shape != reference.shape:
                print(f"{label}: shape {output.shape} != reference {reference.shape} MISMATCH")
                ok = False
                continue
            error = float(np.max(np.abs(output - reference))) if output.size else 0.0
            bound = bound_of(manifest, reference) if reference.size else 0.0
            line = f"{label}: numpy max abs error {error:.3g} (bound {bound:.3g})"
            good = error <= bound
            if theirs is not None:
                # A window-sized cache specifies only its first `rows` rows.
                rows = spec.get("rows", output.shape[2] if output.ndim == 4 else None)
                ours, peer = (output[:, :, :rows], theirs[i][:, :, :rows]) \
                    if output.ndim == 4 else (output, theirs[i])
                ort_error = float(np.max(np.abs(ours - peer))) if ours.size else 0.0
                line += f", onnxruntime {ort_error:.3g}"
                good &= ort_error <= (bound_of(manifest, peer) if ours.size else 0.0)
            print(line + (" ok" if good else " MISMATCH"))
            ok &= good
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True, type=pathlib.Path,
                        help="folder holding moe-opt and moe-run")
    parser.add_argument("--opt", default=2, type=int, help="optimisation level, 0..3")
    parser.add_argument("--target", default="cpu", choices=("cpu", "cuda-emulator"),
                        help="moe-opt's --target")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"),
                        help="moe-opt's --precision (the matmuls' compute type on the CUDA "
                             "target, the expert weights' type on the CPU; the tolerance "
                             "widens to the type's)")
    parser.add_argument("--mcpu", default="x86-64-v3",
                        help="moe-opt's --mcpu (x86-64-v4: the AVX-512 kernels)")
    parser.add_argument("models", nargs="+", type=pathlib.Path)
    args = parser.parse_args()
    global PRECISION, PRECISION_RTOL
    PRECISION = args.precision
    if args.target == "cpu":
        PRECISION_RTOL = CPU_PRECISION_RTOL
    ok = True
    with tempfile.TemporaryDirectory(prefix="moe-e2e-") as work:
        for model_dir in args.models:
            ok &= check_model(args, model_dir, pathlib.Path(work))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
