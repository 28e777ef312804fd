"""Tiny transformer models exported to ONNX, for lora-opt tests.

Models are built from transformers *configs* with random weights (fixed
seed); nothing is downloaded.  Three families, two exporters:

    family   : "gpt2"  -> GPT2LMHeadModel      output "logits" [B, S, vocab]
               "bert"  -> BertForMaskedLM      output "logits" [B, S, vocab]
               "llama" -> LlamaForCausalLM     output "logits" [B, S, vocab]
                          (num_key_value_heads=2 < num_attention_heads=4: GQA,
                           rotary embeddings, RMSNorm, SiLU-gated MLP)
    exporter : "dynamo"      torch.onnx.export(dynamo=True,  opset 18)
               "torchscript" torch.onnx.export(dynamo=False, opset 17)

Graph inputs (all int64 [batch, seq]):
    gpt2, llama : input_ids, attention_mask     (with_mask=False: input_ids only)
    bert        : input_ids, attention_mask, token_type_ids
Decoders export attention_mask by default because the TorchScript exporter
cannot trace them without it; with_mask=False (dynamo) gives a graph with no
padding-mask arithmetic (used for examples/tiny_llama.onnx).  make_inputs
gives an all-ones attention_mask and all-zeros token_type_ids.

The model runs with use_cache=False and return_dict=False and is wrapped so
that the only output is the logits tensor.  Attention uses the transformers
default (sdpa); if an exporter fails with sdpa, the export is retried with
attn_implementation="eager", and the attention actually used is recorded
in the model's metadata_props ("lora_opt.attn_implementation").

Shapes are static by default; dynamic=True marks dim 0 ("batch") and dim 1
("seq") of every input dynamic, to test `--input-shape` specialisation.

Two work-arounds for this toolchain (torch 2.9.1, transformers 4.57.1,
onnxscript 0.5.6) are applied to every export, see _dynamo_workaround and
_broadcast_sdpa_mask.  Per-node metadata (stack traces) is stripped so the
files are byte-identical on every machine.

Script use:  python onnx_models.py OUTDIR [--dynamic] [--census FILE.md]
writes OUTDIR/{family}_{exporter}[_dyn].onnx for all six combinations, checks
each against PyTorch in onnxruntime, and optionally writes the op census
tables (those of EXPORT_CENSUS.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings

import numpy as np

FAMILIES = ("gpt2", "bert", "llama")
EXPORTERS = ("dynamo", "torchscript")
OPSET = {"dynamo": 18, "torchscript": 17}

VOCAB = 128
HIDDEN = 64
LAYERS = 2
HEADS = 4
KV_HEADS = 2  # llama only
INTERMEDIATE = 128
MAX_POS = 64

# Records which attention implementation each (family, exporter) export used.
ATTN_USED: dict[tuple[str, str], str] = {}


def input_names(family: str, with_mask: bool | None = None) -> list[str]:
    """Graph inputs the exporter is asked for, in order."""
    if family == "bert":
        return ["input_ids", "attention_mask", "token_type_ids"]
    if family in ("gpt2", "llama"):
        if with_mask is None or with_mask:
            return ["input_ids", "attention_mask"]
        return ["input_ids"]
    raise ValueError(f"unknown family {family!r}")


def build_model(family: str, seed: int = 0, attn_implementation: str | None = None):
    """A tiny randomly initialised transformers model, in eval mode."""
    import torch
    import transformers as tf

    kw = {}
    if attn_implementation is not None:
        kw["attn_implementation"] = attn_implementation
    torch.manual_seed(seed)
    if family == "gpt2":
        cfg = tf.GPT2Config(
            vocab_size=VOCAB, n_positions=MAX_POS, n_embd=HIDDEN, n_layer=LAYERS,
            n_head=HEADS, n_inner=INTERMEDIATE, use_cache=False,
            bos_token_id=0, eos_token_id=0, **kw)
        model = tf.GPT2LMHeadModel(cfg)
    elif family == "bert":
        cfg = tf.BertConfig(
            vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
            num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
            max_position_embeddings=MAX_POS, type_vocab_size=2, pad_token_id=0,
            use_cache=False, **kw)
        model = tf.BertForMaskedLM(cfg)
    elif family == "llama":
        cfg = tf.LlamaConfig(
            vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTERMEDIATE,
            num_hidden_layers=LAYERS, num_attention_heads=HEADS,
            num_key_value_heads=KV_HEADS, max_position_embeddings=MAX_POS,
            rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
            bos_token_id=0, eos_token_id=0, pad_token_id=0, use_cache=False, **kw)
        model = tf.LlamaForCausalLM(cfg)
    else:
        raise ValueError(f"unknown family {family!r}")
    # transformers initialises biases to 0 and norm weights to 1; perturb every
    # parameter so that bias/scale paths are really exercised (and the ONNX
    # optimiser cannot merge identical initializers).  Deterministic: seeded.
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.05)
    model.eval()
    return model


def _forward_kwargs(family):
    # BertForMaskedLM.forward takes no use_cache (config.use_cache=False anyway).
    return {"return_dict": False} if family == "bert" else {"use_cache": False, "return_dict": False}


def _wrapper(model, family, names):
    """nn.Module whose forward takes exactly `names` (named, so that
    dynamic_shapes can refer to them) and returns only the logits."""
    import torch

    extra = _forward_kwargs(family)

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

    if names == ["input_ids", "attention_mask", "token_type_ids"]:
        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids, **extra)[0]
    elif names == ["input_ids", "attention_mask"]:
        def forward(self, input_ids, attention_mask):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          **extra)[0]
    elif names == ["input_ids"]:
        def forward(self, input_ids):
            return self.m(input_ids=input_ids, **extra)[0]
    else:
        raise ValueError(f"unsupported input set {names}")
    Wrapper.forward = forward
    return Wrapper(model).eval()


def make_inputs(family: str, batch: int = 2, seq: int = 16, seed: int = 0,
                path: str | None = None, with_mask: bool | None = None) -> dict:
    """Inputs name -> np.ndarray (int64 [batch, seq]).

    With `path`, the names are read from that ONNX file's graph inputs (so the
    result matches exactly what the exported graph takes); otherwise they are
    input_names(family, with_mask).
    """
    if path is not None:
        import onnx
        m = onnx.load(path, load_external_data=False)
        init = {i.name for i in m.graph.initializer}
        names = [i.name for i in m.graph.input if i.name not in init]
    else:
        names = input_names(family, with_mask)
    rng = np.random.default_rng(seed)
    out = {}
    for n in names:
        if n == "input_ids":
            out[n] = rng.integers(1, VOCAB, size=(batch, seq), dtype=np.int64)
        elif n == "attention_mask":
            out[n] = np.ones((batch, seq), dtype=np.int64)
        elif n == "token_type_ids":
            out[n] = np.zeros((batch, seq), dtype=np.int64)
        else:
            raise ValueError(f"unexpected graph input {n!r} in {path}")
    return out


def ort_run(path: str, inputs: dict) -> list:
    """Run the model with onnxruntime on CPU; returns the list of outputs."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feed = {i.name: inputs[i.name] for i in sess.get_inputs()}
    return sess.run(None, feed)


