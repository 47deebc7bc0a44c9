#!/usr/bin/env python3
"""An fp16 MoE model (com.microsoft.MoE, SwiGLU with gate and up concatenated, fp16
tokens, router logits and weights) on the CUDA target's own kernels in fp16: its
grouped GEMMs multiply the model's weights as they are (wgmma on sm_90a, mma.sync on
sm_80; no --precision needed, nothing converted). Run by the CUDA emulator at T = 1, 7
(decode kernels), 33 and 70 (GEMMs) and compared with the CPU target's output of the
same model (f32 arithmetic on the fp16 values), within fp16's tolerance; the PTX of
each architecture holds its tensor-core instruction on f16.

    f16_moe.py --bin build/bin --work DIR
"""
import argparse
import pathlib
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

E, H, I, K = 6, 64, 96, 2
TOKENS = [1, 7, 33, 70]
INSTRUCTION = {"sm_90a": "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16",
               "sm_80": "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"}


def model(path):
    rng = np.random.default_rng(11)
    w1 = (rng.standard_normal((E, 2 * I, H)) / np.sqrt(H)).astype(np.float16)
    w2 = (rng.standard_normal((E, H, I)) / np.sqrt(I)).astype(np.float16)
    node = helper.make_node("MoE", ["x", "logits", "w1", "", "w2"], ["y"],
                            domain="com.microsoft", k=K, activation_type="swiglu",
                            swiglu_fusion=2, normalize_routing_weights=1)
    graph = helper.make_graph(
        [node], "f16_moe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["T", H]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT16, ["T", E])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, ["T", H])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    onnx.save(helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]), path)


def run(cmd):
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"FAIL {' '.join(str(c) for c in cmd)}: {done.stderr.strip()}")
    return done.returncode == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, type=pathlib.Path)
    parser.add_argument("--work", required=True, type=pathlib.Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    path = args.work / "f16_moe.onnx"
    model(path)
    moe_opt, moe_run = args.bin / "moe-opt", args.bin / "moe-run"
    failures = 0
    cpu = args.work / "cpu.so"
    if not run([moe_opt, path, "--emit=lib", "-o", cpu]):
        return 1
    for arch, instruction in INSTRUCTION.items():
        ptx = args.work / f"{arch}.ptx"
        if not run([moe_opt, path, "--emit=ptx", "--target=cuda", f"--arch={arch}",
                    "-o", ptx]):
            failures += 1
            continue
        count = ptx.read_text().count(instruction)
        print(f"{arch}: {count} x {instruction.split(' ')[0]}")
        failures += count == 0
        library = args.work / f"{arch}.so"
        if not run([moe_opt, path, "--emit=lib", "--target=cuda-emulator",
                    f"--arch={arch}", "-o", library]):
            failures += 1
            continue
        rng = np.random.default_rng(3)
        for tokens in TOKENS:
            x = rng.standard_normal((tokens, H)).astype(np.float16)
            logits = rng.standard_normal((tokens, E)).astype(np.float16)
            inputs = []
            for name, value in (("x", x), ("logits", logits)):
                inputs.append(args.work / f"{name}{tokens}.npy")
                np.save(inputs[-1], value)
            outs = [args.work / f"{which}{arch}{tokens}.npy" for which in ("cpu", "gpu")]
            if not (run([moe_run, cpu, *[f"--input=@{i}" for i in inputs],
                         f"--output=@{outs[0]}"]) and
                    run([moe_run, library, *[f"--input=@{i}" for i in inputs],
                         f"--output=@{outs[1]}"])):
                failures += 1
                continue
            want = np.load(outs[0]).astype(np.float32)
            got = np.load(outs[1])
            error = float(np.max(np.abs(got.astype(np.float32) - want)))
            # A few fp16 ulps: the GPU also rounds the intermediate to fp16.
            bound = 5e-3 * float(np.max(np.abs(want))) + 2e-3
            ok = got.dtype == np.float16 and error <= bound
            failures += not ok
            print(f"{arch} T={tokens}: {got.dtype}, max abs error {error:.3g} "
                  f"(bound {bound:.3g}) {'ok' if ok else 'MISMATCH'}")
    print(f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
