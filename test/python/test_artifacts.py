"""Compiled artifacts end to end: `lora-compile` and `lora_opt.compile` write
out/{model.so, manifest.json, weights.bin, adapter/}; `lora-run out/` and the
Python package load it with the runtime, and must give PEFT's logits (fp32,
relative error <= 1e-5) for the adapter compiled in, and for other PEFT
adapters swapped in while the model stays loaded (no recompile). Swapping
back must give the first adapter's outputs again, bit for bit.

Also: the artifact equals the lora-opt | lora-run pipeline of the LoRA
passes issue, a merged artifact equals PEFT's merge_and_unload(), and every
bad input (adapter of the wrong shape or for another model, edited manifest,
missing weights, wrong input shape or dtype, failing or killed compile) gives
a clear error and leaves no partial output.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import onnx_models
from conftest import output_file_name, rel_err, tool
from test_lora_peft import (MIN_ADAPTER_EFFECT, PeftCase, compile_adapter,
                            run_mlir, torch_logits)

lora_opt = pytest.importorskip(
    "lora_opt", reason="the lora_opt package is installed by scripts/setup.sh")

pytestmark = pytest.mark.filterwarnings(
    "ignore:Could not find a config file:UserWarning")

TOL = 1e-5


@pytest.fixture(scope="module")
def adapters(tmp_path_factory):
    """adapters(family) -> (first, second, wrong rank): the second has
    another seed and alpha (so a different scale, which the runtime folds
    into B), the third rank 4 instead of 8."""
    cache = {}

    def get(family):
        if family not in cache:
            d = tmp_path_factory.mktemp(f"adapters_{family}")
            cache[family] = (PeftCase(family, "plain", d / "first", seed=1),
                             PeftCase(family, "plain", d / "second", seed=2, lora_alpha=40),
                             PeftCase(family, "plain", d / "rank4", seed=3, r=4))
        return cache[family]

    return get


def lora_compile(*args, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([tool("lora-compile"), "--quiet", *map(str, args)],
                          capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def lora_run(artifact, inputs: dict, tmp_path, *args, check=True):
    """lora-run on an artifact folder; returns (process, {output: array})."""
    out_dir = Path(tmp_path) / f"run_{len(list(Path(tmp_path).iterdir()))}"
    cmd = [tool("lora-run"), str(artifact), "--quiet", f"--output-dir={out_dir}",
           *map(str, args)]
    for name, value in inputs.items():
        npy = Path(tmp_path) / f"{output_file_name(name)}.in.npy"
        np.save(npy, value)
        cmd += ["--input", f"{name}={npy}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr[-4000:]
    outputs = {p.stem: np.load(p) for p in out_dir.glob("*.npy")} if out_dir.exists() else {}
    return proc, outputs


@pytest.fixture(scope="module")
def llama_artifact(exported, adapters, tmp_path_factory):
    """The dynamo Llama export compiled by lora-compile with the first PEFT
    adapter: (onnx path, artifact folder)."""
    path = exported("llama", "dynamo")
    first, _, _ = adapters("llama")
    out = tmp_path_factory.mktemp("artifacts") / "llama"
    lora_compile(path, f"--adapter={first.adapter}", "-o", out)
    return path, out


def test_artifact_layout_and_manifest(llama_artifact, adapters):
    _, out = llama_artifact
    assert sorted(p.name for p in out.iterdir()) == [
        "adapter", "manifest.json", "model.so", "weights.bin"]
    assert sorted(p.name for p in (out / "adapter").iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors"]
    m = json.loads((out / "manifest.json").read_text())
    assert m["format"] == "lora-opt-artifact" and m["format_version"] == 1
    assert m["compiler"]["version"].startswith("lora-opt ")
    assert "lora-insert{adapter=" in m["compiler"]["pipeline"]
    assert "lora-outline-weights" in m["compiler"]["pipeline"]
    kinds = [a["kind"] for a in m["arguments"]]
    assert kinds.count("input") == 2  # input_ids, attention_mask
    # Every weight is in weights.bin, aligned, and the .so holds none of them.
    weights = [a for a in m["arguments"] if a["kind"] == "weight"]
    total = (out / "weights.bin").stat().st_size
    assert total == m["weights"]["bytes"]
    assert all(w["offset"] % 64 == 0 and w["offset"] + w["bytes"] <= total
               for w in weights)
    assert sum(w["bytes"] for w in weights) > 0.95 * total
    # The .so's code may outgrow a tiny model's weights (it did with LLVM
    # 22.1.8: 396 KB of code, 364 KB of weights), so look for the weights'
    # bytes in it: 64 bytes from the middle of each weight that is not a
    # repeated constant (a norm's ones could be a splat in .rodata).
    so, blob = (out / "model.so").read_bytes(), (out / "weights.bin").read_bytes()
    checked = 0
    for w in weights:
        mid = w["offset"] + w["bytes"] // 2 // 64 * 64
        window = blob[mid:mid + 64]
        if mid + 64 <= w["offset"] + w["bytes"] and len(
                {window[i:i + 4] for i in range(0, 64, 4)}) >= 8:
            assert window not in so, f"{w['name']}'s bytes are in model.so"
            checked += 1
    assert checked >= len(weights) // 2, (checked, len(weights))
    # The frozen weights of the linear layers are named like PyTorch's
    # (adapted layers after the adapter's module names).
    names = {w["name"] for w in weights}
    for layer in ("self_attn.q_proj", "self_attn.k_proj", "mlp.down_proj"):
        assert any(n.endswith(f"model.layers.0.{layer}.weight") for n in names), names
    # One LoRA module per PEFT LoraLayer, with PEFT's rank and scale.
    first, _, _ = adapters("llama")
    from peft.tuners.lora import LoraLayer
    peft_layers = {n: l for n, l in first.model.named_modules()
                   if isinstance(l, LoraLayer)}
    modules = m["lora"]["modules"]
    assert len(modules) == len(peft_layers)
    for module in modules:
        assert module["rank"] == 8 and module["scale"] == pytest.approx(2.0)
        assert any(module["name"].endswith(n.removeprefix("base_model.model."))
                   for n in peft_layers)
    assert m["lora"]["options"]["adapter"] == first.adapter
    # out/adapter is a PEFT adapter that PEFT itself loads, and it is the
    # adapter the model was compiled with.
    config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 8
    assert config["lora_alpha"] == 16
    from peft import PeftModel
    reloaded = PeftModel.from_pretrained(onnx_models.build_model("llama", seed=0),
                                         str(out / "adapter"))
    reloaded.eval()
    inputs = onnx_models.make_inputs("llama", path=llama_artifact[0])
    assert rel_err(torch_logits(reloaded, "llama", inputs), first.logits(inputs)) <= 1e-6


def test_artifact_matches_peft_and_the_pass_pipeline(llama_artifact, adapters,
                                                     tmp_path):
    path, out = llama_artifact
    first, second, _ = adapters("llama")
    inputs = onnx_models.make_inputs("llama", path=path)
    expected = first.logits(inputs)
    assert rel_err(expected, first.base_logits(inputs)) > MIN_ADAPTER_EFFECT

    _, outputs = lora_run(out, inputs, tmp_path)
    err = rel_err(outputs["logits"], expected)
    print(f"lora-run artifact vs PEFT: {err:.2e}")
    assert err <= TOL

    # The same numbers as lora-opt --lora-insert=adapter --lora-fuse | lora-run.
    compile_adapter(path, first.adapter, tmp_path / "m.mlir")
    pipeline = run_mlir(tmp_path / "m.mlir", inputs, tmp_path)
    assert rel_err(outputs["logits"], pipeline) <= 1e-6

    # The Python API gives lora-run's outputs exactly.
    model = lora_opt.load(out)
    assert [i.name for i in model.inputs] == list(inputs)
    logits = model(**inputs)["logits"]
    np.testing.assert_array_equal(logits, outputs["logits"])

    # lora-run --adapter swaps at load time.
    _, swapped = lora_run(out, inputs, tmp_path, f"--adapter={second.adapter}")
    err = rel_err(swapped["logits"], second.logits(inputs))
    print(f"lora-run --adapter=second vs PEFT: {err:.2e}")
    assert err <= TOL


def test_swap_adapters_without_recompiling(llama_artifact, adapters):
    path, out = llama_artifact
    first, second, _ = adapters("llama")
    inputs = onnx_models.make_inputs("llama", path=path)
    so = out / "model.so"
    before = so.stat().st_mtime_ns

    model = lora_opt.load(out)
    y1 = model(**inputs)["logits"]
    assert rel_err(y1, first.logits(inputs)) <= TOL
    model.set_adapter(second.adapter)  # alpha 40: scale 5 vs the compiled 2
    y2 = model(**inputs)["logits"]
    err2 = rel_err(y2, second.logits(inputs))
    print(f"swapped to the second adapter: {err2:.2e}")
    assert err2 <= TOL
    assert rel_err(y2, y1) > MIN_ADAPTER_EFFECT
    model.set_adapter(first.adapter)
    np.testing.assert_array_equal(model(**inputs)["logits"], y1)
    # The initial adapter that lora-compile wrote is PEFT's first adapter.
    model.set_adapter(second.adapter)
    model.set_adapter(out / "adapter")
    np.testing.assert_array_equal(model(**inputs)["logits"], y1)
    assert so.stat().st_mtime_ns == before  # nothing was recompiled


def test_bad_adapters_keep_the_current_one(llama_artifact, adapters, exported,
                                           tmp_path):
    path, out = llama_artifact
    first, _, rank4 = adapters("llama")
    gpt2_first, _, _ = adapters("gpt2")
    inputs = onnx_models.make_inputs("llama", path=path)
    model = lora_opt.load(out)
    y1 = model(**inputs)["logits"]

    with pytest.raises(lora_opt.LoraOptError, match=r"q_proj.*has shape 4x64, expected 8x64 \(rank x in_features"):
        model.set_adapter(rank4.adapter)
    # An adapter for another model (GPT-2's c_attn).
    with pytest.raises(lora_opt.LoraOptError,
                       match=r"has modules the model was not compiled with: transformer\.h\.0\.attn\.c_attn"):
        model.set_adapter(gpt2_first.adapter)
    with pytest.raises(lora_opt.LoraOptError, match=r"adapter_config\.json"):
        model.set_adapter(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(first.adapter, broken)
    st = broken / "adapter_model.safetensors"
    st.write_bytes(st.read_bytes()[:-100])
    with pytest.raises(lora_opt.LoraOptError, match=r"adapter_model\.safetensors"):
        model.set_adapter(broken)
    np.testing.assert_array_equal(model(**inputs)["logits"], y1)

    proc, _ = lora_run(out, inputs, tmp_path, f"--adapter={rank4.adapter}", check=False)
    assert proc.returncode != 0
    assert "lora-run: error: adapter" in proc.stderr and "expected 8x64" in proc.stderr


def test_bad_inputs(llama_artifact, tmp_path):
    path, out = llama_artifact
    inputs = onnx_models.make_inputs("llama", path=path)
    model = lora_opt.load(out)
    with pytest.raises(lora_opt.LoraOptError, match=r"input 'input_ids' must be int64 \[2, 16\], got int32"):
        model(**{**inputs, "input_ids": inputs["input_ids"].astype(np.int32)})
    with pytest.raises(lora_opt.LoraOptError, match=r"must be int64 \[2, 16\], got int64 \[2, 8\]"):
        model(**{**inputs, "input_ids": inputs["input_ids"][:, :8]})
    with pytest.raises(lora_opt.LoraOptError, match="missing input 'attention_mask'"):
        model(input_ids=inputs["input_ids"])
    with pytest.raises(lora_opt.LoraOptError, match="unknown inputs"):
        model(**inputs, pixels=inputs["input_ids"])

    bad = {**inputs, "input_ids": inputs["input_ids"].astype(np.int32)}
    proc, _ = lora_run(out, bad, tmp_path, check=False)
    assert proc.returncode != 0
    assert "input 'input_ids' must be i64[2x16], got i32[2x16]" in proc.stderr, proc.stderr


def test_cuda_graphs_asked_of_a_cpu_artifact(llama_artifact, tmp_path):
    """Only the CUDA target replays calls from CUDA graphs: asking for them
    on a CPU artifact is an error that names the target; declining them,
    or leaving it open, loads it as usual."""
    path, out = llama_artifact
    message = (f"{out / 'manifest.json'}: CUDA graphs were asked for, but the model "
               "is compiled for target 'cpu', which runs on the host")
    with pytest.raises(lora_opt.LoraOptError) as error:
        lora_opt.load(out, cuda_graphs=True)
    assert str(error.value) == message
    for option in (False, None):
        with lora_opt.load(out, cuda_graphs=option) as model:
            assert not model.uses_cuda_graphs

    inputs = onnx_models.make_inputs("llama", path=path)
    proc, outputs = lora_run(out, inputs, tmp_path, "--cuda-graphs", check=False)
    assert proc.returncode != 0 and not outputs
    assert f"lora-run: error: {message}" in proc.stderr, proc.stderr
    _, outputs = lora_run(out, inputs, tmp_path, "--cuda-graphs=false")
    assert outputs
    proc = subprocess.run([tool("lora-run"), str(path), "--cuda-graphs"],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert ("--cuda-graphs applies to a folder written by lora-compile for the "
            "CUDA target") in proc.stderr, proc.stderr


def test_run_on_device_on_a_cpu_artifact(llama_artifact):
    """For the CPU target run_on_device takes host DLPack tensors (numpy,
    PyTorch CPU) and writes the outputs into the caller's arrays, with the
    outputs of __call__ bit for bit; bad tensors are refused by name."""
    import torch
    path, out = llama_artifact
    inputs = onnx_models.make_inputs("llama", path=path)
    with lora_opt.load(out) as model:
        want = model(**inputs)
        got = {o.name: np.empty(o.shape, o.dtype) for o in model.outputs}
        model.run_on_device(inputs, got)
        assert all(got[k].tobytes() == want[k].tobytes() for k in want)
        tensors = {o.name: torch.empty(o.shape, dtype=torch.float32) for o in model.outputs}
        model.run_on_device({k: torch.from_numpy(v) for k, v in inputs.items()}, tensors)
        assert all(tensors[k].numpy().tobytes() == want[k].tobytes() for k in want)

        ids = inputs["input_ids"]
        cases = [
            ({**inputs, "input_ids": ids.astype(np.int32)}, got,
             r"input 'input_ids' must be int64 \[2, 16\], got int32 \[2, 16\]"),
            ({**inputs, "input_ids": np.repeat(ids, 2, axis=1)[:, ::2]}, got,
             r"input 'input_ids' is not dense row-major \(strides \[32, 2\]\)"),
            ({**inputs, "input_ids": ids.tolist()}, got,
             r"input 'input_ids' must be a DLPack tensor .* got list"),
            ({"input_ids": ids}, got,
             r"inputs: missing \['attention_mask'\], unknown \[\]"),
            (inputs, {}, r"outputs: missing \['logits'\]"),
        ]
        # An output that shares memory with an input.
        logits = model.outputs[0]
        size = max(ids.nbytes, int(np.prod(logits.shape)) * 4 + 64)
        buffer = np.zeros(size + 64, np.uint8)
        shared_ids = buffer[:ids.nbytes].view(np.int64).reshape(ids.shape)
        shared_ids[...] = ids
        shared_logits = buffer[64:64 + int(np.prod(logits.shape)) * 4].view(
            np.float32).reshape(logits.shape)
        cases.append(({**inputs, "input_ids": shared_ids}, {"logits": shared_logits},
                      r"^output 'logits' overlaps input 'input_ids'$"))
        # numpy does not export a read-only array.
        frozen = np.empty(logits.shape, np.float32)
        frozen.flags.writeable = False
        cases.append((inputs, {"logits": frozen},
                      r"^output 'logits': its DLPack export failed: "))
        for given, outputs, pattern in cases:
            with pytest.raises(lora_opt.LoraOptError, match=pattern):
                model.run_on_device(given, outputs)
    with pytest.raises(lora_opt.LoraOptError,
                       match=r"cuda_graphs must be True, False or None, got 'yes'"):
        lora_opt.load(out, cuda_graphs="yes")


def test_damaged_artifacts(llama_artifact, tmp_path):
    _, out = llama_artifact

    def damaged(name, edit):
        d = tmp_path / name
        shutil.copytree(out, d)
        edit(d)
        return d

    def manifest_edit(change):
        def edit(d):
            m = json.loads((d / "manifest.json").read_text())
            change(m)
            (d / "manifest.json").write_text(json.dumps(m))
        return edit

    def shape_edit(m):
        m["arguments"][0]["shape"] = [2, 17]

    cases = {
        "no_manifest": (lambda d: (d / "manifest.json").unlink(), r"manifest\.json"),
        "no_library": (lambda d: (d / "model.so").unlink(), r"model\.so"),
        "no_weights": (lambda d: (d / "weights.bin").unlink(), r"weights\.bin"),
        "short_weights": (lambda d: os.truncate(d / "weights.bin", 1000),
                          r"weights\.bin"),
        "mismatch": (manifest_edit(shape_edit),
                     r"manifest\.json does not match .*model\.so: argument 0 \('input_ids'\) is i64\[2x17\] in the manifest but i64\[2x16\] in the library"),
        "version": (manifest_edit(lambda m: m.update(format_version=2)),
                    r"format_version"),
        "no_adapter": (lambda d: shutil.rmtree(d / "adapter"), r"adapter"),
    }
    for name, (edit, pattern) in cases.items():
        d = damaged(name, edit)
        with pytest.raises(lora_opt.LoraOptError, match=pattern):
            lora_opt.load(d)
        proc = subprocess.run([tool("lora-run"), str(d), "--quiet"],
                              capture_output=True, text=True)
        assert proc.returncode != 0, name
        assert "lora-run: error:" in proc.stderr, (name, proc.stderr)


def test_python_compile_gpt2_and_swap(exported, adapters, tmp_path):
    """lora_opt.compile with an adapter on GPT-2 (Conv1D, fan_in_fan_out),
    then swap."""
    path = exported("gpt2", "dynamo")
    first, second, _ = adapters("gpt2")
    inputs = onnx_models.make_inputs("gpt2", path=path)
    out = lora_opt.compile(path, tmp_path / "gpt2", adapter=first.adapter)
    assert out == tmp_path / "gpt2"
    model = lora_opt.load(out)
    err1 = rel_err(model(**inputs)["logits"], first.logits(inputs))
    model.set_adapter(second.adapter)
    err2 = rel_err(model(**inputs)["logits"], second.logits(inputs))
    print(f"gpt2: first {err1:.2e}, second {err2:.2e}")
    assert err1 <= TOL and err2 <= TOL


def test_python_compile_targets_starts_at_the_base_model(tmp_path):
    """compile(targets=..., rank, alpha): B starts at zero, so the output is
    the base model's; parameters can then be set one by one."""
    example = Path(__file__).resolve().parents[2] / "examples"
    ids = np.load(example / "input_ids.npy")
    base = np.load(example / "expected_logits.npy")
    out = lora_opt.compile(example / "tiny_llama.onnx", targets=["q_proj", "v_proj"],
                           rank=4, alpha=8, input_shape={"input_ids": ids.shape},
                           opt_level=1)
    model = lora_opt.load(out)
    assert len(model.lora_modules) == 4
    assert all(m["rank"] == 4 and m["scale"] == 2.0 for m in model.lora_modules)
    y = model(input_ids=ids)["logits"]
    assert rel_err(y, base) <= TOL
    name = next(a["name"] for a in model.manifest["arguments"] if a["kind"] == "lora_b")
    shape = next(a["shape"] for a in model.manifest["arguments"] if a["name"] == name)
    model.set_parameter(name, np.full(shape, 0.5, np.float32))
    assert rel_err(model(input_ids=ids)["logits"], base) > MIN_ADAPTER_EFFECT
    with pytest.raises(lora_opt.LoraOptError, match="'input_ids' is not a LoRA parameter"):
        model.set_parameter("input_ids", ids)
    # PEFT's orientation, another dtype or a flat array are refused.
    for bad in (np.ones(shape[::-1], np.float32), np.ones(shape, np.float64),
                np.ones(shape[0] * shape[1], np.float32)):
        with pytest.raises(lora_opt.LoraOptError, match=r"must be float32 \[4, 64\] \(ONNX orientation\)"):
            model.set_parameter(name, bad)


