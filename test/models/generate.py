#!/usr/bin/env python3
"""Writes the MoE fixture models of the end-to-end tests: one small ONNX model per form
that exporters produce (DESIGN.md section 3), with inputs and numpy reference outputs at
several token counts, a manifest.json per model, and README.md.

    python3 test/models/generate.py

Writes next to itself, deterministically (re-running gives byte-identical files). Every
model is also run with ONNX Runtime (CPU) and must match the numpy reference; a form that
ONNX Runtime cannot run is recorded as "ort": false in its manifest. Needs numpy, onnx
and onnxruntime.

The numpy reference never looks at the ONNX graph: it is a per-token loop over the chosen
experts, written from the canonical weights (gate/up [E, I, H], down [E, H, I], i.e.
[E, out, in]) that each graph builder packs into its own layout. A packing or wiring
mistake in a builder therefore shows up as an ONNX Runtime mismatch.
"""
import json
import math
import pathlib
import re
import shutil
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = pathlib.Path(__file__).resolve().parent
TOKEN_COUNTS = (1, 7, 33, 512)
# |out - ref| <= RTOL * max|ref| + ATOL, elementwise maximum.
RTOL, ATOL = 1e-4, 1e-6
# Tokens whose routing decision is closer than this to a tie are redrawn, so that a
# compiler summing in another order (or in another precision) picks the same experts.
# Measured in logits for softmax / top-k routing and in selection scores for sigmoid.
MIN_MARGIN = 1e-3
# Lowest IR version that carries each default-domain opset; ONNX Runtime refuses IR
# versions newer than it knows, and onnx's default is the newest.
IR_VERSION = {13: 7, 17: 8, 18: 8}
F32 = np.float32
F64 = np.float64


# --------------------------------------------------------------------------- weights


class Experts:
    """Canonical expert weights, [E, out, in], float32. For a non-gated FFN only the
    gate projection exists (it is fc1)."""

    def __init__(self, rng, E, H, I, gated, bias, fc1_scale=1.0):
        def normal(shape, std):
            return (rng.standard_normal(shape) * std).astype(F32)

        self.E, self.H, self.I, self.gated, self.bias = E, H, I, gated, bias
        # 1/sqrt(fan_in) keeps pre-activations and outputs O(1) for O(1) tokens.
        self.wg = normal((E, I, H), fc1_scale / math.sqrt(H))
        self.wu = normal((E, I, H), fc1_scale / math.sqrt(H)) if gated else None
        self.wd = normal((E, H, I), 1.0 / math.sqrt(I))
        self.bg = normal((E, I), 0.1) if bias else None
        self.bu = normal((E, I), 0.1) if bias and gated else None
        self.bd = normal((E, H), 0.1) if bias else None

    # Packings into the layouts the graphs use.
    def fc1(self, gate_up):
        """[E, f*I, H] with gate/up 'interleaved' (rows g0,u0,g1,u1,...), 'concat'
        (rows g | u), or the gate alone ('separate' or non-gated)."""
        if gate_up == "interleaved":
            return np.stack([self.wg, self.wu], axis=2).reshape(self.E, 2 * self.I, self.H)
        if gate_up == "concat":
            return np.concatenate([self.wg, self.wu], axis=1)
        return self.wg

    def fc1_bias(self, gate_up):
        if not self.bias:
            return None
        if gate_up == "interleaved":
            return np.stack([self.bg, self.bu], axis=2).reshape(self.E, 2 * self.I)
        if gate_up == "concat":
            return np.concatenate([self.bg, self.bu], axis=1)
        return self.bg


# --------------------------------------------------------------------------- reference


def softmax64(v):
    z = np.exp(v - v.max())
    return z / z.sum()


def sigmoid64(v):
    return 1.0 / (1.0 + np.exp(-v))


def route_token(routing, logits, k):
    """One token's routing: (expert ids, weights, margin to the nearest tie)."""
    kind = routing["kind"]
    if kind in ("softmax_topk", "topk_softmax"):
        order = sorted(range(len(logits)), key=lambda e: -logits[e])
        ids = order[:k]
        margin = logits[order[k - 1]] - logits[order[k]]
        if kind == "softmax_topk":
            probs = softmax64(logits)
            weights = np.array([probs[e] for e in ids])
            if routing["renormalize"]:
                weights = weights / weights.sum()
        else:
            weights = softmax64(np.array([logits[e] for e in ids]))
        return ids, weights, margin
    if kind == "sigmoid_grouped":
        E = len(logits)
        groups, per = routing["n_group"], len(logits) // routing["n_group"]
        scores = sigmoid64(logits)
        select = scores + np.asarray(routing["_bias"], F64)
        group_score = []
        for gi in range(groups):
            members = sorted(select[gi * per:(gi + 1) * per], reverse=True)
            group_score.append(members[0] + members[1])
        gorder = sorted(range(groups), key=lambda gi: -group_score[gi])
        tg = routing["topk_group"]
        kept = set(gorder[:tg])
        margin = group_score[gorder[tg - 1]] - group_score[gorder[tg]]
        candidates = sorted((e for e in range(E) if e // per in kept), key=lambda e: -select[e])
        ids = candidates[:k]
        margin = min(margin, select[candidates[k - 1]] - select[candidates[k]])
        weights = np.array([scores[e] for e in ids])
        weights = weights / (weights.sum() + routing["epsilon"]) * routing["scaling_factor"]
        return ids, weights, margin
    raise ValueError(kind)


def expert_token(ex, act, e, x):
    """One expert's FFN on one token (float64)."""
    g = ex.wg[e].astype(F64) @ x
    if ex.bias:
        g = g + ex.bg[e]
    if act["gated"]:
        u = ex.wu[e].astype(F64) @ x
        if ex.bias:
            u = u + ex.bu[e]
    kind = act["kind"]
    if kind == "relu":
        h = np.maximum(g, 0.0)
    elif kind == "silu" and not act["gated"]:
        h = g * sigmoid64(g)
    elif kind in ("silu", "swiglu"):
        alpha, beta, limit = act.get("alpha", 1.0), act.get("beta", 0.0), act.get("limit")
        if limit is not None:
            g = np.minimum(g, limit)
            u = np.clip(u, -limit, limit)
        h = g * sigmoid64(alpha * g) * (u + beta)
    elif kind == "tanh":
        h = np.tanh(g) * u
    elif kind == "gelu_tanh":
        h = 0.5 * g * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (g + 0.044715 * g ** 3)))
    else:
        raise ValueError(kind)
    y = ex.wd[e].astype(F64) @ h
    if ex.bias:
        y = y + ex.bd[e]
    return y


