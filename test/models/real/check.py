#!/usr/bin/env python3
"""Checks every real-export fixture in this folder (written by generate.py):

- `moe-opt --moe-raise=remarks=true` raises exactly the model's MoE blocks
  (`moe_layers` in the manifest);
- no Gather of expert weights by per-token ids is left in a raised file;
- the compiled model matches torch (and ONNX Runtime) at every token count
  (test/e2e/run_fixtures.py), for the blocks and for the whole models in
  `whole/<arch>__whole_<tool>/` (their logits).

With --cuda ARCH the whole models are also compiled for the CUDA target (their PTX
assembled by ptxas). With --table it writes docs/exports.md (or, for a --root of
generate.py --out, docs/whole-models.md) from what it measured and exports.json.

    check.py --bin build/bin [--root DIR] [--cuda sm_90a] [--table docs/exports.md] [fixture ...]
"""
import argparse
import json
import pathlib
import re
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]

# A gather of rank-3 expert weights: what raising removes.
WEIGHT_GATHER = re.compile(r'onnx\.node "Gather(ND)?".*: \(tensor<\d+x\d+x\d+xf32>')


def check_raise(bin_dir, folder, manifest):
    """(ok, layers, remark) for one fixture."""
    raised = subprocess.run(
        [str(bin_dir / "moe-opt"), str(folder / "model.onnx"), "--moe-raise=remarks=true"],
        capture_output=True, text=True)
    if raised.returncode != 0:
        return False, 0, raised.stderr.strip().splitlines()[0] if raised.stderr else "failed"
    layers = len(re.findall(r"= moe\.layer ", raised.stdout))
    misses = [line.split("remark: ", 1)[1] for line in raised.stderr.splitlines()
              if "remark: not raised" in line]
    ok = layers == manifest["moe_layers"] and not WEIGHT_GATHER.search(raised.stdout)
    note = "per-token weight gather left" if WEIGHT_GATHER.search(raised.stdout) else ""
    return ok, layers, note or (misses[0] if misses else "")


FULL_INTRO = [
    "# Real exports: the whole-model matrix",
    "",
    "Every transformers MoE architecture that builds from its config, exported whole (one",
    "decoder layer, tiny random weights) by every whole-model exporter, written outside",
    "the repository and checked there:",
    "",
    "```",
    "python3 test/models/real/generate.py --full --out DIR --exporters \\",
    "    whole_dynamo,whole_torchscript,whole_cpu,whole_cuda,whole_kv,whole_kv_cpu,whole_kv_cuda,genai_cpu",
    "python3 test/models/real/check.py --bin build/bin --root DIR --cuda sm_90a \\",
    "    --table docs/whole-models.md",
    "```",
    "",
    "`whole_dynamo` and `whole_torchscript` are torch.onnx (dynamo, TorchScript) on",
    "`input_ids [1, T]` to logits; `whole_cpu` / `whole_cuda` are transformers' exporter",
    "without a cache and with ONNX Runtime's CPU or CUDA fusions (RotaryEmbedding,",
    "SkipSimplifiedLayerNormalization; MultiHeadAttention and com.microsoft.MoE with CUDA's);",
    "`whole_kv` is transformers' exporter with the DynamicCache, and `whole_kv_cpu` /",
    "`whole_kv_cuda` the same with the fusions (GroupQueryAttention, FusedMatMul);",
    "`genai_cpu` is onnxruntime-genai's builder, and `genai_cpu_windowed` its default",
    "window-sized cache (`sliding_window_cache = 1`) for gpt-oss. A cell says how many MoE",
    "layers raise, whether the model compiled for the CPU matches torch's logits (and",
    "present caches) at every case, and whether it compiles for the CUDA target, its PTX",
    "assembled by ptxas for the architecture named; `-` is a file the exporter does not",
    "write, or writes wrong, with the reason below; `·` is an architecture the exporter",
    "does not take (onnxruntime-genai's builder knows few). The committed fixtures, a",
    "subset, are in [exports.md](exports.md).",
    "",
]


