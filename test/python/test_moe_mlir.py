"""The moe_mlir package: every fixture compiled and run against its numpy reference and
ONNX Runtime, the signature queries, the IR entry points and every error path."""
import json
import os
import pathlib
import subprocess
import sys
import threading

import numpy as np
import pytest

import moe_mlir

MODELS = pathlib.Path(__file__).resolve().parents[1] / "models"
FIXTURES = sorted(p.parent.name for p in MODELS.glob("*/manifest.json"))

try:
    import onnxruntime
except ImportError:
    onnxruntime = None


def manifest(name):
    return json.loads((MODELS / name / "manifest.json").read_text())


def feeds_of(name, case):
    return {spec["name"]: np.load(MODELS / name / spec["file"]) for spec in case["inputs"]}


def bound(m, reference):
    tolerance = m["tolerance"]
    return tolerance["rtol"] * float(np.abs(reference).max()) + tolerance["atol"]


@pytest.fixture(scope="module")
def silu():
    return moe_mlir.InferenceSession(str(MODELS / "contrib_moe_silu" / "model.onnx"))


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_matches_references(name):
    m = manifest(name)
    session = moe_mlir.InferenceSession(str(MODELS / name / m["model"]))
    ort = None
    if onnxruntime is not None and m.get("ort", False):
        ort = onnxruntime.InferenceSession(str(MODELS / name / m["model"]),
                                           providers=["CPUExecutionProvider"])
    for case in m["cases"]:
        feeds = feeds_of(name, case)
        (out,) = session.run(None, feeds)
        reference = np.load(MODELS / name / case["outputs"][0]["file"])
        assert out.shape == reference.shape
        assert np.abs(out - reference).max() <= bound(m, reference), f"T={case['T']}"
        if ort is not None:
            theirs = ort.run(None, feeds)[0]
            assert np.abs(out - theirs).max() <= bound(m, theirs), f"T={case['T']} vs ORT"


def test_signature(silu):
    inputs, outputs = silu.get_inputs(), silu.get_outputs()
    assert [(i.name, i.shape, i.type) for i in inputs] == [
        ("x", ["T", 16], "tensor(float)"), ("router_probs", ["T", 8], "tensor(float)")]
    assert [(o.name, o.shape, o.type) for o in outputs] == [("y", ["T", 16], "tensor(float)")]


def test_outputs_by_name_and_without_copies(silu):
    feeds = {"x": np.ones((3, 16), np.float32), "router_probs": np.zeros((3, 8), np.float32)}
    (y,) = silu.run(["y"], feeds)
    assert y.shape == (3, 16) and y.dtype == np.float32
    # The array is a view of the runtime's buffer, not a copy of it.
    assert not y.flags["OWNDATA"] and y.base is not None
    everything = silu.run(None, feeds)
    assert np.array_equal(everything[0], y)


def test_compile_from_bytes_and_to_a_path(tmp_path):
    data = (MODELS / "batched_mm_gptoss" / "model.onnx").read_bytes()
    artifact = moe_mlir.compile(data, output=tmp_path / "m.so")
    assert pathlib.Path(artifact.path).exists()
    assert (tmp_path / "m.so.weights").exists()
    session = moe_mlir.InferenceSession(str(tmp_path / "m.so"))
    case = manifest("batched_mm_gptoss")["cases"][1]
    (y,) = session.run(None, feeds_of("batched_mm_gptoss", case))
    reference = np.load(MODELS / "batched_mm_gptoss" / case["outputs"][0]["file"])
    assert np.abs(y - reference).max() < 1e-4


def test_ir_entry_points():
    text = moe_mlir.import_onnx(MODELS / "batched_mm_gptoss" / "model.onnx")
    assert "func.func @main_graph" in text and 'onnx.node "TopK"' in text
    raised = moe_mlir.run_pipeline(text, "builtin.module(func.func(moe-raise))")
    assert raised.count("moe.layer") == 1


