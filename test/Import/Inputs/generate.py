#!/usr/bin/env python3
"""Writes the binary ONNX inputs of the test/Import lit tests: external-data models
(good and hostile) and malformed protobufs. Run from anywhere; it writes next to itself.
Needs the `onnx` and `numpy` packages."""
import os
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = pathlib.Path(__file__).resolve().parent


def matmul_model(weight: TensorProto, name: str) -> onnx.ModelProto:
    """y = x @ w, with `w` given as an initializer."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="proj")],
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", 32])],
        initializer=[weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                             producer_name="moe-mlir-tests")


def external(name: str, location: str, offset=None, length=None, dims=(4, 32)):
    """A float tensor whose data lives in `location`."""
    tensor = TensorProto()
    tensor.name = name
    tensor.data_type = TensorProto.FLOAT
    tensor.dims.extend(dims)
    tensor.data_location = TensorProto.EXTERNAL
    entries = {"location": location}
    if offset is not None:
        entries["offset"] = str(offset)
    if length is not None:
        entries["length"] = str(length)
    for key, value in entries.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def save(model: onnx.ModelProto, path: pathlib.Path) -> None:
    path.write_bytes(model.SerializeToString())


def graph_cases(out: pathlib.Path) -> None:
    """Models that need what ONNX's text syntax cannot say: node names, empty
    optional inputs, subgraphs."""
    f = TensorProto.FLOAT
    x = helper.make_tensor_value_info("x", f, ["T", 8])
    router = helper.make_tensor_value_info("router", f, ["T", 4])
    fc1 = helper.make_tensor_value_info("fc1", f, [4, 16, 8])
    fc2 = helper.make_tensor_value_info("fc2", f, [4, 8, 16])
    y = helper.make_tensor_value_info("y", f, ["T", 8])
    moe = helper.make_node("MoE", ["x", "router", "fc1", "", "fc2"], ["moe_out"],
                           name="layers.0/moe", domain="com.microsoft", k=2,
                           activation_type="silu", normalize_routing_weights=1)
    ident = helper.make_node("Identity", ["moe_out"], ["y"], name="layers.0/out")
    opsets = [helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)]
    graph = helper.make_graph([moe, ident], "contrib_moe", [x, router, fc1, fc2], [y])
    save(helper.make_model(graph, opset_imports=opsets), out / "contrib-moe.onnx")
    # The same layer in a model that forgets to import com.microsoft, as transformers'
    # exporter writes it with its CUDA fusions.
    save(helper.make_model(graph, opset_imports=opsets[:1]),
         out / "domain-not-imported.onnx")
    # A node of a domain the model does not import and no runtime knows.
    unknown = helper.make_graph(
        [helper.make_node("Foo", ["x"], ["y"], name="custom", domain="org.example")],
        "unknown_domain", [helper.make_tensor_value_info("x", f, [2])],
        [helper.make_tensor_value_info("y", f, [2])])
    save(helper.make_model(unknown, opset_imports=opsets[:1]), out / "domain-unknown.onnx")
    # A node reading a name nothing defines, whose output a Shape reads: libonnx's shape
    # inference crashes on it, so the importer must not hand it over.
    w = numpy_helper.from_array(np.ones((3, 4), np.float32), "w")
    dangling = helper.make_graph(
        [helper.make_node("MatMul", ["missing", "w"], ["m"], name="router"),
         helper.make_node("Shape", ["m"], ["s"], name="shape")],
        "dangling", [helper.make_tensor_value_info("x", f, [2, 3])],
        [helper.make_tensor_value_info("s", TensorProto.INT64, [2])], [w])
    save(helper.make_model(dangling, opset_imports=opsets[:1]), out / "undefined-input.onnx")

    a = helper.make_tensor_value_info("a", f, [2])
    c = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    then_g = helper.make_graph([helper.make_node("Relu", ["a"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", f, [2])])
    else_g = helper.make_graph([helper.make_node("Neg", ["a"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", f, [2])])
    branch = helper.make_node("If", ["c"], ["b"], name="branch",
                              then_branch=then_g, else_branch=else_g)
    graph = helper.make_graph([branch], "subgraph", [c, a],
                              [helper.make_tensor_value_info("b", f, [2])])
    save(helper.make_model(graph, opset_imports=opsets[:1]), out / "subgraph.onnx")

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["acc_in", "acc_in"], ["acc_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", f, [2])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", f, [2])])
    loop = helper.make_node("Loop", ["n", "", "a"], ["doubled"], name="repeat", body=body)
    graph = helper.make_graph([loop], "loop",
                              [helper.make_tensor_value_info("n", TensorProto.INT64, []), a],
                              [helper.make_tensor_value_info("doubled", f, [2])])
    save(helper.make_model(graph, opset_imports=opsets[:1]), out / "loop.onnx")

    scan_body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_t"], ["s_out"])], "scan_body",
        [helper.make_tensor_value_info("s_in", f, [2]),
         helper.make_tensor_value_info("x_t", f, [2])],
        [helper.make_tensor_value_info("s_out", f, [2])])
    scan = helper.make_node("Scan", ["a", "xs"], ["total"], name="running_sum",
                            num_scan_inputs=1, body=scan_body)
    graph = helper.make_graph([scan], "scan",
                              [a, helper.make_tensor_value_info("xs", f, [3, 2])],
                              [helper.make_tensor_value_info("total", f, [2])])
    save(helper.make_model(graph, opset_imports=opsets[:1]), out / "scan.onnx")


def main() -> None:
    ext = HERE / "ext"
    ext.mkdir(exist_ok=True)
    weights = np.arange(4 * 32, dtype=np.float32).reshape(4, 32) / 8
    # 16 bytes of padding first, so the tensor sits at a non-zero offset.
    (ext / "weights.bin").write_bytes(b"\0" * 16 + weights.tobytes())
    (HERE / "outside.bin").write_bytes(weights.tobytes())
    link = ext / "link.bin"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink("../outside.bin", link)

    nbytes = weights.nbytes
    cases = {
        "external-good.onnx": external("w", "weights.bin", 16, nbytes),
        "external-absolute.onnx": external("w", "/etc/passwd"),
        "external-dotdot.onnx": external("w", "../outside.bin"),
        "external-symlink.onnx": external("w", "link.bin"),
        "external-missing.onnx": external("w", "nowhere.bin"),
        "external-offset-past-end.onnx": external("w", "weights.bin", 1 << 20),
        "external-range-past-end.onnx": external("w", "weights.bin", 16, nbytes + 4),
        "external-wrong-length.onnx": external("w", "weights.bin", 16, nbytes - 4),
    }
    for file, tensor in cases.items():
        save(matmul_model(tensor, file.removesuffix(".onnx")), ext / file)

    # raw_data that is shorter than the declared shape needs.
    short = numpy_helper.from_array(weights, "w")
    short.raw_data = short.raw_data[:-8]
    save(matmul_model(short, "short_raw_data"), HERE / "raw-data-short.onnx")

    graph_cases(HERE)

    good = matmul_model(numpy_helper.from_array(weights, "w"), "inline")
    save(good, HERE / "matmul.onnx")
    data = good.SerializeToString()
    (HERE / "truncated.onnx").write_bytes(data[: len(data) // 2])
    (HERE / "not-a-model.onnx").write_bytes(b"this is not a protobuf\n" * 4)


if __name__ == "__main__":
    main()
