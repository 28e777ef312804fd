"""Our LoRA against PEFT itself, end to end in fp32.

A PEFT LoRA adapter (peft.get_peft_model + save_pretrained) on the same
transformers model that onnx_models exports is applied by
`lora-opt --lora-insert=adapter=DIR --lora-fuse` and run by lora-run; the
logits must match the PEFT model's to 1e-5 relative error.  Also: rsLoRA and
rank/alpha patterns, lora-merge / lora-unmerge against PEFT's
merge_and_unload(), a PeftModel exported *unmerged* to ONNX (the branch is
written out with constant A and B and lora-fuse must find it), bad adapters
and options, and lora-list-targets.

The LoRA weights are seeded random non-zero values (PEFT initialises B to
zero, which would make every comparison trivially pass); each case also checks
that the adapter really moves the logits away from the base model's.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest

import onnx_models
from conftest import ort_run, output_file_name, rel_err, tool

# save_pretrained of a model built from a config (no hub name) warns.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Could not find a config file:UserWarning")

FAMILIES = onnx_models.FAMILIES
EXPORTERS = onnx_models.EXPORTERS
TOL = 1e-5
# rel_err(PEFT, base) must exceed this, or the comparison proves nothing.
MIN_ADAPTER_EFFECT = 1e-3

# PEFT target_modules per family (GPT-2's c_attn is a Conv1D: fan_in_fan_out).
TARGETS = {"gpt2": ["c_attn"], "bert": ["query", "value"],
           "llama": ["q_proj", "v_proj"]}

# LoraConfig options per variant; "patterns" is per family.
PATTERNS = {
    "llama": dict(rank_pattern={"v_proj": 4}, alpha_pattern={"q_proj": 32}),
    "bert": dict(rank_pattern={"value": 4}, alpha_pattern={"query": 32}),
    # Layer-specific: only h.1's c_attn gets rank 4, only h.0's alpha 32.
    "gpt2": dict(rank_pattern={"h.1.attn.c_attn": 4},
                 alpha_pattern={"h.0.attn.c_attn": 32}),
}


def variant_options(family: str, variant: str) -> dict:
    if variant == "plain":
        return {}
    if variant == "rslora":
        return {"use_rslora": True}
    if variant == "patterns":
        return dict(PATTERNS[family])
    raise ValueError(variant)


# An operation name where an operation is printed (as in test_models.py).
_OP = re.compile(r'^\s*(?:%[^=]*=\s*)?"?([a-z_]+\.[a-z_]+)\b', re.M)
_LINEAR_ATTRS = re.compile(
    r"lora\.linear\b[^\n]*?\{[^\n]*?rank = (\d+) : i64, scale = ([-+0-9.eE]+) : f64")


def count_ops(text: str, name: str) -> int:
    return _OP.findall(text).count(name)


def linear_ranks_scales(text: str) -> list[tuple[int, float]]:
    """(rank, scale) of every lora.linear, sorted."""
    return sorted((int(r), float(s)) for r, s in _LINEAR_ATTRS.findall(text))


def main_arg_count(text: str) -> int:
    """Number of arguments of the public @main."""
    m = re.search(r"func\.func @main\((.*?)\)\s*->", text, re.S)
    assert m, "no @main in the output"
    return len(re.findall(r"%arg\d+\s*:", m.group(1)))


# ----------------------------------------------------------------------------
# PEFT side
# ----------------------------------------------------------------------------

def build_peft(family: str, variant: str = "plain", seed: int = 1234,
               r: int = 8, lora_alpha: float = 16):
    """PEFT LoRA model on onnx_models.build_model(family, seed=0), with every
    lora_A / lora_B set to seeded 0.1*randn values, in eval mode."""
    import torch
    from peft import LoraConfig, get_peft_model

    base = onnx_models.build_model(family, seed=0)
    config = LoraConfig(target_modules=TARGETS[family], r=r, lora_alpha=lora_alpha,
                        lora_dropout=0.0, fan_in_fan_out=(family == "gpt2"),
                        **variant_options(family, variant))
    model = get_peft_model(base, config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if "lora_A" in name or "lora_B" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    model.eval()
    return model


def lora_layers(model) -> list:
    from peft.tuners.lora import LoraLayer
    return [m for m in model.modules() if isinstance(m, LoraLayer)]


def expected_ranks_scales(model) -> list[tuple[int, float]]:
    return sorted((int(m.r["default"]), float(m.scaling["default"]))
                  for m in lora_layers(model))


def assert_ranks_scales(text: str, expected: list[tuple[int, float]]):
    """The lora.linear ops carry PEFT's ranks and scales.  The scale may have
    gone through an f32 constant (lora-insert writes the branch with a
    tosa.mul that lora-fuse reads back), so it is compared to f32 precision."""
    actual = linear_ranks_scales(text)
    assert [r for r, _ in actual] == [r for r, _ in expected], (actual, expected)
    for (_, a), (_, e) in zip(actual, expected):
        assert a == pytest.approx(e, rel=1e-6), (actual, expected)


def torch_logits(model, family: str, inputs: dict) -> np.ndarray:
    """Calls the model like onnx_models.torch_reference does."""
    import torch
    with torch.no_grad():
        kw = {k: torch.from_numpy(v) for k, v in inputs.items()}
        return model(**kw, **onnx_models._forward_kwargs(family))[0].numpy()


class PeftCase:
    """One PEFT model, its saved adapter directory and its references."""

    def __init__(self, family: str, variant: str, adapter_dir: Path, **peft):
        """`peft`: build_peft's seed, r and lora_alpha."""
        self.family = family
        self.variant = variant
        self.model = build_peft(family, variant, **peft)
        self.adapter = str(adapter_dir)
        self.model.save_pretrained(self.adapter)
        self.n_modules = len(lora_layers(self.model))
        self.ranks_scales = expected_ranks_scales(self.model)
        self._merged = None

    def logits(self, inputs):
        return torch_logits(self.model, self.family, inputs)

    def base_logits(self, inputs):
        with self.model.disable_adapter():
            return torch_logits(self.model, self.family, inputs)

    def merged_logits(self, inputs):
        if self._merged is None:
            self._merged = copy.deepcopy(self.model).merge_and_unload()
            self._merged.eval()
        return torch_logits(self._merged, self.family, inputs)