def test_threads_run_at_once(silu):
    case = manifest("contrib_moe_silu")["cases"][3]
    feeds = feeds_of("contrib_moe_silu", case)
    expected = silu.run(None, feeds)[0]
    results = [None] * 4

    def work(i):
        results[i] = silu.run(None, feeds)[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert np.array_equal(r, expected)


def test_beside_onnx():
    # The native module carries no ONNX protobuf descriptors: both import in one process,
    # in either order.
    for order in ("import onnx, moe_mlir", "import moe_mlir, onnx"):
        code = f"{order}; onnx.helper.make_tensor_value_info('x', 1, [1]); print('ok')"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if "No module named 'onnx'" in out.stderr:
            pytest.skip("onnx is not installed")
        assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("feeds, error, message", [
    ({"x": np.ones((2, 16), np.float32)}, ValueError, "input 'router_probs' is missing"),
    ({"x": np.ones((2, 16), np.float32), "router_probs": np.ones((2, 8), np.float32),
      "z": np.ones(1, np.float32)}, ValueError, "unknown input(s) z"),
    ({"x": np.ones((2, 16), np.float64), "router_probs": np.ones((2, 8), np.float32)},
     TypeError, "input 'x' must be float32 (tensor(float)), got float64"),
    ({"x": [[1.0] * 16], "router_probs": np.ones((1, 8), np.float32)},
     TypeError, "input 'x' must be a numpy.ndarray, got list"),
    ({"x": np.ones((2, 15), np.float32), "router_probs": np.ones((2, 8), np.float32)},
     ValueError, "input 'x' expects shape ['T', 16], got [2, 15]"),
])
def test_bad_feeds(silu, feeds, error, message):
    with pytest.raises(error) as info:
        silu.run(None, feeds)
    assert message in str(info.value)


def test_unknown_output(silu):
    feeds = {"x": np.ones((1, 16), np.float32), "router_probs": np.ones((1, 8), np.float32)}
    with pytest.raises(ValueError, match="unknown output 'z'"):
        silu.run(["z"], feeds)


def test_compile_errors(tmp_path):
    with pytest.raises(moe_mlir.CompileError, match="error"):
        moe_mlir.compile(b"this is not an onnx model")
    with pytest.raises(moe_mlir.CompileError, match="target 'tpu' is not supported"):
        moe_mlir.compile(MODELS / "contrib_moe_silu" / "model.onnx", target="tpu")
    with pytest.raises(moe_mlir.CompileError, match="--precision=int4 is not one of"):
        moe_mlir.compile(MODELS / "contrib_moe_silu" / "model.onnx", target="cuda",
                         precision="int4")
    with pytest.raises(moe_mlir.CompileError, match="precision 'fp16'"):
        moe_mlir.compile(MODELS / "contrib_moe_silu" / "model.onnx", precision="fp16")
    with pytest.raises(FileNotFoundError):
        moe_mlir.compile(tmp_path / "missing.onnx")
    with pytest.raises(moe_mlir.CompileError, match="cannot load"):
        moe_mlir.InferenceSession(str(tmp_path / "missing.so"))
    with pytest.raises(moe_mlir.CompileError, match="does not refer to a registered pass"):
        moe_mlir.run_pipeline("module {}", "builtin.module(no-such-pass)")


@pytest.mark.skipif(not pathlib.Path("/usr/local/cuda/nvvm/libdevice/libdevice.10.bc").exists()
                    and not os.environ.get("CUDA_HOME"), reason="no CUDA toolkit (libdevice)")
def test_cuda_session_without_driver(monkeypatch, silu):
    artifact = moe_mlir.compile(MODELS / "contrib_moe_silu" / "model.onnx", target="cuda",
                                arch="sm_80", precision="bf16")
    assert (artifact.device, artifact.arch) == ("cuda", "sm_80")
    assert [i.name for i in artifact.inputs] == ["x", "router_probs"]
    with pytest.raises(ValueError, match="compiled for cuda, not for device 'cpu'"):
        moe_mlir.InferenceSession(artifact)
    with pytest.raises(ValueError, match="compiled for cpu, not for device 'cuda'"):
        moe_mlir.InferenceSession(silu.artifact, device="cuda")
    session = moe_mlir.InferenceSession(artifact, device="cuda")
    # Feeds are checked before the device is touched; then the missing driver is named.
    with pytest.raises(ValueError, match="input 'x'"):
        session.run(None, {"x": np.ones((2, 8), np.float32),
                           "router_probs": np.ones((2, 8), np.float32)})
    monkeypatch.setenv("MOE_CUDA_DRIVER", "/nonexistent/libcuda.so.1")
    with pytest.raises(Exception, match="runs on CUDA \\(sm_80\\): no CUDA driver"):
        session.run(None, {"x": np.ones((2, 16), np.float32),
                           "router_probs": np.ones((2, 8), np.float32)})


def test_readme_example_runs_as_written():
    readme = (MODELS.parents[1] / "README.md").read_text()
    example = readme.split("```python\n", 1)[1].split("```", 1)[0]
    out = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True,
                         cwd=MODELS.parents[1])
    assert out.returncode == 0, out.stderr
    assert "(7, 16)" in out.stdout


def test_export_without_torch_names_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="moe_mlir.export needs torch"):
        moe_mlir.export(object(), (), "unused.onnx")


