#!/usr/bin/env python3
"""Writes the real-export fixtures: the first MoE block of every transformers MoE
architecture that builds from its config, exported by real exporters.

Needs torch, transformers and onnxscript (pinned in requirements.txt beside this file);
CI does not, since the small files it writes are committed. For each
(architecture, exporter) it writes `<arch>__<exporter>/model.onnx`, the inputs and the
eager PyTorch outputs at T = 1, 7, 33 (`T<n>/input_0.npy`, `output_0.npy`), and a
manifest in the format of test/models (plus `moe_layers`, `arch`, `exporter`). A file
is kept only when ONNX Runtime reproduces torch on it (`"ort": true`) or cannot run it
(`ort_reason`); one the exporter writes wrong, or cannot write, is listed in
`exports.json` with the reason, which docs/exports.md reports.

    python3 test/models/real/generate.py [--only ARCH[,ARCH]] [--exporters E[,E]] [--full]
                                         [--out DIR]

The committed set is the batched_mm exporters for every architecture and every
exporter for CORE_ARCHS; --full writes the whole matrix (best into --out DIR, then
`check.py --root DIR` checks it).
"""
import argparse
import contextlib
import copy
import io
import json
import pathlib
import shutil
import sys
import traceback
import warnings

import numpy as np
import onnx
import torch
import transformers

HERE = pathlib.Path(__file__).resolve().parent
# Where fixtures and exports.json are written: this folder, or --out.
OUT = HERE
TOKENS = (1, 7, 33)
RTOL, ATOL = 1e-4, 1e-6

# Architecture -> config class. Each is built with SIZES where the config has the field,
# one decoder layer, and random weights; the first module with an `experts` child is
# the MoE block exported.
ARCHS = {
    "mixtral": "MixtralConfig",
    "qwen2_moe": "Qwen2MoeConfig",
    "qwen3_moe": "Qwen3MoeConfig",
    "deepseek_v2": "DeepseekV2Config",
    "deepseek_v3": "DeepseekV3Config",
    "gpt_oss": "GptOssConfig",
    "phimoe": "PhimoeConfig",
    "olmoe": "OlmoeConfig",
    "flex_olmo": "FlexOlmoConfig",
    "granitemoe": "GraniteMoeConfig",
    "granitemoeshared": "GraniteMoeSharedConfig",
    "granitemoehybrid": "GraniteMoeHybridConfig",
    "dbrx": "DbrxConfig",
    "jetmoe": "JetMoeConfig",
    "llama4": "Llama4TextConfig",
    "ernie4_5_moe": "Ernie4_5_MoeConfig",
    "glm4_moe": "Glm4MoeConfig",
    "hunyuan_v1_moe": "HunYuanMoEV1Config",
    "dots1": "Dots1Config",
    "longcat_flash": "LongcatFlashConfig",
    "lfm2_moe": "Lfm2MoeConfig",
    "minimax": "MiniMaxConfig",
}
HIDDEN = 32
SIZES = dict(
    hidden_size=HIDDEN, intermediate_size=32, moe_intermediate_size=16,
    shared_expert_intermediate_size=32, num_hidden_layers=1, num_layers=1,
    num_attention_heads=4, num_key_value_heads=2, head_dim=8, vocab_size=128,
    num_local_experts=8, num_experts=8, n_routed_experts=8, moe_num_experts=8,
    num_experts_per_tok=2, top_k=2, moe_k=2, n_group=4, topk_group=2,
    first_k_dense_replace=0, num_dense_layers=0, max_position_embeddings=256,
    kv_lora_rank=16, q_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8,
    v_head_dim=8, mlp_only_layers=[], decoder_sparse_step=1, moe_layer_freq=1,
    d_model=HIDDEN, n_heads=4, n_layers=1,
    ffn_config={"ffn_hidden_size": 32, "moe_num_experts": 8, "moe_top_k": 2},
    kv_channels=8, expert_ffn_hidden_size=16,
    pad_token_id=0, bos_token_id=1, eos_token_id=2, n_shared_experts=1,
    moe_num_shared_experts=1, moe_layer_start_index=0, moe_layer_interval=1,
)
# Per architecture: what its config needs beyond SIZES to build one MoE layer.
OVERRIDES = {
    "granitemoehybrid": dict(layer_types=["attention"], mamba_n_heads=4, mamba_d_head=16,
                             shared_intermediate_size=32),
    "lfm2_moe": dict(layer_types=["full_attention"]),
    "dots1": dict(layer_types=["full_attention"]),
    "longcat_flash": dict(num_layers=1, zero_expert_num=0, num_key_value_heads=4),
    # Multi-head latent attention keeps a key and value head per query head.
    "deepseek_v2": dict(num_key_value_heads=4),
    "deepseek_v3": dict(num_key_value_heads=4),
}

