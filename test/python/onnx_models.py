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

EXTRA_FAMILIES (opt, qwen2, mistral, phi, gpt_neox, roberta, distilbert,
falcon, gemma, bloom, t5, gpt_neo, gptj, codegen, qwen3, phi3, stablelm,
gemma2, starcoder2, olmo, albert, electra, mpnet, deberta_v2) are further
architectures at the same sizes (see _MODELS); they are exported the same way.  Their output is "logits" too,
except t5 (T5EncoderModel): "last_hidden_state" [B, S, hidden] (output_name).

Graph inputs (all int64 [batch, seq]):
    decoders : input_ids, attention_mask        (with_mask=False: input_ids only)
    bert     : input_ids, attention_mask, token_type_ids
    other encoders (ENCODERS) : input_ids, attention_mask
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
_broadcast_sdpa_mask.  Per-node metadata other than the name scopes
(pkg.torch.onnx.name_scopes, which name the module of each node) is
stripped so the files are byte-identical on every machine.

Script use:  python onnx_models.py OUTDIR [--dynamic] [--extra] [--census FILE.md]
writes OUTDIR/{family}_{exporter}[_dyn].onnx for all six combinations (--extra:
EXTRA_FAMILIES instead), checks
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
# Further architectures built the same way (tiny configs, same sizes), for
# checking that the converters are not tuned to the three above.  See _MODELS.
EXTRA_FAMILIES = ("opt", "qwen2", "mistral", "phi", "gpt_neox", "roberta",
                  "distilbert", "falcon", "gemma", "bloom", "t5", "gpt_neo",
                  "gptj", "codegen", "qwen3", "phi3", "stablelm", "gemma2",
                  "starcoder2", "olmo", "albert", "electra", "mpnet",
                  "deberta_v2")
EXPORTERS = ("dynamo", "torchscript")
OPSET = {"dynamo": 18, "torchscript": 17}

VOCAB = 128
HIDDEN = 64
LAYERS = 2
HEADS = 4
KV_HEADS = 2  # llama, qwen2, mistral (gemma: 1 = multi-query)
INTERMEDIATE = 128
MAX_POS = 64

# Encoders: bidirectional attention, no use_cache; the rest are decoders.
ENCODERS = ("bert", "roberta", "distilbert", "t5", "albert", "electra", "mpnet",
            "deberta_v2")

# Records which attention implementation each (family, exporter) export used.
ATTN_USED: dict[tuple[str, str], str] = {}

_DECODER_TOKENS = dict(bos_token_id=0, eos_token_id=0, pad_token_id=0)
_LLAMA_LIKE = dict(
    vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTERMEDIATE,
    num_hidden_layers=LAYERS, num_attention_heads=HEADS,
    num_key_value_heads=KV_HEADS, max_position_embeddings=MAX_POS,
    rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
    **_DECODER_TOKENS)