def test_outputs_that_are_one_value(tmp_path):
    # Two equal nodes become one value returned twice: both outputs come back, and
    # the buffer is released once.
    model = tmp_path / "twice.onnxtext"
    model.write_text("""<
  ir_version: 8,
  opset_import: ["" : 18]
>
twice (float[2, 3] x) => (float[2, 3] a, float[2, 3] b)
{
  a = Relu (x)
  b = Relu (x)
}
""")
    session = moe_mlir.InferenceSession(str(model))
    x = np.array([[-1.0, 2.0, -3.0], [4.0, -5.0, 6.0]], np.float32)
    for _ in range(3):
        a, b = session.run(None, {"x": x})
        np.testing.assert_array_equal(a, np.maximum(x, 0))
        np.testing.assert_array_equal(b, np.maximum(x, 0))


def test_output_that_is_a_view(tmp_path):
    # A Slice of another output whose type says nothing of its strides comes back
    # as a view of that output's buffer: the output holds the view's elements in
    # row-major order (rotary embeddings take the first half of the head like this).
    model = tmp_path / "view.onnxtext"
    model.write_text("""<
  ir_version: 8,
  opset_import: ["" : 18]
>
view (float[1, S, H, 8] x) => (float[1, H, S, 8] t, float[P, Q, R, U] y)
<int64[1] zero = {0}, int64[1] last = {3}, int64[1] two = {2}, int64[1] axes = {-1}>
{
  t = Transpose <perm = [0, 2, 1, 3]> (x)
  shape = Shape (t)
  width = Gather (shape, last)
  half = Div (width, two)
  y = Slice (t, zero, half, axes)
}
""")
    session = moe_mlir.InferenceSession(str(model))
    x = np.arange(1 * 3 * 2 * 8, dtype=np.float32).reshape(1, 3, 2, 8)
    t, y = session.run(None, {"x": x})
    np.testing.assert_array_equal(t, x.transpose(0, 2, 1, 3))
    np.testing.assert_array_equal(y, x.transpose(0, 2, 1, 3)[..., :4])


def test_inputs_that_disagree_on_a_named_size():
    # The past keys and values of a KV-cache export share the symbol of the past's
    # length; feeds that disagree on it are refused before anything runs.
    session = moe_mlir.InferenceSession(
        str(MODELS / "real" / "whole" / "mixtral__whole_kv" / "model.onnx"))
    names = [i.name for i in session.get_inputs()]
    feeds = {names[0]: np.zeros((1, 2), np.int64),
             names[1]: np.zeros((1, 2, 3, 8), np.float32),
             names[2]: np.zeros((1, 2, 4, 8), np.float32)}
    with pytest.raises(ValueError, match=r"dimension 2 \(s81\) is 4, but input "
                                         r"'past_key_values.layers.0.keys' gives s81 = 3"):
        session.run(None, feeds)


def test_scalar_and_strided_inputs(tmp_path):
    # A rank-0 input (a window size, a temperature) stays rank 0, and a strided view
    # is copied into the layout the artifact reads.
    model = tmp_path / "scale.onnxtext"
    model.write_text("""<
  ir_version: 8,
  opset_import: ["" : 18]
>
scale (float[2, 3] x, float s) => (float[2, 3] y)
{
  y = Mul (x, s)
}
""")
    session = moe_mlir.InferenceSession(str(model))
    x = np.arange(12, dtype=np.float32).reshape(2, 6)[:, ::2]
    (y,) = session.run(None, {"x": x, "s": np.array(2.5, np.float32)})
    np.testing.assert_array_equal(y, x * 2.5)


def test_bfloat16_inputs_and_outputs(tmp_path):
    # NumPy has no bfloat16: a bfloat16 input takes float32 values, rounded to
    # nearest even, and a bfloat16 output comes back as float32, exactly.
    model = tmp_path / "bf16.onnxtext"
    model.write_text("""<
  ir_version: 8,
  opset_import: ["" : 18]
>
bf16 (bfloat16[4] x, bfloat16[4] y) => (bfloat16[4] z)
{
  z = Add (x, y)
}
""")
    session = moe_mlir.InferenceSession(str(model))
    assert [i.type for i in session.get_inputs()] == ["tensor(bfloat16)"] * 2
    assert session.get_outputs()[0].type == "tensor(bfloat16)"
    # 1 + 2^-8 lies halfway between bfloat16's 1 and 1 + 2^-7: to even, 1; a NaN
    # stays a NaN.
    x = np.array([1.0 + 2.0 ** -8, 3.0, 256.0, np.nan], np.float32)
    y = np.array([0.0, 0.5, 1.0, 1.0], np.float32)
    (z,) = session.run(None, {"x": x, "y": y})
    assert z.dtype == np.float32
    np.testing.assert_array_equal(z[:3], [1.0, 3.5, 256.0])
    assert np.isnan(z[3])