# Exporters, named <tool>_<experts implementation or fusions>: torch.onnx with dynamo
# or TorchScript and transformers' experts implementation (`grouped_mm` is the default),
# and transformers' own exporter (`transformers.exporters`) without fusions (its default
# experts) or with ONNX Runtime's CPU or CUDA fusions (the latter writes com.microsoft.MoE).
EXPORTERS = ("dynamo_batched_mm", "torchscript_batched_mm", "dynamo_grouped_mm",
             "dynamo_eager", "torchscript_grouped_mm", "torchscript_eager",
             "transformers_plain", "transformers_cpu", "transformers_cuda")
# Committed: the first two exporters for every architecture, every exporter for these.
CORE_ARCHS = ("mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v3", "gpt_oss", "olmoe",
              "glm4_moe", "phimoe")
# The architectures whose whole torch.onnx exports are committed (every one with --full,
# which docs/whole-models.md reports).
WHOLE_ARCHS = ("mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v3", "gpt_oss", "phimoe")


def build_block(arch, sizes=None):
    """The first MoE block of a one-layer `arch` model with random weights;
    `sizes` replace some of SIZES."""
    cls = getattr(transformers, ARCHS[arch])
    defaults = cls()
    kwargs = {k: v for k, v in SIZES.items() if hasattr(defaults, k)}
    kwargs.update(OVERRIDES.get(arch, {}))
    kwargs.update({k: v for k, v in (sizes or {}).items() if hasattr(defaults, k)})
    config = cls(**kwargs)
    for k, v in kwargs.items():
        # Sub-configs given as dicts are built by the constructor; keep them.
        if not isinstance(v, dict):
            with contextlib.suppress(Exception):
                setattr(config, k, v)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    for module in model.modules():
        # JetMoE also has a mixture of attention heads; the FFN block is wanted.
        if "Attention" in type(module).__name__ or "MoA" in type(module).__name__:
            continue
        if any(name == "experts" for name, _ in module.named_children()):
            block = module
            break
    else:
        raise RuntimeError("no module with an `experts` child")
    # Weights large enough that routing and outputs are not all ties and zeros.
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in block.named_parameters():
            fan = p.shape[-1] if p.dim() > 1 else 1
            p.copy_(torch.randn(p.shape, generator=generator) / fan ** 0.5)
        for name, b in block.named_buffers():
            if b.is_floating_point():
                b.copy_(0.1 * torch.randn(b.shape, generator=generator))
    return model, block


class Block(torch.nn.Module):
    """The block on [1, T, H] hidden states, returning only the hidden states."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        y = self.block(x)
        return y[0] if isinstance(y, tuple) else y


def set_experts(model, implementation):
    with contextlib.suppress(Exception):
        model.set_experts_implementation(implementation)
        return
    model.config._experts_implementation = implementation


def export(wrapper, exporter, path, x=None):
    """Exports `wrapper` on the example `x` ([1, 7, H] hidden states unless given),
    its axis 1 dynamic."""
    x = torch.randn(1, 7, HIDDEN) if x is None else x
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        if exporter.startswith("transformers"):
            from transformers.exporters.exporter_onnx import OnnxConfig, OnnxExporter
            fusions = exporter.split("_", 1)[1]
            tokens = torch.export.Dim("T", min=1, max=4096)
            config = OnnxConfig(dynamic_shapes={"x": {1: tokens}},
                                ort_fusions=None if fusions == "plain" else fusions)
            exported = OnnxExporter().export(wrapper, {"x": x}, config=config)
            folder = path.parent / "export"
            exported.save_pretrained(str(folder))
            # One self-contained file: the fixtures are small.
            model = onnx.load(str(folder / "model.onnx"))
            shutil.rmtree(folder)
            onnx.save(model, str(path))
            return
        if exporter.startswith("dynamo"):
            tokens = torch.export.Dim("T", min=1, max=4096)
            torch.onnx.export(wrapper, (x,), str(path), dynamo=True, input_names=["x"],
                              output_names=["y"], dynamic_shapes=({1: tokens},),
                              opset_version=18, external_data=False)
        else:
            torch.onnx.export(wrapper, (x,), str(path), dynamo=False, input_names=["x"],
                              output_names=["y"], dynamic_axes={"x": {1: "T"}, "y": {1: "T"}},
                              opset_version=17)


def export_failure(error):
    """The line of an exporter's exception that says what failed."""
    text = "\n".join(str(e) for e in (error, error.__cause__) if e)
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for line in lines:
        if any(w in line for w in ("No ONNX function", "not supported", "Could not guard",
                                   "data-dependent", "Unsupported", "Error:")):
            return line[:300]
    return (lines[0] if lines else repr(error))[:300]