# family -> (transformers config class, model class, config kwargs).
_MODELS = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", dict(
        vocab_size=VOCAB, n_positions=MAX_POS, n_embd=HIDDEN, n_layer=LAYERS,
        n_head=HEADS, n_inner=INTERMEDIATE, bos_token_id=0, eos_token_id=0)),
    "bert": ("BertConfig", "BertForMaskedLM", dict(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
        max_position_embeddings=MAX_POS, type_vocab_size=2, pad_token_id=0)),
    # GQA, rotary embeddings, RMSNorm, SiLU-gated MLP.
    "llama": ("LlamaConfig", "LlamaForCausalLM", _LLAMA_LIKE),
    # OPT-125m style: learned positions offset by 2, computed from
    # cumsum(attention_mask); pre-LayerNorm, ReLU MLP, tied LM head.
    "opt": ("OPTConfig", "OPTForCausalLM", dict(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        ffn_dim=INTERMEDIATE, num_attention_heads=HEADS,
        max_position_embeddings=MAX_POS, word_embed_proj_dim=HIDDEN,
        **_DECODER_TOKENS)),
    # Llama with q/k/v biases.
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", _LLAMA_LIKE),
    # Llama with a sliding-window causal mask (window 8 < seq 16).
    "mistral": ("MistralConfig", "MistralForCausalLM",
                dict(_LLAMA_LIKE, sliding_window=8)),
    # Phi-1/2: partial rotary (half of head_dim), gelu_new, parallel
    # attention + MLP off one LayerNorm, biases everywhere.
    "phi": ("PhiConfig", "PhiForCausalLM", dict(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        partial_rotary_factor=0.5, hidden_act="gelu_new",
        max_position_embeddings=MAX_POS, tie_word_embeddings=False,
        bos_token_id=0, eos_token_id=0, pad_token_id=0)),
    # Pythia style: fused QKV, rotary on a quarter of head_dim, exact GELU,
    # parallel residual.
    "gpt_neox": ("GPTNeoXConfig", "GPTNeoXForCausalLM", dict(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
        rotary_pct=0.25, max_position_embeddings=MAX_POS,
        tie_word_embeddings=False, bos_token_id=0, eos_token_id=0,
        pad_token_id=0)),
    # BERT with position ids from cumsum(input_ids != pad) + pad (pad = 1).
    "roberta": ("RobertaConfig", "RobertaForMaskedLM", dict(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
        max_position_embeddings=MAX_POS + 2, type_vocab_size=1,
        pad_token_id=1)),
    "distilbert": ("DistilBertConfig", "DistilBertForMaskedLM", dict(
        vocab_size=VOCAB, dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS,
        hidden_dim=INTERMEDIATE, max_position_embeddings=MAX_POS,
        pad_token_id=0)),
    # Falcon-7B style: multi-query attention, rotary, parallel attention.
    "falcon": ("FalconConfig", "FalconForCausalLM", dict(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, ffn_hidden_size=INTERMEDIATE,
        max_position_embeddings=MAX_POS, bos_token_id=0, eos_token_id=0,
        pad_token_id=0)),
    # Gemma: multi-query, head_dim set explicitly, RMSNorm with (1 + w),
    # embeddings scaled by sqrt(hidden), tanh-GELU gated MLP, tied LM head.
    "gemma": ("GemmaConfig", "GemmaForCausalLM", dict(
        _LLAMA_LIKE, num_key_value_heads=1, head_dim=HIDDEN // HEADS,
        hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True)),
    # ALiBi position bias (built from cumsum(attention_mask)), fused QKV.
    "bloom": ("BloomConfig", "BloomForCausalLM", dict(
        vocab_size=VOCAB, hidden_size=HIDDEN, n_layer=LAYERS, n_head=HEADS,
        **_DECODER_TOKENS)),
    # Encoder only: relative position buckets (Log, Min, integer arithmetic),
    # T5 RMSNorm, ReLU MLP; output last_hidden_state [B, S, HIDDEN].
    "t5": ("T5Config", "T5EncoderModel", dict(
        vocab_size=VOCAB, d_model=HIDDEN, d_kv=HIDDEN // HEADS,
        d_ff=INTERMEDIATE, num_layers=LAYERS, num_heads=HEADS,
        relative_attention_max_distance=MAX_POS, pad_token_id=0,
        eos_token_id=1)),
    # Alternating global / local (window 8) attention layers.
    "gpt_neo": ("GPTNeoConfig", "GPTNeoForCausalLM", dict(
        vocab_size=VOCAB, max_position_embeddings=MAX_POS, hidden_size=HIDDEN,
        num_layers=LAYERS, attention_types=[[["global", "local"], 1]],
        num_heads=HEADS, intermediate_size=INTERMEDIATE, window_size=8,
        **_DECODER_TOKENS)),
    # Interleaved (rotate_every_two) rotary on 8 of 16 dims, parallel block.
    "gptj": ("GPTJConfig", "GPTJForCausalLM", dict(
        vocab_size=VOCAB, n_positions=MAX_POS, n_embd=HIDDEN, n_layer=LAYERS,
        n_head=HEADS, rotary_dim=8, n_inner=INTERMEDIATE,
        tie_word_embeddings=False, **_DECODER_TOKENS)),
    # GPT-J-like with a fused QKV laid out in model-parallel chunks.
    "codegen": ("CodeGenConfig", "CodeGenForCausalLM", dict(
        vocab_size=VOCAB, n_positions=MAX_POS, n_ctx=MAX_POS, n_embd=HIDDEN,
        n_layer=LAYERS, n_head=HEADS, rotary_dim=8, n_inner=INTERMEDIATE,
        tie_word_embeddings=False, **_DECODER_TOKENS)),
    # Llama with RMSNorm on q and k per head.
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM",
              dict(_LLAMA_LIKE, head_dim=HIDDEN // HEADS)),
    # Fused qkv and gate_up projections (split by Slice).
    "phi3": ("Phi3Config", "Phi3ForCausalLM", dict(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS, max_position_embeddings=MAX_POS,
        original_max_position_embeddings=MAX_POS, tie_word_embeddings=False,
        **_DECODER_TOKENS)),
    # LayerNorm, GQA, rotary on a quarter of head_dim.
    "stablelm": ("StableLmConfig", "StableLmForCausalLM", dict(
        vocab_size=VOCAB, intermediate_size=INTERMEDIATE, hidden_size=HIDDEN,
        num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS, partial_rotary_factor=0.25,
        max_position_embeddings=MAX_POS, tie_word_embeddings=False,
        **_DECODER_TOKENS)),
    # Attention and final logit soft-capping (tanh), sliding window 8 on
    # alternate layers, extra post-norms.
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", dict(
        _LLAMA_LIKE, head_dim=HIDDEN // HEADS, sliding_window=8,
        query_pre_attn_scalar=HIDDEN // HEADS, tie_word_embeddings=True)),
    # GQA with biases, LayerNorm, plain GELU-tanh MLP.
    "starcoder2": ("Starcoder2Config", "Starcoder2ForCausalLM", dict(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS, max_position_embeddings=MAX_POS,
        sliding_window=None, **_DECODER_TOKENS)),
    # Llama with non-parametric LayerNorm (no scale/bias).
    "olmo": ("OlmoConfig", "OlmoForCausalLM", {
        k: v for k, v in _LLAMA_LIKE.items() if k != "rms_norm_eps"}),
    # Factorised embeddings (32 -> 64), layer weights shared across layers.
    "albert": ("AlbertConfig", "AlbertForMaskedLM", dict(
        vocab_size=VOCAB, embedding_size=32, hidden_size=HIDDEN,
        num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE, max_position_embeddings=MAX_POS,
        pad_token_id=0, bos_token_id=2, eos_token_id=3)),
    "electra": ("ElectraConfig", "ElectraForMaskedLM", dict(
        vocab_size=VOCAB, embedding_size=32, hidden_size=HIDDEN,
        num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE, max_position_embeddings=MAX_POS,
        pad_token_id=0)),
    # Relative position buckets shared by all layers, RoBERTa positions.
    "mpnet": ("MPNetConfig", "MPNetForMaskedLM", dict(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
        max_position_embeddings=MAX_POS + 2, pad_token_id=1)),
    # Disentangled attention (c2p/p2c, log position buckets, GatherElements).
    "deberta_v2": ("DebertaV2Config", "DebertaV2ForMaskedLM", dict(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
        max_position_embeddings=MAX_POS, relative_attention=True,
        position_buckets=32, pos_att_type=["p2c", "c2p"],
        position_biased_input=False, type_vocab_size=0, pad_token_id=0)),
}


