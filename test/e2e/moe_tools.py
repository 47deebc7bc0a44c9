"""Compiling a model with moe-opt and running it with moe-run on named feeds, for the
e2e scripts that compare the results with ONNX Runtime and numpy."""
import pathlib
import subprocess

import numpy as np


def compile_model(bin_dir, model, library, target="cpu", mcpu=None):
    """moe-opt `model` to the artifact `library` (for `mcpu` when given); None, or
    moe-opt's diagnostics."""
    processor = [f"--mcpu={mcpu}"] if mcpu else []
    compiled = subprocess.run([str(pathlib.Path(bin_dir) / "moe-opt"), str(model),
                               "--emit=lib", f"--target={target}", *processor,
                               "-o", str(library)],
                              capture_output=True, text=True)
    return None if compiled.returncode == 0 else compiled.stderr


def run_model(bin_dir, library, feeds, outputs, work):
    """moe-run `library` on `feeds` (name -> array, saved under `work`); the named
    `outputs` as arrays, or moe-run's diagnostics as a string."""
    work = pathlib.Path(work)
    command = [str(pathlib.Path(bin_dir) / "moe-run"), str(library)]
    for name, value in feeds.items():
        np.save(work / f"{name}.npy", value)
        command.append(f"--input={name}=@{work / f'{name}.npy'}")
    for name in outputs:
        command.append(f"--output={name}=@{work / f'out_{name}.npy'}")
    ran = subprocess.run(command, capture_output=True, text=True)
    if ran.returncode != 0:
        return ran.stderr
    return {name: np.load(work / f"out_{name}.npy") for name in outputs}