def inputs_for(block, tokens, seed):
    """Inputs whose routing is stable: a token whose float32 and float64 outputs
    disagree (a near tie in the top-k) is redrawn."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(1, tokens, HIDDEN, generator=generator)
    wrapper64 = Block(block).double()
    for _ in range(20):
        with torch.no_grad():
            y64 = wrapper64(x.double())
            y32 = Block(block.float())(x)
        wrapper64 = Block(block).double()
        bad = ((y32.double() - y64).abs().amax(-1) >
               1e-5 * y64.abs().amax() + 1e-7)[0]
        if not bad.any():
            break
        x[0, bad] = torch.randn(int(bad.sum()), HIDDEN, generator=generator)
    block.float()
    with torch.no_grad():
        y = Block(block)(x)
    return x.numpy(), y.numpy()


def check_ort(path, cases):
    import onnxruntime
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - the reason is recorded
        return None, f"ONNX Runtime cannot load it: {str(e).splitlines()[0][:200]}"
    worst = 0.0
    for x, y in cases:
        try:
            (out,) = session.run(None, {session.get_inputs()[0].name: x})
        except Exception as e:  # noqa: BLE001
            return None, f"ONNX Runtime cannot run it: {str(e).splitlines()[0][:200]}"
        if out.shape != y.shape:
            return False, f"ONNX Runtime gives shape {out.shape}, torch {y.shape}"
        err = float(np.max(np.abs(out - y)))
        worst = max(worst, err / (RTOL * float(np.max(np.abs(y))) + ATOL))
        if not err <= RTOL * float(np.max(np.abs(y))) + ATOL:
            return False, f"ONNX Runtime differs from torch by {err:.3g} at T={x.shape[1]}"
    return True, f"within {worst:.2g} of the tolerance"


# transformers before 5 has only the eager experts (a loop over the experts hit);
# its files are named apart (generated in a virtual environment of their own).
TRANSFORMERS4 = int(transformers.__version__.split(".")[0]) < 5


def write_fixture(arch, exporter, model, block, status):
    name = f"{arch}__{exporter}" + ("_transformers4" if TRANSFORMERS4 else "")
    folder = OUT / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    implementation = exporter.split("_", 1)[1]
    if exporter.startswith("transformers"):
        # What the exporter picks for a whole model: batched_mm for its CUDA
        # fusions (they fuse it into com.microsoft.MoE), the default otherwise.
        implementation = "batched_mm" if exporter == "transformers_cuda" else "grouped_mm"
    set_experts(model, implementation)
    path = folder / "model.onnx"
    try:
        export(Block(block).eval(), exporter, path)
    except Exception as e:  # noqa: BLE001 - the reason is the result
        shutil.rmtree(folder)
        status[name] = {"written": False, "reason": export_failure(e)}
        return
    # onnx's checker does not know com.microsoft ops (nor a domain left out of
    # opset_import, as transformers' exporter writes them); ONNX Runtime's load
    # below checks those files.
    if all(n.domain in ("", "ai.onnx") for n in onnx.load(str(path)).graph.node):
        onnx.checker.check_model(str(path))
    set_experts(model, "eager")
    cases = [inputs_for(block, t, 100 + t) for t in TOKENS]
    ort_ok, ort_note = check_ort(path, cases)
    contrib = any(n.domain not in ("", "ai.onnx") for n in onnx.load(str(path)).graph.node)
    if ort_ok is None and not contrib:
        # Only the contrib ops of a file may be beyond ONNX Runtime's CPU kernels.
        ort_ok = False
    if ort_ok is False:
        if exporter.endswith("eager") and arch == "mixtral":
            # Kept as the near miss raising must explain: a loop over the experts
            # the trace hit, right only for inputs that hit as many.
            (OUT / "nearmiss").mkdir(exist_ok=True)
            shutil.copy(path, OUT / "nearmiss" / f"{name}.onnx")
        shutil.rmtree(folder)
        status[name] = {"written": False, "reason": f"the exporter writes a wrong file: {ort_note}"}
        return
    save_fixture(folder, arch, exporter, block, cases, ort_ok, ort_note, status)


def save_fixture(folder, arch, exporter, block, cases, ort_ok, ort_note, status):
    """Writes the cases and the manifest of the fixture whose model.onnx is in
    `folder`, and records it in `status`."""
    name = folder.name
    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False).graph
    x_name, y_name = graph.input[0].name, graph.output[0].name
    manifest_cases = []
    for (x, y) in cases:
        t = x.shape[1]
        (folder / f"T{t}").mkdir()
        np.save(folder / f"T{t}" / "input_0.npy", x)
        np.save(folder / f"T{t}" / "output_0.npy", y)
        manifest_cases.append({
            "T": t,
            "inputs": [{"name": x_name, "file": f"T{t}/input_0.npy", "shape": list(x.shape),
                        "dtype": str(x.dtype)}],
            "outputs": [{"name": y_name, "file": f"T{t}/output_0.npy", "shape": list(y.shape),
                         "dtype": "float32"}],
        })
    manifest = {
        "name": name, "arch": arch, "exporter": exporter,
        "block": type(block).__name__, "form": "real_export", "is_moe": True,
        "moe_layers": 1, "model": "model.onnx",
        "tolerance": {"rtol": RTOL, "atol": ATOL,
                      "rule": "max|out - ref| <= rtol * max|ref| + atol"},
        "reference": f"transformers {transformers.__version__} eager experts, torch "
                     f"{torch.__version__.split('+')[0]}, float32",
        "ort": bool(ort_ok), "cases": manifest_cases,
    }
    if ort_ok is None:
        manifest["ort_reason"] = ort_note
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    status[name] = {"written": True, "ort": ort_note}


# Whole one-layer causal LMs (`input_ids [1, T]` -> logits, no KV cache), exported by
# torch.onnx (dynamo and TorchScript) with the batched_mm experts, for WHOLE_ARCHS
# (every architecture with --full). Written to whole/<arch>__whole_<tool>/ like the
# blocks.
# `whole_cpu` and `whole_cuda` are transformers' exporter without a cache and with ONNX
# Runtime's CPU or CUDA fusions (RotaryEmbedding, SkipSimplifiedLayerNormalization; for
# CUDA also MultiHeadAttention and com.microsoft.MoE); `whole_kv_cpu` and `whole_kv_cuda`
# the KV-cache export with them (GroupQueryAttention), all at ORT_ATTENTION_SIZES.
WHOLE_EXPORTERS = ("whole_dynamo", "whole_torchscript", "whole_cpu", "whole_cuda",
                   "whole_kv", "whole_kv_cpu", "whole_kv_cuda")
# The exporters that write ONNX Runtime's fused ops.
FUSED_EXPORTERS = ("whole_cpu", "whole_cuda", "whole_kv_cpu", "whole_kv_cuda")


class Logits(torch.nn.Module):
    """The model on input ids, returning only its logits (no KV cache)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(input_ids=x, use_cache=False).logits


