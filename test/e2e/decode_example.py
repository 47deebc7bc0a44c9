#!/usr/bin/env python3
"""Runs examples/generate.py on the KV-cache fixtures of test/models/real/whole, with
the prompt and the greedy tokens transformers' generate chose on the same weights
(`generate` in each manifest), and passes its output through.

    decode_example.py FIXTURE_DIR [...]
"""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main():
    failed = False
    for folder in map(pathlib.Path, sys.argv[1:]):
        reference = json.loads((folder / "manifest.json").read_text())["generate"]
        ran = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "generate.py"), str(folder / "model.onnx"),
             "--prompt", ",".join(map(str, reference["prompt"])),
             "--tokens", str(len(reference["tokens"])),
             "--expect", ",".join(map(str, reference["tokens"]))],
            capture_output=True, text=True)
        print(f"{folder.name}: " + " ".join((ran.stdout + ran.stderr).split("\n")).strip())
        failed |= ran.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
