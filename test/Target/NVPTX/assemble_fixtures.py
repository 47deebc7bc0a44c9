"""Compiles every model fixture for the CUDA target and assembles its kernels.

For each fixture under test/models: `moe-opt --emit=ptx` for sm_80 and sm_90a,
in fp32 and in bf16 (whose matmuls must use tensor cores: mma.sync on sm_80, the
MoE GEMMs' wgmma on sm_90a), each PTX assembled by ptxas for its architecture,
and `moe-opt --emit=lib --target=cuda` (which embeds the cubin) for sm_90a. With
--mock-driver, each sm_90a artifact (fp32 and bf16) also runs three times under
that CPU-side CUDA driver on the fixture's T = 7 inputs (the second captured as a
CUDA graph, the third replayed), which checks the host code's launches against
the kernels' PTX declarations. Prints one
line per failure and a summary.
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile


def run(args):
    result = subprocess.run(args, capture_output=True, text=True)
    return result.returncode, result.stderr.strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--moe-opt", required=True)
    parser.add_argument("--ptxas", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--moe-run")
    parser.add_argument("--mock-driver")
    args = parser.parse_args()
    models = sorted(pathlib.Path(args.models).glob("*/model.onnx"))
    failures = 0
    kernels = 0
    tensor_core = {"sm_80": set(), "sm_90a": set()}
    mocked = 0
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            name = model.parent.name
            for arch in ("sm_80", "sm_90a"):
                for precision in ("fp32", "bf16"):
                    what = f"{name} {arch} {precision}"
                    ptx = pathlib.Path(tmp, f"{name}.{arch}.{precision}.ptx")
                    rc, err = run([args.moe_opt, str(model), "--emit=ptx",
                                   "--target=cuda", f"--arch={arch}",
                                   f"--precision={precision}", "-o", str(ptx)])
                    if rc != 0:
                        print(f"FAIL {what}: moe-opt: {err}")
                        failures += 1
                        continue
                    text = ptx.read_text()
                    if f".target {arch}" not in text or ".entry" not in text:
                        print(f"FAIL {what}: the PTX has no kernel for {arch}")
                        failures += 1
                        continue
                    instruction = "wgmma.mma_async" if arch == "sm_90a" else "mma.sync.aligned"
                    if precision == "bf16" and instruction in text:
                        tensor_core[arch].add(name)
                    kernels += text.count(".entry")
                    rc, err = run([args.ptxas, "-arch", arch, str(ptx), "-o",
                                   str(ptx.with_suffix(".cubin"))])
                    if rc != 0:
                        print(f"FAIL {what}: ptxas: {err}")
                        failures += 1
            for precision in ("fp32", "bf16"):
                library = pathlib.Path(tmp, f"{name}.{precision}.so")
                rc, err = run([args.moe_opt, str(model), "--emit=lib", "--target=cuda",
                               "--arch=sm_90a", f"--precision={precision}", "-o",
                               str(library)])
                if rc != 0 or not library.exists():
                    print(f"FAIL {name} {precision}: artifact: {err}")
                    failures += 1
                    continue
                if not args.mock_driver:
                    continue
                inputs = sorted(model.parent.glob("T7/input_*.npy"))
                result = subprocess.run(
                    [args.moe_run, str(library), "--device=cuda", "--print-max=0",
                     "--repeat=3", *[f"--input=@{i}" for i in inputs]],
                    capture_output=True, text=True,
                    env={**os.environ, "MOE_CUDA_DRIVER": args.mock_driver})
                report = [line for line in result.stderr.splitlines()
                          if line.startswith("mock-cuda: ") and "launches" in line]
                if result.returncode != 0 or not report or " 0 errors," not in report[-1] \
                        or report[-1].startswith("mock-cuda: 0 launches"):
                    print(f"FAIL {name} {precision}: under the mock driver: "
                          f"{result.stderr.strip()}")
                    failures += 1
                else:
                    mocked += 1
    print(f"{len(models)} fixtures, {kernels} kernels assembled for sm_80 and sm_90a, "
          f"{failures} failures")
    for arch, instruction in (("sm_80", "mma.sync"), ("sm_90a", "wgmma")):
        without = sorted(m.parent.name for m in models
                         if m.parent.name not in tensor_core[arch])
        print(f"{arch}: bf16 matmuls on {instruction} in {len(tensor_core[arch])} "
              f"fixtures; without: {' '.join(without) or 'none'}")
    if args.mock_driver:
        print(f"{mocked} artifacts ran under the mock driver")
    return 1 if failures or not models else 0


if __name__ == "__main__":
    sys.exit(main())
