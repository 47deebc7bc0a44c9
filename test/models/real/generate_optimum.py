#!/usr/bin/env python3
"""Writes the optimum-onnx fixtures: whole one-layer models of the transformers MoE
architectures optimum-onnx exports (`text-generation`, no KV cache), built from the
same tiny configs as generate.py, and their MoE block as the exporter wrote it.

optimum-onnx pins transformers < 4.58, so this runs in a virtual environment of its
own (requirements-optimum.txt beside this file). A file is kept in `whole/` as the
fixture `<arch>__optimum_whole/` (inputs and eager logits at T = 1, 7, 33) only when ONNX
Runtime reproduces the eager model's logits on it; its first MoE block, cut out of it, becomes the block fixture
`<arch>__optimum/` (the format of generate.py's, eager torch as the reference). The
outcome for every architecture goes into `exports.json` (`<arch>__optimum`), which
docs/exports.md reports.

    python3 test/models/real/generate_optimum.py [--only ARCH[,ARCH]]
"""
import argparse
import contextlib
import io
import json
import pathlib
import shutil
import sys
import tempfile

import numpy as np
import onnx
import onnx.utils
import onnxruntime
import torch
import transformers

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate  # noqa: E402  (the architectures and their tiny configs)


def export(arch, model, work):
    """Exports `model` with optimum-onnx into `work`; returns the ONNX path."""
    from optimum.exporters.onnx import main_export

    # transformers 4 refuses to save a generation config that inherited the MoE top_k
    # of the tiny config; the export does not generate.
    model.config.__dict__.pop("top_k", None)
    model.generation_config = transformers.GenerationConfig()
    model.save_pretrained(work / "hf")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main_export(str(work / "hf"), output=str(work / "out"), task="text-generation",
                    do_validation=False)
    return work / "out" / "model.onnx"