def export_fused_logits(model, fusions, path, ids):
    """`model` on input ids to logits, without a cache, as transformers' exporter
    writes it with ONNX Runtime's `fusions` (cpu or cuda), in one file at `path`."""
    from transformers.exporters.exporter_onnx import OnnxConfig, OnnxExporter

    folder = path.parent / "export"
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        exported = OnnxExporter().export(
            model, {"input_ids": ids, "use_cache": False},
            config=OnnxConfig(dynamic=True, ort_fusions=fusions))
        exported.save_pretrained(str(folder))
    onnx.save(onnx.load(str(folder / "model.onnx")), str(path))
    shutil.rmtree(folder)


def write_whole_fixture(arch, exporter, model, block, status):
    name = f"{arch}__{exporter}"
    folder = OUT / "whole" / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    path = folder / "model.onnx"
    tool = exporter.split("_", 1)[1]
    set_experts(model, "batched_mm")
    ids = torch.randint(0, SIZES["vocab_size"], (1, 7), generator=torch.Generator().manual_seed(7))
    try:
        if tool in ("cpu", "cuda"):
            export_fused_logits(model, tool, path, ids)
        else:
            export(Logits(model).eval(), f"{tool}_batched_mm", path, x=ids)
    except Exception as e:  # noqa: BLE001 - the reason is the result
        shutil.rmtree(folder)
        status[name] = {"written": False, "reason": export_failure(e)}
        return
    set_experts(model, "eager")
    cases = []
    for t in TOKENS:
        x = torch.randint(0, SIZES["vocab_size"], (1, t),
                          generator=torch.Generator().manual_seed(100 + t))
        with torch.no_grad():
            cases.append((x.numpy(), Logits(model)(x).numpy()))
    ort_ok, ort_note = check_ort(path, cases)
    if ort_ok is False:
        shutil.rmtree(folder)
        status[name] = {"written": False, "reason": f"the exporter writes a wrong file: {ort_note}"}
        return
    save_fixture(folder, arch, exporter, block, cases, ort_ok, ort_note, status)


