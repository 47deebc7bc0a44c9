#!/usr/bin/env python3
"""Single-op models of the ops whole-model exports use, each compiled for the CPU with
moe-opt, run with moe-run and compared with ONNX Runtime on random inputs: every
output, within 1e-5 * max|ref| + 1e-6 (exactly for integers and booleans). Dynamic
dimensions are exercised at two sizes per model.

    ops_vs_ort.py --bin build/bin --work DIR
"""
import argparse
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from moe_tools import compile_model, run_model

FLOAT, INT64, INT32, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32, TensorProto.BOOL
UINT8 = TensorProto.UINT8
NUMPY = {FLOAT: np.float32, INT64: np.int64, INT32: np.int32, BOOL: np.bool_, UINT8: np.uint8}


def case(name, op, inputs, outputs, attrs=None, domain="", opset=20, initializers=(),
         sizes=({}, {})):
    """A one-node model: `inputs` and `outputs` are (name, type, shape) with shapes that
    may name dynamic dimensions, bound per run by each dict of `sizes`."""
    return dict(name=name, op=op, inputs=inputs, outputs=outputs, attrs=attrs or {},
                domain=domain, opset=opset, initializers=initializers, sizes=sizes)


ROWS = ({"N": 3}, {"N": 1})
CASES = [
    case("sum3", "Sum", [("a", FLOAT, ["N", 4]), ("b", FLOAT, [1, 4]), ("c", FLOAT, [4])],
         [("y", FLOAT, ["N", 4])], sizes=ROWS),
    case("max3", "Max", [("a", FLOAT, ["N", 4]), ("b", FLOAT, [4]), ("c", FLOAT, [1, 4])],
         [("y", FLOAT, ["N", 4])], sizes=ROWS),
    case("min_int", "Min", [("a", INT64, ["N", 4]), ("b", INT64, [4]), ("c", INT64, [4])],
         [("y", INT64, ["N", 4])], sizes=ROWS),
    case("mean3", "Mean", [("a", FLOAT, ["N", 4]), ("b", FLOAT, [4]), ("c", FLOAT, ["N", 4])],
         [("y", FLOAT, ["N", 4])], sizes=ROWS),
    case("gelu", "Gelu", [("x", FLOAT, ["N", 8])], [("y", FLOAT, ["N", 8])], sizes=ROWS),
    case("gelu_tanh", "Gelu", [("x", FLOAT, ["N", 8])], [("y", FLOAT, ["N", 8])],
         attrs={"approximate": "tanh"}, sizes=ROWS),
    case("ms_gelu", "Gelu", [("x", FLOAT, ["N", 8])], [("y", FLOAT, ["N", 8])],
         domain="com.microsoft", sizes=ROWS),
    case("bias_gelu", "BiasGelu", [("x", FLOAT, ["N", 8]), ("bias", FLOAT, [8])],
         [("y", FLOAT, ["N", 8])], domain="com.microsoft", sizes=ROWS),
    case("fast_gelu", "FastGelu", [("x", FLOAT, ["N", 8]), ("bias", FLOAT, [8])],
         [("y", FLOAT, ["N", 8])], domain="com.microsoft", sizes=ROWS),
    case("quick_gelu", "QuickGelu", [("x", FLOAT, ["N", 8])], [("y", FLOAT, ["N", 8])],
         attrs={"alpha": 1.5}, domain="com.microsoft", sizes=ROWS),
    case("bitwise_and", "BitwiseAnd", [("a", INT32, ["N", 4]), ("b", INT32, [4])],
         [("y", INT32, ["N", 4])], sizes=ROWS),
    case("bitwise_or", "BitwiseOr", [("a", INT64, ["N", 4]), ("b", INT64, ["N", 4])],
         [("y", INT64, ["N", 4])], sizes=ROWS),
    case("bitwise_xor", "BitwiseXor", [("a", INT64, ["N", 4]), ("b", INT64, [1])],
         [("y", INT64, ["N", 4])], sizes=ROWS),
    case("bitwise_not", "BitwiseNot", [("a", INT32, ["N", 4])], [("y", INT32, ["N", 4])],
         sizes=ROWS),
    case("log_softmax", "LogSoftmax", [("x", FLOAT, ["N", 6])], [("y", FLOAT, ["N", 6])],
         sizes=ROWS),
    case("log_softmax_axis0", "LogSoftmax", [("x", FLOAT, ["N", 2, 3])],
         [("y", FLOAT, ["N", 2, 3])], attrs={"axis": 0}, sizes=ROWS),
    case("log_softmax_11", "LogSoftmax", [("x", FLOAT, [2, "N", 3])],
         [("y", FLOAT, [2, "N", 3])], attrs={"axis": 1}, opset=11, sizes=ROWS),
    case("dropout", "Dropout", [("x", FLOAT, ["N", 4])],
         [("y", FLOAT, ["N", 4]), ("mask", BOOL, ["N", 4])], sizes=ROWS),
    case("size", "Size", [("x", FLOAT, ["N", 2, 3])], [("y", INT64, [])], sizes=ROWS),
    case("flatten1", "Flatten", [("x", FLOAT, ["N", 2, 3])], [("y", FLOAT, ["N", 6])],
         sizes=ROWS),
    case("flatten0", "Flatten", [("x", FLOAT, ["N", 2, 3])], [("y", FLOAT, [1, None])],
         attrs={"axis": 0}, sizes=ROWS),
    case("flatten2", "Flatten", [("x", FLOAT, [2, "N", 3])], [("y", FLOAT, [None, 3])],
         attrs={"axis": 2}, sizes=ROWS),
    case("flatten3", "Flatten", [("x", FLOAT, [2, "N", 3])], [("y", FLOAT, [None, 1])],
         attrs={"axis": 3}, sizes=ROWS),
    case("tile", "Tile", [("x", FLOAT, ["N", 3])], [("y", FLOAT, [None, 6])],
         initializers=[numpy_helper.from_array(np.array([2, 2], np.int64), "repeats")],
         sizes=ROWS),
    case("tile_runtime", "Tile", [("x", FLOAT, [2, "N"]), ("repeats", INT64, [2])],
         [("y", FLOAT, [None, None])], sizes=ROWS),
    case("trilu_upper", "Trilu", [("x", FLOAT, ["N", 5])], [("y", FLOAT, ["N", 5])],
         sizes=({"N": 4}, {"N": 7})),
    case("trilu_lower_k", "Trilu", [("x", FLOAT, [2, "N", 5])],
         [("y", FLOAT, [2, "N", 5])], attrs={"upper": 0},
         initializers=[numpy_helper.from_array(np.array(1, np.int64), "k")],
         sizes=({"N": 4}, {"N": 6})),
    case("trilu_runtime_k", "Trilu", [("x", INT64, ["N", 5]), ("k", INT64, [])],
         [("y", INT64, ["N", 5])], sizes=({"N": 4}, {"N": 6})),
    case("fused_matmul_tb", "FusedMatMul", [("a", FLOAT, ["N", 3, 4]), ("b", FLOAT, [5, 4])],
         [("y", FLOAT, ["N", 3, 5])], attrs={"transB": 1, "alpha": 0.5},
         domain="com.microsoft", sizes=ROWS),
    case("fused_matmul_ta", "FusedMatMul", [("a", FLOAT, [4, "N"]), ("b", FLOAT, [4, 6])],
         [("y", FLOAT, ["N", 6])], attrs={"transA": 1}, domain="com.microsoft", sizes=ROWS),
    # Products of two activations (attention's scores and values): the broadcast-FMA
    # kernel, its rows in parallel chunks and its columns past the last whole vector.
    case("matmul_scores", "MatMul", [("q", FLOAT, [2, "N", 16]), ("k", FLOAT, [2, 16, "N"])],
         [("y", FLOAT, [2, "N", "N"])], sizes=({"N": 37}, {"N": 1}, {"N": 300})),
    case("matmul_values", "MatMul", [("p", FLOAT, [2, "N", "N"]), ("v", FLOAT, [2, "N", 32])],
         [("y", FLOAT, [2, "N", 32])], sizes=({"N": 37}, {"N": 1}, {"N": 300})),
    case("matmul_heads", "MatMul",
         [("q", FLOAT, [1, 3, "N", 8]), ("k", FLOAT, [1, 3, 8, 48])],
         [("y", FLOAT, [1, 3, "N", 48])], sizes=({"N": 19}, {"N": 1})),
    case("matmul_broadcast", "MatMul", [("a", FLOAT, ["N", 24]), ("b", FLOAT, [3, 24, 40])],
         [("y", FLOAT, [3, "N", 40])], sizes=ROWS),
    case("matmul_broadcast_b", "MatMul",
         [("a", FLOAT, [2, 1, "N", 12]), ("b", FLOAT, [1, 3, 12, 20])],
         [("y", FLOAT, [2, 3, "N", 20])], sizes=({"N": 9}, {"N": 1})),
    case("skip_layer_norm", "SkipLayerNormalization",
         [("x", FLOAT, [1, "N", 8]), ("skip", FLOAT, [1, "N", 8])],
         [("y", FLOAT, [1, "N", 8]), ("", FLOAT, None), ("", FLOAT, None),
          ("sum", FLOAT, [1, "N", 8])], attrs={"epsilon": 1e-5}, domain="com.microsoft",
         initializers=[numpy_helper.from_array(np.linspace(0.5, 1.5, 8, dtype=np.float32),
                                               "gamma"),
                       numpy_helper.from_array(np.linspace(-1, 1, 8, dtype=np.float32), "beta"),
                       numpy_helper.from_array(np.linspace(0, 0.7, 8, dtype=np.float32),
                                               "bias")], sizes=ROWS),
    case("reduce_prod", "ReduceProd", [("x", FLOAT, ["N", 5])], [("y", FLOAT, ["N"])],
         attrs={"keepdims": 0}, initializers=[numpy_helper.from_array(np.array([1], np.int64),
                                                                      "axes")], opset=18,
         sizes=ROWS),
    case("reduce_l1", "ReduceL1", [("x", FLOAT, ["N", 5])], [("y", FLOAT, ["N", 1])],
         initializers=[numpy_helper.from_array(np.array([1], np.int64), "axes")], opset=18,
         sizes=ROWS),
    case("reduce_l2", "ReduceL2", [("x", FLOAT, ["N", 5])], [("y", FLOAT, [])],
         attrs={"keepdims": 0}, opset=18, sizes=ROWS),
    case("reduce_sum_square_int", "ReduceSumSquare", [("x", INT64, ["N", 5])],
         [("y", INT64, [1, 5])], opset=13, attrs={"axes": [0]}, sizes=ROWS),
    case("reduce_log_sum", "ReduceLogSum", [("x", FLOAT, ["N", 5])], [("y", FLOAT, ["N", 1])],
         initializers=[numpy_helper.from_array(np.array([-1], np.int64), "axes")], opset=18,
         sizes=ROWS),
    case("einsum_bmm", "Einsum", [("a", FLOAT, ["N", 3, 4]), ("b", FLOAT, ["N", 4, 2])],
         [("y", FLOAT, ["N", 3, 2])], attrs={"equation": "bij,bjk->bik"}, opset=12,
         sizes=ROWS),
    case("einsum_implicit", "Einsum", [("a", FLOAT, [3, "N"]), ("b", FLOAT, ["N", 5])],
         [("y", FLOAT, [3, 5])], attrs={"equation": "ij,jk"}, opset=12, sizes=ROWS),
    case("einsum_trace_outer", "Einsum", [("a", FLOAT, [4, 4]), ("b", FLOAT, ["N"])],
         [("y", FLOAT, ["N"])], attrs={"equation": "ii,j->j"}, opset=12, sizes=ROWS),
    case("pad_constant", "Pad", [("x", FLOAT, ["N", 3])], [("y", FLOAT, [None, 6])],
         initializers=[numpy_helper.from_array(np.array([1, 2, 0, 1], np.int64), "pads"),
                       numpy_helper.from_array(np.array(-7.5, np.float32), "value")],
         opset=18, sizes=ROWS),
    case("pad_edge_crop", "Pad", [("x", FLOAT, ["N", 4])], [("y", FLOAT, [None, 4])],
         attrs={"mode": "edge"},
         initializers=[numpy_helper.from_array(np.array([2, -1, 1, 1], np.int64), "pads")],
         opset=18, sizes=ROWS),
    case("pad_reflect", "Pad", [("x", FLOAT, [3, "N"])], [("y", FLOAT, [7, None])],
         attrs={"mode": "reflect"},
         initializers=[numpy_helper.from_array(np.array([2, 0, 2, 0], np.int64), "pads")],
         opset=18, sizes=({"N": 3}, {"N": 1})),
    case("pad_wrap_axes", "Pad", [("x", FLOAT, ["N", 3])], [("y", FLOAT, ["N", 8])],
         attrs={"mode": "wrap"},
         initializers=[numpy_helper.from_array(np.array([2, 3], np.int64), "pads"),
                       numpy_helper.from_array(np.array(0, np.float32), "value"),
                       numpy_helper.from_array(np.array([1], np.int64), "axes")],
         opset=19, sizes=ROWS),
    case("reduce_sum_int", "ReduceSum", [("x", INT64, ["N", 5])], [("y", INT64, ["N", 1])],
         initializers=[numpy_helper.from_array(np.array([1], np.int64), "axes")],
         opset=18, sizes=ROWS),
    case("reduce_max_int", "ReduceMax", [("x", INT32, ["N", 5])], [("y", INT32, [])],
         attrs={"keepdims": 0}, opset=18, sizes=ROWS),
    # Unsigned integers: values above 127 compare, divide, convert and reduce as
    # unsigned ones.
    case("u8_to_float", "Cast", [("x", UINT8, ["N", 6])], [("y", FLOAT, ["N", 6])],
         attrs={"to": FLOAT}, sizes=ROWS),
    case("float_to_u8", "Cast", [("x", FLOAT, ["N", 6])], [("y", UINT8, ["N", 6])],
         attrs={"to": UINT8}, sizes=ROWS),
    case("u8_to_int64", "Cast", [("x", UINT8, ["N", 6])], [("y", INT64, ["N", 6])],
         attrs={"to": INT64}, sizes=ROWS),
    case("u8_add", "Add", [("a", UINT8, ["N", 6]), ("b", UINT8, [6])],
         [("y", UINT8, ["N", 6])], sizes=ROWS),
    case("u8_div", "Div", [("a", UINT8, ["N", 6]), ("b", UINT8, ["N", 6])],
         [("y", UINT8, ["N", 6])], sizes=ROWS),
    case("u8_mod", "Mod", [("a", UINT8, ["N", 6]), ("b", UINT8, ["N", 6])],
         [("y", UINT8, ["N", 6])], sizes=ROWS),
    case("u8_less", "Less", [("a", UINT8, ["N", 6]), ("b", UINT8, ["N", 6])],
         [("y", BOOL, ["N", 6])], sizes=ROWS),
    case("u8_max", "Max", [("a", UINT8, ["N", 6]), ("b", UINT8, [6])],
         [("y", UINT8, ["N", 6])], sizes=ROWS),
    case("u8_reduce_min", "ReduceMin", [("x", UINT8, ["N", 6])], [("y", UINT8, ["N", 1])],
         initializers=[numpy_helper.from_array(np.array([1], np.int64), "axes")],
         opset=18, sizes=ROWS),
    case("u8_argmax", "ArgMax", [("x", UINT8, ["N", 6])], [("y", INT64, ["N", 1])],
         attrs={"axis": 1}, sizes=ROWS),
    case("u8_gather", "Gather", [("x", UINT8, ["N", 6]), ("i", INT64, [3])],
         [("y", UINT8, ["N", 3])], attrs={"axis": 1}, sizes=ROWS),
]


