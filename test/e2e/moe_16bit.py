#!/usr/bin/env python3
"""A 16-bit MoE model (com.microsoft.MoE, SwiGLU with gate and up concatenated;
tokens, router logits, weights and output all fp16, or all bfloat16) on the CUDA
target's own kernels in its type: its grouped GEMMs multiply the model's weights as
they are (wgmma on sm_90a, mma.sync on sm_80; no --precision needed, nothing
converted). Run by the CUDA emulator at T = 1, 7 (decode kernels), 33 and 70 (GEMMs)
and compared with the CPU target's f32 run of the same model (its weights the
16-bit values, widened), within the type's tolerance; the PTX of each
architecture holds its tensor-core instruction on the type. bfloat16 goes in and
out of moe-run as f32 .npy files (rounded in, widened out).

    moe_16bit.py --bin build/bin --work DIR [--dtype=bf16]
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
ONNX_TYPE = {"f16": TensorProto.FLOAT16, "bf16": TensorProto.BFLOAT16,
             "f32": TensorProto.FLOAT}
# Relative tolerance of each type against the f32 run: a few ulps, as the GPU
# rounds the intermediate to the type too.
RTOL = {"f16": 3e-3, "bf16": 2e-2}


def instructions(dtype):
    return {"sm_90a": f"wgmma.mma_async.sync.aligned.m64n64k16.f32.{dtype}.{dtype}",
            "sm_80": f"mma.sync.aligned.m16n8k16.row.col.f32.{dtype}.{dtype}.f32"}


def bf16_bits(values):
    """float32 values as bfloat16 bits, rounded to nearest even."""
    bits = np.asarray(values, np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def initializer(name, values, dtype):
    if dtype == "f32":
        return numpy_helper.from_array(np.asarray(values, np.float32), name)
    if dtype == "f16":
        return numpy_helper.from_array(values.astype(np.float16), name)
    return helper.make_tensor(name, TensorProto.BFLOAT16, values.shape,
                              bf16_bits(values).tobytes(), raw=True)


def rounded(values, dtype):
    """`values` as the nearest values of the type, and the array moe-run takes."""
    if dtype == "f16":
        return values.astype(np.float16)
    return (bf16_bits(values).astype(np.uint32) << 16).view(np.float32)


def model(path, dtype, widened=False):
    """The model in `dtype`, or with `widened` the same model in f32 (the
    weights the 16-bit values), the reference."""
    rng = np.random.default_rng(11)
    w1 = rounded(rng.standard_normal((E, 2 * I, H)) / np.sqrt(H), dtype)
    w2 = rounded(rng.standard_normal((E, H, I)) / np.sqrt(I), dtype)
    if widened:
        dtype = "f32"
    node = helper.make_node("MoE", ["x", "logits", "w1", "", "w2"], ["y"],
                            domain="com.microsoft", k=K, activation_type="swiglu",
                            swiglu_fusion=2, normalize_routing_weights=1)
    graph = helper.make_graph(
        [node], "f16_moe",
        [helper.make_tensor_value_info("x", ONNX_TYPE[dtype], ["T", H]),
         helper.make_tensor_value_info("logits", ONNX_TYPE[dtype], ["T", E])],
        [helper.make_tensor_value_info("y", ONNX_TYPE[dtype], ["T", H])],
        [initializer("w1", w1, dtype), initializer("w2", w2, dtype)])
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
    parser.add_argument("--dtype", default="f16", choices=sorted(RTOL))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    path = args.work / f"moe_{args.dtype}.onnx"
    model(path, args.dtype)
    reference = args.work / "moe_f32.onnx"
    model(reference, args.dtype, widened=True)
    moe_opt, moe_run = args.bin / "moe-opt", args.bin / "moe-run"
    failures = 0
    cpu = args.work / "cpu.so"
    if not run([moe_opt, reference, "--emit=lib", "-o", cpu]):
        return 1
    for arch, instruction in instructions(args.dtype).items():
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
            x = rounded(rng.standard_normal((tokens, H)), args.dtype)
            logits = rounded(rng.standard_normal((tokens, E)), args.dtype)
            inputs = []
            for name, value in (("x", x), ("logits", logits)):
                inputs.append(args.work / f"{name}{tokens}.npy")
                np.save(inputs[-1], value)
            outs = [args.work / f"{which}{arch}{tokens}.npy" for which in ("cpu", "gpu")]
            wide = []
            for name, value in (("x", x), ("logits", logits)):
                wide.append(args.work / f"{name}{tokens}.f32.npy")
                np.save(wide[-1], value.astype(np.float32))
            if not (run([moe_run, cpu, *[f"--input=@{i}" for i in wide],
                         f"--output=@{outs[0]}"]) and
                    run([moe_run, library, *[f"--input=@{i}" for i in inputs],
                         f"--output=@{outs[1]}"])):
                failures += 1
                continue
            want = np.load(outs[0]).astype(np.float32)
            got = np.load(outs[1])
            error = float(np.max(np.abs(got.astype(np.float32) - want)))
            bound = RTOL[args.dtype] * float(np.max(np.abs(want))) + 1e-4
            ok = got.dtype == x.dtype and error <= bound
            failures += not ok
            print(f"{arch} T={tokens}: {got.dtype}, max abs error {error:.3g} "
                  f"(bound {bound:.3g}) {'ok' if ok else 'MISMATCH'}")
    print(f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
