"""moe_mlir: compile ONNX Mixture-of-Experts models with moe-mlir and run them.

    import numpy as np, moe_mlir
    session = moe_mlir.InferenceSession("model.onnx")       # compiles for the CPU
    x = np.random.rand(7, 1024).astype(np.float32)
    (y,) = session.run(None, {"x": x})
    print(session.get_inputs()[0].shape, y.shape)

The session follows onnxruntime.InferenceSession: `run(output_names, feeds)`,
`get_inputs()`, `get_outputs()`. `compile()` writes an artifact (a shared library and
its weights file); `import_onnx()` and `run_pipeline()` give the IR. Compiling runs the
`moe-opt` executable (found beside this package, in the build tree it was built in, through
`MOE_OPT`, or on PATH); running needs only the native runtime module.
"""
import os
import pathlib
import shutil
import subprocess
import tempfile
import weakref

import numpy as np

from . import _runtime
from .export import export

__all__ = ["Artifact", "CompileError", "InferenceSession", "NodeArg", "compile", "export",
           "import_onnx", "run_pipeline"]


class CompileError(RuntimeError):
    """moe-opt refused the model or the IR; the message holds its diagnostics."""


# ONNX Runtime's type names, by NumPy dtype name.
_ONNX_TYPES = {"float32": "tensor(float)", "float16": "tensor(float16)",
               "float64": "tensor(double)", "int8": "tensor(int8)", "uint8": "tensor(uint8)",
               "int32": "tensor(int32)", "int64": "tensor(int64)", "bool": "tensor(bool)"}


def _compiler():
    """The moe-opt executable."""
    candidates = [os.environ.get("MOE_OPT", ""),
                  str(pathlib.Path(__file__).resolve().parent / "bin" / "moe-opt")]
    try:
        from . import _build
        candidates.append(_build.MOE_OPT)
    except ImportError:
        pass
    candidates.append(shutil.which("moe-opt") or "")
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise CompileError("moe-opt not found: set MOE_OPT, or put moe-opt on PATH")


