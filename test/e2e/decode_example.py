#!/usr/bin/env python3
"""Runs examples/generate.py on the KV-cache fixtures of test/models/real/whole, with
the prompt and the greedy tokens transformers' generate chose on the same weights
(`generate` in each manifest; a sliding-window cache layer's size as its cases feed
it), and passes its output through.

    decode_example.py FIXTURE_DIR [...]
"""
import json
import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main():
    failed = False
    for folder in map(pathlib.Path, sys.argv[1:]):
        manifest = json.loads((folder / "manifest.json").read_text())
        reference = manifest["generate"]
        command = [sys.executable, str(ROOT / "examples" / "generate.py"),
                   str(folder / "model.onnx"),
                   "--prompt", ",".join(map(str, reference["prompt"])),
                   "--tokens", str(len(reference["tokens"])),
                   "--expect", ",".join(map(str, reference["tokens"]))]
        # A sliding-window cache layer's size, or a window-sized cache's capacity, as
        # the fixture's cases feed them.
        for spec in manifest["cases"][0]["inputs"]:
            if spec["name"].endswith("._sliding_window_tensor"):
                window = int(np.load(folder / spec["file"]))
                command += ["--sliding-window", str(window)]
                break
            if manifest["exporter"] == "genai_cpu_windowed" and len(spec["shape"]) == 4:
                command += ["--sliding-window", str(spec["shape"][2])]
                break
        ran = subprocess.run(command, capture_output=True, text=True)
        print(f"{folder.name}: " + " ".join((ran.stdout + ran.stderr).split("\n")).strip())
        failed |= ran.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
