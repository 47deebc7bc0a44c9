#!/usr/bin/env python3
"""ONNX If and Loop, compiled for the CPU and compared with ONNX Runtime. If at both
values of a run-time condition: branches whose outputs differ in shape, that read the
enclosing graph's values and initializers of their own, an If nested in a branch, and
branches that reuse each other's value names (a constant condition is folded at
compile time, checked by lit on the normalised IR). Loop with and without a trip
count, stopping on the count, on a condition its body computes, or before the first
iteration, with a carried value and scan outputs (a tensor and a scalar per step).
Scan over one to five rows of two scan inputs, with a state and two scan
outputs, along the first axes forward and along other axes (one negative) from the
end.

    control_flow.py --bin build/bin --work DIR
"""
import argparse
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from moe_tools import compile_model, run_model

F = TensorProto.FLOAT


def model():
    """y = If(c) then (If(d) then relu(x) @ w else -x @ w) else concat(x, x) * 2;
    z = If(c) then x + 1 else x - 1 (both branches name their output `t`)."""
    w = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4) / 8, "w")
    inner = helper.make_node(
        "If", ["d"], ["inner"], name="inner_if",
        then_branch=helper.make_graph(
            [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["rw"])],
            "inner_then", [], [helper.make_tensor_value_info("rw", F, ["N", 4])]),
        else_branch=helper.make_graph(
            [helper.make_node("Neg", ["x"], ["n"]), helper.make_node("MatMul", ["n", "w"], ["nw"])],
            "inner_else", [], [helper.make_tensor_value_info("nw", F, ["N", 4])]))
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    outer = helper.make_node(
        "If", ["c"], ["y"], name="outer_if",
        then_branch=helper.make_graph([inner], "then", [],
                                      [helper.make_tensor_value_info("inner", F, ["N", 4])]),
        else_branch=helper.make_graph(
            [helper.make_node("Concat", ["x", "x"], ["xx"], axis=1),
             helper.make_node("Mul", ["xx", "two"], ["doubled"])],
            "else", [], [helper.make_tensor_value_info("doubled", F, ["N", 8])], [two]))
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    shift = helper.make_node(
        "If", ["c"], ["z"], name="shift_if",
        then_branch=helper.make_graph([helper.make_node("Add", ["x", "one"], ["t"])], "up", [],
                                      [helper.make_tensor_value_info("t", F, ["N", 4])]),
        else_branch=helper.make_graph([helper.make_node("Sub", ["x", "one"], ["t"])], "down",
                                      [], [helper.make_tensor_value_info("t", F, ["N", 4])]))
    graph = helper.make_graph(
        [outer, shift], "control_flow",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, [1]),
         helper.make_tensor_value_info("d", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x", F, ["N", 4])],
        [helper.make_tensor_value_info("y", F, ["N", None]),
         helper.make_tensor_value_info("z", F, ["N", 4])], [w, one])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def loop_model(with_trip_count):
    """acc, rows, steps = Loop(M, c, x): acc <- acc * 0.5 while sum(acc) > limit (and
    fewer than M iterations ran), each iteration's acc + i / 64 and i scanned out."""
    limit = numpy_helper.from_array(np.array(1.0, np.float32), "limit")
    half = numpy_helper.from_array(np.array(0.5, np.float32), "half")
    scale = numpy_helper.from_array(np.array(1 / 64, np.float32), "scale")
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=F),
         helper.make_node("Mul", ["fi", "scale"], ["drift"]),
         helper.make_node("Mul", ["acc", "half"], ["halved"]),
         helper.make_node("Identity", ["halved"], ["acc_out"]),
         helper.make_node("Add", ["halved", "drift"], ["row"]),
         helper.make_node("ReduceSum", ["halved"], ["total"], keepdims=0),
         helper.make_node("Greater", ["total", "limit"], ["go"]),
         helper.make_node("Identity", ["i"], ["step"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", F, ["N", 4])],
        [helper.make_tensor_value_info("go", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", F, ["N", 4]),
         helper.make_tensor_value_info("row", F, ["N", 4]),
         helper.make_tensor_value_info("step", TensorProto.INT64, [])], [half, scale])
    loop = helper.make_node("Loop", ["M" if with_trip_count else "", "c", "x"],
                            ["acc", "rows", "steps"], name="halving", body=body)
    inputs = [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
              helper.make_tensor_value_info("x", F, ["N", 4])]
    if with_trip_count:
        inputs.insert(0, helper.make_tensor_value_info("M", TensorProto.INT64, []))
    graph = helper.make_graph(
        [loop], "loop", inputs,
        [helper.make_tensor_value_info("acc", F, ["N", 4]),
         helper.make_tensor_value_info("rows", F, [None, "N", 4]),
         helper.make_tensor_value_info("steps", TensorProto.INT64, [None])], [limit])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def scan_model():
    """total, partial, scaled = Scan(s, xs, ws): per row t, s <- s + xs[t] * ws[t];
    each step's s and xs[t] * 2 scanned out."""
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    body = helper.make_graph(
        [helper.make_node("Mul", ["x_t", "w_t"], ["xw"]),
         helper.make_node("Add", ["s_in", "xw"], ["s_out"]),
         helper.make_node("Identity", ["s_out"], ["partial"]),
         helper.make_node("Mul", ["x_t", "two"], ["scaled"])],
        "scan_body",
        [helper.make_tensor_value_info("s_in", F, ["N"]),
         helper.make_tensor_value_info("x_t", F, ["N"]),
         helper.make_tensor_value_info("w_t", F, [1])],
        [helper.make_tensor_value_info("s_out", F, ["N"]),
         helper.make_tensor_value_info("partial", F, ["N"]),
         helper.make_tensor_value_info("scaled", F, ["N"])], [two])
    scan = helper.make_node("Scan", ["s", "xs", "ws"], ["total", "partials", "scaled"],
                            name="weighted_sum", num_scan_inputs=2, body=body)
    graph = helper.make_graph(
        [scan], "scan",
        [helper.make_tensor_value_info("s", F, ["N"]),
         helper.make_tensor_value_info("xs", F, ["L", "N"]),
         helper.make_tensor_value_info("ws", F, ["L", 1])],
        [helper.make_tensor_value_info("total", F, ["N"]),
         helper.make_tensor_value_info("partials", F, ["L", "N"]),
         helper.make_tensor_value_info("scaled", F, ["L", "N"])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def scan_axes_model():
    """scan_model's body over xs [N, L] scanned along axis 1 from the end and ws
    [L, 1] forward; partials stacked along axis -1 (1) last row first, scaled along
    axis 0."""
    m = scan_model()
    scan = m.graph.node[0]
    scan.attribute.extend([
        helper.make_attribute("scan_input_axes", [1, 0]),
        helper.make_attribute("scan_input_directions", [1, 0]),
        helper.make_attribute("scan_output_axes", [-1, 0]),
        helper.make_attribute("scan_output_directions", [1, 0])])
    m.graph.input[1].CopyFrom(helper.make_tensor_value_info("xs", F, ["N", "L"]))
    m.graph.output[1].CopyFrom(helper.make_tensor_value_info("partials", F, ["N", "L"]))
    return m


def check(args, name, m, cases):
    """Compiles `m` and compares every output with ONNX Runtime on each feed."""
    path, library = args.work / f"{name}.onnx", args.work / f"{name}.so"
    onnx.save(m, path)
    failure = compile_model(args.bin, path, library)
    if failure:
        print(f"{name}: compile failed MISMATCH\n{failure}")
        return False
    session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in m.graph.output]
    ok = True
    for label, feeds in cases:
        want = dict(zip(names, session.run(None, feeds)))
        outputs = run_model(args.bin, library, feeds, want, args.work)
        if isinstance(outputs, str):
            print(f"{name} {label}: moe-run failed MISMATCH\n{outputs}")
            ok = False
            continue
        good = True
        for key, ref in want.items():
            got = outputs[key]
            if got.shape != ref.shape or got.dtype != ref.dtype or \
                    np.max(np.abs(got - ref), initial=0) > 1e-5:
                print(f"{name} {label}: {key} {got.dtype}{list(got.shape)} differs from "
                      f"ONNX Runtime's {ref.dtype}{list(ref.shape)} MISMATCH")
                good = False
        shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in want.items())
        print(f"{name} {label}: {shapes} {'ok' if good else 'MISMATCH'}")
        ok &= good
    return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, type=pathlib.Path)
    parser.add_argument("--work", required=True, type=pathlib.Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    m = model()
    path, library = args.work / "control_flow.onnx", args.work / "control_flow.so"
    onnx.save(m, path)
    failure = compile_model(args.bin, path, library)
    if failure:
        print(f"compile failed MISMATCH\n{failure}")
        return 1
    session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(2)
    ok = True
    for c in (True, False):
        for d in (True, False):
            for n in (1, 5):
                feeds = {"c": np.array([c]), "d": np.array(d),
                         "x": rng.standard_normal((n, 4)).astype(np.float32)}
                want = dict(zip(["y", "z"], session.run(None, feeds)))
                outputs = run_model(args.bin, library, feeds, want, args.work)
                label = f"c={int(c)} d={int(d)} N={n}"
                if isinstance(outputs, str):
                    print(f"{label}: moe-run failed MISMATCH\n{outputs}")
                    ok = False
                    continue
                good = True
                for key, ref in want.items():
                    got = outputs[key]
                    if got.shape != ref.shape or np.max(np.abs(got - ref)) > 1e-5:
                        print(f"{label}: {key} {list(got.shape)} differs from ONNX Runtime's "
                              f"{list(ref.shape)} MISMATCH")
                        good = False
                print(f"{label}: y {list(want['y'].shape)} {'ok' if good else 'MISMATCH'}")
                ok &= good
    rng = np.random.default_rng(4)
    x = (8 * rng.random((3, 4))).astype(np.float32)
    small = np.full((2, 4), 0.01, np.float32)
    cases = [("M=0", {"M": np.array(0), "c": np.array(True), "x": x}),
             ("M=1", {"M": np.array(1), "c": np.array(True), "x": x}),
             ("M=3", {"M": np.array(3), "c": np.array(True), "x": x}),
             ("M=50 stops on cond", {"M": np.array(50), "c": np.array(True), "x": x}),
             ("cond false", {"M": np.array(5), "c": np.array(False), "x": x}),
             ("first step ends it", {"M": np.array(5), "c": np.array(True), "x": small})]
    ok &= check(args, "loop_count", loop_model(True), cases)
    ok &= check(args, "loop_cond", loop_model(False),
                [(label, {k: v for k, v in feeds.items() if k != "M"})
                 for label, feeds in cases[3:]])
    ok &= check(args, "scan", scan_model(),
                [(f"L={length} N={n}",
                  {"s": rng.standard_normal(n).astype(np.float32),
                   "xs": rng.standard_normal((length, n)).astype(np.float32),
                   "ws": rng.standard_normal((length, 1)).astype(np.float32)})
                 for length, n in ((1, 3), (5, 3), (4, 1))])
    ok &= check(args, "scan_axes", scan_axes_model(),
                [(f"axes L={length} N={n}",
                  {"s": rng.standard_normal(n).astype(np.float32),
                   "xs": rng.standard_normal((n, length)).astype(np.float32),
                   "ws": rng.standard_normal((length, 1)).astype(np.float32)})
                 for length, n in ((1, 3), (5, 3), (4, 1))])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
