#!/usr/bin/env python3
"""The CUDA target's MoE kernels (routing, align, the grouped GEMMs, the decode kernels,
combine) at shapes the model fixtures do not reach, run by the CUDA emulator and checked
against numpy: no tokens at all, hidden and intermediate sizes that leave tail tiles
along K and N and take several K steps (the cp.async pipeline), experts with many M
tiles, an expert no token picks, and a skewed routing (60 % of the tokens to one
expert); every gate layout, biases, gpt-oss's clamp and scale_inputs; softmax,
top-k-then-softmax and DeepSeek-V3's sigmoid routing with a selection bias and grouped
top-k, up to 256 experts (8 a lane of the routing warp) and k = 8. Weights are inputs,
so bf16 runs also convert them on the device and sm_90a's GEMMs copy them by cp.async;
with --constant-weights they are constants, which the compiler converts and cuts into
the tiles sm_90a's GEMMs bulk-copy. T = 1, 5 and 16 run the decode kernels
(T = 16 gives the skewed expert about 10 rows: several passes of 4 rows), T = 70 the
grouped GEMMs, and with at most 8 experts a T where they average more than 64 rows
sm_90a's GEMMs of 128-row tiles (two warpgroups); --decode-tokens=0 runs the grouped
GEMMs at every T.

    moe_kernel_shapes.py --bin build/bin [--precision=bf16] [--decode-tokens=N] [--arch=sm_80]
                         [--combine=atomic] [--constant-weights] [--cases=a,b]
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

# (name, H, I, E, k, gate layout, biases, scale_inputs, activation extras, routing)
SOFTMAX = ("softmax_topk", {})
CASES = [
    ("concat_bias", 40, 72, 6, 2, "concatenated", True, False, "", SOFTMAX),
    ("separate_k1", 64, 96, 4, 1, "separate", True, False, "", SOFTMAX),
    ("interleaved_clamp", 48, 40, 8, 3, "interleaved", True, False,
     ", alpha = 1.702, beta = 1.0, limit = 7.0", SOFTMAX),
    ("ungated_scaled", 72, 48, 5, 2, "none", False, True, "", SOFTMAX),
    ("topk_softmax_e40", 32, 48, 40, 4, "concatenated", False, False, "",
     ("topk_softmax", {"normalize": False})),
    ("sigmoid_grouped_e256", 32, 32, 256, 8, "concatenated", False, False, "",
     ("sigmoid_topk", {"scale": 2.5, "num_groups": 8, "topk_groups": 4})),
    ("softmax_e160_floor", 32, 40, 160, 6, "interleaved", False, False, "",
     ("softmax_topk", {"norm_epsilon": 1e-6, "norm_floor": 0.5})),
    # Deep enough along K (5 and 4 steps of 64) for every stage of sm_90a's GEMMs
    # to be refilled while the wgmma groups of earlier steps may still read.
    ("deep_k", 264, 200, 3, 2, "separate", False, False, "", SOFTMAX),
]
TOKENS = [0, 1, 5, 16, 70]


def tokens_of(experts, k):
    """The token counts a case runs: TOKENS, and for a few experts one where they
    average more than 64 rows (sm_90a's GEMMs then take 128-row tiles)."""
    return TOKENS + ([64 * experts // k + 37] if experts <= 8 else [])
RTOL = {"fp32": 2e-5, "bf16": 2e-2, "fp16": 3e-3}


def spell(value):
    """An attribute parameter as MLIR writes it (floats with a point)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.9e}"
    return str(value)


def mlir_of(name, hidden, inter, experts, k, gated, biases, scale, extras, routing_of,
            constants=None):
    """The layer as MLIR and its arguments' names; the weights in `constants`
    (name -> array) are constants of the function instead of arguments."""
    first = 2 * inter if gated in ("concatenated", "interleaved") else inter
    args = [("x", f"?x{hidden}"), ("logits", f"?x{experts}"),
            ("w1", f"{experts}x{first}x{hidden}"), ("w2", f"{experts}x{hidden}x{inter}")]
    operands = "%x, %logits gate_up %w1 down %w2"
    if gated == "separate":
        args.append(("w3", f"{experts}x{inter}x{hidden}"))
        operands += " up %w3"
    if biases:
        args += [("b1", f"{experts}x{first}"), ("b2", f"{experts}x{hidden}")]
        operands += " gate_up_bias %b1 down_bias %b2"
        if gated == "separate":
            args.append(("b3", f"{experts}x{inter}"))
            operands += " up_bias %b3"
    kind, options = routing_of
    if kind == "sigmoid_topk":
        args.append(("bias", f"{experts}"))
        operands += " routing_bias %bias"
    types = [f"tensor<{shape}xf32>" for _, shape in args]
    constants = constants or {}
    body = "".join(
        f'  %{n} = arith.constant dense<"0x{constants[n].astype("<f4").tobytes().hex().upper()}">'
        f" : {t}\n" for (n, _), t in zip(args, types) if n in constants)
    signature = ", ".join(f"%{n}: {t}" for (n, _), t in zip(args, types) if n not in constants)
    activation = f"#moe.activation<silu, gated = {gated}{extras}>"
    fields = {"normalize": True, **options}
    spelled = ", ".join(f"{n} = {spell(v)}" for n, v in fields.items())
    routing = f"#moe.routing<{kind}, k = {k}, {spelled}>"
    attrs = f"activation = {activation}, routing = {routing}" + (", scale_inputs" if scale else "")
    text = (f"func.func @main_graph({signature}) -> tensor<?x{hidden}xf32> {{\n"
            f"{body}"
            f"  %y = moe.layer {operands} {{{attrs}}}\n"
            f"      : ({', '.join(types)}) -> tensor<?x{hidden}xf32>\n"
            f"  return %y : tensor<?x{hidden}xf32>\n}}\n")
    return text, [n for n, _ in args if n not in constants]


def silu(x, alpha=1.0):
    return x / (1.0 + np.exp(-alpha * x))


def route(logits, bias, k, routing_of):
    """moe.route's weights and ids of one token, as the dialect defines them."""
    kind, options = routing_of
    if kind == "softmax_topk":
        score = np.exp(logits - logits.max())
        score /= score.sum()
    elif kind == "sigmoid_topk":
        score = 1.0 / (1.0 + np.exp(-logits))
    else:
        score = logits.copy()
    select = score + (bias if bias is not None else 0.0)
    groups = options.get("num_groups", 1)
    if groups > 1:
        size = len(select) // groups
        grouped = select.reshape(groups, size)
        best = np.sort(grouped, axis=1)[:, ::-1]
        group_score = best[:, 0] + best[:, 1] if kind == "sigmoid_topk" else best[:, 0]
        keep = np.argsort(-group_score, kind="stable")[: options["topk_groups"]]
        mask = np.full(groups, -np.inf)
        mask[keep] = 0.0
        select = (grouped + mask[:, None]).reshape(-1)
    ids = np.argsort(-select, kind="stable")[:k]
    w = score[ids]
    if kind == "topk_softmax":
        w = np.exp(w - w.max())
        w /= w.sum()
    if options.get("normalize", True):
        total = w.sum() + options.get("norm_epsilon", 0.0)
        w = w / max(total, options.get("norm_floor", 0.0))
    return w * options.get("scale", 1.0), ids


def reference(inputs, hidden, inter, experts, k, gated, biases, scale, extras, routing_of):
    x, logits = inputs["x"].astype(np.float64), inputs["logits"].astype(np.float64)
    bias = inputs["bias"].astype(np.float64) if routing_of[0] == "sigmoid_topk" else None
    y = np.zeros_like(x)
    limit = 7.0 if "limit" in extras else None
    alpha, beta = (1.702, 1.0) if extras else (1.0, 0.0)
    for t in range(x.shape[0]):
        w, top = route(logits[t], bias, k, routing_of)
        for e, weight in zip(top, w):
            xin = weight * x[t] if scale else x[t]
            h = inputs["w1"][e].astype(np.float64) @ xin
            if biases:
                h += inputs["b1"][e]
            if gated == "concatenated":
                gate, up = h[:inter], h[inter:]
            elif gated == "interleaved":
                gate, up = h[0::2], h[1::2]
            elif gated == "separate":
                gate, up = h, inputs["w3"][e].astype(np.float64) @ xin
                if biases:
                    up = up + inputs["b3"][e]
            else:
                gate, up = h, None
            if limit is not None:
                gate, up = np.minimum(gate, limit), np.clip(up, -limit, limit)
            act = silu(gate, alpha) if up is None else silu(gate, alpha) * (up + beta)
            out = inputs["w2"][e].astype(np.float64) @ act
            if biases:
                out += inputs["b2"][e]
            y[t] += out if scale else weight * out
    return y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", type=pathlib.Path, required=True)
    parser.add_argument("--precision", default="fp32", choices=sorted(RTOL))
    parser.add_argument("--decode-tokens", type=int, default=16,
                        help="moe-opt's --decode-tokens (16: decode at T = 1, 5, 16)")
    parser.add_argument("--arch", default=None,
                        help="moe-opt's --arch (default: moe-opt's, sm_90a: wgmma)")
    parser.add_argument("--combine", default=None, choices=["ordered", "atomic"],
                        help="moe-opt's --combine (default: moe-opt's, ordered)")
    parser.add_argument("--constant-weights", action="store_true",
                        help="the expert weights as constants of the model (packed by the "
                             "compiler), not inputs")
    parser.add_argument("--cases", default=None,
                        help="comma-separated case names to run (default: all)")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        for case in CASES:
            if args.cases and case[0] not in args.cases.split(","):
                continue
            name, hidden, inter, experts, k, gated, biases, scale, extras, _ = case
            first = 2 * inter if gated in ("concatenated", "interleaved") else inter
            weights = {
                "w1": rng.standard_normal((experts, first, hidden)) / np.sqrt(hidden),
                "w2": rng.standard_normal((experts, hidden, inter)) / np.sqrt(inter),
                "w3": rng.standard_normal((experts, inter, hidden)) / np.sqrt(hidden),
                "b1": 0.1 * rng.standard_normal((experts, first)),
                "b2": 0.1 * rng.standard_normal((experts, hidden)),
                "b3": 0.1 * rng.standard_normal((experts, inter)),
                "bias": 0.1 * rng.standard_normal(experts),
            }
            weights = {n: v.astype(np.float32) for n, v in weights.items()}
            constants = ({n: weights[n] for n in ("w1", "w2", "w3")}
                         if args.constant_weights else None)
            text, names = mlir_of(*case, constants=constants)
            source = work / f"{name}.mlir"
            source.write_text(text)
            library = work / f"{name}.so"
            compiled = subprocess.run(
                [str(args.bin / "moe-opt"), str(source), "--emit=lib",
                 "--target=cuda-emulator", f"--precision={args.precision}", "-o", str(library),
                 *([] if args.decode_tokens is None else [f"--decode-tokens={args.decode_tokens}"]),
                 *([] if args.arch is None else [f"--arch={args.arch}"]),
                 *([] if args.combine is None else [f"--combine={args.combine}"])],
                capture_output=True, text=True)
            if compiled.returncode != 0:
                print(f"{name}: compile failed MISMATCH\n{compiled.stderr}")
                failures += 1
                continue
            for tokens in tokens_of(experts, k):
                logits = rng.standard_normal((tokens, experts))
                # Skew: 60 % of the tokens prefer expert 0; no token picks the last.
                logits[: int(0.6 * tokens + 0.5), 0] += 6.0
                logits[:, experts - 1] -= 30.0
                inputs = {"x": rng.standard_normal((tokens, hidden)), "logits": logits, **weights}
                inputs = {n: v.astype(np.float32) for n, v in inputs.items()}
                flags = []
                for n in names:
                    path = work / f"{name}_{tokens}_{n}.npy"
                    np.save(path, inputs[n])
                    flags.append(f"--input=@{path}")
                output = work / f"{name}_{tokens}_y.npy"
                ran = subprocess.run([str(args.bin / "moe-run"), str(library), *flags,
                                      f"--output=@{output}"], capture_output=True, text=True)
                if ran.returncode != 0:
                    print(f"{name} T={tokens}: run failed MISMATCH\n{ran.stderr}")
                    failures += 1
                    continue
                got = np.load(output)
                want = reference(inputs, *case[1:])
                if got.shape != want.shape:
                    print(f"{name} T={tokens}: shape {got.shape}, expected {want.shape} MISMATCH")
                    failures += 1
                    continue
                error = float(np.max(np.abs(got - want), initial=0.0))
                bound = RTOL[args.precision] * float(np.max(np.abs(want), initial=0.0)) + 1e-6
                verdict = "ok" if error <= bound else "MISMATCH"
                failures += verdict != "ok"
                print(f"{name} T={tokens}: max abs error {error:.3g} (bound {bound:.3g}) {verdict}")
    print(f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
