"""Compiles every model fixture for the CUDA target and assembles its kernels.

For each fixture under test/models: `moe-opt --emit=ptx` for sm_80 and sm_90a,
in fp32 and in bf16 (whose matmuls must use mma.sync), each PTX assembled by
ptxas for its architecture, and `moe-opt --emit=lib --target=cuda` (which
embeds the cubin) for sm_90a. Prints one line per failure and a summary.
"""
import argparse
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
    args = parser.parse_args()
    models = sorted(pathlib.Path(args.models).glob("*/model.onnx"))
    failures = 0
    kernels = 0
    tensor_core = set()
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
                    if precision == "bf16" and "mma.sync.aligned.m16n8k16" in text:
                        tensor_core.add(name)
                    kernels += text.count(".entry")
                    rc, err = run([args.ptxas, "-arch", arch, str(ptx), "-o",
                                   str(ptx.with_suffix(".cubin"))])
                    if rc != 0:
                        print(f"FAIL {what}: ptxas: {err}")
                        failures += 1
            library = pathlib.Path(tmp, f"{name}.so")
            rc, err = run([args.moe_opt, str(model), "--emit=lib", "--target=cuda",
                           "--arch=sm_90a", "-o", str(library)])
            if rc != 0 or not library.exists():
                print(f"FAIL {name}: artifact: {err}")
                failures += 1
    without = sorted(m.parent.name for m in models if m.parent.name not in tensor_core)
    print(f"{len(models)} fixtures, {kernels} kernels assembled for sm_80 and sm_90a, "
          f"{failures} failures")
    print(f"bf16 matmuls on mma.sync in {len(tensor_core)} fixtures; without: "
          f"{' '.join(without) or 'none'}")
    return 1 if failures or not models else 0


if __name__ == "__main__":
    sys.exit(main())
