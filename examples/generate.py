#!/usr/bin/env python3
"""Greedy decoding of an exported MoE language model, token by token through its KV
cache, with moe-mlir.

The model is an ONNX export with a KV cache, as transformers' exporter writes it
(inputs `input_ids [1, T]` and the past `past_key_values.layers.<l>.keys|values`,
outputs `logits [1, T, V]` and the present `cache.layers.<l>.keys|values`) or as
onnxruntime-genai's builder does (past `past_key_values.<l>.key|value`, present
`present.<l>.key|value`, and an `attention_mask [1, past + T]`). The first step runs
the prompt over an empty past; each next step feeds the chosen token and the present of
the step before as the past.

    examples/generate.py MODEL.onnx --prompt 3,17,42 [--tokens 8] [--expect 5,9,...]
                         [--sliding-window 128]

A cache layer with a sliding window (transformers' gpt-oss) also carries the window's
size, `past_key_values.layers.<l>._sliding_window_tensor`, and onnxruntime-genai's
default gpt-oss build keeps a window-sized cache (`past_sliding_length`):
`--sliding-window` gives the size (the model config's `sliding_window`).

`--expect` checks the tokens against a reference (transformers' `generate` on the same
weights) and exits non-zero when they differ. Needs numpy and the moe_mlir package.
"""
import argparse
import sys

import numpy as np

import moe_mlir


def past_name(present):
    """The past input that a present output feeds: cache.layers.0.keys is
    past_key_values.layers.0.keys, present.0.key is past_key_values.0.key."""
    return "past_key_values." + present.split(".", 1)[1]


CACHE_SUFFIXES = (".keys", ".values", ".key", ".value")


def generate(session, prompt, count, sliding_window=None):
    """`count` tokens chosen greedily after `prompt`; `sliding_window` is the size a
    sliding-window cache layer carries."""
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]
    if "input_ids" not in inputs or outputs[0] != "logits":
        raise ValueError("the model needs an input_ids input and a first output logits")
    # An empty past: every past input of one sequence (a run-time batch axis at 1)
    # with its other run-time axes at 0; a past of no tokens has no elements, whatever
    # the size of an axis the export left symbolic (the builder's head size).
    feeds = {}
    for name, spec in inputs.items():
        if name in ("input_ids", "attention_mask"):
            continue
        if name.endswith("._sliding_window_tensor"):
            if sliding_window is None:
                raise ValueError(f"input '{name}' is a sliding window's size; give it with "
                                 "--sliding-window (the model config's sliding_window)")
            feeds[name] = np.asarray(sliding_window, spec.dtype).reshape(
                [d if isinstance(d, int) else 1 for d in spec.shape])
            continue
        if not name.endswith(CACHE_SUFFIXES):
            raise ValueError(f"input '{name}' is cache state other than keys and values "
                             "(a sliding window's size); this example starts from an "
                             "empty past of keys and values only")
        shape = [d if isinstance(d, int) else int(axis == 0)
                 for axis, d in enumerate(spec.shape)]
        # onnxruntime-genai's window-sized cache (`past_sliding_length`) holds the
        # window's capacity from the first step on.
        if len(spec.shape) == 4 and "sliding" in str(spec.shape[2]):
            if sliding_window is None:
                raise ValueError(f"input '{name}' is a window-sized cache; give its size "
                                 "with --sliding-window (the model config's sliding_window)")
            shape[2] = sliding_window
        feeds[name] = np.zeros(shape, spec.dtype)
    ids = np.asarray([prompt], np.int64)
    tokens, seen = [], 0
    for _ in range(count):
        feeds["input_ids"] = ids
        seen += ids.shape[1]
        if "attention_mask" in inputs:
            # Every token so far, the past's and this step's, is attended.
            feeds["attention_mask"] = np.ones((1, seen), np.int64)
        logits, *present = session.run(None, feeds)
        token = int(np.argmax(logits[0, -1]))
        tokens.append(token)
        # The present of this step is the past of the next.
        for name, value in zip(outputs[1:], present):
            feeds[past_name(name)] = value
        ids = np.asarray([[token]], np.int64)
    return tokens


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an ONNX export with a KV cache, or its compiled .so")
    parser.add_argument("--prompt", required=True, help="comma-separated token ids")
    parser.add_argument("--tokens", type=int, default=8, help="how many to generate")
    parser.add_argument("--expect", help="comma-separated token ids to check against")
    parser.add_argument("--sliding-window", type=int,
                        help="the size a sliding-window cache layer carries")
    args = parser.parse_args()
    prompt = [int(t) for t in args.prompt.split(",")]
    tokens = generate(moe_mlir.InferenceSession(args.model), prompt, args.tokens,
                      args.sliding_window)
    print("tokens:", ",".join(map(str, tokens)))
    if args.expect is not None:
        expected = [int(t) for t in args.expect.split(",")]
        if tokens != expected:
            print(f"MISMATCH: expected {','.join(map(str, expected))}")
            return 1
        print("matches the reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