@contextlib.contextmanager
def _dynamo_workaround():
    """torch 2.9.1 + onnxscript 0.5.6 + onnx_ir 1.1.0: the exporter leaves the
    unused torchlib helper functions Rank/IsScalar in model.functions, and the
    opset down-conversion (native 20 -> 18) then refuses the model ("The model
    contains functions").  Inline and drop unused functions first."""
    import onnx_ir as ir
    import onnxscript._framework_apis.torch_2_9 as apis

    orig = apis.convert_version

    def convert_version(model, target_version):
        ir.passes.common.InlinePass()(model)
        ir.passes.common.RemoveUnusedFunctionsPass()(model)
        return orig(model, target_version)

    apis.convert_version = convert_version
    try:
        yield
    finally:
        apis.convert_version = orig


def _broadcast_sdpa_mask(batch_size, cache_position, kv_length, kv_offset=0,
                         mask_function=None, attention_mask=None,
                         local_size=None, allow_is_causal_skip=True, **kwargs):
    """Drop-in for transformers.masking_utils.sdpa_mask that evaluates the
    mask function on broadcast index grids instead of through torch.vmap.

    transformers 4.57 builds the 4D boolean mask [B, 1, Q, KV] with torch.vmap;
    under torch.jit tracing that fails ("unordered_map::at") or bakes the
    sequence length into Reshapes, and under torch.export with dynamic shapes
    it fails ("... is not tracked with proxy").  Broadcasting gives the same
    mask with plain ops (Range/compare/And/Gather/Expand).
    """
    import torch
    import transformers.masking_utils as mu

    if mask_function is None:
        mask_function = mu.causal_mask_function
    q_length = cache_position.shape[0]
    padding_mask = mu.prepare_padding_mask(attention_mask, kv_length, kv_offset, _slice=False)
    if allow_is_causal_skip and mu._ignore_causal_mask_sdpa(
            padding_mask, q_length, kv_length, kv_offset, local_size):
        return None
    dev = cache_position.device
    kv_arange = torch.arange(kv_length, device=dev) + kv_offset
    if padding_mask is not None:
        mask_function = mu.and_masks(mask_function, mu.padding_mask_function(padding_mask))
    b = torch.arange(batch_size, device=dev)[:, None, None, None]
    h = torch.arange(1, device=dev)[None, :, None, None]
    q = cache_position[None, None, :, None]
    kv = kv_arange[None, None, None, :]
    mask = mask_function(b, h, q, kv)
    return mask.expand(batch_size, 1, q_length, kv_length)


