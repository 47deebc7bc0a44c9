"""Exporting transformers MoE models to ONNX so that moe-opt raises their MoE layers.

    import moe_mlir
    moe_mlir.export(model, (input_ids,), "model.onnx")   # torch and transformers needed

transformers runs MoE experts through an "experts implementation". Its default,
`grouped_mm`, does not export with torch.onnx's dynamo exporter (no ONNX function for
`transformers.grouped_mm_fallback`), and `eager` loops over the experts a trace saw,
so the file is right only for the traced tokens. `batched_mm` exports with every
exporter and `--moe-raise` turns it into `moe.layer`; export() selects it for the
export and restores the model's own afterwards. The token axis (axis 1 of every input
of rank 2 or more) stays dynamic, and the file is checked against the eager model with
ONNX Runtime at the example inputs and at one token fewer.
"""
import contextlib

import numpy as np

__all__ = ["export"]


@contextlib.contextmanager
def _experts_implementation(model, implementation):
    """Every config reachable from `model` uses `implementation` for its experts."""
    configs = []
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_experts_implementation") and \
                all(config is not c for c, _ in configs):
            configs.append((config, config._experts_implementation))
    for config, _ in configs:
        config._experts_implementation = implementation
    try:
        yield len(configs)
    finally:
        for config, previous in configs:
            config._experts_implementation = previous


def _first_tensor(outputs):
    import torch
    if isinstance(outputs, torch.Tensor):
        return outputs
    if hasattr(outputs, "to_tuple"):
        outputs = outputs.to_tuple()
    for item in outputs:
        if isinstance(item, torch.Tensor):
            return item
    raise TypeError("the model returns no tensor")


def _first_output(model):
    """`model` returning only its first tensor (logits, or a block's hidden states),
    without a KV cache, which no exporter writes as an output."""
    import inspect

    import torch
    takes_cache = "use_cache" in inspect.signature(model.forward).parameters

    class FirstOutput(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            kwargs = {"use_cache": False} if takes_cache else {}
            return _first_tensor(self.model(*inputs, **kwargs))

    return FirstOutput().eval()


def _check(model, inputs, path, rtol, atol):
    import onnxruntime
    import torch
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    cases = [inputs]
    if all(x.dim() < 2 or x.shape[1] > 1 for x in inputs):
        cases.append(tuple(x[:, :-1] if x.dim() >= 2 else x for x in inputs))
    for case in cases:
        with torch.no_grad():
            expected = model(*case).float().numpy()
        (got, *_) = session.run(None, dict(zip(names, (x.numpy() for x in case))))
        error = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else None
        bound = rtol * float(np.max(np.abs(expected))) + atol
        if error is None or error > bound:
            shape = case[0].shape
            raise ValueError(
                f"moe_mlir.export: {path} does not reproduce the model at input shape "
                f"{tuple(shape)}: " + (f"shape {got.shape} != {expected.shape}" if error is None
                                       else f"max abs error {error:.3g} > {bound:.3g}"))


def export(model, example_inputs, path, *, opset=18, check=True, rtol=1e-4, atol=1e-6,
           max_tokens=4096):
    """Exports `model` (a transformers model or a module holding one) to the ONNX file
    `path` with torch.onnx's dynamo exporter, its first output only (the logits, or a
    block's hidden states) and no KV cache, its experts in the `batched_mm`
    implementation, the token axis dynamic, at `opset` (18 or later), and checks the
    file against the eager model with ONNX Runtime (within rtol * max|ref| + atol).

    `example_inputs` is a tensor or a tuple of tensors, passed positionally. Raises
    ImportError without torch, ValueError when the exported file disagrees with the
    model. Returns `path`.
    """
    try:
        import torch
    except ImportError as error:
        raise ImportError("moe_mlir.export needs torch (and transformers for the model)") \
            from error
    if opset < 18:
        raise ValueError(f"moe_mlir.export: opset {opset} is below 18, the first opset with "
                         "the ops the exported experts use in one node each")
    inputs = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) \
        else (example_inputs,)
    if not all(isinstance(x, torch.Tensor) for x in inputs):
        raise TypeError("moe_mlir.export: example_inputs must be tensors")
    tokens = torch.export.Dim("T", min=1, max=max_tokens)
    dynamic_shapes = tuple({1: tokens} if x.dim() >= 2 else None for x in inputs)
    wrapper = _first_output(model.eval())
    with _experts_implementation(model, "batched_mm"), torch.no_grad():
        # The wrapper takes its inputs as *inputs: one entry for the tuple.
        torch.onnx.export(wrapper, inputs, str(path), dynamo=True,
                          dynamic_shapes=(dynamic_shapes,), opset_version=opset)
        if check:
            _check(wrapper, inputs, path, rtol, atol)
    return path
