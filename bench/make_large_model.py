"""Writes a Llama-shaped ONNX model with several GB of external fp16 weights.

The weights have Llama's names and shapes (Llama-2-7B dims by default:
hidden 4096, MLP 11008, vocab 32000); the graph per layer is RMSNorm, the
q/k/v/o projections (summed instead of attention) and the SiLU-gated MLP,
with residual adds. It exists to measure import time and memory, not to be
a faithful Llama: the weights are repeated random blocks written in chunks,
so generating 4+ GB needs little memory.

    python bench/make_large_model.py OUTDIR [--layers 10]

Not committed: the output is far too large; bench/import_large.py makes it.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper

HIDDEN, MLP, VOCAB = 4096, 11008, 32000


def external(name, shape, offset, nbytes):
    t = TensorProto(name=name, data_type=TensorProto.FLOAT16, dims=shape,
                    data_location=TensorProto.EXTERNAL)
    for k, v in (("location", "weights.bin"), ("offset", str(offset)),
                 ("length", str(nbytes))):
        t.external_data.add(key=k, value=v)
    return t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("outdir")
    p.add_argument("--layers", type=int, default=10)
    args = p.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)

    block = np.random.default_rng(0).standard_normal(1 << 24).astype(np.float16).tobytes()
    weights = open(os.path.join(args.outdir, "weights.bin"), "wb")
    offset = 0
    inits = []

    def weight(name, shape):
        nonlocal offset
        nbytes = int(np.prod(shape)) * 2
        left = nbytes
        while left:
            chunk = block[: min(left, len(block))]
            weights.write(chunk)
            left -= len(chunk)
        # Keep every tensor 64-byte aligned, as large-model writers do.
        pad = (-nbytes) % 64
        weights.write(b"\0" * pad)
        inits.append(external(name, list(shape), offset, nbytes))
        offset += nbytes + pad
        return name

    nodes = []
    counter = [0]

    def node(op, inputs, **attrs):
        counter[0] += 1
        out = f"t{counter[0]}"
        nodes.append(helper.make_node(op, inputs, [out], name=f"/{op}_{counter[0]}", **attrs))
        return out

    eps = helper.make_tensor("eps", TensorProto.FLOAT16, [], [1e-5])
    two = helper.make_tensor("two", TensorProto.FLOAT16, [], [2.0])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [-1])
    inits += [eps, two, axes]

    x = node("Gather", [weight("model.embed_tokens.weight", (VOCAB, HIDDEN)), "input_ids"])

    def rmsnorm(x, w):
        var = node("ReduceMean", [node("Pow", [x, "two"]), "axes"])
        inv = node("Reciprocal", [node("Sqrt", [node("Add", [var, "eps"])])])
        return node("Mul", [node("Mul", [x, inv]), w])

    for i in range(args.layers):
        pre = f"model.layers.{i}"
        h = rmsnorm(x, weight(f"{pre}.input_layernorm.weight", (HIDDEN,)))
        proj = [node("MatMul", [h, weight(f"{pre}.self_attn.{n}_proj.weight", (HIDDEN, HIDDEN))])
                for n in ("q", "k", "v")]
        attn = node("Add", [node("Add", [proj[0], proj[1]]), proj[2]])
        attn = node("MatMul", [attn, weight(f"{pre}.self_attn.o_proj.weight", (HIDDEN, HIDDEN))])
        x = node("Add", [x, attn])
        h = rmsnorm(x, weight(f"{pre}.post_attention_layernorm.weight", (HIDDEN,)))
        gate = node("MatMul", [h, weight(f"{pre}.mlp.gate_proj.weight", (HIDDEN, MLP))])
        up = node("MatMul", [h, weight(f"{pre}.mlp.up_proj.weight", (HIDDEN, MLP))])
        act = node("Mul", [node("Mul", [gate, node("Sigmoid", [gate])]), up])
        x = node("Add", [x, node("MatMul", [act, weight(f"{pre}.mlp.down_proj.weight", (MLP, HIDDEN))])])
    x = rmsnorm(x, weight("model.norm.weight", (HIDDEN,)))
    logits = node("MatMul", [x, weight("lm_head.weight", (HIDDEN, VOCAB))])
    nodes[-1].output[0] = "logits"
    weights.close()

    graph = helper.make_graph(
        nodes, "llama_shaped",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT16, ["batch", "seq", VOCAB])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    onnx.save(model, os.path.join(args.outdir, "model.onnx"))
    print(f"wrote {args.outdir}/model.onnx: {len(nodes)} nodes, "
          f"{len(inits)} initializers, {offset / 2**30:.2f} GiB of fp16 weights")


if __name__ == "__main__":
    main()