@contextlib.contextmanager
def _broadcast_masks():
    """Make transformers build attention masks with _broadcast_sdpa_mask
    (both for sdpa and, through eager_mask, for eager attention)."""
    import transformers.masking_utils as mu

    mapping = mu.ALL_MASK_ATTENTION_FUNCTIONS._global_mapping
    saved = (mu.sdpa_mask, mapping["sdpa"])
    mu.sdpa_mask = _broadcast_sdpa_mask  # eager_mask calls the module global
    mapping["sdpa"] = _broadcast_sdpa_mask
    try:
        yield
    finally:
        mu.sdpa_mask, mapping["sdpa"] = saved


def _export_once(family, exporter, out_path, batch, seq, seed, dynamic,
                 with_mask, attn):
    import torch

    model = build_model(family, seed, attn)
    names = input_names(family, with_mask)
    feeds = make_inputs(family, batch, seq, seed, with_mask=with_mask)
    args = tuple(torch.from_numpy(feeds[n]) for n in names)
    wrapper = _wrapper(model, family, names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            dyn = None
            if dynamic:
                # Shared named Dims so every input says "batch"/"seq".  min=2:
                # the sdpa path guards batch != 1 (and seq != 1), which a
                # range including 1 fails as a constraint violation.  ONNX
                # keeps no guards: the graph still runs at batch/seq 1.
                bd = torch.export.Dim("batch", min=2, max=1024)
                sd = torch.export.Dim("seq", min=2, max=MAX_POS)
                dyn = {n: {0: bd, 1: sd} for n in names}
            with _dynamo_workaround(), _broadcast_masks():
                torch.onnx.export(
                    wrapper, args, out_path, dynamo=True, opset_version=18,
                    input_names=names, output_names=["logits"],
                    dynamic_shapes=dyn, external_data=False, verbose=False)
        elif exporter == "torchscript":
            dyn = None
            if dynamic:
                dyn = {n: {0: "batch", 1: "seq"} for n in names}
                dyn["logits"] = {0: "batch", 1: "seq"}
            with _broadcast_masks():
                torch.onnx.export(
                    wrapper, args, out_path, dynamo=False, opset_version=17,
                    input_names=names, output_names=["logits"],
                    dynamic_axes=dyn, do_constant_folding=True)
        else:
            raise ValueError(f"unknown exporter {exporter!r}")
    return model.config._attn_implementation


def export_model(family: str, exporter: str, out_path: str, batch: int = 2,
                 seq: int = 16, seed: int = 0, dynamic: bool = False,
                 with_mask: bool | None = None) -> str:
    """Export one model to out_path (single file, no external data).

    Returns the attention implementation used ("sdpa", or "eager" after a
    fallback).  Raises if both fail.
    """
    import onnx

    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    errors = []
    for attn in (None, "eager"):
        try:
            used = _export_once(family, exporter, out_path, batch, seq, seed,
                                dynamic, with_mask, attn)
            m = onnx.load(out_path)
            onnx.checker.check_model(m)
        except Exception as e:  # noqa: BLE001 - retry with eager attention
            errors.append(f"{attn or 'default'}: {type(e).__name__}: {e}")
            continue
        # Record provenance; re-save as one self-contained file.
        props = {p.key: p.value for p in m.metadata_props}
        props.update({
            "lora_opt.family": family, "lora_opt.exporter": exporter,
            "lora_opt.attn_implementation": used,
            "lora_opt.fallback": "yes" if attn else "no",
            "lora_opt.seed": str(seed), "lora_opt.dynamic": str(bool(dynamic)),
        })
        # The dynamo exporter puts stack traces (absolute paths), fx node text
        # and name scopes on every node: drop them so the file is the same on
        # every machine (and ~30% smaller).  Node names are kept.
        for n in m.graph.node:
            del n.metadata_props[:]
            n.doc_string = ""
        del m.metadata_props[:]
        for k, v in sorted(props.items()):
            m.metadata_props.add(key=k, value=v)
        onnx.save(m, out_path, save_as_external_data=False)
        data = out_path + ".data"
        if os.path.exists(data):
            os.remove(data)
        ATTN_USED[(family, exporter)] = used
        return used
    raise RuntimeError(f"export {family}/{exporter} failed:\n" + "\n".join(errors))


def torch_reference(family: str, inputs: dict, seed: int = 0,
                    attn_implementation: str | None = None) -> np.ndarray:
    """Logits from the PyTorch model itself (for checking the exports)."""
    import torch

    model = build_model(family, seed, attn_implementation)
    with torch.no_grad():
        kw = {k: torch.from_numpy(v) for k, v in inputs.items()}
        return model(**kw, **_forward_kwargs(family))[0].numpy()


# ----------------------------------------------------------------------------
# Op census (tables of test/python/EXPORT_CENSUS.md)
# ----------------------------------------------------------------------------

def _attr_value(a):
    import onnx
    v = onnx.helper.get_attribute_value(a)
    if isinstance(v, bytes):
        v = v.decode(errors="replace")
    if isinstance(v, onnx.TensorProto):
        arr = onnx.numpy_helper.to_array(v)
        v = f"{arr.dtype}{list(arr.shape)}" + (f"={arr.ravel()[0]!r}" if arr.size == 1 else "")
    if isinstance(v, list):
        v = tuple(v)
    return v


def census_model(path: str) -> dict:
    """Facts about one ONNX file that matter for writing converters."""
    import collections
    import onnx

    m = onnx.load(path)
    g = m.graph
    opset = {o.domain or "": o.version for o in m.opset_import}
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    graph_inputs = {i.name for i in g.input}

    def kind(name):
        if name == "":
            return "absent"
        if name in inits:
            return "init"
        if name in graph_inputs:
            return "graph-input"
        n = producer.get(name)
        if n is not None and n.op_type == "Constant":
            return "Constant"
        if n is not None and n.op_type == "Identity" and kind(n.input[0]) in ("init", "Constant"):
            return "Identity(init)"
        return "shape-foldable" if foldable(name) else "computed"

    memo = {}

    def foldable(name):
        """Computable at compile time once input shapes are static: depends
        only on initializers, Constant nodes and Shape outputs."""
        if name in memo:
            return memo[name]
        memo[name] = False  # cycles cannot happen; guards recursion
        if name in inits:
            r = True
        elif name in graph_inputs or name not in producer:
            r = False
        else:
            n = producer[name]
            r = n.op_type in ("Constant", "Shape") or (
                n.op_type != "Shape" and all(foldable(i) for i in n.input if i))
        memo[name] = r
        return r

    ops = collections.Counter()
    attrs = collections.defaultdict(lambda: collections.defaultdict(set))
    in_kinds = collections.defaultdict(lambda: collections.defaultdict(set))
    subgraphs = []
    foldable_nodes = collections.Counter()
    for n in g.node:
        dom = n.domain or ""
        ops[(dom or "ai.onnx", n.op_type, opset.get(dom))] += 1
        for a in n.attribute:
            tname = onnx.AttributeProto.AttributeType.Name(a.type)
            if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                subgraphs.append(f"{n.op_type}:{n.name}.{a.name}")
                continue
            attrs[n.op_type][(a.name, tname)].add(_attr_value(a))
        for i, x in enumerate(n.input):
            if i > 0 or n.op_type in ("Shape", "Gather", "Expand", "Equal", "Where",
                                      "ConstantOfShape", "Concat", "Unsqueeze", "Mul",
                                      "Add", "Reshape", "Cast"):
                in_kinds[n.op_type][i].add(kind(x))
        if n.op_type != "Constant" and n.input and all(
                foldable(i) for i in n.input if i):
            foldable_nodes[n.op_type] += 1
    outs = [o for n in g.node for o in n.output if o]
    vi = {v.name: v for v in list(g.value_info) + list(g.output)}

    def full(v):
        """Type and rank known and every dim a number (static models)."""
        t = v.type.tensor_type
        return t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim)

    inferred = onnx.shape_inference.infer_shapes(m)
    vi2 = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    init_dtypes = collections.Counter(
        onnx.TensorProto.DataType.Name(i.data_type) for i in g.initializer)
    const_dtypes = collections.Counter()
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    const_dtypes[onnx.TensorProto.DataType.Name(a.t.data_type)] += 1
                else:
                    const_dtypes[a.name] += 1

    def io(vals):
        res = []
        for v in vals:
            t = v.type.tensor_type
            dims = [d.dim_param or d.dim_value for d in t.shape.dim]
            res.append(f"{v.name}:{onnx.TensorProto.DataType.Name(t.elem_type)}{dims}")
        return res

    return {
        "path": path, "opset": opset, "nodes": len(g.node), "ops": ops,
        "attrs": attrs, "in_kinds": in_kinds, "foldable_nodes": foldable_nodes, "functions": [f.name for f in m.functions],
        "subgraphs": subgraphs, "outputs_total": len(outs),
        "vi_annotated": sum(1 for o in outs if o in vi and full(vi[o])),
        "vi_after_inference": sum(1 for o in outs if (o in vi and full(vi[o])) or (o in vi2 and full(vi2[o]))),
        "init_dtypes": init_dtypes, "n_inits": len(inits),
        "init_bytes": sum(len(i.raw_data) for i in g.initializer),
        "const_dtypes": const_dtypes, "inputs": io(g.input), "outputs": io(g.output),
        "metadata": {p.key: p.value for p in m.metadata_props},
    }