def router_logits(spec, inputs):
    if spec.router == "input":
        return inputs["router_probs"].astype(F64)
    logits = inputs["x"].astype(F64) @ spec.wr.astype(F64)
    if spec.br is not None:
        logits = logits + spec.br
    return logits


def reference(spec, inputs):
    x = inputs["x"].astype(F64)
    logits = router_logits(spec, inputs)
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        ids, weights, _ = route_token(spec.routing, logits[t], spec.k)
        for slot, (e, w) in enumerate(zip(ids, weights)):
            # A weight bank indexed by slot position (a near miss) instead of expert id.
            which = slot if spec.positional else e
            out[t] += w * expert_token(spec.experts, spec.act, which, x[t])
    return out.astype(F32)


def margins(spec, inputs):
    logits = router_logits(spec, inputs)
    return np.array([route_token(spec.routing, row, spec.k)[2] for row in logits])


def make_inputs(spec, T):
    rng = np.random.default_rng([zlib.crc32(spec.name.encode()), T])
    inputs = {"x": rng.standard_normal((T, spec.H)).astype(F32)}
    if spec.router == "input":
        inputs["router_probs"] = (rng.standard_normal((T, spec.E)) * 1.5).astype(F32)
    while True:
        close = margins(spec, inputs) < MIN_MARGIN
        if not close.any():
            return inputs
        n = int(close.sum())
        inputs["x"][close] = rng.standard_normal((n, spec.H)).astype(F32)
        if spec.router == "input":
            inputs["router_probs"][close] = (rng.standard_normal((n, spec.E)) * 1.5).astype(F32)


# --------------------------------------------------------------------------- graphs


class Graph:
    """Node list with opset-aware helpers for the ops whose signature changed."""

    def __init__(self, opset):
        self.opset = opset
        self.nodes, self.inits, self.count = [], [], 0

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type, inputs, n_out=1, domain="", name=None, **attrs):
        self.count += 1
        base = name or f"{op_type.lower()}_{self.count}"
        outs = [base] if n_out == 1 else [f"{base}_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs,
                                           name=f"n{self.count}_{op_type}", domain=domain,
                                           **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, value, dtype=np.int64):
        """A Constant node, as torch.onnx emits for axes, sizes and scalars."""
        arr = np.array(value, dtype=dtype)
        return self.op("Constant", [], value=numpy_helper.from_array(arr, f"c{self.count + 1}"))

    def unsqueeze(self, x, axes):
        return self.op("Unsqueeze", [x, self.const(axes)])

    def squeeze(self, x, axes):
        return self.op("Squeeze", [x, self.const(axes)])

    def reduce_sum(self, x, axes, keepdims):
        return self.op("ReduceSum", [x, self.const(axes)], keepdims=keepdims)

    def split2(self, x, axis, size):
        if self.opset >= 18:
            return self.op("Split", [x], n_out=2, axis=axis, num_outputs=2)
        return self.op("Split", [x, self.const([size, size])], n_out=2, axis=axis)

    def slice(self, x, start, end, axis, step):
        return self.op("Slice", [x, self.const([start]), self.const([end]), self.const([axis]),
                                 self.const([step])])

    def topk(self, x, k, sorted_=1):
        return self.op("TopK", [x, self.const([k])], n_out=2, axis=-1, sorted=sorted_)

    def silu(self, x):
        return self.op("Mul", [x, self.op("Sigmoid", [x])])

    def scalar(self, v):
        return self.const(v, F32)


def build_logits(g, spec):
    if spec.router == "input":
        return "router_probs"
    logits = g.op("MatMul", ["x", g.init("router.weight", spec.wr)])
    if spec.br is not None:
        logits = g.op("Add", [logits, g.init("router.bias", spec.br)])
    return logits