def extract_block(whole, path, prefix="/model/layers.0/mlp/"):
    """The first MoE block of the exported model `whole`, as the exporter wrote it:
    the nodes named under `prefix`, with what they read from the rest of the graph
    as the input `x` and what the rest reads of them as the output `y`."""
    graph = onnx.load(str(whole)).graph
    inside = [n for n in graph.node if n.name.startswith(prefix)]
    produced = {o for n in inside for o in n.output}
    initializers = {i.name for i in graph.initializer}
    constants = {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    inputs = sorted({i for n in inside for i in n.input
                     if i and i not in produced | initializers | constants})
    outputs = sorted({i for n in graph.node if not n.name.startswith(prefix)
                      for i in n.input if i in produced})
    if len(inputs) != 1 or len(outputs) != 1:
        raise RuntimeError(f"the block reads {inputs} and gives {outputs}")
    onnx.utils.extract_model(str(whole), str(path), inputs, outputs)
    block = onnx.load(str(path))
    renames = {inputs[0]: "x", outputs[0]: "y"}
    for value in [*block.graph.input, *block.graph.output]:
        value.name = renames.get(value.name, value.name)
    for n in block.graph.node:
        n.input[:] = [renames.get(i, i) for i in n.input]
        n.output[:] = [renames.get(o, o) for o in n.output]
    onnx.checker.check_model(block)
    onnx.save(block, str(path))


def write_block(arch, block, whole, status):
    """`<arch>__optimum/`: the block of the exported whole model, checked like the
    other block fixtures (ONNX Runtime against eager torch at T = 1, 7, 33)."""
    name = f"{arch}__optimum"
    folder = HERE / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    extract_block(whole, folder / "model.onnx")
    cases = [generate.inputs_for(block, t, 100 + t) for t in generate.TOKENS]
    ort_ok, ort_note = generate.check_ort(folder / "model.onnx", cases)
    if not ort_ok:
        shutil.rmtree(folder)
        status[name] = {"written": False,
                        "reason": f"the block cut out of the model is wrong: {ort_note}"}
        return
    generate.save_fixture(folder, arch, "optimum", block, cases, ort_ok, ort_note, status)


def whole_cases(path, model):
    """The inputs and eager logits at T = 1, 7, 33, and None when ONNX Runtime
    reproduces them, else why not."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    cases = []
    for tokens in generate.TOKENS:
        ids = torch.randint(0, generate.SIZES["vocab_size"], (1, tokens),
                            generator=torch.Generator().manual_seed(tokens))
        feeds = {"input_ids": ids.numpy(), "attention_mask": np.ones((1, tokens), np.int64)}
        if "position_ids" in names:
            feeds["position_ids"] = np.arange(tokens, dtype=np.int64)[None]
        with torch.no_grad():
            expected = model(input_ids=ids).logits.numpy()
        (logits,) = session.run(["logits"], feeds)
        bound = generate.RTOL * float(np.max(np.abs(expected))) + generate.ATOL
        error = float(np.max(np.abs(logits - expected)))
        if error > bound:
            return cases, (f"ONNX Runtime differs from torch at T = {tokens}: "
                           f"{error:.3g} > {bound:.3g}")
        cases.append((feeds, expected))
    return cases, None


def save_whole(folder, arch, block, cases):
    """A whole-model fixture (several named inputs) in generate.py's format."""
    manifest_cases = []
    for feeds, logits in cases:
        t = feeds["input_ids"].shape[1]
        (folder / f"T{t}").mkdir()
        inputs = []
        for i, (name, value) in enumerate(feeds.items()):
            np.save(folder / f"T{t}" / f"input_{i}.npy", value)
            inputs.append({"name": name, "file": f"T{t}/input_{i}.npy",
                           "shape": list(value.shape), "dtype": str(value.dtype)})
        np.save(folder / f"T{t}" / "output_0.npy", logits)
        manifest_cases.append({"T": t, "inputs": inputs, "outputs": [
            {"name": "logits", "file": f"T{t}/output_0.npy", "shape": list(logits.shape),
             "dtype": "float32"}]})
    manifest = {
        "name": folder.name, "arch": arch, "exporter": "optimum_whole",
        "block": type(block).__name__, "form": "real_export", "is_moe": True,
        "moe_layers": 1, "model": "model.onnx",
        "tolerance": {"rtol": generate.RTOL, "atol": generate.ATOL,
                      "rule": "max|out - ref| <= rtol * max|ref| + atol"},
        "reference": f"transformers {transformers.__version__} eager model, torch "
                     f"{torch.__version__.split('+')[0]}, float32",
        "ort": True, "cases": manifest_cases,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated architectures")
    args = parser.parse_args()
    archs = args.only.split(",") if args.only else list(generate.ARCHS)
    status_path = HERE / "exports.json"
    status = json.loads(status_path.read_text()) if status_path.exists() else {}
    for arch in archs:
        name = f"{arch}__optimum"
        try:
            model, block = generate.build_block(arch)
        except Exception as e:  # noqa: BLE001 - recorded with the reason
            status[name] = {"written": False, "reason": f"no MoE block under transformers "
                                                       f"{transformers.__version__}: {e}"[:300]}
            print(f"{name}: {status[name]}", flush=True)
            continue
        with tempfile.TemporaryDirectory() as work:
            work = pathlib.Path(work)
            try:
                path = export(arch, model, work)
            except Exception as e:  # noqa: BLE001 - the exporter's own reason
                reason = str(e).splitlines()[0] if str(e) else type(e).__name__
                if "custom or unsupported architecture" in reason:
                    reason = ("optimum-onnx has no ONNX configuration for "
                              f"`{model.config.model_type}`")
                status[name] = {"written": False, "reason": reason[:300]}
            else:
                cases, wrong = whole_cases(path, model)
                if wrong:
                    status[name] = {"written": False,
                                    "reason": f"the exporter writes a wrong file: {wrong}"}
                else:
                    folder = HERE / "whole" / f"{name}_whole"
                    if folder.exists():
                        shutil.rmtree(folder)
                    folder.mkdir(parents=True)
                    whole = folder / "model.onnx"
                    onnx.save(onnx.load(str(path)), str(whole))
                    save_whole(folder, arch, block, cases)
                    status[f"{name}_whole"] = {"written": True, "ort": "matches"}
                    write_block(arch, block, whole, status)
        print(f"{name}: {status[name]}", flush=True)
    status_path.write_text(json.dumps(dict(sorted(status.items())), indent=1) + "\n")


if __name__ == "__main__":
    main()
