"""moe_mlir.export on every transformers MoE architecture that builds from its config:
the exported block raises to one moe.layer and the compiled file matches the eager
block at T = 1, 7, 33; a whole model exports with its MoE layer raised. Needs torch and
transformers (test/models/real/requirements.txt); skipped without them (the error
without torch is tested in test_moe_mlir.py)."""
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import moe_mlir

REAL = pathlib.Path(__file__).resolve().parents[1] / "models" / "real"


torch = pytest.importorskip("torch", reason="moe_mlir.export needs torch")
transformers = pytest.importorskip("transformers", reason="the models come from transformers")
sys.path.insert(0, str(REAL))
import generate  # noqa: E402  (test/models/real/generate.py: the tiny configs)

# Blocks torch.export cannot trace whatever the experts implementation.
NOT_EXPORTED = {
    "longcat_flash": "its zero-computation experts loop over the experts a batch hits, "
                     "a data-dependent loop torch.export cannot trace",
}


def raised_layers(path):
    out = subprocess.run([moe_mlir._compiler(), str(path), "--moe-raise"],
                         capture_output=True, text=True, check=True).stdout
    return out.count("= moe.layer ")


def buildable():
    archs = []
    for arch in generate.ARCHS:
        try:
            generate.build_block(arch)
        except Exception:  # noqa: BLE001 - listed in docs/exports.md as not building
            continue
        reason = NOT_EXPORTED.get(arch)
        archs.append(pytest.param(arch, marks=pytest.mark.xfail(reason=reason, strict=True))
                     if reason else arch)
    return archs


@pytest.mark.parametrize("arch", buildable())
def test_export_block_raises_and_matches(arch, tmp_path):
    model, block = generate.build_block(arch)
    x = torch.randn(1, 7, generate.HIDDEN, generator=torch.Generator().manual_seed(5))
    before = model.config._experts_implementation
    path = moe_mlir.export(generate.Block(block), (x,), tmp_path / f"{arch}.onnx")
    assert model.config._experts_implementation == before
    assert raised_layers(path) == 1
    session = moe_mlir.InferenceSession(str(path))
    for tokens in (1, 7, 33):
        xt = torch.randn(1, tokens, generate.HIDDEN,
                         generator=torch.Generator().manual_seed(tokens))
        with torch.no_grad():
            expected = generate.Block(block)(xt).numpy()
        (y,) = session.run(None, {session.get_inputs()[0].name: xt.numpy()})
        bound = 1e-4 * float(np.max(np.abs(expected))) + 1e-6
        assert float(np.max(np.abs(y - expected))) <= bound, (arch, tokens)


def test_export_whole_model_raises(tmp_path):
    model, _ = generate.build_block("mixtral")
    ids = torch.randint(0, 128, (1, 7), generator=torch.Generator().manual_seed(1))
    path = moe_mlir.export(model, (ids,), tmp_path / "mixtral.onnx")
    assert raised_layers(path) == 1


def test_export_refuses_old_opsets(tmp_path):
    _, block = generate.build_block("mixtral")
    with pytest.raises(ValueError, match="opset 17 is below 18"):
        moe_mlir.export(generate.Block(block), (torch.randn(1, 3, generate.HIDDEN),),
                        tmp_path / "m.onnx", opset=17)