@pytest.fixture(scope="session")
def peft_case(tmp_path_factory):
    """peft_case(family, variant="plain") -> PeftCase, built once."""
    cache = {}

    def get(family, variant="plain"):
        key = (family, variant)
        if key not in cache:
            d = tmp_path_factory.mktemp("adapters") / f"{family}_{variant}"
            cache[key] = PeftCase(family, variant, d)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def peft_exported(tmp_path_factory):
    """peft_exported(family, exporter) -> (onnx path, PeftModel): the PEFT
    model itself exported unmerged (its own instance, so the reference is
    computed with the attention implementation the export used)."""
    cache = {}

    def get(family, exporter):
        key = (family, exporter)
        if key not in cache:
            model = build_peft(family)
            path = tmp_path_factory.mktemp("peft_models") / f"peft_{family}_{exporter}.onnx"
            onnx_models.export_model(family, exporter, str(path), model=model)
            cache[key] = (str(path), model)
        return cache[key]

    return get


# ----------------------------------------------------------------------------
# Our side
# ----------------------------------------------------------------------------

def lora_opt(*args) -> subprocess.CompletedProcess:
    return subprocess.run([tool("lora-opt"), *map(str, args)],
                          capture_output=True, text=True)


def lora_opt_ok(*args) -> str:
    proc = lora_opt(*args)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def compile_adapter(model_path, adapter, out_path, *passes) -> str:
    """lora-opt model --lora-insert=adapter=DIR --lora-fuse PASSES -o out;
    returns the MLIR text."""
    lora_opt_ok(model_path, f"--lora-insert=adapter={adapter}", "--lora-fuse",
                *passes, "-o", out_path)
    return Path(out_path).read_text()