def test_python_compile_patterns(tmp_path):
    """rank_pattern / alpha_pattern go through the C API intact (integers,
    and alphas with every digit)."""
    example = Path(__file__).resolve().parents[2] / "examples"
    out = lora_opt.compile(example / "tiny_llama.onnx", tmp_path / "p",
                           targets=["q_proj"], rank=8, alpha=16,
                           rank_pattern={r"layers\.1\..*": 4},
                           alpha_pattern={r"layers\.0\..*": 0.1234567},
                           input_shape={"input_ids": (1, 8)}, opt_level=0)
    modules = {m["name"]: m for m in lora_opt.load(out).lora_modules}
    layer0 = modules["m.model.layers.0.self_attn.q_proj"]
    layer1 = modules["m.model.layers.1.self_attn.q_proj"]
    assert layer0["rank"] == 8 and layer0["scale"] == pytest.approx(0.1234567 / 8, rel=1e-6)  # the fused scale is f32
    assert layer1["rank"] == 4 and layer1["scale"] == pytest.approx(16 / 4)


def test_python_compile_cuda_kernel_options(tmp_path):
    """cuda_kernel_options goes through the C API to the kernel generator:
    the manifest's pipeline has the options, and the artifact runs (the f32
    example has no bf16 matmul to fuse, so its logits are the CPU's)."""
    example = Path(__file__).resolve().parents[2] / "examples"
    ids = np.load(example / "input_ids.npy")
    out = lora_opt.compile(example / "tiny_llama.onnx", tmp_path / "k",
                           targets=["q_proj"], target="cuda-emulated",
                           cuda_kernel_options="fuse-lora-down multicast=2",
                           input_shape={"input_ids": ids.shape}, opt_level=0)
    manifest = json.loads((out / "manifest.json").read_text())
    text = json.dumps(manifest)
    assert "fuse-lora-down=true" in text and "multicast=2" in text
    y = lora_opt.load(out)(input_ids=ids)["logits"]
    assert rel_err(y, np.load(example / "expected_logits.npy")) <= TOL


