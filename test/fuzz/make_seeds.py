"""Writes small seed models for the importer fuzzer: every attribute kind,
every initializer dtype, raw and typed data, external-data references,
optional inputs and several opsets. Usage: python make_seeds.py OUTDIR"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save(model, path):
    model.ir_version = 10
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    inits = []
    for name, dtype in [("f32", np.float32), ("f16", np.float16), ("f64", np.float64),
                        ("i64", np.int64), ("i32", np.int32), ("i8", np.int8),
                        ("u8", np.uint8), ("b", np.bool_)]:
        inits.append(numpy_helper.from_array((rng.standard_normal((2, 3)) * 4).astype(dtype), name))
    inits.append(helper.make_tensor("typed", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0]))
    inits.append(helper.make_tensor("typed16", TensorProto.FLOAT16, [2], [1, 2]))
    ext = TensorProto(name="ext", data_type=TensorProto.FLOAT, dims=[4],
                      data_location=TensorProto.EXTERNAL)
    for k, v in (("location", "w.bin"), ("offset", "0"), ("length", "16")):
        ext.external_data.add(key=k, value=v)
    inits.append(ext)
    node = helper.make_node(
        "Foo", ["x", "", "f32"], ["y", "z"], name="/m/foo", domain="com.x",
        i=3, f=0.25, s="text", t=numpy_helper.from_array(np.array([1, 2], np.int64)),
        ints=[1, -2], floats=[0.5], strings=["a"],
        tensors=[numpy_helper.from_array(np.array([1.5], np.float32))])
    nodes = [node, helper.make_node("Relu", ["y"], ["r"], name="relu"),
             helper.make_node("Add", ["r", "f32"], ["out"], name="add")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 3])], inits,
        value_info=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    for opset in (13, 17, 18):
        save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                     helper.make_opsetid("com.x", 1)]),
             os.path.join(out, f"seed_opset{opset}.onnx"))
    mm = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])],
        [numpy_helper.from_array(rng.standard_normal((4, 8)).astype(np.float32), "w")])
    save(helper.make_model(mm, opset_imports=[helper.make_opsetid("", 18)]),
         os.path.join(out, "seed_matmul.onnx"))


if __name__ == "__main__":
    main(sys.argv[1])