def input_names(family: str, with_mask: bool | None = None) -> list[str]:
    """Graph inputs the exporter is asked for, in order."""
    if family not in _MODELS:
        raise ValueError(f"unknown family {family!r}")
    if family == "bert":
        return ["input_ids", "attention_mask", "token_type_ids"]
    if family in ENCODERS or with_mask is None or with_mask:
        return ["input_ids", "attention_mask"]
    return ["input_ids"]


def output_name(family: str) -> str:
    """Name of the single graph output."""
    return "last_hidden_state" if family == "t5" else "logits"


def build_model(family: str, seed: int = 0, attn_implementation: str | None = None):
    """A tiny randomly initialised transformers model, in eval mode."""
    import torch
    import transformers as tf

    if family not in _MODELS:
        raise ValueError(f"unknown family {family!r}")
    config_cls, model_cls, config_kw = _MODELS[family]
    kw = dict(config_kw)
    if attn_implementation is not None:
        kw["attn_implementation"] = attn_implementation
    torch.manual_seed(seed)
    cfg = getattr(tf, config_cls)(use_cache=False, **kw)
    model = getattr(tf, model_cls)(cfg)
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
    # Encoders' forward takes no use_cache (config.use_cache=False anyway).
    return {"return_dict": False} if family in ENCODERS else {"use_cache": False, "return_dict": False}


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