def build_routing(g, spec, logits):
    """(ids [T,k] int64, weights [T,k]) from router logits [T,E]."""
    r, k = spec.routing, spec.k
    if r["kind"] == "softmax_topk":
        probs = g.op("Softmax", [logits], axis=-1)
        vals, ids = g.topk(probs, k)
        if r["renormalize"]:
            vals = g.op("Div", [vals, g.reduce_sum(vals, [-1], 1)])
        return ids, vals
    if r["kind"] == "topk_softmax":
        vals, ids = g.topk(logits, k)
        return ids, g.op("Softmax", [vals], axis=-1)
    if r["kind"] == "sigmoid_grouped":
        groups = r["n_group"]
        scores = g.op("Sigmoid", [logits])
        select = g.op("Add", [scores, g.init("router.e_score_correction_bias", r["_bias"])])
        grouped = g.op("Reshape", [select, g.const([-1, groups, spec.E // groups])])
        top2, _ = g.topk(grouped, 2)
        group_score = g.reduce_sum(top2, [-1], 0)
        _, group_idx = g.topk(group_score, r["topk_group"], sorted_=0)
        zeros = g.op("ConstantOfShape", [g.op("Shape", [group_score])],
                     value=numpy_helper.from_array(np.zeros(1, F32)))
        ones = g.op("ConstantOfShape", [g.op("Shape", [group_idx])],
                    value=numpy_helper.from_array(np.ones(1, F32)))
        group_mask = g.op("ScatterElements", [zeros, group_idx, ones], axis=1)
        mask = g.op("Expand", [g.unsqueeze(group_mask, [-1]), g.op("Shape", [grouped])])
        mask = g.op("Reshape", [mask, g.op("Shape", [select])])
        keep = g.op("Cast", [mask], to=TensorProto.BOOL)
        masked = g.op("Where", [keep, select, g.scalar(-np.inf)])
        _, ids = g.topk(masked, k, sorted_=0)
        weights = g.op("GatherElements", [scores, ids], axis=1)
        denom = g.op("Add", [g.reduce_sum(weights, [-1], 1), g.scalar(r["epsilon"])])
        weights = g.op("Mul", [g.op("Div", [weights, denom]), g.scalar(r["scaling_factor"])])
        return ids, weights
    raise ValueError(r["kind"])


def build_activation(g, act, gate, up):
    kind = act["kind"]
    if kind == "relu":
        return g.op("Relu", [gate])
    if kind == "tanh":
        return g.op("Mul", [g.op("Tanh", [gate]), up])
    if kind == "silu":
        return g.op("Mul", [g.silu(gate), up])
    if kind == "swiglu":
        # gpt-oss: gate clamped above only, up clamped both ways, then (up + beta).
        limit = act["limit"]
        gate = g.op("Clip", [gate, "", g.scalar(limit)])
        up = g.op("Clip", [up, g.scalar(-limit), g.scalar(limit)])
        glu = g.op("Mul", [gate, g.op("Sigmoid", [g.op("Mul", [gate, g.scalar(act["alpha"])])])])
        return g.op("Mul", [g.op("Add", [up, g.scalar(act["beta"])]), glu])
    raise ValueError(kind)


def build_contrib(g, spec):
    ex, c = spec.experts, spec.contrib
    gate_up = c["gate_up"]
    logits = build_logits(g, spec)
    ins = ["x", logits, g.init("fc1_experts_weights", ex.fc1(gate_up))]
    b1 = ex.fc1_bias(gate_up)
    ins.append(g.init("fc1_experts_bias", b1) if b1 is not None else "")
    ins.append(g.init("fc2_experts_weights", ex.wd))
    ins.append(g.init("fc2_experts_bias", ex.bd) if ex.bias else "")
    if gate_up == "separate":
        ins.append(g.init("fc3_experts_weights", ex.wu))
        ins.append(g.init("fc3_experts_bias", ex.bu) if ex.bias else "")
    while ins[-1] == "":
        ins.pop()
    g.op("MoE", ins, name="y", domain="com.microsoft", **c["attrs"])


def gather_bank(g, bank, index):
    return g.op("Gather", [bank, index], axis=0)


def build_batched_mm(g, spec):
    """transformers' batched_mm export: per-token expert weights gathered by the top-k
    ids, one batched MatMul per projection, Mul by routing weights, ReduceSum over k."""
    ex, b = spec.experts, spec.batched
    ids, weights = build_routing(g, spec, build_logits(g, spec))
    gate_up, layout = b["gate_up"], b["layout"]
    I = ex.I
    if spec.positional:
        # Same graph, but the gathered bank has one entry per top-k slot and is indexed
        # by slot number, so the expert choice never reaches the FFN.
        index = g.op("Expand", [g.const(list(range(spec.k))), g.op("Shape", [ids])])
        bank_rows = slice(0, spec.k)
    else:
        index, bank_rows = ids, slice(None)
    fc1 = ex.fc1(gate_up)[bank_rows]                                     # [E, 2I, H]
    down = ex.wd[bank_rows]                                              # [E, H, I]
    if layout == "in_out":
        fc1, down = fc1.transpose(0, 2, 1), down.transpose(0, 2, 1)
    w1 = gather_bank(g, g.init("experts.gate_up_proj", fc1), index)      # [T,k,H,2I] / [T,k,2I,H]
    w2 = gather_bank(g, g.init("experts.down_proj", down), index)        # [T,k,I,H] / [T,k,H,I]
    # in_out: row vector x[T,1,1,H] @ W; out_in: W @ column vector x[T,1,H,1].
    vec_axis = 2 if layout == "in_out" else 3
    feat_axis = 3 if layout == "in_out" else 2
    xv = g.unsqueeze("x", [1, vec_axis])
    h = g.op("MatMul", [xv, w1] if layout == "in_out" else [w1, xv])
    if ex.bias:
        b1 = g.init("experts.gate_up_proj_bias", ex.fc1_bias(gate_up)[bank_rows])
        b1 = gather_bank(g, b1, index)
        h = g.op("Add", [h, g.unsqueeze(b1, [vec_axis])])
    if gate_up == "concat":
        gate, up = g.split2(h, feat_axis, I)
    else:
        gate = g.slice(h, 0, 2 * I, feat_axis, 2)
        up = g.slice(h, 1, 2 * I, feat_axis, 2)
    h = build_activation(g, spec.act, gate, up)
    y = g.op("MatMul", [h, w2] if layout == "in_out" else [w2, h])
    if ex.bias:
        b2 = gather_bank(g, g.init("experts.down_proj_bias", ex.bd[bank_rows]), index)
        y = g.op("Add", [y, g.unsqueeze(b2, [vec_axis])])
    y = g.squeeze(y, [vec_axis])                                         # [T,k,H]
    y = g.op("Mul", [y, g.unsqueeze(weights, [-1])])
    g.op("ReduceSum", [y, g.const([1])], keepdims=0, name="y")


def build_dense_routing(g, spec):
    """Dense [T, E] routing matrix: top-k weights scattered into zeros."""
    logits = build_logits(g, spec)
    ids, weights = build_routing(g, spec, logits)
    zeros = g.op("ConstantOfShape", [g.op("Shape", [logits])],
                 value=numpy_helper.from_array(np.zeros(1, F32)))
    return g.op("ScatterElements", [zeros, ids, weights], axis=1)


def build_dense_stacked(g, spec):
    """Every expert on every token through broadcast MatMuls over stacked weights."""
    ex = spec.experts
    dense = build_dense_routing(g, spec)
    xb = g.unsqueeze("x", [0])                                           # [1,T,H]
    w1 = g.init("experts.gate_up_proj", ex.fc1("concat").transpose(0, 2, 1))  # [E,H,2I]
    h = g.op("MatMul", [xb, w1])                                         # [E,T,2I]
    gate, up = g.split2(h, 2, ex.I)
    h = build_activation(g, spec.act, gate, up)
    y = g.op("MatMul", [h, g.init("experts.down_proj", ex.wd.transpose(0, 2, 1))])  # [E,T,H]
    r = g.unsqueeze(g.op("Transpose", [dense], perm=[1, 0]), [2])        # [E,T,1]
    g.op("ReduceSum", [g.op("Mul", [y, r]), g.const([0])], keepdims=0, name="y")


def build_dense_modulelist(g, spec):
    """Every expert on every token, one MatMul chain per expert with its own
    initializers (an nn.ModuleList of experts), weighted by a column of the dense
    routing matrix and summed."""
    ex = spec.experts
    dense = build_dense_routing(g, spec)
    acc = None
    for e in range(spec.E):
        gate = g.op("MatMul", ["x", g.init(f"experts.{e}.w1.weight_t", ex.wg[e].T)])
        up = g.op("MatMul", ["x", g.init(f"experts.{e}.w3.weight_t", ex.wu[e].T)])
        h = build_activation(g, spec.act, gate, up)
        y = g.op("MatMul", [h, g.init(f"experts.{e}.w2.weight_t", ex.wd[e].T)])
        col = g.unsqueeze(g.op("Gather", [dense, g.const(e)], axis=1), [1])
        y = g.op("Mul", [y, col])
        acc = y if acc is None else g.op("Add", [acc, y])
    g.op("Identity", [acc], name="y")


def build_unrolled(g, spec):
    """TorchScript's unrolled expert loop (transformers' Mixtral-style eager MoE):
    one-hot expert mask, then per expert NonZero -> Gather tokens -> MLP -> scale by
    routing weight -> scatter-add into a zero accumulator."""
    ex, u = spec.experts, spec.unrolled
    ids, weights = build_routing(g, spec, build_logits(g, spec))
    onehot = g.op("OneHot", [ids, g.const(spec.E), g.const([0, 1])], axis=-1)  # [T,k,E]
    mask = g.op("Transpose", [onehot], perm=[2, 1, 0])                          # [E,k,T]
    acc = g.op("ConstantOfShape", [g.op("Shape", ["x"])],
               value=numpy_helper.from_array(np.zeros(1, F32)))
    for e in range(spec.E):
        hit = g.op("NonZero", [g.op("Gather", [mask, g.const(e)], axis=0)])    # [2,n]
        slot = g.op("Gather", [hit, g.const(0)], axis=0)                        # [n]
        token = g.op("Gather", [hit, g.const(1)], axis=0)                       # [n]
        xs = g.op("Gather", ["x", token], axis=0)                               # [n,H]
        if u["linear"] == "gemm":
            # nn.Linear on 2-D input exports as Gemm with the [out, in] weight, transB=1.
            gate = g.op("Gemm", [xs, g.init(f"experts.{e}.fc1.weight", ex.wg[e]),
                                 g.init(f"experts.{e}.fc1.bias", ex.bg[e])], transB=1)
            up = None
            if ex.gated:
                up = g.op("Gemm", [xs, g.init(f"experts.{e}.fc3.weight", ex.wu[e]),
                                   g.init(f"experts.{e}.fc3.bias", ex.bu[e])], transB=1)
            h = build_activation(g, spec.act, gate, up)
            y = g.op("Gemm", [h, g.init(f"experts.{e}.fc2.weight", ex.wd[e]),
                              g.init(f"experts.{e}.fc2.bias", ex.bd[e])], transB=1)
        else:
            gate = g.op("MatMul", [xs, g.init(f"experts.{e}.w1.weight_t", ex.wg[e].T)])
            up = g.op("MatMul", [xs, g.init(f"experts.{e}.w3.weight_t", ex.wu[e].T)])
            h = build_activation(g, spec.act, gate, up)
            y = g.op("MatMul", [h, g.init(f"experts.{e}.w2.weight_t", ex.wd[e].T)])
        pair = g.op("Concat", [g.unsqueeze(token, [1]), g.unsqueeze(slot, [1])], axis=1)
        w = g.unsqueeze(g.op("GatherND", [weights, pair]), [1])                 # [n,1]
        y = g.op("Mul", [y, w])
        last = e == spec.E - 1
        if u["scatter"] == "scatternd":
            acc = g.op("ScatterND", [acc, g.unsqueeze(token, [1]), y], reduction="add",
                       name="y" if last else None)
        else:
            index = g.op("Expand", [g.unsqueeze(token, [1]), g.op("Shape", [y])])
            acc = g.op("ScatterElements", [acc, index, y], axis=0, reduction="add",
                       name="y" if last else None)


BUILDERS = {
    "contrib_moe": build_contrib,
    "batched_mm": build_batched_mm,
    "dense": lambda g, spec: {"stacked": build_dense_stacked,
                              "modulelist": build_dense_modulelist}[spec.dense](g, spec),
    "unrolled_loop": build_unrolled,
}


# --------------------------------------------------------------------------- models


FORMULAS = {
    ("relu", False): "relu(fc1 x + b1)",
    ("silu", False): "silu(fc1 x + b1)",
    ("gelu_tanh", False): "0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))), g = fc1 x + b1",
    ("silu", True): "silu(gate) * up",
    ("tanh", True): "tanh(gate) * up",
    ("swiglu", True): "G = min(gate, limit); L = clip(up, -limit, limit); "
                      "G * sigmoid(alpha * G) * (L + beta)",
}


def to_json(obj):
    """Indented JSON with short lists (shapes) kept on one line."""
    text = json.dumps(obj, indent=2)
    return re.sub(r"\[\s+([^\[\]{}]*?)\s+\]",
                  lambda m: "[" + ", ".join(p.strip() for p in m.group(1).split(",")) + "]", text)


class Spec:
    def __init__(self, name, form, summary, *, E=8, k=2, H=16, I=32, opset=17, is_moe=True,
                 routing=None, act=None, bias=False, router="matmul", router_bias=False,
                 contrib=None, batched=None, dense=None, unrolled=None, positional=False,
                 fc1_scale=1.0):
        self.name, self.form, self.summary = name, form, summary
        self.E, self.k, self.H, self.I, self.opset, self.is_moe = E, k, H, I, opset, is_moe
        self.routing = dict(routing or {"kind": "softmax_topk", "renormalize": True})
        self.act = act or {"kind": "silu", "gated": True}
        self.router, self.contrib, self.batched = router, contrib, batched
        self.dense, self.unrolled, self.positional = dense, unrolled, positional
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        self.experts = Experts(rng, E, H, I, self.act["gated"], bias, fc1_scale)
        # Router std 1.5 / sqrt(H): logits of spread ~1.5, so routing is neither uniform
        # nor one-hot.
        self.wr = self.br = None
        if router == "matmul":
            self.wr = (rng.standard_normal((H, E)) * 1.5 / math.sqrt(H)).astype(F32)
            if router_bias:
                self.br = (rng.standard_normal(E) * 0.3).astype(F32)
        if self.routing["kind"] == "sigmoid_grouped":
            self.routing["_bias"] = (rng.standard_normal(E) * 0.1).astype(F32)

    def build(self):
        g = Graph(self.opset)
        BUILDERS[self.form](g, self)
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", self.H])]
        if self.router == "input":
            inputs.append(helper.make_tensor_value_info("router_probs", TensorProto.FLOAT,
                                                        ["T", self.E]))
        outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", self.H])]
        graph = helper.make_graph(g.nodes, self.name, inputs, outputs, initializer=g.inits)
        opsets = [helper.make_opsetid("", self.opset)]
        if self.form == "contrib_moe":
            opsets.append(helper.make_opsetid("com.microsoft", 1))
        model = helper.make_model(graph, opset_imports=opsets, producer_name="moe-mlir-tests",
                                  ir_version=IR_VERSION[self.opset])
        if sum(len(init.raw_data) for init in g.inits) >= 2**31 - 2**26:
            # A protobuf holds at most 2 GB: a benchmark-sized model is checked where
            # it is saved, with its weights as external data.
            return model
        if self.form == "contrib_moe":
            # onnx's checker does not know com.microsoft ops; it still checks the rest.
            onnx.checker.check_model(model, full_check=False)
        else:
            onnx.checker.check_model(model, full_check=True)
        return model

    def input_names(self):
        return ["x"] + (["router_probs"] if self.router == "input" else [])

    def describe(self):
        ex = self.experts
        routing = {k: v for k, v in self.routing.items() if not k.startswith("_")}
        if "_bias" in self.routing:
            routing["correction_bias_initializer"] = "router.e_score_correction_bias"
        router = ({"source": "graph input router_probs (logits)"} if self.router == "input" else
                  {"source": "MatMul(x, router.weight [H, E])" +
                   (" + router.bias" if self.br is not None else "")})
        act = dict(self.act, formula=FORMULAS[(self.act["kind"], self.act["gated"])])
        experts = {"activation": act, "bias": ex.bias}
        if self.form == "contrib_moe":
            experts["gate_up"] = self.contrib["gate_up"]
            experts["weight_layout"] = "[E, out, in]: fc1 [E, f*I, H], fc2 [E, H, I], fc3 [E, I, H]"
        elif self.form == "batched_mm":
            experts["gate_up"] = self.batched["gate_up"]
            experts["weight_layout"] = (
                "[E, in, out]: gate_up_proj [E, H, 2I], down_proj [E, I, H]; x row vector"
                if self.batched["layout"] == "in_out" else
                "[E, out, in]: gate_up_proj [E, 2I, H], down_proj [E, H, I]; x column vector")
            experts["gathered_by"] = "top-k slot position" if self.positional else "expert id"
        elif self.form == "dense":
            experts["gate_up"] = "concat" if self.dense == "stacked" else "separate"
            experts["weight_layout"] = (
                "[E, in, out]: gate_up_proj [E, H, 2I], down_proj [E, I, H]"
                if self.dense == "stacked" else
                "per-expert initializers experts.<e>.w{1,3,2}.weight_t, [in, out]")
        else:
            experts["gate_up"] = "separate" if ex.gated else "none"
            experts["weight_layout"] = (
                "per-expert Gemm transB=1 weights [out, in] with biases"
                if self.unrolled["linear"] == "gemm" else
                "per-expert MatMul weights experts.<e>.w{1,3,2}.weight_t, [in, out]")
            experts["scatter"] = self.unrolled["scatter"]
        return routing, router, experts


CONTRIB_RELU = {"gate_up": "none", "attrs": {"k": 2, "activation_type": "relu",
                                              "normalize_routing_weights": 0}}
# ONNX Runtime's CPU MoE computes "gelu" with the tanh approximation; the erf form
# differs by ~2e-4 relative, more than the tolerance.
CONTRIB_GELU = {"gate_up": "none", "attrs": {"k": 2, "activation_type": "gelu",
                                              "normalize_routing_weights": 1}}
CONTRIB_SILU = {"gate_up": "none", "attrs": {"k": 2, "activation_type": "silu",
                                              "normalize_routing_weights": 1}}
GPT_OSS = {"kind": "swiglu", "gated": True, "alpha": 1.702, "beta": 1.0, "limit": 7.0}
GPT_OSS_ATTRS = {"activation_alpha": 1.702, "activation_beta": 1.0, "swiglu_limit": 7.0}
SILU_GLU = {"kind": "silu", "gated": True}
CONCAT = {"gate_up": "concat", "layout": "in_out"}
# fc1 pre-activations of spread ~3, so a few percent of gates pass the swiglu limit of 7
# and the clamp is exercised.
CLAMP_SCALE = 3.0


def contrib_swiglu(fusion, extra):
    return {"k": 2, "activation_type": "swiglu", "normalize_routing_weights": 1,
            "swiglu_fusion": fusion, **extra}


MODELS = [
    Spec("contrib_moe_relu_bias", "contrib_moe",
         "com.microsoft.MoE, relu, fc1/fc2 biases, no renormalisation, router logits as input",
         act={"kind": "relu", "gated": False}, bias=True, router="input", contrib=CONTRIB_RELU,
         routing={"kind": "softmax_topk", "renormalize": False}),
    Spec("contrib_moe_silu", "contrib_moe",
         "com.microsoft.MoE, silu (not gated), no biases, normalize_routing_weights=1, "
         "router logits as input",
         act={"kind": "silu", "gated": False}, router="input", contrib=CONTRIB_SILU),
    Spec("contrib_moe_gelu", "contrib_moe",
         "com.microsoft.MoE, gelu (tanh approximation, as ONNX Runtime's CPU kernel computes "
         "it), fc1/fc2 biases, router logits as input",
         act={"kind": "gelu_tanh", "gated": False}, bias=True, router="input",
         contrib=CONTRIB_GELU),
    Spec("contrib_moe_silu_router", "contrib_moe",
         "com.microsoft.MoE as contrib_moe_silu, router logits computed in-graph by "
         "MatMul(x, router.weight)",
         act={"kind": "silu", "gated": False}, contrib=CONTRIB_SILU),
    Spec("contrib_moe_swiglu_interleaved", "contrib_moe",
         "com.microsoft.MoE, swiglu_fusion=1 (interleaved gate/up rows in fc1), gpt-oss "
         "alpha/beta/limit, biases",
         act=GPT_OSS, bias=True, router="input", fc1_scale=CLAMP_SCALE,
         contrib={"gate_up": "interleaved", "attrs": contrib_swiglu(1, GPT_OSS_ATTRS)}),
    Spec("contrib_moe_swiglu_concat", "contrib_moe",
         "com.microsoft.MoE, swiglu_fusion=2 (gate rows then up rows in fc1), gpt-oss "
         "alpha/beta/limit, biases",
         act=GPT_OSS, bias=True, router="input", fc1_scale=CLAMP_SCALE,
         contrib={"gate_up": "concat", "attrs": contrib_swiglu(2, GPT_OSS_ATTRS)}),
    Spec("contrib_moe_swiglu_fc3", "contrib_moe",
         "com.microsoft.MoE, swiglu_fusion=0: fc1 is the gate, fc3 the up projection "
         "(silu(g)*u), no biases",
         act=SILU_GLU, router="input",
         contrib={"gate_up": "separate", "attrs": contrib_swiglu(0, {})}),

    Spec("batched_mm_concat", "batched_mm",
         "batched_mm, concatenated gate/up separated by Split, SiLU*up, "
         "softmax->topk->renormalise",
         batched=CONCAT),
    Spec("batched_mm_interleaved", "batched_mm",
         "batched_mm, interleaved gate/up taken by Slice step 2, SiLU*up, gate_up and down "
         "biases",
         bias=True, batched={"gate_up": "interleaved", "layout": "in_out"}),
    Spec("batched_mm_gptoss", "batched_mm",
         "batched_mm as gpt-oss exports: router bias, topk->softmax, interleaved gate/up with "
         "biases, clamped swiglu (Clip, alpha 1.702, up+1)",
         act=GPT_OSS, bias=True, router_bias=True, fc1_scale=CLAMP_SCALE,
         routing={"kind": "topk_softmax"}, batched={"gate_up": "interleaved", "layout": "in_out"}),
    Spec("batched_mm_opset13", "batched_mm",
         "batched_mm at opset 13 (Split with split input), [E, out, in] weights times token "
         "column vectors",
         opset=13, batched={"gate_up": "concat", "layout": "out_in"}),
    Spec("batched_mm_opset18", "batched_mm",
         "batched_mm at opset 18 (Split num_outputs attribute, ReduceSum axes input)",
         opset=18, batched=CONCAT),
    Spec("batched_mm_e16k4", "batched_mm",
         "batched_mm with many experts: E=16, k=4, softmax->topk->renormalise",
         E=16, k=4, batched=CONCAT),

    Spec("dense_stacked", "dense",
         "dense all-experts: broadcast MatMul [1,T,H] x [E,H,2I], dense [T,E] routing by "
         "ScatterElements, ReduceSum over experts",
         dense="stacked"),
    Spec("dense_modulelist", "dense",
         "dense all-experts unrolled over E per-expert initializers, topk->softmax, one column "
         "of the dense routing matrix per expert, Add chain",
         dense="modulelist", routing={"kind": "topk_softmax"}),

    Spec("loop_scatternd", "unrolled_loop",
         "unrolled expert loop: OneHot mask, per expert NonZero->Gather->SwiGLU MLP "
         "(MatMul)->Mul->ScatterND reduction=add",
         unrolled={"linear": "matmul", "scatter": "scatternd"}),
    Spec("loop_scatterelements", "unrolled_loop",
         "unrolled expert loop with Gemm(transB=1)+bias relu MLP, no renormalisation, "
         "ScatterElements reduction=add",
         act={"kind": "relu", "gated": False}, bias=True,
         routing={"kind": "softmax_topk", "renormalize": False},
         unrolled={"linear": "gemm", "scatter": "scatterelements"}),

    Spec("routing_softmax_topk_norm", "batched_mm",
         "routing variant: Softmax -> TopK -> Div(ReduceSum) (Mixtral in transformers, "
         "Qwen-MoE norm_topk_prob)",
         batched=CONCAT),
    Spec("routing_softmax_topk", "batched_mm",
         "routing variant: Softmax -> TopK, weights not renormalised (Switch, Qwen2-MoE)",
         routing={"kind": "softmax_topk", "renormalize": False}, batched=CONCAT),
    Spec("routing_topk_softmax", "batched_mm",
         "routing variant: TopK on logits -> Softmax over the k (gpt-oss, Mixtral reference "
         "code)",
         routing={"kind": "topk_softmax"}, batched=CONCAT),
    Spec("routing_sigmoid_grouped", "batched_mm",
         "routing variant: DeepSeek-V3 sigmoid + correction bias, grouped TopK (16 experts, "
         "4 groups, keep 2, k=4), normalised, x2.5",
         E=16, k=4, batched=CONCAT,
         routing={"kind": "sigmoid_grouped", "n_group": 4, "topk_group": 2,
                  "group_score": "sum of top-2 selection scores", "masked_value": "-inf",
                  "renormalize": True, "epsilon": 1e-20, "scaling_factor": 2.5}),

    Spec("nearmiss_tanh", "batched_mm",
         "NEAR MISS: batched_mm whose gate activation is Tanh (tanh(g)*u), not "
         "SiLU/ReLU/GELU",
         is_moe=False, act={"kind": "tanh", "gated": True}, batched=CONCAT),
    Spec("nearmiss_positional", "batched_mm",
         "NEAR MISS: batched_mm whose Gather indexes a [k, ...] weight bank by slot position, "
         "not by expert id",
         is_moe=False, positional=True, batched=CONCAT),
]


# --------------------------------------------------------------------------- ORT


def ort_session(model):
    import onnxruntime as ort

    ort.set_default_logger_severity(4)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 4
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def short_reason(error):
    """ONNX Runtime's message without its source location and C++ signature."""
    text = str(error).strip().splitlines()[0]
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    text = re.sub(r"/onnxruntime_src/\S+ .*?\) (\[with [^\]]*\] )?", "", text)
    return text.strip()


def check_with_ort(spec, model, cases):
    """Max relative error of ONNX Runtime against the reference, or the reason it
    cannot run the model."""
    try:
        session = ort_session(model)
    except Exception as error:  # ONNX Runtime raises its own exception types
        return None, short_reason(error)
    worst = 0.0
    for T, inputs, ref in cases:
        try:
            got = session.run(None, inputs)[0]
        except Exception as error:
            return None, f"T={T}: {short_reason(error)}"
        scale = float(np.abs(ref).max())
        err = float(np.abs(got.astype(F64) - ref).max())
        if not err <= RTOL * scale + ATOL:
            raise AssertionError(f"{spec.name}: ONNX Runtime differs from the reference at T={T}: "
                                 f"max abs err {err:.3g}, max |ref| {scale:.3g}")
        worst = max(worst, err / scale)
    return worst, None


# --------------------------------------------------------------------------- output


def round_sig(v, digits=3):
    return float(f"{v:.{digits}g}")


def write_model(spec):
    import onnxruntime as ort

    out = HERE / spec.name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model = spec.build()
    (out / "model.onnx").write_bytes(model.SerializeToString())

    cases, case_entries = [], []
    for T in TOKEN_COUNTS:
        inputs = make_inputs(spec, T)
        ref = reference(spec, inputs)
        cases.append((T, inputs, ref))
        folder = out / f"T{T}"
        folder.mkdir()
        entry = {"T": T, "inputs": [], "outputs": [],
                 "min_routing_margin": round_sig(float(margins(spec, inputs).min()))}
        for i, name in enumerate(spec.input_names()):
            np.save(folder / f"input_{i}.npy", inputs[name])
            entry["inputs"].append({"name": name, "file": f"T{T}/input_{i}.npy",
                                    "shape": list(inputs[name].shape), "dtype": "float32"})
        np.save(folder / "output_0.npy", ref)
        entry["outputs"].append({"name": "y", "file": f"T{T}/output_0.npy",
                                 "shape": list(ref.shape), "dtype": "float32"})
        case_entries.append(entry)

    worst, reason = check_with_ort(spec, model, cases)
    routing, router, experts = spec.describe()
    opsets = {"": spec.opset}
    if spec.form == "contrib_moe":
        opsets["com.microsoft"] = 1
    manifest = {
        "name": spec.name,
        "form": spec.form,
        "summary": spec.summary,
        "is_moe": spec.is_moe,
        "model": "model.onnx",
        "opset_imports": opsets,
        "dims": {"T": "symbolic", "H": spec.H, "I": spec.I, "E": spec.E, "k": spec.k},
        "inputs": [{"name": n, "shape": ["T", spec.H if n == "x" else spec.E], "dtype": "float32"}
                   for n in spec.input_names()],
        "outputs": [{"name": "y", "shape": ["T", spec.H], "dtype": "float32"}],
        "router": router,
        "routing": routing,
        "experts": experts,
        "tolerance": {"rtol": RTOL, "atol": ATOL,
                      "rule": "max|out - ref| <= rtol * max|ref| + atol"},
        "reference": "numpy float64 per-token loop over the chosen experts, stored as float32",
        "ort": reason is None,
        "ort_version": ort.__version__,
        "cases": case_entries,
    }
    if spec.form == "contrib_moe":
        manifest["contrib_attributes"] = spec.contrib["attrs"]
    if reason is not None:
        manifest["ort_reason"] = reason
    (out / "manifest.json").write_text(to_json(manifest) + "\n")

    counts = ",".join(str(T) for T in TOKEN_COUNTS)
    if reason is None:
        print(f"{spec.name}: ORT max rel err {worst:.1g} at T={counts}")
    else:
        print(f"{spec.name}: ORT: not supported ({reason})")
    return reason is None


README_HEAD = """\
# MoE fixture models

Small ONNX models of MoE layers in each form exporters produce (DESIGN.md section 3),
with inputs and numpy reference outputs, for the end-to-end tests. Everything here is
written by `generate.py`, which is the source of truth; do not edit the files by hand.
Regenerate (deterministic, byte-identical on re-run) with

    python3 test/models/generate.py

Each model is float32 with H=16, I=32, E=8, k=2 unless stated, and a symbolic token
dimension `T`. `<name>/model.onnx` is the model, `<name>/manifest.json` lists its inputs,
outputs, form, routing, activation, weight layout and tolerance, and
`<name>/T<n>/input_<i>.npy`, `output_0.npy` hold one case for T = 1, 7, 33, 512. A case
passes when `max|out - ref| <= 1e-4 * max|ref| + 1e-6`. Tokens whose routing is within
1e-3 of a tie are redrawn, so the chosen experts are stable under reordered arithmetic.
The generator checks every model with ONNX Runtime (CPU); `"ort": false` in a manifest
says ONNX Runtime cannot run that form (`ort_reason` says why). `is_moe: false` marks
near misses that must not be raised to `moe.layer`.

What ONNX Runtime {ort_version} (CPU) does with com.microsoft.MoE, as the generator checks it:
the weight layout is [E, out, in] (fc1 [E, f*I, H], fc2 [E, H, I], fc3 [E, I, H]); an
[E, H, I]-shaped fc1 is accepted without complaint but its buffer is read as [E, I, H].
`router_probs` are logits: softmax over all experts, top-k, divided by their sum when
normalize_routing_weights=1. swiglu is `G = min(g, limit); L = clip(u, -limit, limit);
G * sigmoid(alpha * G) * (L + beta)` (alpha defaults to 1, beta to 0, no clamp without
swiglu_limit); swiglu_fusion=1 interleaves g and u on each fc1 row. "gelu" is the tanh
approximation (the erf form is ~2e-4 off). The CPU kernel refuses swiglu_fusion=0 and 2
and any fc3 input, so those fixtures carry the numpy reference only.

| model | form | ORT | exercises |
| --- | --- | --- | --- |
"""


# --------------------------------------------------------------------------- dense block


DENSE_BLOCK = "dense_block"
DENSE_BLOCK_SUMMARY = ("dense transformer block without MoE: LayerNormalization, 2-head "
                       "self-attention (Reshape, Transpose, MatMul, Softmax), residual, RMS norm "
                       "written as ReduceMean/Sqrt/Div, SwiGLU MLP, residual")


def dense_block_weights():
    rng = np.random.default_rng(zlib.crc32(DENSE_BLOCK.encode()))
    H, I = 16, 32

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(F32)

    return {
        "ln.gamma": (1.0 + rng.standard_normal(H) * 0.1).astype(F32),
        "ln.beta": normal((H,), 0.1),
        "attn.wq": normal((H, H), 1 / math.sqrt(H)),
        "attn.wk": normal((H, H), 1 / math.sqrt(H)),
        "attn.wv": normal((H, H), 1 / math.sqrt(H)),
        "attn.wo": normal((H, H), 1 / math.sqrt(H)),
        "rms.gamma": (1.0 + rng.standard_normal(H) * 0.1).astype(F32),
        "mlp.w1": normal((H, I), 1 / math.sqrt(H)),
        "mlp.w3": normal((H, I), 1 / math.sqrt(H)),
        "mlp.w2": normal((I, H), 1 / math.sqrt(I)),
    }


def dense_block_reference(w, x):
    x = x.astype(F64)
    w = {k: v.astype(F64) for k, v in w.items()}
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    n1 = (x - mean) / np.sqrt(var + 1e-5) * w["ln.gamma"] + w["ln.beta"]
    T = x.shape[0]
    heads = lambda m: m.reshape(T, 2, 8).transpose(1, 0, 2)
    q, k, v = heads(n1 @ w["attn.wq"]), heads(n1 @ w["attn.wk"]), heads(n1 @ w["attn.wv"])
    s = q @ k.transpose(0, 2, 1) / math.sqrt(8)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    o = (p @ v).transpose(1, 0, 2).reshape(T, 16)
    h = x + o @ w["attn.wo"]
    n2 = h / np.sqrt((h ** 2).mean(-1, keepdims=True) + 1e-6) * w["rms.gamma"]
    g, u = n2 @ w["mlp.w1"], n2 @ w["mlp.w3"]
    return (h + (g / (1 + np.exp(-g)) * u) @ w["mlp.w2"]).astype(F32)


def build_dense_block(w):
    nodes, inits = [], [numpy_helper.from_array(v, k) for k, v in w.items()]

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(op, ins, out, **attrs):
        nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    node("LayerNormalization", ["x", "ln.gamma", "ln.beta"], "n1", axis=-1, epsilon=1e-5)
    split_heads = const("heads_shape", np.array([0, 2, 8], np.int64))
    for name in "qkv":
        node("MatMul", ["n1", f"attn.w{name}"], f"{name}_flat")
        node("Reshape", [f"{name}_flat", split_heads], f"{name}_heads")
    node("Transpose", ["q_heads"], "q", perm=[1, 0, 2])
    node("Transpose", ["k_heads"], "kt", perm=[1, 2, 0])
    node("Transpose", ["v_heads"], "v", perm=[1, 0, 2])
    node("MatMul", ["q", "kt"], "scores_raw")
    node("Mul", ["scores_raw", const("inv_sqrt_d", np.array(1 / math.sqrt(8), F32))], "scores")
    node("Softmax", ["scores"], "probs", axis=-1)
    node("MatMul", ["probs", "v"], "ctx_heads")
    node("Transpose", ["ctx_heads"], "ctx_t", perm=[1, 0, 2])
    node("Reshape", ["ctx_t", const("merge_shape", np.array([-1, 16], np.int64))], "ctx")
    node("MatMul", ["ctx", "attn.wo"], "attn_out")
    node("Add", ["x", "attn_out"], "h")
    node("Mul", ["h", "h"], "h2")
    node("ReduceMean", ["h2"], "ms", axes=[-1], keepdims=1)
    node("Add", ["ms", const("rms_eps", np.array(1e-6, F32))], "ms_eps")
    node("Sqrt", ["ms_eps"], "rms")
    node("Div", ["h", "rms"], "h_normed")
    node("Mul", ["h_normed", "rms.gamma"], "n2")
    node("MatMul", ["n2", "mlp.w1"], "gate")
    node("MatMul", ["n2", "mlp.w3"], "up")
    node("Sigmoid", ["gate"], "gate_sig")
    node("Mul", ["gate", "gate_sig"], "gate_act")
    node("Mul", ["gate_act", "up"], "mlp_in")
    node("MatMul", ["mlp_in", "mlp.w2"], "mlp_out")
    node("Add", ["h", "mlp_out"], "y")
    graph = helper.make_graph(
        nodes, DENSE_BLOCK, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", 16])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="moe-mlir-tests", ir_version=IR_VERSION[17])
    onnx.checker.check_model(model, full_check=True)
    return model


def write_dense_block():
    """The dense transformer-block fixture: the same files and manifest as the MoE
    fixtures, `is_moe: false`."""
    import onnxruntime as ort

    out = HERE / DENSE_BLOCK
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    w = dense_block_weights()
    model = build_dense_block(w)
    (out / "model.onnx").write_bytes(model.SerializeToString())
    session = ort_session(model)
    cases = []
    for T in TOKEN_COUNTS:
        rng = np.random.default_rng([zlib.crc32(DENSE_BLOCK.encode()), T])
        x = rng.standard_normal((T, 16)).astype(F32)
        ref = dense_block_reference(w, x)
        got = session.run(None, {"x": x})[0]
        scale = float(np.abs(ref).max())
        if not float(np.abs(got.astype(F64) - ref).max()) <= RTOL * scale + ATOL:
            raise AssertionError(f"{DENSE_BLOCK}: ONNX Runtime differs from the reference at T={T}")
        (out / f"T{T}").mkdir()
        np.save(out / f"T{T}" / "input_0.npy", x)
        np.save(out / f"T{T}" / "output_0.npy", ref)
        cases.append({"T": T,
                      "inputs": [{"name": "x", "file": f"T{T}/input_0.npy", "shape": [T, 16],
                                  "dtype": "float32"}],
                      "outputs": [{"name": "y", "file": f"T{T}/output_0.npy", "shape": [T, 16],
                                   "dtype": "float32"}]})
    manifest = {
        "name": DENSE_BLOCK, "form": "dense_block", "summary": DENSE_BLOCK_SUMMARY,
        "is_moe": False, "model": "model.onnx", "opset_imports": {"": 17},
        "dims": {"T": "symbolic", "H": 16, "I": 32, "heads": 2},
        "inputs": [{"name": "x", "shape": ["T", 16], "dtype": "float32"}],
        "outputs": [{"name": "y", "shape": ["T", 16], "dtype": "float32"}],
        "tolerance": {"rtol": RTOL, "atol": ATOL,
                      "rule": "max|out - ref| <= rtol * max|ref| + atol"},
        "reference": "numpy float64, stored as float32",
        "ort": True, "ort_version": ort.__version__, "cases": cases,
    }
    (out / "manifest.json").write_text(to_json(manifest) + "\n")


def main():
    import onnxruntime as ort

    rows = []
    for spec in MODELS:
        ran = write_model(spec)
        rows.append(f"| `{spec.name}` | {spec.form} | {'yes' if ran else 'no'} | {spec.summary} |")
    write_dense_block()
    rows.append(f"| `{DENSE_BLOCK}` | dense_block | yes | {DENSE_BLOCK_SUMMARY} |")
    (HERE / "README.md").write_text(README_HEAD.replace("{ort_version}", ort.__version__) +
                                    "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