def build(spec):
    names = [n for n, _, _ in spec["inputs"]] + [i.name for i in spec["initializers"]]
    node = helper.make_node(spec["op"], names, [n for n, _, _ in spec["outputs"]],
                            domain=spec["domain"], **spec["attrs"])
    graph = helper.make_graph(
        [node], spec["name"],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in spec["inputs"]],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in spec["outputs"] if n],
        list(spec["initializers"]))
    opsets = [helper.make_opsetid("", spec["opset"])]
    if spec["domain"]:
        opsets.append(helper.make_opsetid(spec["domain"], 1))
    return helper.make_model(graph, opset_imports=opsets)


def random_input(rng, spec, dtype, shape, sizes):
    dims = [sizes[d] if isinstance(d, str) else d for d in shape]
    if spec["op"] == "Tile" and dtype == INT64:
        return rng.integers(0, 4, dims).astype(np.int64)
    if spec["op"] == "Trilu" and shape == []:
        return np.array(rng.integers(-2, 3), np.int64)
    if dtype == FLOAT:
        if spec["outputs"][0][1] == UINT8:
            return (250 * rng.random(dims)).astype(np.float32)
        return (3 * rng.standard_normal(dims)).astype(np.float32)
    if dtype == UINT8:
        # Mod and Div by zero are undefined.
        low = 1 if spec["op"] in ("Div", "Mod") else 0
        return rng.integers(low, 256, dims).astype(np.uint8)
    if spec["op"] == "Gather" and dtype == INT64:
        return rng.integers(0, 6, dims).astype(np.int64)
    return rng.integers(-50, 50, dims).astype(NUMPY[dtype])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, type=pathlib.Path)
    parser.add_argument("--work", required=True, type=pathlib.Path)
    parser.add_argument("--mcpu", help="moe-opt's --mcpu (x86-64-v4: the AVX-512 kernels)")
    parser.add_argument("--only", default="", help="run the cases whose name starts so")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    ok = True
    for spec in CASES:
        if not spec["name"].startswith(args.only):
            continue
        model = build(spec)
        path = args.work / f"{spec['name']}.onnx"
        onnx.save(model, path)
        library = args.work / f"{spec['name']}.so"
        failure = compile_model(args.bin, path, library, mcpu=args.mcpu)
        if failure:
            print(f"{spec['name']}: compile failed MISMATCH\n{failure}")
            ok = False
            continue
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        for sizes in spec["sizes"]:
            feeds = {n: random_input(rng, spec, t, s, sizes) for n, t, s in spec["inputs"]}
            want = dict(zip([n for n, _, _ in spec["outputs"] if n], session.run(None, feeds)))
            outputs = run_model(args.bin, library, feeds, want, args.work)
            label = f"{spec['name']} {sizes}"
            if isinstance(outputs, str):
                print(f"{label}: moe-run failed MISMATCH\n{outputs}")
                ok = False
                continue
            good = True
            for key, ref in want.items():
                got = outputs[key]
                if got.shape != ref.shape or got.dtype != ref.dtype:
                    print(f"{label}: {key} is {got.dtype}{list(got.shape)}, ONNX Runtime "
                          f"gives {ref.dtype}{list(ref.shape)} MISMATCH")
                    good = False
                    continue
                if ref.dtype.kind == "f":
                    bound = 1e-5 * float(np.max(np.abs(ref), initial=0.0)) + 1e-6
                    error = float(np.max(np.abs(got - ref), initial=0.0))
                else:
                    bound, error = 0.0, float(np.sum(got != ref))
                if error > bound:
                    print(f"{label}: {key} differs by {error:.3g} (bound {bound:.3g}) MISMATCH")
                    good = False
            print(f"{label}: {'ok' if good else 'MISMATCH'}")
            ok &= good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