def test_merged_artifact(exported, adapters, tmp_path):
    path = exported("llama", "dynamo")
    first, second, _ = adapters("llama")
    inputs = onnx_models.make_inputs("llama", path=path)
    out = tmp_path / "merged"
    lora_compile(path, f"--adapter={first.adapter}", "--merge", "-o", out)
    m = json.loads((out / "manifest.json").read_text())
    assert m["lora"]["merged"] is True
    assert not [a for a in m["arguments"] if a["kind"].startswith("lora")]
    model = lora_opt.load(out)
    err = rel_err(model(**inputs)["logits"], first.merged_logits(inputs))
    print(f"merged artifact vs merge_and_unload: {err:.2e}")
    assert err <= TOL
    with pytest.raises(lora_opt.LoraOptError, match="--merge"):
        model.set_adapter(second.adapter)


def test_failed_compile_leaves_nothing(tmp_path):
    example = Path(__file__).resolve().parents[2] / "examples" / "tiny_llama.onnx"
    out = tmp_path / "out"
    cases = [
        (["--lora-targets=q_prj"], "matched none of the 15 linear layers"),
        (["--lora-targets=q_proj", "--lora-rank=0"], "rank"),
        (["--target=tpu"], "unknown target 'tpu'"),
        (["--merge"], "--merge needs an adapter or LoRA targets"),
        (["--adapter=" + str(tmp_path / "none")], "adapter_config.json"),
    ]
    for args, message in cases:
        proc = lora_compile(example, *args, "-o", out, check=False)
        assert proc.returncode != 0, args
        assert message in proc.stderr, (args, proc.stderr)
        assert list(tmp_path.iterdir()) == [], (args, list(tmp_path.iterdir()))
    with pytest.raises(lora_opt.LoraOptError, match="matched none"):
        lora_opt.compile(example, out, targets=["q_prj"])
    with pytest.raises(lora_opt.LoraOptError, match="unknown option 'rnak'"):
        lora_opt.compile(example, out, rnak=4)
    # cuda_kernel_options reaches lora-compile's checks (test_cuda_emulated
    # has the CLI's).
    with pytest.raises(lora_opt.LoraOptError,
                       match="invalid CUDA kernel options 'bogus=1'"):
        lora_opt.compile(example, out, targets=["q_proj"], target="cuda-emulated",
                         cuda_kernel_options="bogus=1")
    with pytest.raises(lora_opt.LoraOptError,
                       match="need --target=cuda or cuda-emulated"):
        lora_opt.compile(example, out, targets=["q_proj"],
                         cuda_kernel_options="fuse-lora-down")
    assert list(tmp_path.iterdir()) == []

    # An existing folder that is not an artifact is never replaced...
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    proc = lora_compile(example, "-o", out, "--opt-level=0", check=False)
    assert "is not a lora-compile artifact" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (out / "notes.txt").read_text() == "mine"
    # ...but an earlier artifact is, in one step (the folders are exchanged).
    # `out/` and `out` are the same folder.
    shutil.rmtree(out)
    lora_compile(example, "-o", f"{out}/", "--opt-level=0")
    lora_compile(example, "-o", f"{out}/", "--opt-level=0", "--lora-targets=q_proj")
    assert json.loads((out / "manifest.json").read_text())["lora"] is not None
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL],
                         ids=["SIGTERM", "SIGINT", "SIGKILL"])