def census_markdown(paths: dict) -> str:
    """paths: (family, exporter) -> onnx file.  Returns the census tables."""
    import collections

    cs = {k: census_model(p) for k, p in paths.items()}
    keys = list(cs)
    short = {k: f"{k[0]}/{'dy' if k[1] == 'dynamo' else 'ts'}" for k in keys}
    L = ["## Models  (dy = dynamo exporter, opset 18; ts = TorchScript exporter, opset 17)\n",
         "| model | nodes | inputs -> outputs | functions | subgraphs | static value_info: raw / after onnx.shape_inference | initializers: dtype count (bytes) | Constant nodes by dtype | metadata |",
         "|---|---|---|---|---|---|---|---|---|"]
    for k in keys:
        c = cs[k]
        md = c["metadata"]
        L.append(f"| {short[k]} | {c['nodes']} | {', '.join(c['inputs'])} -> {', '.join(c['outputs'])} | "
                 f"{len(c['functions'])} | {len(c['subgraphs'])} | "
                 f"{c['vi_annotated']}/{c['outputs_total']} / {c['vi_after_inference']}/{c['outputs_total']} | "
                 f"{dict(sorted(c['init_dtypes'].items()))} ({c['init_bytes']}) | "
                 f"{dict(sorted(c['const_dtypes'].items())) or '-'} | "
                 f"attn={md.get('lora_opt.attn_implementation')} |")
    allops = sorted({(op[0], op[1]) for c in cs.values() for op in c["ops"]}, key=lambda t: t[1])
    L.append("\n## Op counts  (all ops are in the default ai.onnx domain; opset = the model's)\n")
    L.append("| op | " + " | ".join(short[k] for k in keys) + " | total | shape-foldable nodes (dy / ts) |")
    L.append("|---|" + "---|" * (len(keys) + 2))
    tot = [0] * len(keys)
    for dom, t in allops:
        row = [sum(v for op, v in cs[k]["ops"].items() if op[:2] == (dom, t)) for k in keys]
        tot = [x + y for x, y in zip(tot, row)]
        fd = sum(cs[k]["foldable_nodes"].get(t, 0) for k in keys if k[1] == "dynamo")
        ft = sum(cs[k]["foldable_nodes"].get(t, 0) for k in keys if k[1] == "torchscript")
        name = t if dom == "ai.onnx" else f"{dom}::{t}"
        L.append(f"| {name} | " + " | ".join(str(x or "") for x in row)
                 + f" | {sum(row)} | {fd or ''} / {ft or ''} |")
    L.append("| **all** | " + " | ".join(str(x) for x in tot) + f" | {sum(tot)} | |")
    L.append("\n## Attributes and input kinds per op (union over the three families, per exporter)\n")
    L.append("Input kinds of input #i: init = graph initializer; Constant = output of a Constant node; "
             "Identity(init) = Identity of an initializer; shape-foldable = computed only from "
             "initializers/Constants/Shape (folds to a constant once input shapes are static); "
             "computed = depends on graph-input data; graph-input = a model input; absent = empty "
             "optional input. Input #0 is listed only for shape-ish ops.\n")
    L.append("| op | exporter | attributes  name:type {values seen} | input kinds |")
    L.append("|---|---|---|---|")

    def fmt_vals(vals):
        vals = sorted(vals, key=repr)
        txt = ", ".join(str(v) for v in vals[:6]) + (", ..." if len(vals) > 6 else "")
        return "{" + txt.replace("|", "\\|") + "}"

    tmap = {"INTS": "ints", "INT": "int", "FLOATS": "floats", "FLOAT": "float",
            "STRING": "string", "TENSOR": "tensor"}
    for _, t in allops:
        for exp in ("dynamo", "torchscript"):
            at = collections.defaultdict(set)
            ik = collections.defaultdict(set)
            present = False
            for k, c in cs.items():
                if k[1] != exp or not any(op[1] == t for op in c["ops"]):
                    continue
                present = True
                for kk, vals in c["attrs"].get(t, {}).items():
                    at[kk] |= vals
                for i, kinds in c["in_kinds"].get(t, {}).items():
                    ik[i] |= kinds
            if not present:
                continue
            a_txt = "; ".join(f"{n}:{tmap.get(ty, ty)} {fmt_vals(v)}"
                              for (n, ty), v in sorted(at.items())) or "-"
            i_txt = "; ".join(f"#{i}: {'/'.join(sorted(v))}" for i, v in sorted(ik.items())) or "-"
            L.append(f"| {t} | {'dy' if exp == 'dynamo' else 'ts'} | {a_txt} | {i_txt} |")
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--dynamic", action="store_true")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--census", metavar="MD",
                    help="also write the op census tables of the exported models to MD")
    a = ap.parse_args(argv)
    written = {}
    failed = 0
    for fam in FAMILIES:
        for exp in EXPORTERS:
            suffix = "_dyn" if a.dynamic else ""
            path = os.path.join(a.outdir, f"{fam}_{exp}{suffix}.onnx")
            try:
                used = export_model(fam, exp, path, a.batch, a.seq, a.seed, a.dynamic)
                x = make_inputs(fam, a.batch, a.seq, a.seed, path=path)
                y = ort_run(path, x)[0]
                ref = torch_reference(fam, x, a.seed, used)
                err = float(np.abs(y - ref).max())
                print(f"{path}: attn={used} out={list(y.shape)} max|ort-torch|={err:.2e}")
                written[(fam, exp)] = path
            except Exception as e:  # noqa: BLE001
                failed += 1
                print(f"{path}: FAILED: {e}", file=sys.stderr)
    if a.census:
        with open(a.census, "w") as f:
            f.write(census_markdown(written))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