# Whole one-layer causal LMs with a KV cache, as transformers' exporter writes them
# (dynamo, DynamicCache as inputs `past_key_values.layers.<l>.keys|values` and outputs
# `cache.layers.<l>.keys|values`): each case is a past of P tokens and T new ones.
KV_CASES = ((5, 1), (4, 7), (1, 33))
# The architectures whose KV-cache export is committed (every one with --full).
KV_ARCHS = ("mixtral", "qwen3_moe", "deepseek_v3", "gpt_oss", "phimoe")
# And those of the fused KV-cache exports.
FUSED_ARCHS = ("mixtral",)


def cache_tensor(cache, name):
    """The tensor of `cache` that an exported input or output `name` stands for."""
    parts = name.split(".")
    tensor = getattr(cache.layers[int(parts[2])], parts[3], None) \
        if len(parts) == 4 and parts[1] == "layers" and parts[2].isdigit() else None
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} is not a tensor of the cache")
    return tensor.detach().clone().numpy()


def save_cache_cases(folder, cases):
    """Runs `folder/model.onnx` on ONNX Runtime at each (label, past, T, feed,
    reference[, rows]) of `cases` (feed and reference map an input or output name to
    its array; ONNX Runtime's present caches are compared on their first `rows` rows
    when given, the rest being unspecified) and saves the inputs and torch's outputs
    as `<label>/input_<i>.npy`, `output_<j>.npy`. Returns
    the manifest's cases, the worst ONNX Runtime error as a fraction of the
    tolerance and why ONNX Runtime could not run the file (None when it could), or
    the reason the file is wrong."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(folder / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    manifest_cases, worst, ort_reason = [], 0.0, None
    for label, p, t, feed, reference, *rows in cases:
        feeds = {n: feed(n) for n in inputs}
        references = [reference(n) for n in outputs]
        try:
            theirs = [] if ort_reason else session.run(None, feeds)
        except onnxruntime.capi.onnxruntime_pybind11_state.NotImplemented as e:
            # A kernel ONNX Runtime lacks on the CPU (com.microsoft.MoE with fc3):
            # the file is checked against torch only.
            ort_reason = str(e).split("Status Message: ")[-1][:200]
            theirs = []
        for n, ref, got in zip(outputs, references, theirs):
            if rows and ref.ndim == 4:
                ref, got = ref[:, :, :rows[0]], got[:, :, :rows[0]]
            bound = RTOL * float(np.max(np.abs(ref))) + ATOL
            error = float(np.max(np.abs(ref - got))) if got.shape == ref.shape else np.inf
            if not error <= bound:
                return ("the exporter writes a wrong file: ONNX Runtime differs from torch "
                        f"in {n} at past {p}, T = {t}")
            worst = max(worst, error / bound)
        case_dir = folder / label
        case_dir.mkdir()
        case = {"T": t, "past": p, "inputs": [], "outputs": []}
        for i, n in enumerate(inputs):
            np.save(case_dir / f"input_{i}.npy", feeds[n])
            case["inputs"].append({"name": n, "file": f"{label}/input_{i}.npy",
                                   "shape": list(feeds[n].shape), "dtype": str(feeds[n].dtype)})
        for j, (n, ref) in enumerate(zip(outputs, references)):
            np.save(case_dir / f"output_{j}.npy", ref)
            case["outputs"].append({"name": n, "file": f"{label}/output_{j}.npy",
                                    "shape": list(ref.shape), "dtype": str(ref.dtype)})
            if rows and ref.ndim == 4:
                case["outputs"][-1]["rows"] = rows[0]
        manifest_cases.append(case)
    return manifest_cases, worst, ort_reason


def greedy_tokens(model):
    """The greedy tokens transformers' generate chooses after a fixed prompt, for
    examples/generate.py to reproduce through the cache."""
    prompt = torch.randint(0, SIZES["vocab_size"], (1, 4), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        # No end-of-sequence token: plain argmax for all 8 steps.
        greedy = transformers.GenerationConfig(max_new_tokens=8, do_sample=False,
                                               eos_token_id=None,
                                               pad_token_id=SIZES["pad_token_id"])
        chosen = model.generate(prompt, generation_config=greedy)[0, prompt.shape[1]:]
    return {"prompt": prompt[0].tolist(), "tokens": chosen.tolist()}


def write_whole_kv_fixture(arch, model, block, status, exporter="whole_kv"):
    """`whole/<arch>__<exporter>/`: the model exported by transformers' exporter with
    its DynamicCache (and ONNX Runtime's fusions for `whole_kv_cpu` and `_cuda`), with
    torch's logits and present caches at KV_CASES."""
    from transformers.exporters.exporter_onnx import OnnxConfig, OnnxExporter

    name = f"{arch}__{exporter}"
    fusions = exporter.split("_")[2] if exporter.count("_") == 2 else None
    folder = OUT / "whole" / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    path = folder / "model.onnx"
    set_experts(model, "batched_mm")
    generator = torch.Generator().manual_seed(11)
    try:
        with torch.no_grad():
            past = model(input_ids=torch.randint(0, SIZES["vocab_size"], (1, 5),
                                                 generator=generator),
                         use_cache=True).past_key_values
        ids = torch.randint(0, SIZES["vocab_size"], (1, 3), generator=generator)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            exported = OnnxExporter().export(
                model, {"input_ids": ids, "past_key_values": past, "use_cache": True},
                config=OnnxConfig(dynamic=True, ort_fusions=fusions))
            exported.save_pretrained(str(folder / "export"))
        onnx.save(onnx.load(str(folder / "export" / "model.onnx")), str(path))
        shutil.rmtree(folder / "export")
    except Exception as e:  # noqa: BLE001 - the reason is the result
        shutil.rmtree(folder)
        status[name] = {"written": False, "reason": export_failure(e)}
        return
    set_experts(model, "eager")
    cases = []
    for p, t in KV_CASES:
        generator = torch.Generator().manual_seed(100 * p + t)
        prefix = torch.randint(0, SIZES["vocab_size"], (1, p), generator=generator)
        new = torch.randint(0, SIZES["vocab_size"], (1, t), generator=generator)
        with torch.no_grad():
            cache = model(input_ids=prefix, use_cache=True).past_key_values
            # The model extends the cache it is given: the feeds keep the past.
            past = copy.deepcopy(cache)
            result = model(input_ids=new, past_key_values=cache, use_cache=True)
        cases.append((f"T{t}", p, t, lambda n, new=new, past=past:
                      new.numpy() if n == "input_ids" else cache_tensor(past, n),
                      lambda n, result=result: result.logits.numpy() if n == "logits"
                      else cache_tensor(result.past_key_values, n)))
    written = save_cache_cases(folder, cases)
    if isinstance(written, str):
        shutil.rmtree(folder)
        status[name] = {"written": False, "reason": written}
        return
    manifest_cases, worst, ort_reason = written
    manifest = {
        "name": name, "arch": arch, "exporter": exporter, "block": type(block).__name__,
        "form": "real_export", "is_moe": True, "moe_layers": 1, "model": "model.onnx",
        "tolerance": {"rtol": RTOL, "atol": ATOL,
                      "rule": "max|out - ref| <= rtol * max|ref| + atol"},
        "reference": f"transformers {transformers.__version__} eager model with its "
                     f"DynamicCache, torch {torch.__version__.split('+')[0]}, float32",
        "ort": ort_reason is None, "cases": manifest_cases,
    }
    if ort_reason:
        manifest["ort_reason"] = ort_reason
    manifest["generate"] = greedy_tokens(model)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    status[name] = {"written": True, "ort": ort_reason or f"within {worst:.2g} of the tolerance"}


# onnxruntime-genai's model builder writes whole models (KV cache as
# `past_key_values.<l>.key|value` in and `present.<l>.key|value` out, attention_mask,
# GroupQueryAttention, com.microsoft.MoE) for the architectures it knows.
# (Its Phi-MoE is written for CUDA in int4 only.)
GENAI_ARCHS = ("gpt_oss", "lfm2_moe", "granitemoehybrid")
# ONNX Runtime's GroupQueryAttention takes head sizes that are multiples of 16.
ORT_ATTENTION_SIZES = dict(hidden_size=64, d_model=64, head_dim=16, kv_channels=16,
                           qk_nope_head_dim=16, qk_rope_head_dim=16, v_head_dim=16)
# Beyond ORT_ATTENTION_SIZES: Granite's Mamba heads span 2 x hidden.
GENAI_OVERRIDES = {"granitemoehybrid": dict(mamba_d_head=32)}
# (past, T): a first prompt, then steps over a cache.
GENAI_CASES = ((0, 1), (0, 7), (0, 33), (5, 1), (4, 7), (1, 33))


def genai_cache_tensor(cache, name):
    """The tensor of `cache` that the builder's `past_key_values.<l>.key` or
    `present.<l>.value` stands for."""
    parts = name.split(".")
    layer, kind = int(parts[-2]), parts[-1]
    return getattr(cache.layers[layer], {"key": "keys", "value": "values"}[kind]) \
        .detach().clone().numpy()


def write_genai(arch, status):
    """`whole/<arch>__genai_cpu/` from onnxruntime-genai's builder (fp32, CPU), with
    torch's logits and present caches at GENAI_CASES. gpt-oss is built with
    `windowed_kv_cache=false`, and with its default window-sized cache
    (sliding_window_cache = 1) as `<arch>__genai_cpu_windowed/` at WINDOWED_CASES:
    the cache buffers there hold the window's capacity, the positions in their first
    rows (every one: the cases are shorter than the window), zeros after."""
    import subprocess
    import tempfile

    from tokenizers import Tokenizer, models as tokenizer_models, pre_tokenizers
    name = f"{arch}__genai_cpu"
    model, block = build_block(arch, {**ORT_ATTENTION_SIZES, **GENAI_OVERRIDES.get(arch, {})})
    folder = OUT / "whole" / name
    if folder.exists():
        shutil.rmtree(folder)
    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        model.save_pretrained(work / "hf")
        # The builder reads a tokenizer; a word-level one over the tiny vocabulary.
        vocab = {f"t{i}": i for i in range(SIZES["vocab_size"])}
        tokenizer = Tokenizer(tokenizer_models.WordLevel(vocab=vocab, unk_token="t0"))
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
        transformers.PreTrainedTokenizerFast(
            tokenizer_object=tokenizer, unk_token="t0", pad_token="t0", bos_token="t1",
            eos_token="t2").save_pretrained(work / "hf")

        def build(out, *extra):
            built = subprocess.run(
                [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i",
                 str(work / "hf"), "-o", str(out), "-p", "fp32", "-e", "cpu", *extra],
                capture_output=True, text=True)
            lines = [l for l in built.stderr.splitlines() if l.strip()]
            return None if built.returncode == 0 else (lines[-1] if lines else "failed")[:300]

        windowed = arch == "gpt_oss"
        failure = build(work / "out", *(["--extra_options", "windowed_kv_cache=false"]
                                        if windowed else []))
        if failure:
            status[name] = {"written": False, "reason": failure}
            return
        folder.mkdir(parents=True)
        onnx.save(onnx.load(str(work / "out" / "model.onnx")), str(folder / "model.onnx"))
        windowed_folder = OUT / "whole" / f"{name}_windowed"
        if windowed_folder.exists():
            shutil.rmtree(windowed_folder)
        if windowed and not build(work / "windowed"):
            windowed_folder.mkdir(parents=True)
            onnx.save(onnx.load(str(work / "windowed" / "model.onnx")),
                      str(windowed_folder / "model.onnx"))
    cases = []
    for p, t in GENAI_CASES:
        generator = torch.Generator().manual_seed(100 * p + t)
        prefix = torch.randint(0, SIZES["vocab_size"], (1, p), generator=generator)
        new = torch.randint(0, SIZES["vocab_size"], (1, t), generator=generator)
        with torch.no_grad():
            cache = transformers.DynamicCache(config=model.config)
            if p:
                cache = model(input_ids=prefix, past_key_values=cache, use_cache=True) \
                    .past_key_values
            empty = {n: np.zeros((1, model.config.num_key_value_heads, 0,
                                  ORT_ATTENTION_SIZES["head_dim"]), np.float32) for n in ("key", "value")}

            # The model extends the cache it is given: the feeds keep the past.
            past = copy.deepcopy(cache)

            def feed(n, new=new, past=past, p=p, t=t, empty=empty):
                if n == "input_ids":
                    return new.numpy()
                if n == "attention_mask":
                    return np.ones((1, p + t), np.int64)
                return genai_cache_tensor(past, n) if p else empty[n.split(".")[-1]]
            result = model(input_ids=new, past_key_values=cache, use_cache=True)
        cases.append((f"P{p}_T{t}", p, t, feed,
                      lambda n, result=result: result.logits.numpy() if n == "logits"
                      else genai_cache_tensor(result.past_key_values, n)))
    save_genai_fixture(folder, arch, "genai_cpu", model, block, cases, status)
    if windowed_folder.exists():
        capacity = model.config.sliding_window

        def padded(array):
            """A cache `array` [B, KV, L, D] in a window-sized buffer."""
            buffer = np.zeros(array.shape[:2] + (capacity,) + array.shape[3:], array.dtype)
            buffer[:, :, :array.shape[2]] = array
            return buffer

        windowed_cases = [
            (label, p, t,
             lambda n, feed=feed: feed(n) if n in ("input_ids", "attention_mask")
             else padded(feed(n)),
             lambda n, want=want: want(n) if n == "logits" else padded(want(n)), p + t)
            for label, p, t, feed, want in cases if (p, t) in WINDOWED_CASES]
        save_genai_fixture(windowed_folder, arch, "genai_cpu_windowed", model, block,
                           windowed_cases, status)


# The cases of the window-sized cache build.
WINDOWED_CASES = ((0, 7), (5, 1))


def save_genai_fixture(folder, arch, exporter, model, block, cases, status):
    """The cases and manifest of an onnxruntime-genai build in `folder`."""
    name = folder.name
    written = save_cache_cases(folder, cases)
    if isinstance(written, str):
        shutil.rmtree(folder)
        status[name] = {"written": False, "reason": written}
        return
    manifest_cases, worst, _ = written
    manifest = {
        "name": name, "arch": arch, "exporter": exporter, "block": type(block).__name__,
        "form": "real_export", "is_moe": True, "moe_layers": 1, "model": "model.onnx",
        "tolerance": {"rtol": RTOL, "atol": ATOL,
                      "rule": "max|out - ref| <= rtol * max|ref| + atol"},
        "reference": f"transformers {transformers.__version__} eager model with its "
                     f"DynamicCache, torch {torch.__version__.split('+')[0]}, float32",
        "ort": True, "cases": manifest_cases, "generate": greedy_tokens(model),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    status[name] = {"written": True, "ort": f"within {worst:.2g} of the tolerance"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated architectures")
    parser.add_argument("--exporters", help="comma-separated exporters")
    parser.add_argument("--full", action="store_true",
                        help="every exporter for every architecture, not only the committed set")
    parser.add_argument("--out", type=pathlib.Path,
                        help="write the fixtures and exports.json here instead (check.py "
                             "--root checks them)")
    args = parser.parse_args()
    global OUT
    if args.out:
        OUT = args.out.resolve()
        OUT.mkdir(parents=True, exist_ok=True)
    archs = args.only.split(",") if args.only else list(ARCHS)
    exporters = args.exporters.split(",") if args.exporters else list(EXPORTERS)
    status_path = OUT / "exports.json"
    status = json.loads(status_path.read_text()) if status_path.exists() else {}
    for arch in archs:
        try:
            model, block = build_block(arch)
        except Exception as e:  # noqa: BLE001
            for exporter in exporters:
                status[f"{arch}__{exporter}"] = {
                    "written": False, "reason": f"does not build from its config: {e}"[:300]}
            continue
        if arch in GENAI_ARCHS and (not args.exporters or "genai_cpu" in exporters):
            try:
                write_genai(arch, status)
            except ImportError as e:
                status[f"{arch}__genai_cpu"] = {"written": False,
                                                "reason": f"onnxruntime-genai missing: {e}"}
            except Exception:  # noqa: BLE001
                status[f"{arch}__genai_cpu"] = {
                    "written": False, "reason": traceback.format_exc().splitlines()[-1][:300]}
            print(f"{arch}__genai_cpu: {status[f'{arch}__genai_cpu']}", flush=True)
        for exporter in WHOLE_EXPORTERS:
            if args.exporters and exporter not in exporters:
                continue
            committed = KV_ARCHS if exporter == "whole_kv" else \
                FUSED_ARCHS if exporter in FUSED_EXPORTERS else WHOLE_ARCHS
            if not (args.full or arch in committed):
                continue
            try:
                if exporter == "whole_kv":
                    write_whole_kv_fixture(arch, model, block, status)
                elif exporter in FUSED_EXPORTERS:
                    fused, fused_block = build_block(arch, ORT_ATTENTION_SIZES)
                    if exporter.startswith("whole_kv_"):
                        write_whole_kv_fixture(arch, fused, fused_block, status, exporter)
                    else:
                        write_whole_fixture(arch, exporter, fused, fused_block, status)
                else:
                    write_whole_fixture(arch, exporter, model, block, status)
            except Exception:  # noqa: BLE001
                status[f"{arch}__{exporter}"] = {
                    "written": False, "reason": traceback.format_exc().splitlines()[-1][:300]}
            print(f"{arch}__{exporter}: {status[f'{arch}__{exporter}']}", flush=True)
        for exporter in exporters:
            if exporter in WHOLE_EXPORTERS or exporter == "genai_cpu":
                continue
            if not (args.full or args.exporters or arch in CORE_ARCHS or
                    exporter in EXPORTERS[:2]):
                continue
            name = f"{arch}__{exporter}" + ("_transformers4" if TRANSFORMERS4 else "")
            try:
                write_fixture(arch, exporter, model, block, status)
            except Exception:  # noqa: BLE001
                status[name] = {
                    "written": False, "reason": traceback.format_exc().splitlines()[-1][:300]}
            print(f"{name}: {status[name]}", flush=True)
    status_path.write_text(json.dumps(dict(sorted(status.items())), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
