#!/usr/bin/env python3
"""An fp16 model (MatMul then Softmax, T dynamic) compiled for the CPU and for the CUDA
lowering run by the CUDA emulator, each run with moe-run at T = 1 and 9 and compared
with numpy (fp32 math on the fp16 values); then compiled for CUDA sm_80.

    f16_model.py --bin build/bin --work DIR
"""
import argparse
import pathlib
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, type=pathlib.Path)
    parser.add_argument("--work", required=True, type=pathlib.Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    w = rng.standard_normal((32, 16)).astype(np.float16)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]),
         helper.make_node("Softmax", ["h"], ["y"], axis=-1)],
        "f16", [helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["T", 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, ["T", 16])],
        [numpy_helper.from_array(w, "W")])
    model = args.work / "f16.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model)
    ok = True
    for target in ("cpu", "cuda-emulator", "cuda"):
        library = args.work / f"f16.{target}.so"
        extra = ["--arch=sm_80"] if target == "cuda" else []
        compiled = subprocess.run([str(args.bin / "moe-opt"), str(model), "--emit=lib",
                                   f"--target={target}", *extra, "-o", str(library)],
                                  capture_output=True, text=True)
        if compiled.returncode != 0:
            print(f"{target}: compile failed MISMATCH\n{compiled.stderr}")
            ok = False
            continue
        if target == "cuda":
            print("cuda: artifact built")
            continue
        for tokens in (1, 9):
            x = rng.standard_normal((tokens, 32)).astype(np.float16)
            h = x.astype(np.float32) @ w.astype(np.float32)
            e = np.exp(h - h.max(axis=-1, keepdims=True))
            reference = (e / e.sum(axis=-1, keepdims=True)).astype(np.float16)
            inputs, output = args.work / f"x{tokens}.npy", args.work / f"y{tokens}.npy"
            np.save(inputs, x)
            ran = subprocess.run([str(args.bin / "moe-run"), str(library),
                                  f"--input=@{inputs}", f"--output=@{output}"],
                                 capture_output=True, text=True)
            if ran.returncode != 0:
                print(f"{target} T={tokens}: moe-run failed MISMATCH\n{ran.stderr}")
                ok = False
                continue
            y = np.load(output)
            error = float(np.max(np.abs(y.astype(np.float32) - reference.astype(np.float32))))
            # fp16 keeps 11 bits: the products and the sum over 32 round at about 1e-3.
            verdict = "ok" if y.dtype == np.float16 and error <= 1e-2 else "MISMATCH"
            ok &= verdict == "ok"
            print(f"{target} T={tokens}: {y.dtype} max abs error {error:.2e} {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