def _set_attn_implementation(model, attn):
    """Switches an already-built model (a transformers model, or one wrapped
    by e.g. PEFT) to attention implementation `attn`."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if hasattr(base, "set_attn_implementation"):
        base.set_attn_implementation(attn)
    else:
        base.config._attn_implementation = attn


def _export_once(family, exporter, out_path, batch, seq, seed, dynamic,
                 with_mask, attn, model=None):
    import torch

    if model is None:
        model = build_model(family, seed, attn)
    elif attn is not None:
        _set_attn_implementation(model, attn)
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
                    input_names=names, output_names=[output_name(family)],
                    dynamic_shapes=dyn, external_data=False, verbose=False)
        elif exporter == "torchscript":
            dyn = None
            if dynamic:
                dyn = {n: {0: "batch", 1: "seq"} for n in names}
                dyn[output_name(family)] = {0: "batch", 1: "seq"}
            with _broadcast_masks():
                torch.onnx.export(
                    wrapper, args, out_path, dynamo=False, opset_version=17,
                    input_names=names, output_names=[output_name(family)],
                    dynamic_axes=dyn, do_constant_folding=True)
        else:
            raise ValueError(f"unknown exporter {exporter!r}")
    return model.config._attn_implementation


def export_model(family: str, exporter: str, out_path: str, batch: int = 2,
                 seq: int = 16, seed: int = 0, dynamic: bool = False,
                 with_mask: bool | None = None, model=None) -> str:
    """Export one model to out_path (single file, no external data).

    `model`: an already-built torch module to export instead of
    build_model(family, seed) (e.g. a PEFT model wrapping it); it is called
    like the transformers model of `family` and exported with the same
    work-arounds.  If the export falls back to eager attention, the model is
    switched to it in place.  `seed` then only seeds the example inputs and
    the metadata.

    Returns the attention implementation used ("sdpa", or "eager" after a
    fallback).  Raises if both fail.
    """
    import onnx

    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    errors = []
    for attn in (None, "eager"):
        try:
            used = _export_once(family, exporter, out_path, batch, seq, seed,
                                dynamic, with_mask, attn, model)
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
        # and name scopes on every node: drop all but the name scopes (which
        # give LoRA its module names) so the file is the same on every
        # machine (and ~30% smaller).  Node names are kept.
        for n in m.graph.node:
            keep = [(p.key, p.value) for p in n.metadata_props
                    if p.key == "pkg.torch.onnx.name_scopes"]
            del n.metadata_props[:]
            for k, v in keep:
                n.metadata_props.add(key=k, value=v)
            n.doc_string = ""
        del m.metadata_props[:]
        for k, v in sorted(props.items()):
            m.metadata_props.add(key=k, value=v)
        onnx.save(m, out_path, save_as_external_data=False)
        data = out_path + ".data"
        if os.path.exists(data):
            os.remove(data)
        if model is None:  # a given model is not the family's own
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
    ap.add_argument("--extra", action="store_true",
                    help="export EXTRA_FAMILIES instead of FAMILIES")
    ap.add_argument("--census", metavar="MD",
                    help="also write the op census tables of the exported models to MD")
    a = ap.parse_args(argv)
    written = {}
    failed = 0
    for fam in EXTRA_FAMILIES if a.extra else FAMILIES:
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
