#!/usr/bin/env python3
"""Compiles a textual ONNX model (.onnxtext) for the CPU with moe-opt, runs it with
moe-run on random float inputs at several token counts (the symbolic first dimension
of every input), and compares each output with ONNX Runtime on the same model.

    text_model_vs_ort.py --bin build/bin --work DIR model.onnxtext [--tokens 1,7,33]
"""
import argparse
import pathlib
import subprocess
import sys

import numpy as np
import onnx
import onnx.parser
import onnxruntime


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, type=pathlib.Path)
    parser.add_argument("--work", required=True, type=pathlib.Path)
    parser.add_argument("--tokens", default="1,7,33")
    parser.add_argument("model", type=pathlib.Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    text = "\n".join(line for line in args.model.read_text().splitlines()
                     if not line.startswith("#"))
    model = onnx.parser.parse_model(text)
    binary = args.work / "model.onnx"
    onnx.save(model, binary)
    library = args.work / "model.so"
    compiled = subprocess.run([str(args.bin / "moe-opt"), str(args.model), "--emit=lib",
                               "--target=cpu", "-o", str(library)], capture_output=True,
                              text=True)
    if compiled.returncode != 0:
        print(f"compile failed MISMATCH\n{compiled.stderr}")
        return 1
    session = onnxruntime.InferenceSession(str(binary), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(11)
    ok = True
    for tokens in (int(t) for t in args.tokens.split(",")):
        feeds, flags = {}, []
        for i, spec in enumerate(session.get_inputs()):
            shape = [tokens if not isinstance(d, int) else d for d in spec.shape]
            feeds[spec.name] = rng.standard_normal(shape).astype(np.float32)
            np.save(args.work / f"in{i}.npy", feeds[spec.name])
            flags.append(f"--input={spec.name}=@{args.work / f'in{i}.npy'}")
        out = args.work / "out.npy"
        ran = subprocess.run([str(args.bin / "moe-run"), str(library), *flags,
                              f"--output=@{out}"], capture_output=True, text=True)
        if ran.returncode != 0:
            print(f"T={tokens}: moe-run failed MISMATCH\n{ran.stderr}")
            ok = False
            continue
        ours, theirs = np.load(out), session.run(None, feeds)[0]
        error = float(np.max(np.abs(ours - theirs))) if ours.shape == theirs.shape else np.inf
        bound = 1e-4 * float(np.max(np.abs(theirs))) + 1e-6
        good = error <= bound
        print(f"T={tokens}: onnxruntime max abs error {error:.3g} (bound {bound:.3g}) "
              f"{'ok' if good else 'MISMATCH'}")
        ok &= good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