def write_table(path, results, status, intro=None):
    archs = sorted({name.split("__")[0] for name in status})
    exporters = sorted({name.split("__")[1] for name in status})
    lines = intro + [
        "| architecture | " + " | ".join(f"`{e}`" for e in exporters) + " |",
        "| --- | " + " | ".join("---" for _ in exporters) + " |",
    ] if intro else [
        "# Real exports: what raises",
        "",
        "Written by `test/models/real/check.py --table docs/exports.md` from the fixtures",
        "that `test/models/real/generate.py` exports (the first MoE block of each transformers",
        "architecture, tiny random weights, `[1, T, H]` input with a dynamic `T`). A cell says",
        "how many `moe.layer`s `--moe-raise` makes of the block's one MoE layer, and whether the",
        "compiled model matches eager PyTorch (and ONNX Runtime) at T = 1, 7, 33 within",
        "`1e-4 * max|ref| + 1e-6`; `-` is a file the exporter does not write, or writes wrong",
        "(ONNX Runtime disagrees with torch), with the reason below; `·` is outside the",
        "committed set. `whole_dynamo`, `whole_torchscript` and `optimum_whole` are whole",
        "one-layer causal LMs (`input_ids [1, T]` to logits, no KV cache) exported by",
        "torch.onnx and by optimum-onnx (`text-generation`, transformers 4.57 in a virtual",
        "environment of its own, `generate_optimum.py`): a cell says how many MoE layers raise",
        "and whether the compiled model's logits match torch's. `optimum` is the MoE block cut",
        "out of the optimum-onnx export, checked like the other blocks. `whole_kv` (transformers'",
        "exporter) and `genai_cpu` (onnxruntime-genai's builder, fp32 CPU: GroupQueryAttention",
        "with rotary caches, com.microsoft.MoE) are whole models with a KV cache, checked",
        "against torch's logits and present caches after a past of P tokens. `genai_cpu_windowed`",
        "is gpt-oss with the builder's default window-sized cache (`sliding_window_cache = 1`),",
        "whose cache buffers hold the window's capacity. `whole_cpu` / `whole_cuda` are",
        "transformers' exporter without a cache and with ONNX Runtime's CPU or CUDA fusions",
        "(MultiHeadAttention with CUDA's). `generate.py --full` writes every exporter for every",
        "architecture.",
        "",
        "| architecture | " + " | ".join(f"`{e}`" for e in exporters) + " |",
        "| --- | " + " | ".join("---" for _ in exporters) + " |",
    ]
    notes = []
    for arch in archs:
        cells = []
        for exporter in exporters:
            name = f"{arch}__{exporter}"
            if name in results:
                r = results[name]
                cell = f"raised {r['layers']}/1" if r["layers"] else "not raised"
                cell += {True: ", matches", False: ", MISMATCH"}[r["numerics"]]
                if r.get("cuda") is not None:
                    cell += f", {r['cuda_arch']} " + ("ok" if r["cuda"] else "FAILS")
                if not r["layers"] and r["remark"]:
                    notes.append(f"- `{name}`: {r['remark']}")
                cells.append(cell)
            elif name in status:
                cells.append("-")
                reason = re.sub(r"\x1b\[[0-9;]*m", "", status[name]["reason"])
                notes.append(f"- `{name}`: {reason}")
            else:
                cells.append("·")
        lines.append(f"| {arch} | " + " | ".join(cells) + " |")
    lines += ["", "## Not raised, or not written", ""] + sorted(notes)
    if intro:
        path.write_text("\n".join(lines + [""]))
        return
    lines += [
        "",
        "## How to export so that the file raises",
        "",
        "The recommended path is `moe_mlir.export` (needs torch and transformers): it selects",
        "transformers' `batched_mm` experts for the export (the default `grouped_mm` does not",
        "export with dynamo, and `eager` loops over the experts a trace saw), keeps the token",
        "axis dynamic, writes opset 18, keeps only the first output (logits, or a block's",
        "hidden states) without a KV cache, and checks the file against the eager model with",
        "ONNX Runtime at the example inputs and at one token fewer:",
        "",
        "```python",
        "import moe_mlir",
        "moe_mlir.export(model, (input_ids,), \"model.onnx\")          # a whole model",
        "moe_mlir.export(model.model.layers[0].mlp, (x,), \"block.onnx\")  # one MoE block",
        "```",
        "",
        "`test/python/test_export.py` runs it on the block of every architecture above that",
        "builds (each raises and matches at T = 1, 7, 33, but LongCat-Flash, whose",
        "zero-computation experts loop over the experts a batch hits, which torch.export",
        "cannot trace) and on a whole Mixtral. By hand, with torch.onnx:",
        "",
        "```python",
        "model.set_experts_implementation(\"batched_mm\")",
        "torch.onnx.export(model, (x,), \"model.onnx\", dynamo=True,",
        "                  dynamic_shapes=({1: torch.export.Dim(\"T\")},), opset_version=18)",
        "```",
        "",
        "then `moe-opt model.onnx --moe-raise=remarks=true` says what it raised.",
        "",
    ]
    path.write_text("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, type=pathlib.Path)
    parser.add_argument("--table", type=pathlib.Path, help="write the docs table here")
    parser.add_argument("--root", type=pathlib.Path, default=HERE,
                        help="the fixtures' folder (generate.py --out), this one by default")
    parser.add_argument("--cuda", metavar="ARCH",
                        help="also compile each whole model for the CUDA target at ARCH "
                             "(sm_90a), its PTX assembled by ptxas")
    parser.add_argument("fixtures", nargs="*", type=pathlib.Path)
    args = parser.parse_args()
    folders = args.fixtures or sorted(
        p.parent for pattern in ("*/manifest.json", "whole/*/manifest.json")
        for p in args.root.glob(pattern))
    results, failed = {}, 0
    for folder in folders:
        manifest = json.loads((folder / "manifest.json").read_text())
        ok, layers, remark = check_raise(args.bin, folder, manifest)
        numerics = subprocess.run(
            [sys.executable, str(ROOT / "test/e2e/run_fixtures.py"), "--bin", str(args.bin),
             str(folder)], capture_output=True, text=True)
        matches = numerics.returncode == 0
        result = {"layers": layers, "numerics": matches, "remark": remark}
        cuda = ""
        if args.cuda and folder.parent.name == "whole":
            with tempfile.TemporaryDirectory() as work:
                compiled = subprocess.run(
                    [str(args.bin / "moe-opt"), str(folder / manifest["model"]), "--emit=lib",
                     "--target=cuda", f"--arch={args.cuda}", "-o", f"{work}/model.so"],
                    capture_output=True, text=True)
            result.update(cuda=compiled.returncode == 0, cuda_arch=args.cuda)
            cuda = f", {args.cuda} {'ok' if result['cuda'] else 'FAILS'}"
            if not result["cuda"]:
                print(compiled.stderr)
        results[manifest["name"]] = result
        verdict = "ok" if ok and matches and result.get("cuda", True) else "FAIL"
        failed += verdict != "ok"
        state = "match" if matches else "MISMATCH"
        print(f"{manifest['name']}: {layers} moe.layer, numerics {state}{cuda}"
              f"{', ' + remark if remark else ''} {verdict}")
        if not matches:
            print(numerics.stdout + numerics.stderr)
    total = len(folders)
    print(f"{total - failed} of {total} real exports ok")
    if args.table:
        status = json.loads((args.root / "exports.json").read_text())
        write_table(args.table, results, status,
                    None if args.root.resolve() == HERE else FULL_INTRO)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