def test_killed_compile_leaves_no_output(tmp_path, sig):
    """A compile killed while it generates code leaves no out/ (and, for the
    signals it can catch, no temporary folder either)."""
    example = Path(__file__).resolve().parents[2] / "examples" / "tiny_llama.onnx"
    out = tmp_path / "out"
    proc = subprocess.Popen([tool("lora-compile"), str(example), "-o", str(out),
                             "--lora-all-linear"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    # Wait for the weights and the adapter (written before code generation,
    # which takes seconds), then kill: the temporary object file of code
    # generation goes too.
    objects = set(Path(tempfile.gettempdir()).glob("lora-model-*.o"))
    deadline = time.time() + 60
    while time.time() < deadline:
        temps = list(tmp_path.glob(".out.lora-compile-*"))
        if temps and (temps[0] / "adapter" / "adapter_model.safetensors").exists():
            break
        time.sleep(0.02)
    else:
        proc.kill()
        pytest.fail("lora-compile never wrote its adapter")
    time.sleep(0.5)  # into code generation
    proc.send_signal(sig)
    proc.wait(timeout=10)  # dies of the signal, not at some later failure
    assert proc.returncode == -sig, proc.stderr.read()
    assert not out.exists()
    if sig != signal.SIGKILL:
        assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())
        assert set(Path(tempfile.gettempdir()).glob("lora-model-*.o")) <= objects


def test_run_passes():
    text = """
func.func @main(%x: tensor<1x4x16xf32>) -> tensor<1x4x8xf32> {
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x16x8xf32>}> : () -> tensor<1x16x8xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %zp, %zp : (tensor<1x4x16xf32>, tensor<1x16x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x8xf32> loc("layers.0.up_proj")
  return %y : tensor<1x4x8xf32>
}
"""
    result = lora_opt.run_passes(
        text, "builtin.module(lora-insert{targets=up_proj rank=2 alpha=4}, "
              "func.func(lora-fuse))")
    assert result.count("lora.linear") == 1
    assert 'lora.param = "base_model.model.layers.0.up_proj.lora_A.weight"' in result
    assert "scale = 2.0" in result
    with pytest.raises(lora_opt.LoraOptError, match="invalid pass pipeline"):
        lora_opt.run_passes(text, "builtin.module(no-such-pass)")
    with pytest.raises(lora_opt.LoraOptError, match="anchored on builtin.module"):
        lora_opt.run_passes(text, "func.func(cse)")
    with pytest.raises(lora_opt.LoraOptError, match="matched none"):
        lora_opt.run_passes(text, "builtin.module(lora-insert{targets=q_proj})")
    with pytest.raises(lora_opt.LoraOptError, match="expected"):
        lora_opt.run_passes("func.func @f(", "builtin.module(cse)")
