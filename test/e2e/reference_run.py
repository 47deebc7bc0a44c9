#!/usr/bin/env python3
"""Runs fixture models (test/models/<name>) through moe-opt and MLIR's reference
lowering on mlir-cpu-runner, at every token count in their manifests, and compares the
outputs with the numpy references under the manifest's tolerance.

This checks import and legalisation numerically for models that legalise completely
(no moe.layer left); it is not the project's code generator.

    reference_run.py --moe-opt build/bin/moe-opt --runner mlir-cpu-runner \\
        --libs libmlir_runner_utils.so,libmlir_c_runner_utils.so \\
        --lower "<pass flags>" test/models/nearmiss_tanh
"""
import argparse
import json
import pathlib
import re
import shlex
import subprocess
import sys

import numpy as np


def mlir_type(array: np.ndarray) -> str:
    if array.dtype != np.float32:
        raise SystemExit(f"unsupported input dtype {array.dtype}")
    return "tensor<" + "x".join(str(d) for d in array.shape) + "xf32>"


def dense(array: np.ndarray) -> str:
    # float32 round-trips exactly through repr of its float64 value.
    return "dense<" + np.array2string(array.astype(np.float64), separator=", ",
                                      threshold=sys.maxsize, floatmode="unique",
                                      max_line_width=sys.maxsize) + ">"


def with_main(module: str, inputs, output_type: str) -> str:
    """`module` with a main that calls @main_graph on constant inputs and prints."""
    lines = ["func.func private @printMemrefF32(tensor<*xf32>)", "func.func @main() {"]
    args = []
    for i, array in enumerate(inputs):
        lines.append(f"  %in{i} = arith.constant {dense(array)} : {mlir_type(array)}")
        args.append(f"%in{i}")
    types = ", ".join(mlir_type(a) for a in inputs)
    lines.append(f"  %out = call @main_graph({', '.join(args)}) : ({types}) -> {output_type}")
    lines.append(f"  %u = tensor.cast %out : {output_type} to tensor<*xf32>")
    lines.append("  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()")
    lines.append("  return")
    lines.append("}")
    body, sep, resources = module.partition("\n{-#")
    close = body.rstrip().rfind("}")
    return body[:close] + "\n".join(lines) + "\n}\n" + sep + resources


def printed_values(text: str, shape) -> np.ndarray:
    numbers = text[text.index("\n") + 1:] if text.startswith("Unranked") else text
    values = [float(v) for v in re.findall(r"[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|nan|inf)",
                                           numbers)]
    return np.array(values, dtype=np.float64).reshape(shape)


def run_case(args, model_dir: pathlib.Path, manifest, case) -> str:
    inputs = [np.load(model_dir / spec["file"]) for spec in case["inputs"]]
    reference = np.load(model_dir / case["outputs"][0]["file"])
    shapes = [f"--shape={spec['name']}:" + "x".join(str(d) for d in spec["shape"])
              for spec in case["inputs"]]
    imported = subprocess.run(
        [args.moe_opt, str(model_dir / manifest["model"]), *shapes,
         *shlex.split(args.passes)], check=True, capture_output=True, text=True).stdout
    declared = re.search(r"func\.func @main_graph\(.*?\) -> \(?(tensor<[^>]*>)", imported)
    program = with_main(imported, inputs, declared.group(1) if declared else mlir_type(reference))
    lowered = subprocess.run([args.moe_opt, *shlex.split(args.lower)], input=program,
                             check=True, capture_output=True, text=True).stdout
    printed = subprocess.run([args.runner, "-e", "main", "-entry-point-result=void",
                              f"-shared-libs={args.libs}"], input=lowered, check=True,
                             capture_output=True, text=True).stdout
    output = printed_values(printed, reference.shape)
    tolerance = manifest["tolerance"]
    error = float(np.max(np.abs(output - reference)))
    bound = tolerance["rtol"] * float(np.max(np.abs(reference))) + tolerance["atol"]
    verdict = "ok" if error <= bound else "MISMATCH"
    return f"{manifest['name']} T={case['T']}: max abs error {error:.3g} (bound {bound:.3g}) {verdict}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--moe-opt", required=True)
    parser.add_argument("--runner", required=True)
    parser.add_argument("--libs", required=True)
    parser.add_argument("--lower", required=True, help="pass flags down to LLVM")
    parser.add_argument("--passes", default="--moe-raise --moe-legalize-onnx",
                        help="moe-opt passes from the imported model to linalg")
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("models", nargs="+", type=pathlib.Path)
    args = parser.parse_args()
    failed = False
    for model_dir in args.models:
        manifest = json.loads((model_dir / "manifest.json").read_text())
        for case in manifest["cases"]:
            if case["T"] > args.max_tokens:
                continue
            try:
                line = run_case(args, model_dir, manifest, case)
            except subprocess.CalledProcessError as error:
                sys.stderr.write(error.stderr)
                line = f"{manifest['name']} T={case['T']}: {error.cmd[0]} failed MISMATCH"
            print(line)
            failed |= line.endswith("MISMATCH")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