def _moe_opt(args, stdin=None):
    result = subprocess.run([_compiler(), *args], input=stdin, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise CompileError(result.stderr.strip() or f"moe-opt exited with {result.returncode}")
    return result.stdout


def import_onnx(path):
    """The MLIR (onnx dialect) that moe-opt imports from the ONNX model at `path`."""
    return _moe_opt([os.fspath(path)])


def run_pipeline(mlir, pipeline):
    """`mlir` (text) after the pass pipeline `pipeline`, e.g.
    "builtin.module(func.func(moe-raise))"."""
    return _moe_opt([f"--pass-pipeline={pipeline}", "-"], stdin=mlir)


def _to_bf16_bits(value):
    """float32 values as bfloat16 bits (uint16), rounded to nearest even."""
    bits = np.asarray(value, dtype=np.float32).view(np.uint32)
    nan = (bits & 0x7FFFFFFF) > 0x7F800000
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return np.where(nan, (bits >> 16) | 0x40, rounded).astype(np.uint16)


def _from_bf16_bits(bits):
    """bfloat16 bits (uint16) as the float32 values they are, exactly."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


class NodeArg:
    """An input or output: name, shape (a dynamic dimension is its symbolic name, or
    None) and ONNX type. NumPy has no bfloat16: a bfloat16 input takes float32
    values (rounded to nearest even) and a bfloat16 output comes back as float32;
    `dtype` is then float32 and `type` says tensor(bfloat16)."""

    def __init__(self, name, shape, dtype):
        self.name, self.shape = name, shape
        self.bfloat16 = dtype == "bfloat16"
        self.dtype = np.dtype(np.float32 if self.bfloat16 else dtype)
        self.type = ("tensor(bfloat16)" if self.bfloat16 else
                     _ONNX_TYPES.get(self.dtype.name, f"tensor({self.dtype.name})"))

    def __repr__(self):
        return f"NodeArg(name={self.name!r}, type={self.type!r}, shape={self.shape!r})"


class Artifact:
    """A compiled model: the library at `path` (its weights in `path + '.weights'`)."""

    def __init__(self, path, _owned_dir=None):
        self.path = os.fspath(path)
        try:
            self._native = _runtime.Artifact(self.path)
        except RuntimeError as error:
            raise CompileError(str(error)) from None
        self.inputs = [NodeArg(i["name"], i["shape"], i["dtype"]) for i in self._native.inputs()]
        self.outputs = [NodeArg(o["name"], o["shape"], o["dtype"])
                        for o in self._native.outputs()]
        # "cpu" or "cuda", and for CUDA the GPU architecture compiled for.
        self.device = self._native.device()
        self.arch = self._native.arch() or None
        if _owned_dir is not None:
            self._cleanup = weakref.finalize(self, shutil.rmtree, _owned_dir, True)

    def __repr__(self):
        return f"Artifact({self.path!r})"


def compile(model, *, target="cpu", arch=None, output=None, precision=None, options=()):
    """Compiles `model` (a path to .onnx / .onnxtext / .mlir, or ONNX bytes) and returns
    its Artifact. Without `output` the files go to a temporary folder that lives as
    long as the Artifact. `target` is "cpu" or "cuda"; `arch` is the processor for the
    CPU (`--mcpu`) or the GPU architecture for CUDA (`--arch`, default sm_90a);
    `precision` is CUDA's matmul compute type ("fp32", "bf16", "fp16"), and on the CPU
    the MoE expert weights' storage type ("fp32" or "bf16": stored rounded to bf16,
    computed in f32); `options` are further moe-opt flags."""
    if target not in ("cpu", "cuda"):
        raise CompileError(f"target {target!r} is not supported (targets: 'cpu', 'cuda')")
    if target == "cpu" and precision not in (None, "fp32", "bf16"):
        raise CompileError(f"precision {precision!r} is not supported on the CPU "
                           "(fp32, or bf16 expert weights)")
    work = tempfile.mkdtemp(prefix="moe_mlir-")
    try:
        if isinstance(model, (bytes, bytearray, memoryview)):
            source = os.path.join(work, "model.onnx")
            with open(source, "wb") as f:
                f.write(model)
        else:
            source = os.fspath(model)
            if not os.path.exists(source):
                raise FileNotFoundError(f"{source}: no such model")
        library = os.fspath(output) if output is not None else os.path.join(work, "model.so")
        args = [source, "--emit=lib", f"--target={target}", "-o", library, *options]
        if arch:
            args.append(f"--mcpu={arch}" if target == "cpu" else f"--arch={arch}")
        if precision:
            args.append(f"--precision={precision}")
        _moe_opt(args)
        if output is not None:
            shutil.rmtree(work, True)
            return Artifact(library)
        return Artifact(library, _owned_dir=work)
    except BaseException:
        shutil.rmtree(work, True)
        raise


class InferenceSession:
    """Runs a compiled model the way onnxruntime.InferenceSession does. `model` is an
    Artifact, the path of a compiled library (.so), or a model compile() takes (for
    `device`: "cpu" or "cuda"). A CUDA session needs a GPU and its driver when it
    runs, not before."""

    def __init__(self, model, device="cpu"):
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device {device!r} is not supported (devices: 'cpu', 'cuda')")
        if isinstance(model, Artifact):
            self._artifact = model
        elif isinstance(model, (str, os.PathLike)) and os.fspath(model).endswith(".so"):
            self._artifact = Artifact(model)
        else:
            self._artifact = compile(model, target=device)
        if self._artifact.device != device:
            raise ValueError(f"{self._artifact.path} is compiled for {self._artifact.device}, "
                             f"not for device {device!r}")

    @property
    def artifact(self):
        return self._artifact

    def get_inputs(self):
        return list(self._artifact.inputs)

    def get_outputs(self):
        return list(self._artifact.outputs)

    def run(self, output_names, input_feed):
        """The outputs named in `output_names` (all when None), as NumPy arrays, for
        the inputs in the dict `input_feed`."""
        inputs = self._artifact.inputs
        unknown = sorted(set(input_feed) - {i.name for i in inputs})
        if unknown:
            raise ValueError(f"unknown input(s) {', '.join(unknown)}; the model's inputs are "
                             f"{', '.join(i.name for i in inputs)}")
        feeds = []
        for arg in inputs:
            if arg.name not in input_feed:
                raise ValueError(f"input '{arg.name}' is missing")
            value = input_feed[arg.name]
            if not isinstance(value, np.ndarray):
                raise TypeError(f"input '{arg.name}' must be a numpy.ndarray, got "
                                f"{type(value).__name__}")
            if value.dtype != arg.dtype:
                raise TypeError(f"input '{arg.name}' must be {arg.dtype.name} ({arg.type}), "
                                f"got {value.dtype.name}")
            expected = [d if isinstance(d, int) else "?" if d is None else d
                        for d in arg.shape]
            if value.ndim != len(arg.shape) or any(
                    isinstance(d, int) and d != s for d, s in zip(arg.shape, value.shape)):
                raise ValueError(f"input '{arg.name}' expects shape {expected}, got "
                                 f"{list(value.shape)}")
            if arg.bfloat16:
                value = _to_bf16_bits(value)
            # (np.ascontiguousarray would make a scalar one-dimensional.)
            feeds.append(value if value.flags.c_contiguous else value.copy(order="C"))
        results = [_from_bf16_bits(r) if arg.bfloat16 else r for arg, r in
                   zip(self._artifact.outputs, self._artifact._native.run(feeds))]
        names = [o.name for o in self._artifact.outputs]
        if output_names is None:
            return results
        picked = []
        for name in output_names:
            if name not in names:
                raise ValueError(f"unknown output '{name}'; the model's outputs are "
                                 f"{', '.join(names)}")
            picked.append(results[names.index(name)])
        return picked
