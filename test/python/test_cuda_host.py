"""The CUDA target's host code, run on a fake driver without a GPU.

`lora-compile --target=cuda` writes host code (the launch sequence lowered
from gpu.launch_func, the tensor maps of the generated kernels) that only a
GPU ran, until now. test/lib/FakeCuda builds a libcuda.so.1 that checks each
driver call as the driver does, or more strictly (launch limits against the
cubin's .nv.info, tensor maps against cuTensorMapEncodeTiled's rules and
their allocation, copies in bounds), runs no kernel, and traces launches.
Put first on LD_LIBRARY_PATH of a child process, it lets the runtime and the
host code of real artifacts run here: f32 (generic kernels) and bf16 (the
generated tensor-core kernels), inference and the train step.

What is checked: every driver call passes the fake's checks; a second call
repeats the first's launches exactly and allocates nothing from the driver
and encodes no tensor map (the runtime's caches); a driver error surfaces
as a LoraOptError naming the mgpu* function, the driver call and the CUDA
error. Numerics are not checked here (kernels do not run): bench/gpu/ does
that on a GPU, and test_cuda_emulated.py on the CPU.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import BUILD, ROOT, tool

pytest.importorskip("lora_opt", reason="the lora_opt package is installed by scripts/setup.sh")

FAKE_DIR = BUILD / "lib" / "fake-cuda"
PTXAS = Path("/usr/local/cuda/bin/ptxas")
if not PTXAS.exists():
    PTXAS = Path(shutil.which("ptxas") or PTXAS)
if not (FAKE_DIR / "libcuda.so.1").exists():
    pytest.skip(f"{FAKE_DIR}/libcuda.so.1 is not built (the build found no cuda.h)",
                allow_module_level=True)
if not PTXAS.exists():
    pytest.skip("ptxas is missing: --target=cuda needs the CUDA toolkit",
                allow_module_level=True)

MODEL = ROOT / "examples" / "tiny_llama.onnx"
INPUT = ROOT / "examples" / "input_ids.npy"
ARGS = ["--lora-targets=q_proj,v_proj", "--lora-rank=8", "--lora-alpha=16",
        "--input-shape=input_ids:1x8"]
TRAIN_ARGS = ["--mode=train", "--loss=causal-lm", "--lora-dropout=0.1"]
# Every fusion of the generated kernels, so that the fused backward's
# launches (dB and dA inside the dx kernel) run too.
FUSED = "--cuda-kernel-options=fuse-lora-down fuse-lora-b-grad fuse-lora-a-grad"
MAX_DEFAULT_SHARED = 48 * 1024
CHILD = Path(__file__).with_name("fake_cuda_child.py")
CALLS = 4
# The generated kernels' launches of a bf16 call: LoRA targets, LoRA layers
# (a lora_down and a lora_linear each) and the other matmul launches
# (frozen linear layers and the attention's batched matmuls), as
# test_cuda_emulated.py's BF16_CASES counts their call sites.
BF16_FAMILIES = {
    "llama": ("q_proj,v_proj", 4, 11 + 4),
    "gpt2": ("c_attn,c_fc", 4, 5 + 4),
    "bert": ("query,value", 4, 10 + 4),
}


def lora_compile(onnx: Path, out: Path, *extra: str, args=ARGS) -> Path:
    proc = subprocess.run([tool("lora-compile"), "--quiet", str(onnx), *args, *extra,
                           "--target=cuda", "-o", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """name -> CUDA artifact: f32 and bf16 Llama (the example's config),
    inference and train step."""
    d = tmp_path_factory.mktemp("cuda_host")
    bf16 = d / "llama_bf16.onnx"
    sys.path.insert(0, str(ROOT / "test" / "python"))
    import torch
    import onnx_models
    model = onnx_models.build_model("llama", 0).to(torch.bfloat16)
    onnx_models.export_model("llama", "dynamo", str(bf16), batch=1, seq=8, seed=0,
                             with_mask=False, model=model)
    found = {
        "f32": lora_compile(MODEL, d / "f32"),
        "f32_train": lora_compile(MODEL, d / "f32_train", *TRAIN_ARGS),
        "bf16": lora_compile(bf16, d / "bf16"),
        "bf16_train": lora_compile(bf16, d / "bf16_train", *TRAIN_ARGS, FUSED),
    }
    # GPT-2 and BERT in bf16 (2x16 tokens, BERT with its attention mask),
    # inference; their inputs next to the artifact.
    for family in ("gpt2", "bert"):
        onnx = d / f"{family}_bf16.onnx"
        model = onnx_models.build_model(family, 0).to(torch.bfloat16)
        onnx_models.export_model(family, "dynamo", str(onnx), model=model)
        targets = BF16_FAMILIES[family][0]
        out = lora_compile(onnx, d / f"{family}_bf16", args=[
            f"--lora-targets={targets}", "--lora-rank=8", "--lora-alpha=16"])
        np.savez(out / "inputs.npz", **onnx_models.make_inputs(family, path=str(onnx)))
        found[f"{family}_bf16"] = out
    return found


def fake_env(trace: Path) -> dict:
    """The environment of a child on the fake driver, tracing to `trace`."""
    return dict(os.environ, LORA_FAKE_CUDA_TRACE=str(trace), LD_LIBRARY_PATH=os.pathsep.join(
        [str(FAKE_DIR), *filter(None, [os.environ.get("LD_LIBRARY_PATH")])]))


def run_on_fake(tmp_path, artifact: Path, calls: int = 2, env: dict | None = None,
                inputs: Path = INPUT):
    """Runs CHILD on `artifact` with the fake driver: (process, trace as a
    list of dicts)."""
    trace = tmp_path / "trace.jsonl"
    trace.unlink(missing_ok=True)
    child_env = fake_env(trace)
    child_env.update(env or {})
    proc = subprocess.run([sys.executable, str(CHILD), "run", str(artifact), str(inputs),
                           str(calls), str(tmp_path / "adapter")],
                          capture_output=True, text=True, timeout=600, env=child_env)
    lines = trace.read_text().splitlines() if trace.exists() else []
    return proc, [json.loads(line) for line in lines]


def run_two_models(tmp_path, artifacts, mode: str, **env: str) -> list:
    """Runs CHILD's `mode` (two-models, two-models-cold) on the bf16 and f32
    Llama with the fake driver and `env`: its trace, once the child and
    every driver call succeeded."""
    trace = tmp_path / "trace.jsonl"
    proc = subprocess.run([sys.executable, str(CHILD), mode, str(artifacts["bf16"]),
                           str(artifacts["f32"]), str(INPUT)],
                          capture_output=True, text=True, timeout=600,
                          env=dict(fake_env(trace), **env))
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr[-4000:]
    assert "without a CUDA graph" not in proc.stderr, proc.stderr[-2000:]
    entries = [json.loads(line) for line in trace.read_text().splitlines()]
    assert not [e for e in entries if "error" in e]
    return entries


def split_calls(trace: list) -> dict:
    """The trace between markers: {"load": [...], 0: [...], 1: [...], ...}."""
    parts, current = {}, None
    for entry in trace:
        if "call" in entry:
            current = entry["call"]
            parts[current] = []
        elif current is not None:
            parts[current].append(entry)
    return parts


def launches(entries: list) -> list:
    return [e for e in entries if "launch" in e]


def canonical(launch_list: list) -> list:
    """The launches with allocations renumbered by first use ("a7+64" ->
    "b0+64"): the block cache hands a call other blocks than the last."""
    names = {}

    def rename(param: str) -> str:
        if not param.startswith("a"):
            return param
        alloc, offset = param[1:].split("+")
        return f"b{names.setdefault(alloc, len(names))}+{offset}"
    return [dict(e, params=[rename(p) for p in e["params"]]) for e in launch_list]


@pytest.mark.parametrize("name", ["f32", "bf16", "f32_train", "bf16_train", "gpt2_bf16",
                                  "bert_bf16"])
def test_host_code_runs_on_the_fake_driver(artifacts, tmp_path, name):
    inputs = artifacts[name] / "inputs.npz"
    proc, trace = run_on_fake(tmp_path, artifacts[name], calls=CALLS,
                              inputs=inputs if inputs.exists() else INPUT)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr[-4000:]
    errors = [e["error"] for e in trace if "error" in e]
    assert not errors, errors
    calls = split_calls(trace)
    first, second = launches(calls[0]), launches(calls[1])
    assert first, "the first call launched nothing"
    # Every launch names a kernel of a loaded module (the fake checks that
    # too) and the generated kernels ran where the model has them.
    kernels = {e["launch"] for e in first}
    if "bf16" in name:
        assert {"lora_linear", "matmul"} <= kernels, kernels
        if name == "bf16_train":
            assert "lora_input_grad" in kernels, kernels
        big = [e for e in first if e["shared"] > MAX_DEFAULT_SHARED]
        assert big, "no generated kernel uses more than 48 KiB of shared memory"
        assert any("tensor_map" in e for e in calls["load"] + calls[0])
        if not name.endswith("train"):
            # One launch per call site of the generated kernels.
            _, lora_layers, others = BF16_FAMILIES[name.removesuffix("_bf16")
                                                   if name != "bf16" else "llama"]
            count = {kind: sum(e["launch"].startswith(kind) for e in first)
                     for kind in ("lora_down", "lora_linear", "matmul")}
            assert count == {"lora_down": lora_layers, "lora_linear": lora_layers,
                             "matmul": others}, count
    else:
        assert kernels == {"main_kernel"} or kernels <= {"main_kernel", "train_step_kernel"}

    def shape(e):
        return (e["launch"], e["module"], e["grid"], e["block"], e["cluster"], e["shared"])
    # The second call repeats the first: the same kernels with the same
    # configuration; for inference also the same arguments, up to which
    # blocks of the cache hold which buffer (the step count and the dropout
    # seed of a train step change from step to step).
    assert [shape(e) for e in second] == [shape(e) for e in first]
    if not name.endswith("train"):
        assert canonical(second) == canonical(first)
    # After the first call, buffers come from the caches of the runtime
    # (generated code's buffers, each call the blocks of the call before) and
    # of the CUDA device (staged inputs and outputs): no allocation from the
    # driver, and every tensor map is in the map cache. The second train
    # step may still encode a few maps (8 here, with their 128-byte device
    # copies); none after it.
    def allocates(entries):
        return [e for e in entries if "alloc" in e or "tensor_map" in e]
    settled = 2 if name.endswith("train") else 1
    assert not [e for e in calls[1] if "alloc" in e and e["bytes"] != 128], calls[1]
    for late in range(settled, CALLS):
        assert not allocates(calls[late]), (late, allocates(calls[late])[:8])
    # A kernel's shared-memory opt-in is set once, not at every launch.
    counts = next(e["calls"] for e in reversed(trace) if "calls" in e)
    opted_in = {(e["module"], e["launch"]) for e in launches(trace) if e["shared"]}
    assert counts.get("cuFuncSetAttribute", 0) == len(opted_in), counts
    assert counts.get("cuDeviceGetAttribute", 0) <= 1, counts
    # And each kernel is looked up once, not before every launch.
    kernels_launched = {(e["module"], e["launch"]) for e in launches(trace)}
    assert counts["cuModuleGetFunction"] == len(kernels_launched), counts
    # The CUDA device holds its context current around the compiled code:
    # its launches push none (each pushed and popped one before; what is
    # left is the model's load and the device's copies).
    assert counts["cuCtxPushCurrent"] < len(launches(trace)) / 2, counts
    assert counts["cuCtxPushCurrent"] == counts["cuCtxPopCurrent"], counts
    if name.endswith("train"):
        assert launches(calls["eval"])
        saved = tmp_path / "adapter"
        assert (saved / "adapter_config.json").exists()
        assert (saved / "adapter_model.safetensors").exists()


def test_two_models_in_threads_and_an_unload(artifacts, tmp_path):
    """Two models in one process share the runtime's caches (blocks, tensor
    maps, kernels, shared-memory opt-ins): alternate calls, calls from two
    threads at once, then one model closed, which unloads its kernels and
    makes the runtime forget what it knew of kernels, and the other run
    again."""
    entries = run_two_models(tmp_path, artifacts, "two-models")
    after = split_calls(entries)["closed"]
    assert launches(after), "the model left open launched nothing after the other closed"
    # The bf16 model's opted-in kernels were allowed their shared memory
    # once before the f32 model's unload and once after it.
    counts = next(e["calls"] for e in reversed(entries) if "calls" in e)
    opted_in = {(e["module"], e["launch"]) for e in launches(entries) if e["shared"]}
    assert opted_in and counts["cuFuncSetAttribute"] == 2 * len(opted_in), counts


GRAPH_CALLS = 6


def without_graph_tag(entries: list) -> list:
    return [{k: v for k, v in e.items() if k != "graph"} for e in launches(entries)]


@pytest.mark.parametrize("name", ["f32", "bf16", "f32_train", "bf16_train"])
def test_calls_replay_from_cuda_graphs(artifacts, tmp_path, name):
    """LORA_CUDA_GRAPHS=1: once a function's calls set nothing up, a call at
    the addresses of one before is captured, and the calls after it at those
    addresses are one cuGraphLaunch each, whose launches are the direct
    call's, argument for argument. Inference repeats one set of addresses;
    a train step alternates between two (the parameters it reads and those
    it writes), so it keeps two graphs."""
    train = name.endswith("train")
    proc, trace = run_on_fake(tmp_path, artifacts[name], calls=GRAPH_CALLS,
                              env={"LORA_CUDA_GRAPHS": "1"})
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr[-4000:]
    assert "without a CUDA graph" not in proc.stderr, proc.stderr[-2000:]
    errors = [e["error"] for e in trace if "error" in e]
    assert not errors, errors
    calls = split_calls(trace)
    replayed = [c for c in range(GRAPH_CALLS) if any("replay" in e for e in calls[c])]
    assert replayed and replayed == list(range(replayed[0], GRAPH_CALLS)), replayed
    assert replayed[0] <= 3, replayed
    graphs = [e for e in trace if "nodes" in e]
    assert len(graphs) == (2 if train else 1), graphs
    period = 2 if train else 1
    for c in replayed:
        # One replay and nothing launched outside it.
        assert sum("replay" in e for e in calls[c]) == 1
        assert all("graph" in e for e in launches(calls[c])), c
        # The same launches as the call before at these addresses (direct
        # or replayed), parameters included.
        assert without_graph_tag(calls[c]) == without_graph_tag(calls[c - period]), c
    # A graph's nodes: its launches, and copies (of the constants, from
    # the runtime's device copies, and of a train step's loss).
    assert len(launches(calls[replayed[0]])) == graphs[0]["launches"]
    # Replays launch through the graph: cuLaunchKernel saw the direct calls'
    # launches and the captures' only.
    counts = next(e["calls"] for e in reversed(trace) if "calls" in e)
    direct = [c for c in range(GRAPH_CALLS) if c not in replayed] + (["eval"] if train else [])
    assert counts["cuLaunchKernel"] + counts.get("cuLaunchKernelEx", 0) == sum(
        len(launches(calls[c])) for c in direct) + sum(g["launches"] for g in graphs), counts
    assert counts["cuGraphLaunch"] == len(replayed)
    # The graphs went before their kernels' modules.
    destroyed = [e["graph_destroyed"] for e in trace if "graph_destroyed" in e]
    assert sorted(destroyed) == sorted(g["graph"] for g in graphs)


@pytest.mark.parametrize("env, reason", [
    ({"LORA_FAKE_CUDA_FAIL": "cuGraphInstantiate:1"},
     "cuGraphInstantiate failed with CUDA_ERROR_OUT_OF_MEMORY"),
    ({"LORA_FAKE_CUDA_FAIL": "cuStreamBeginCapture:1"},
     "cuStreamBeginCapture failed with CUDA_ERROR_OUT_OF_MEMORY"),
])
def test_a_failed_capture_falls_back_to_direct_calls(artifacts, tmp_path, env, reason):
    """A capture that fails is reported once, and that call and the later
    ones run the host code as without graphs, with the same launches."""
    proc, trace = run_on_fake(tmp_path, artifacts["bf16"], calls=GRAPH_CALLS,
                              env={"LORA_CUDA_GRAPHS": "1", **env})
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr[-4000:]
    reports = [line for line in proc.stderr.splitlines() if "without a CUDA graph" in line]
    assert len(reports) == 1 and reason in reports[0], proc.stderr[-2000:]
    assert "lora-opt: the calls of 'main' run without a CUDA graph" in reports[0]
    assert not [e for e in trace if "replay" in e]
    calls = split_calls(trace)
    for c in range(2, GRAPH_CALLS):
        assert canonical(launches(calls[c])) == canonical(launches(calls[1])), c
        # The failed capture's blocks went back to the others: the call run
        # again after it allocates nothing either.
        assert not [e for e in calls[c] if "alloc" in e], c


def test_graphs_need_the_block_cache(artifacts, tmp_path):
    """Without the block cache (LORA_CUDA_CACHING=0, for memory checkers)
    every call has new buffers: graphs are off, and the device says so."""
    proc, trace = run_on_fake(tmp_path, artifacts["f32"], calls=3,
                              env={"LORA_CUDA_GRAPHS": "1", "LORA_CUDA_CACHING": "0"})
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr[-4000:]
    assert ("lora-opt: LORA_CUDA_GRAPHS=1 is ignored: LORA_CUDA_CACHING=0 turns off the "
            "block cache that graphs replay from") in proc.stderr, proc.stderr[-2000:]
    assert not [e for e in trace if "replay" in e or "error" in e]


@pytest.mark.parametrize("option, env, replays", [
    ("1", {}, True),
    ("0", {"LORA_CUDA_GRAPHS": "1"}, False),
    (None, {"LORA_CUDA_GRAPHS": "1"}, True),
    (None, {}, False),
])
def test_the_load_option_decides_over_the_variable(artifacts, tmp_path, option, env,
                                                   replays):
    """load(cuda_graphs=True) turns graphs on without LORA_CUDA_GRAPHS,
    False keeps them off whatever it says, None leaves it to the variable;
    uses_cuda_graphs tells which."""
    if option is not None:
        env = {**env, "CHILD_CUDA_GRAPHS": option}
    proc, trace = run_on_fake(tmp_path, artifacts["f32"], calls=GRAPH_CALLS, env=env)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr[-4000:]
    assert f"uses_cuda_graphs: {replays}" in proc.stdout, proc.stdout
    replayed = [e for e in trace if "replay" in e]
    assert (len(replayed) > 0) == replays, len(replayed)
    assert not [e for e in trace if "error" in e]


def test_an_adapter_swap_between_replays_captures_a_new_graph(artifacts, tmp_path):
    """set_adapter puts the new parameters in new device buffers: the graph
    of the old addresses no longer serves, so the next call runs directly
    at the new ones, and the calls after it replay a graph captured there,
    whose launches are that direct call's (not the old graph's). As after
    the load, the first call at the new addresses sets things up (tensor
    maps of the new buffers), so the second is the first steady one and the
    third is captured."""
    calls, swap = 9, 4
    proc, trace = run_on_fake(tmp_path, artifacts["bf16"], calls=calls,
                              env={"CHILD_CUDA_GRAPHS": "1",
                                   "CHILD_SET_ADAPTER_AT": str(swap)})
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr[-4000:]
    assert not [e for e in trace if "error" in e]
    parts = split_calls(trace)
    replays = [c for c in range(calls) if any("replay" in e for e in parts[c])]
    assert replays == [2, 3] + list(range(swap + 2, calls)), replays
    # The first graph was kept until the model closed (nothing it holds went
    # stale) but no longer matched: the parameters are at other addresses.
    assert not [e for c in ["set_adapter", *range(calls - 1)] for e in parts[c]
                if "graph_destroyed" in e]
    for c in range(swap + 3, calls):
        assert without_graph_tag(parts[c]) == without_graph_tag(parts[swap + 2]), c
    assert (canonical(without_graph_tag(parts[swap + 2]))
            == canonical(without_graph_tag(parts[swap + 1])))
    assert len([e for e in trace if "nodes" in e]) == 2


def test_run_on_device_stages_nothing_and_replays(artifacts, tmp_path):
    """run_on_device on DLPack tensors in device memory (the fake's, as a
    PyTorch CUDA tensor's would be): the kernels read the caller's input
    and write its output where they are, nothing is allocated or copied
    for them, and the same tensors each call replay from a CUDA graph. Bad
    buffers are refused before anything runs, each with its reason."""
    calls = 6
    trace = tmp_path / "trace.jsonl"
    proc = subprocess.run([sys.executable, str(CHILD), "run-on-device", str(artifacts["f32"]),
                           str(INPUT), str(calls)],
                          capture_output=True, text=True, timeout=600, env=fake_env(trace))
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr[-4000:]
    result = json.loads(proc.stdout.splitlines()[-2])
    entries = [json.loads(line) for line in trace.read_text().splitlines()]
    parts = split_calls(entries)
    # The caller's buffers are the two allocations made after the load.
    x, y = [e["alloc"] for e in parts["load"] if "alloc" in e][-2:]
    for c in range(calls):
        # The kernels take the caller's buffers themselves, not staging
        # copies of them; from the second call on nothing is allocated.
        params = {p for e in launches(parts[c]) for p in e["params"]}
        assert f"a{x}+0" in params and f"a{y}+0" in params, c
        assert c == 0 or not [e for e in parts[c] if "alloc" in e], c
    replays = [c for c in range(calls) if any("replay" in e for e in parts[c])]
    assert replays == list(range(2, calls)), replays
    # Nothing comes down to the host.
    counts = next(e["calls"] for e in reversed(entries) if "calls" in e)
    assert counts.get("cuMemcpyDtoH", 0) == 0, counts
    # DLPack's stream 1 (the legacy default stream) for every tensor.
    assert set(result["streams"]) == {1}, result["streams"]
    errors = result["errors"]
    assert errors["host_array"] == ("input 'input_ids' is on DLPack device (1, 0); the "
                                    "model runs on CUDA device 0 (2, 0)")
    assert errors["host_address"].startswith("input 'input_ids' (i64[1x8]): 0x")
    assert errors["host_address"].endswith(
        " is not memory the CUDA driver knows of (a host address, or freed)")
    assert errors["unaligned"].startswith("input 'input_ids' (i64[1x8]): 0x")
    assert errors["unaligned"].endswith(
        " is not 256-byte aligned, as the model's own buffers are (a view into "
        "another tensor? pass a tensor of its own)")
    assert errors["short"].startswith("output 'logits' (f32[1x8x128]): 4096 bytes from 0x")
    assert errors["short"].endswith(
        " run past the end of its allocation (64 bytes, starting 0 bytes before it)")
    assert errors["overlap"] == "output 'logits' overlaps input 'input_ids'"
    assert not [e for e in entries if "error" in e]


def test_asking_for_graphs_without_the_block_cache_fails_the_load(artifacts, tmp_path):
    """cuda_graphs=True where graphs cannot be had is an error at load, not
    a note on stderr as for the variable."""
    proc, trace = run_on_fake(tmp_path, artifacts["f32"], calls=1,
                              env={"CHILD_CUDA_GRAPHS": "1", "LORA_CUDA_CACHING": "0"})
    assert proc.returncode == 3, proc.stdout + proc.stderr[-4000:]
    assert ("LoraOptError: " + str(artifacts["f32"] / "manifest.json") +
            ": target 'cuda': CUDA graphs were asked for, but LORA_CUDA_CACHING=0 "
            "turns off the block cache that graphs replay from") in proc.stdout, proc.stdout
    assert not [e for e in trace if "alloc" in e or "launch" in e or "error" in e]


def test_two_models_replay_graphs_in_threads_and_after_an_unload(artifacts, tmp_path):
    """Two models with graphs in one process: each replays on its own stream
    from blocks the other cannot take, in two threads at once, and the one
    left open still replays after the other closed (its blocks given back to
    the driver)."""
    entries = run_two_models(tmp_path, artifacts, "two-models", LORA_CUDA_GRAPHS="1")
    assert len([e for e in entries if "nodes" in e]) == 2
    after = split_calls(entries)["closed"]
    assert [e for e in after if "replay" in e], "the model left open did not replay"
    assert [e for e in after if "free" in e], "the closed model's blocks stayed"


# LORA_FAKE_CUDA_REUSE=1: a freed allocation's addresses go to the next of
# its size, as a driver's do (the model loaded again gets the closed one's),
# which the caches keyed by address (graphs, tensor maps, constants) must
# survive.
@pytest.mark.parametrize("reuse", ["0", "1"])
def test_a_capture_beside_other_threads_work(artifacts, tmp_path, reuse):
    """Graphs in two threads from the first calls: one model's calls are
    captured while the other thread calls, closes (unloading its kernels and
    freeing its memory, which a capture would refuse) and loads its model
    again. Nothing the driver refuses during a capture happens, so no call
    fails and no capture does."""
    entries = run_two_models(tmp_path, artifacts, "two-models-cold", LORA_CUDA_GRAPHS="1",
                             LORA_FAKE_CUDA_REUSE=reuse)
    assert [e for e in entries if "replay" in e]
    assert bool([e for e in entries if "reuses" in e]) == (reuse == "1")


# The error reported is the call's first: later ones follow from it (every
# allocation after the first that fails fails too).
@pytest.mark.parametrize("name, fail, message", [
    ("f32", "cuLaunchKernel:5", "mgpuLaunchKernel: cuLaunchKernel failed with "
                                "CUDA_ERROR_LAUNCH_FAILED"),
    ("f32", "cuMemAlloc:30+", "mgpuMemAlloc: cuMemAlloc of 1024 bytes failed with "
                              "CUDA_ERROR_OUT_OF_MEMORY"),
    ("bf16", "cuTensorMapEncodeTiled:3", "cuTensorMapEncodeTiled failed with "
                                         "CUDA_ERROR_OUT_OF_MEMORY"),
])
def test_driver_errors_in_a_call_are_reported(artifacts, tmp_path, name, fail, message):
    proc, trace = run_on_fake(tmp_path, artifacts[name], calls=1,
                              env={"LORA_FAKE_CUDA_FAIL": fail})
    assert proc.returncode == 3, proc.stdout + proc.stderr[-4000:]
    assert "the compiled code failed on the CUDA device" in proc.stdout, proc.stdout
    assert message in proc.stdout, proc.stdout
    # Each failure was printed as it happened, the first among them.
    printed = [line for line in proc.stderr.splitlines() if line.startswith("lora_cuda_runtime: ")]
    assert printed and message in printed[0], printed[:3]
    # Nothing was launched after the failure: a kernel would have read what
    # was not set up (a null tensor map, a buffer not allocated).
    counts = next(e["calls"] for e in reversed(trace) if "calls" in e)
    failed_function, nth = fail.split(":")
    if failed_function == "cuLaunchKernel":
        assert counts["cuLaunchKernel"] == int(nth), counts
    elif failed_function == "cuTensorMapEncodeTiled":
        # The maps encoded are traced: the failed encode came after the
        # second traced one and before the third. The host code went on
        # encoding the maps of later kernels, but launched none of them.
        order = [e for e in trace if "tensor_map" in e or "launch" in e]
        maps = [i for i, e in enumerate(order) if "tensor_map" in e]
        assert len(maps) > int(nth), len(maps)
        assert not [e for e in order[maps[int(nth) - 1]:] if "launch" in e]


def test_out_of_memory_while_loading_is_reported(artifacts, tmp_path):
    proc, _ = run_on_fake(tmp_path, artifacts["f32"], calls=1,
                          env={"LORA_FAKE_CUDA_FAIL": "cuMemAlloc:3+"})
    assert proc.returncode == 3, proc.stdout + proc.stderr[-4000:]
    assert "cannot allocate" in proc.stdout and "CUDA_ERROR_OUT_OF_MEMORY" in proc.stdout


def test_a_module_the_driver_rejects_fails_the_load(artifacts, tmp_path):
    # The model library's constructors load its kernels; the load of the
    # model reports the driver's error (and not, in the first call, the
    # launches that then have no kernel).
    proc, trace = run_on_fake(tmp_path, artifacts["f32"], calls=1,
                              env={"LORA_FAKE_CUDA_FAIL": "cuModuleLoadData:2"})
    assert proc.returncode == 3, proc.stdout + proc.stderr[-4000:]
    assert "cannot load the kernels of" in proc.stdout, proc.stdout
    assert ("mgpuModuleLoad: cuModuleLoadData failed with CUDA_ERROR_OUT_OF_MEMORY"
            in proc.stdout), proc.stdout
    assert not launches(trace)


def test_a_driver_without_devices_is_reported(artifacts, tmp_path):
    proc, _ = run_on_fake(tmp_path, artifacts["f32"], calls=1,
                          env={"LORA_FAKE_CUDA_DEVICES": "0"})
    assert proc.returncode == 3, proc.stdout + proc.stderr[-4000:]
    assert "target 'cuda'" in proc.stdout and "CUDA_ERROR_NO_DEVICE" in proc.stdout


#===------------------------------------------------------------------------===#
# The fake's own checks: each fails a call the driver would fail. They run in
# a child too: a libcuda.so.1 loaded here would be the driver of every later
# test in this process.
#===------------------------------------------------------------------------===#

def test_runtime_launches_clusters_on_the_fake_driver(tmp_path):
    """The runtime's cluster launch (cuLaunchKernelEx), which the tiny models
    do not reach (their tiles are too narrow for multicast)."""
    trace = tmp_path / "trace.jsonl"
    env = fake_env(trace)
    proc = subprocess.run([sys.executable, str(CHILD), "runtime-clusters",
                           str(BUILD / "lib" / "liblora_cuda_runtime.so"), str(PTXAS),
                           str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr[-4000:]


@pytest.mark.parametrize("check", ["launches", "memory", "graphs"])
def test_fake_driver_checks(tmp_path, check):
    proc = subprocess.run([sys.executable, str(CHILD), f"check-{check}", str(FAKE_DIR),
                           str(PTXAS), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr[-4000:]