def run_mlir(mlir_path, inputs: dict, tmp_path, output: str = "logits") -> np.ndarray:
    """Compiles and runs an .mlir with lora-run (LoRA params at their
    lora.init values); returns the named output."""
    out_dir = Path(tmp_path) / f"out_{Path(mlir_path).stem}"
    cmd = [tool("lora-run"), str(mlir_path), "--quiet", f"--output-dir={out_dir}"]
    for name, value in inputs.items():
        npy = Path(tmp_path) / f"{output_file_name(name)}.in.npy"
        np.save(npy, value)
        cmd += ["--input", f"{name}={npy}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"lora-run failed:\n{proc.stderr[-4000:]}"
    return np.load(out_dir / (output_file_name(output) + ".npy"))


def check_effect(case: PeftCase, inputs: dict, expected: np.ndarray):
    effect = rel_err(expected, case.base_logits(inputs))
    assert effect > MIN_ADAPTER_EFFECT, (
        f"the adapter hardly changes the output (rel_err {effect:.2e} vs the "
        "base model): the comparison would prove nothing")


def check_adapter_applied(case: PeftCase, path, inputs: dict, expected: np.ndarray,
                          tmp_path, label: str):
    """lora-insert=adapter + lora-fuse on `path`: one lora.linear per PEFT
    module with PEFT's ranks and scales, and `expected` logits to TOL."""
    text = compile_adapter(path, case.adapter, tmp_path / "m.mlir")
    assert count_ops(text, "lora.linear") == case.n_modules
    assert_ranks_scales(text, case.ranks_scales)
    actual = run_mlir(tmp_path / "m.mlir", inputs, tmp_path)
    err = rel_err(actual, expected)
    print(f"{label}: rel_err {err:.3e}")
    assert err <= TOL


# ----------------------------------------------------------------------------
# 1. Adapter applied to the base export
# ----------------------------------------------------------------------------

CASES = [(f, e) for f in FAMILIES for e in EXPORTERS]


@pytest.mark.parametrize("family,exporter", CASES, ids=[f"{f}-{e}" for f, e in CASES])
def test_adapter_matches_peft(exported, peft_case, tmp_path, family, exporter):
    path = exported(family, exporter)
    case = peft_case(family)
    inputs = onnx_models.make_inputs(family, path=path)
    expected = case.logits(inputs)
    check_effect(case, inputs, expected)

    check_adapter_applied(case, path, inputs, expected, tmp_path, f"{family}-{exporter}")


VARIANTS = [(f, v) for f in FAMILIES for v in ("rslora", "patterns")]


@pytest.mark.parametrize("family,variant", VARIANTS, ids=[f"{f}-{v}" for f, v in VARIANTS])
def test_adapter_variant_matches_peft(exported, peft_case, tmp_path, family, variant):
    path = exported(family, "dynamo")
    case = peft_case(family, variant)
    if variant == "patterns":  # the patterns really give several (r, s)
        assert len(set(case.ranks_scales)) > 1, case.ranks_scales
    inputs = onnx_models.make_inputs(family, path=path)
    expected = case.logits(inputs)
    check_effect(case, inputs, expected)
    # Differs from the plain adapter, so the options are not ignored.
    assert rel_err(expected, peft_case(family).logits(inputs)) > MIN_ADAPTER_EFFECT

    check_adapter_applied(case, path, inputs, expected, tmp_path, f"{family}-{variant}")


@pytest.mark.parametrize("family,exporter", [("llama", "dynamo"), ("gpt2", "torchscript")],
                         ids=["llama-dynamo", "gpt2-torchscript"])
@pytest.mark.parametrize("params", ["initializers", "inputs"])
def test_export_after_insert_runs_in_ort(exported, peft_case, tmp_path, family,
                                         exporter, params):
    """lora-insert's graph exported to ONNX: ONNX Runtime gives our CPU run's
    (and PEFT's) logits, with the LoRA parameters as initializers or fed as
    graph inputs named like PEFT's tensors (in ONNX orientation)."""
    path = exported(family, exporter)
    case = peft_case(family)
    inputs = onnx_models.make_inputs(family, path=path)
    mlir = tmp_path / "inserted.mlir"
    lora_opt_ok(path, f"--lora-insert=adapter={case.adapter}", "-o", mlir)
    ours = run_mlir(mlir, inputs, tmp_path)
    out = tmp_path / "inserted.onnx"
    proc = subprocess.run([tool("lora-translate"), "--export-onnx", str(mlir),
                           f"--lora-params={params}", "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    feeds = dict(inputs)
    if params == "inputs":
        from safetensors.numpy import load_file
        model = onnx.load(str(out))
        names = {i.name for i in model.graph.input} - set(inputs)
        tensors = load_file(str(Path(case.adapter) / "adapter_model.safetensors"))
        assert names and len(names) == len(tensors)
        for name in names:
            # ONNX orientation: the transpose of PEFT's [out, in] tensor.
            key = next(k for k in tensors if name.endswith(k[len("base_model.model."):]))
            feeds[name] = np.ascontiguousarray(tensors[key].T.astype(np.float32))
    (theirs,) = ort_run(str(out), feeds)
    assert rel_err(theirs, ours) <= TOL
    assert rel_err(theirs, case.logits(inputs)) <= TOL


# ----------------------------------------------------------------------------
# 2. Merge and unmerge
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_merge_matches_peft_merge_and_unload(exported, peft_case, tmp_path, family):
    path = exported(family, "dynamo")
    case = peft_case(family)
    inputs = onnx_models.make_inputs(family, path=path)
    expected = case.merged_logits(inputs)
    check_effect(case, inputs, expected)

    text = compile_adapter(path, case.adapter, tmp_path / "merged.mlir",
                           "--lora-merge")
    assert count_ops(text, "lora.linear") == 0
    # The A/B arguments are gone: @main takes the graph inputs only.
    assert main_arg_count(text) == len(inputs)
    actual = run_mlir(tmp_path / "merged.mlir", inputs, tmp_path)
    err = rel_err(actual, expected)
    print(f"{family} merged: rel_err {err:.3e}")
    assert err <= TOL


UNMERGE = [("gpt2", False), ("bert", False), ("llama", False), ("llama", True)]


@pytest.mark.parametrize("family,with_adapter", UNMERGE,
                         ids=[f"{f}{'-adapter' if a else ''}" for f, a in UNMERGE])
def test_merge_then_unmerge_restores_lora(exported, peft_case, tmp_path, family,
                                          with_adapter):
    path = exported(family, "dynamo")
    case = peft_case(family)
    inputs = onnx_models.make_inputs(family, path=path)
    expected = case.logits(inputs)

    unmerge = (f"--lora-unmerge=adapter={case.adapter}" if with_adapter
               else "--lora-unmerge")
    text = compile_adapter(path, case.adapter, tmp_path / "unmerged.mlir",
                           "--lora-merge", unmerge)
    assert count_ops(text, "lora.linear") == case.n_modules
    assert_ranks_scales(text, case.ranks_scales)
    # A and B are arguments again (with their lora.init values).
    assert main_arg_count(text) == len(inputs) + 2 * case.n_modules
    actual = run_mlir(tmp_path / "unmerged.mlir", inputs, tmp_path)
    err = rel_err(actual, expected)
    print(f"{family} merge+unmerge: rel_err {err:.3e}")
    assert err <= TOL


# ----------------------------------------------------------------------------
# 3. A PeftModel exported unmerged: lora-fuse finds the written-out branch
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("family,exporter", CASES, ids=[f"{f}-{e}" for f, e in CASES])
def test_peft_export_fuses(peft_exported, tmp_path, family, exporter):
    path, model = peft_exported(family, exporter)
    inputs = onnx_models.make_inputs(family, path=path)
    expected = torch_logits(model, family, inputs)
    with model.disable_adapter():
        base = torch_logits(model, family, inputs)
    assert rel_err(expected, base) > MIN_ADAPTER_EFFECT

    out = tmp_path / "f.mlir"
    lora_opt_ok(path, "--lora-fuse", "-o", out)
    text = out.read_text()
    n = len(lora_layers(model))
    assert count_ops(text, "lora.linear") == n, (
        f"{count_ops(text, 'lora.linear')} lora.linear for {n} PEFT LoRA modules")
    assert_ranks_scales(text, expected_ranks_scales(model))
    actual = run_mlir(out, inputs, tmp_path)
    err = rel_err(actual, expected)
    print(f"peft export {family}-{exporter}: rel_err {err:.3e}")
    assert err <= TOL


# ----------------------------------------------------------------------------
# 4. Bad input: non-zero exit, a clear message, no output file
# ----------------------------------------------------------------------------

def expect_failure(tmp_path, *args, must_say=()):
    """Runs lora-opt ARGS -o OUT; it must fail, leave no OUT and say every
    string of `must_say` on stderr.  Returns stderr."""
    out = tmp_path / "bad.mlir"
    if out.exists():
        out.unlink()
    proc = lora_opt(*args, "-o", out)
    assert proc.returncode != 0, "lora-opt succeeded on bad input"
    assert not out.exists(), "lora-opt left an output file behind"
    for s in must_say:
        assert s in proc.stderr, f"{s!r} not in stderr:\n{proc.stderr[-3000:]}"
    return proc.stderr


def copy_adapter(case: PeftCase, dest: Path) -> Path:
    shutil.copytree(case.adapter, dest)
    return dest


def test_adapter_for_another_model(exported, peft_case, tmp_path):
    """The BERT adapter on the Llama export: every module that does not fit
    is named."""
    path = exported("llama", "dynamo")
    bert = peft_case("bert")
    modules = sorted({n[len("base_model.model."):].rsplit(".lora_", 1)[0]
                      for n in _adapter_tensors(bert.adapter)})
    assert len(modules) == bert.n_modules
    expect_failure(tmp_path, path, f"--lora-insert=adapter={bert.adapter}",
                   "--lora-fuse", must_say=["does not fit", *modules])


def _adapter_tensors(adapter_dir) -> dict:
    from safetensors.torch import load_file
    return load_file(str(Path(adapter_dir) / "adapter_model.safetensors"))


@pytest.mark.parametrize("what", ["lora_A", "lora_B"])
def test_adapter_wrong_shape(exported, peft_case, tmp_path, what):
    """One tensor of the Llama adapter has the wrong number of input
    features (lora_A: [r, K] with K halved) or output features (lora_B)."""
    from safetensors.torch import save_file

    path = exported("llama", "dynamo")
    d = copy_adapter(peft_case("llama"), tmp_path / "adapter")
    tensors = _adapter_tensors(d)
    key = f"base_model.model.model.layers.1.self_attn.q_proj.{what}.weight"
    t = tensors[key]
    shape = (t.shape[0], t.shape[1] // 2) if what == "lora_A" else (t.shape[0] // 2, t.shape[1])
    tensors[key] = t[: shape[0], : shape[1]].contiguous()
    save_file(tensors, str(d / "adapter_model.safetensors"))
    # The module, the adapter's K x N (q_proj is 64 x 64) and the layer's.
    got = "32x64" if what == "lora_A" else "64x32"
    expect_failure(tmp_path, path, f"--lora-insert=adapter={d}", "--lora-fuse",
                   must_say=["model.layers.1.self_attn.q_proj", got, "64x64"])


def test_adapter_truncated_safetensors(exported, peft_case, tmp_path):
    path = exported("llama", "dynamo")
    d = copy_adapter(peft_case("llama"), tmp_path / "adapter")
    f = d / "adapter_model.safetensors"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    expect_failure(tmp_path, path, f"--lora-insert=adapter={d}", "--lora-fuse",
                   must_say=["adapter_model.safetensors"])


def test_adapter_without_config(exported, peft_case, tmp_path):
    path = exported("llama", "dynamo")
    d = copy_adapter(peft_case("llama"), tmp_path / "adapter")
    (d / "adapter_config.json").unlink()
    expect_failure(tmp_path, path, f"--lora-insert=adapter={d}", "--lora-fuse",
                   must_say=["adapter_config.json"])


def test_adapter_directory_missing(exported, tmp_path):
    path = exported("llama", "dynamo")
    missing = tmp_path / "no_such_adapter"
    expect_failure(tmp_path, path, f"--lora-insert=adapter={missing}",
                   must_say=["no_such_adapter"])


def test_adapter_config_bad_alpha(exported, peft_case, tmp_path):
    """lora_alpha <= 0 in adapter_config.json is refused too."""
    path = exported("llama", "dynamo")
    d = copy_adapter(peft_case("llama"), tmp_path / "adapter")
    cfg = json.loads((d / "adapter_config.json").read_text())
    cfg["lora_alpha"] = 0
    (d / "adapter_config.json").write_text(json.dumps(cfg))
    expect_failure(tmp_path, path, f"--lora-insert=adapter={d}",
                   must_say=["alpha"])


def test_rank_larger_than_layer(exported, tmp_path):
    """v_proj is 64 x 32 (GQA): rank 33 > min(K, N) = 32."""
    path = exported("llama", "dynamo")
    expect_failure(tmp_path, path, "--lora-insert=targets=v_proj rank=33",
                   must_say=["rank 33", "v_proj", "32"])


def test_targets_match_nothing(exported, tmp_path):
    """A misspelt target: the message names the closest module names."""
    path = exported("llama", "dynamo")
    expect_failure(tmp_path, path, "--lora-insert=targets=q_prj rank=8",
                   must_say=["q_prj", "closest", "self_attn.q_proj"])


@pytest.mark.parametrize("alpha", ["0", "-2"])
def test_alpha_not_positive(exported, tmp_path, alpha):
    path = exported("llama", "dynamo")
    expect_failure(tmp_path, path, f"--lora-insert=targets=q_proj rank=8 alpha={alpha}",
                   must_say=["alpha"])


# ----------------------------------------------------------------------------
# 5. lora-list-targets
# ----------------------------------------------------------------------------

_ROW = re.compile(r"^(\S+)\s+(\d+) x (\d+)\s+(\S+)\s+(.*?)\s*$")


def torch_linear_layers(family: str) -> dict[str, tuple[int, int]]:
    """Every nn.Linear / transformers Conv1D of the model: 'm.'+name ->
    (K, N), as our export names them (wrapped as `m`)."""
    import torch
    from transformers.pytorch_utils import Conv1D

    layers = {}
    for name, mod in onnx_models.build_model(family, seed=0).named_modules():
        if isinstance(mod, torch.nn.Linear):
            layers["m." + name] = (mod.in_features, mod.out_features)
        elif isinstance(mod, Conv1D):
            layers["m." + name] = tuple(mod.weight.shape)  # [nx, nf] = [K, N]
    return layers


@pytest.mark.parametrize("family,exporter", CASES, ids=[f"{f}-{e}" for f, e in CASES])
def test_list_targets(exported, family, exporter):
    path = exported(family, exporter)
    targets = TARGETS[family]
    out = lora_opt_ok(path, f"--lora-list-targets=targets={','.join(targets)} "
                            "rank=8 alpha=16")
    rows = {}
    for line in out.splitlines():
        m = _ROW.match(line)
        if m and m.group(1) != "module":
            rows[m.group(1)] = (int(m.group(2)), int(m.group(3)), m.group(5))
    expected = torch_linear_layers(family)
    targeted = {n for n in expected if n.rsplit(".", 1)[-1] in targets}
    assert f"linear layers: {len(expected)} ({len(targeted)} selected" in out, out
    # Every linear layer, with its shape, and nothing else.
    assert {n: r[:2] for n, r in rows.items()} == expected, out
    for name, (_, _, selected) in rows.items():
        if name in targeted:
            assert selected.startswith("r=8 alpha=16 scale=2"), (name, selected)
        else:
            assert selected.startswith("-"), (name, selected)
    # The output head is marked as such.
    head = {"gpt2": "m.lm_head", "llama": "m.lm_head",
            "bert": "m.cls.predictions.decoder"}[family]
    assert "[output head]" in rows[head][2]


@pytest.mark.parametrize("family,exporter", CASES, ids=[f"{f}-{e}" for f, e in CASES])
def test_all_linear_selects_peft_layers(exported, tmp_path, family, exporter):
    """all-linear picks exactly the layers PEFT's target_modules="all-linear"
    picks (every Linear / Conv1D but the output head), and lora-insert
    adapts all of them."""
    from peft import LoraConfig, get_peft_model
    from peft.tuners.lora import LoraLayer

    peft_model = get_peft_model(
        onnx_models.build_model(family, seed=0),
        LoraConfig(target_modules="all-linear", r=8, lora_alpha=16,
                   fan_in_fan_out=(family == "gpt2")))
    expected = sorted("m." + name for name, mod
                      in peft_model.base_model.model.named_modules()
                      if isinstance(mod, LoraLayer))
    path = exported(family, exporter)
    out = lora_opt_ok(path, "--lora-list-targets=all-linear rank=8 alpha=16")
    selected = sorted(m.group(1) for m in map(_ROW.match, out.splitlines())
                      if m and m.group(5).startswith("r="))
    assert selected == expected, out

    text = Path(tmp_path / "all.mlir")
    lora_opt_ok(path, "--lora-insert=all-linear rank=8 alpha=16", "--lora-fuse",
                "-o", text)
    assert count_ops(text.read_text(), "lora.linear") == len(expected)
