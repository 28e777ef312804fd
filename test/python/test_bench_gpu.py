"""bench/gpu: what can be checked without a GPU.

- the MLIR string decoder (bytes 0..255 round trip), the ELF reader, the
  tensormap arguments, the case selection;
- prepare.py and run.py --dry-run against a fake lora-opt (always), and
  against the real one for one small case plus the whole-model step
  (lora-compile --target=cuda of examples/tiny_llama.onnx, the CPU reference;
  skipped when the build has no --lora-generate-cuda-kernels or ptxas is
  missing), and the worker's model job on that model's CPU artifact;
- run.py's worker on the CPU with a fake CUDA driver that carries out each
  kernel from the tensormaps it is launched with (the pointer plumbing, the
  reference and the report);
- run.py's watchdog with a fake worker that crashes and hangs.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("LORA_BUILD_DIR", ROOT / "build"))
GPU_DIR = ROOT / "bench" / "gpu"
sys.path.insert(0, str(GPU_DIR))

import lora_abi  # noqa: E402
import prepare  # noqa: E402
import run as bench_run  # noqa: E402


# --- MLIR strings --------------------------------------------------------------

@pytest.mark.parametrize("backslash_as_hex", [False, True])
def test_unescape_round_trips_every_byte(backslash_as_hex):
    data = bytes(range(256)) + b'\\\\"\\5C\\n"' + bytes(range(255, -1, -1))
    text = lora_abi.mlir_escape(data, backslash_as_hex=backslash_as_hex)
    assert '"' not in text and all(0x20 <= ord(c) <= 0x7E for c in text)
    assert lora_abi.mlir_unescape(text) == data
    # Inside a printed op, scan_string finds the end of the literal.
    line = f'x = "{text}", y = "z"'
    body, end = lora_abi.scan_string(line, line.index('"'))
    assert body == text and line[end:] == ', y = "z"'


def test_unescape_lexer_forms_and_errors():
    assert lora_abi.mlir_unescape(r'a\"b\n\t\\\0A\22\5c') == b'a"b\n\t\\\n"\\'
    for bad in ("\\", "\\q1", "\\4"):
        with pytest.raises(ValueError):
            lora_abi.mlir_unescape(bad)


def make_elf(symbols: list[str], payload: bytes = bytes(range(256))) -> bytes:
    """A minimal little-endian ELF64 with a symbol table naming `symbols` and a
    section holding `payload`."""
    shstr = b"\0.shstrtab\0.strtab\0.symtab\0.data\0"
    strtab = b"\0" + b"".join(s.encode() + b"\0" for s in symbols)
    syms = [b"\0" * 24]
    pos = 1
    for s in symbols:
        syms.append(struct.pack("<IBBHQQ", pos, 0x12, 0, 5, 0, 0))
        pos += len(s) + 1
    symtab = b"".join(syms)
    blobs = [shstr, strtab, symtab, payload]
    offsets, off = [], 64
    for b in blobs:
        offsets.append(off)
        off += len(b)
    shoff = (off + 7) & ~7
    body = b"".join(blobs).ljust(shoff - 64, b"\0")
    sh = [b"\0" * 64]
    # name, type, flags, addr, offset, size, link, info, align, entsize
    sh.append(struct.pack("<IIQQQQIIQQ", 1, 3, 0, 0, offsets[0], len(shstr), 0, 0, 1, 0))
    sh.append(struct.pack("<IIQQQQIIQQ", 11, 3, 0, 0, offsets[1], len(strtab), 0, 0, 1, 0))
    sh.append(struct.pack("<IIQQQQIIQQ", 19, 2, 0, 0, offsets[2], len(symtab), 2, 1, 8, 24))
    sh.append(struct.pack("<IIQQQQIIQQ", 27, 1, 3, 0, offsets[3], len(payload), 0, 0, 1, 0))
    header = (b"\x7fELF" + bytes([2, 1, 1, 0x33, 7]) + b"\0" * 7
              + struct.pack("<HHIQQQIHHHHHH", 2, 190, 1, 0, 0, shoff, 0x5a0590, 64, 56,
                            0, 64, len(sh), 1))
    assert len(header) == 64
    return header + body + b"".join(sh)


def test_elf_symbols():
    elf = make_elf(["lora_down", "lora_linear"])
    assert lora_abi.elf_symbols(elf) == ["lora_down", "lora_linear"]
    with pytest.raises(ValueError, match="truncated"):
        lora_abi.elf_symbols(elf[:-10])
    with pytest.raises(ValueError, match="not an ELF"):
        lora_abi.elf_symbols(b"\0" + elf)


# --- the ABI -------------------------------------------------------------------

def fake_abis(case: dict, variants: bool = False, recompute: bool = False,
              fused: bool = False, b_grad: bool = False,
              a_grad: bool = False) -> list[dict]:
    """The ABIs lib/Target/CUDA/GemmTiling.cpp gives (getGemmKernelParams,
    getGemmKernelAbi), in launch order: gpu.module lora_kernels_0, and for a
    grad case the backward's lora_kernels_1, which reads the forward's t
    (with `recompute`, a lora_down of its own computes ts). With `variants`,
    the forward's lora_linear is 128x256 from 129 rows and lora_linear_64x64
    below. With `fused` (fuse-lora-down), lora_linear computes t and
    lora_input_grad dt: no lora_down, no lora_t_grad; with `b_grad` too
    (fuse-lora-b-grad), lora_input_grad also adds dBᵀ into its db param, an
    f32 [N, r] accumulator, from ts: no lora_b_grad; with `a_grad` too
    (fuse-lora-a-grad), it also adds dA into its da param, an f32 [K, r]
    accumulator, from its xa param (x): no lora_a_grad."""
    K, N, r = case["K"], case["N"], case["r"]

    def kernel(kind, tile_m, tile_n, params, name=None, module="lora_kernels_0", **layout):
        consumers = tile_m // 64
        return dict(kind=kind, module=module, name=name or kind,
                    block=[128 * (consumers + 1), 1, 1],
                    dynamic_smem=197632 if tile_m == 128 else 99328, tile=[tile_m, tile_n],
                    stages=4, k=K, n=N if kind != "lora_down" else r, rank=r or 0,
                    scale=case["scale"] if kind == "lora_down" else 1.0, params=params,
                    **layout)

    def p(role, dims, box, swizzle, dtype="bf16"):
        # The swizzled maps are the loaded operands: 256 B L2 promotion.
        return dict(role=role, dtype=dtype, dims=dims, box=box, swizzle=swizzle,
                    l2_promotion=256 if swizzle else 0)

    def down(module="lora_kernels_0"):
        return kernel("lora_down", 64, 64, [
            p("x", ["M", K], [64, 64], 128), p("a", [K, r], [64, 64], 128),
            p("t", ["M", r], [64, r], 0)], module=module)

    if case["op"] == "bmm":
        t = case["transposed"]
        return [kernel("matmul", 128, 128, [
            p("x", ["B", "M", K], [1, 128, 64], 128),
            p("w", ["B", N, K] if t else ["B", K, N], [1, 128, 64] if t else [1, 64, 64], 128),
            p("y", ["B", "M", N], [1, 64, 128], 0)], batched=True, transposed_b=t)]
    if case["op"] == "matmul":
        return [kernel("matmul", 128, 256, [
            p("x", ["M", K], [128, 64], 128), p("w", [K, N], [64, 64], 128),
            p("y", ["M", N], [64, 256], 0)])]
    def linear(tile_m, tile_n, **kw):
        # A fused one reads A in [64 x 16] slices and stores t from 64-row
        # boxes.
        a = [p("a", [K, r], [64, 16], 32)] if fused else []
        t_box = [64 if fused else tile_m, 64]
        return kernel("lora_linear", tile_m, tile_n, [
            p("x", ["M", K], [tile_m, 64], 128), p("w", [K, N], [64, 64], 128), *a,
            p("t", ["M", r], t_box, 128), p("b", [r, N], [64, 64], 128),
            p("y", ["M", N], [64, tile_n], 0)], fuse_down=fused, **kw)

    forward = ([] if fused else [down()]) + [linear(128, 256)]
    if variants:
        forward[-1].update(kernel="lora_linear", rows=[129, None])
        forward.append(linear(64, 64, name="lora_linear_64x64", kernel="lora_linear",
                              rows=[1, 128]))
    if case["op"] == "lora":
        return forward
    bwd = "lora_kernels_1"
    # dx = g·Wᵀ + dt·Aᵀ; fused, it computes dt = scale·g·Bᵀ from B's
    # [16 x 64] slices (K-major, 128B-swizzled).
    # With dB: ts in [128 x 16] boxes, dBᵀ's [64 x 16] f32 parts reduce-added.
    input_grad = kernel("lora_linear", 128, 256, [
        p("x", ["M", N], [128, 64], 128), p("w", [K, N], [256, 64], 128),
        *([p("a", [r, N], [16, 64], 128)] if fused else []),
        p("t", ["M", r], [64 if fused else 128, 64], 128), p("b", [K, r], [256, 64], 128),
        *([p("ts", ["M", r], [128, 16], 32), p("db", [N, r], [64, 16], 0, "f32")]
          if b_grad else []),
        # With dA: x's block of the dx tile in [128 x 64] boxes, dA's
        # [64 x 16] f32 parts reduce-added.
        *([p("xa", ["M", K], [128, 64], 128), p("da", [K, r], [64, 16], 0, "f32")]
          if a_grad else []),
        p("y", ["M", K], [64, 256], 0)], "lora_input_grad", bwd, transposed_b=True,
        fuse_down=fused, **({"fuse_b_grad": True} if b_grad else {}),
        **({"fuse_a_grad": True} if a_grad else {}))
    t_grad = [] if fused else [kernel("lora_down", 64, 64, [
        p("x", ["M", N], [64, 64], 128), p("a", [r, N], [64, 64], 128),
        p("t", ["M", r], [64, r], 0)], "lora_t_grad", bwd, transposed_b=True)]
    b_grad_kernel = [] if b_grad else [kernel("matmul", 64, 64, [
        p("x", ["M", r], [64, 64], 128), p("w", ["M", N], [64, 64], 128),
        p("y", [r, N], [64, 64], 0)], "lora_b_grad", bwd, m=r, transposed_a=True,
        index_params=["K"])]
    a_grad_kernel = [] if a_grad else [kernel("matmul", 64, 64, [
        p("x", ["M", K], [64, 64], 128), p("w", ["M", r], [64, 64], 128),
        p("y", [K, r], [64, 64], 0)], "lora_a_grad", bwd, m=K, transposed_a=True,
        index_params=["K"])]
    return forward + ([down(bwd)] if recompute else []) + ([input_grad] if fused else []) \
        + t_grad + b_grad_kernel + a_grad_kernel + ([] if fused else [input_grad])


def test_tensormap_args_and_launch_plan():
    case = lora_abi.parse_case_spec("4096x14336:8")[0]
    down, linear = fake_abis(case)
    assert lora_abi.kernel_tensors(case, [down, linear]) == [
        dict(x="x", a="a", t="t"), dict(x="x", w="w", t="t", b="b", y="y")]
    assert lora_abi.check_kernel(down, case, dict(x="x", a="a", t="t")) == []
    assert lora_abi.check_kernel(linear, case, dict(x="x", w="w", t="t", b="b", y="y")) == []
    x = lora_abi.tensormap_args(linear["params"][0], 1000, 0x10000)
    assert x["dataType"] == 9 and x["rank"] == 2
    assert x["globalDim"] == [4096, 1000] and x["globalStrides"] == [8192]
    assert x["boxDim"] == [64, 128] and x["elementStrides"] == [1, 1]
    # The ABI's L2 promotion (256 bytes: 3), and run.py's override of it.
    assert (x["interleave"], x["swizzle"], x["l2Promotion"], x["oobFill"]) == (0, 3, 3, 0)
    x0 = lora_abi.tensormap_args(linear["params"][0], 1000, 0x10000, l2_promotion=0)
    assert x0["l2Promotion"] == 0
    unstated = {k: v for k, v in linear["params"][0].items() if k != "l2_promotion"}
    assert lora_abi.tensormap_args(unstated, 1000, 0x10000)["l2Promotion"] == 0
    assert lora_abi.check_kernel(
        dict(linear, params=[dict(p, l2_promotion=96) for p in linear["params"]]), case,
        dict(x="x", w="w", t="t", b="b", y="y"))[0] == "x: l2_promotion 96"
    t_out = lora_abi.tensormap_args(down["params"][2], 1000, 0x10000)
    assert t_out["globalDim"] == [8, 1000] and t_out["globalStrides"] == [16]
    assert t_out["boxDim"] == [8, 64] and t_out["swizzle"] == 0
    bias = lora_abi.tensormap_args(dict(role="bias", dtype="f16", dims=[14336],
                                        box=[256], swizzle=0), 7, 0x10000)
    assert (bias["dataType"], bias["globalDim"], bias["globalStrides"]) == (6, [14336], [])
    assert lora_abi.launch_plan(linear, 1000) == dict(grid=[56, 8, 1], block=[384, 1, 1],
                                                      smem=197632, index=[])
    assert lora_abi.launch_plan(down, 1000)["grid"] == [1, 16, 1]
    # A split lora_down: its cluster's CTAs along x, in a plain launch.
    assert lora_abi.launch_plan(dict(down, splits=4), 1000)["grid"] == [4, 16, 1]
    # A multicast kernel: pairs of row tiles along y, rounded up to a whole
    # pair (1000 rows: 8 tiles of 128, 4 pairs; 1025: 9 tiles, 5 pairs).
    # A lora_linear that computes t itself reads A and has no lora_down; one
    # that does not still needs its lora_down.
    fused = dict(linear, fuse_down=True, params=[
        dict(role="a", dtype="bf16", dims=[4096, 8], box=[64, 16], swizzle=32,
             l2_promotion=256), *linear["params"]])
    assert lora_abi.check_kernel(fused, case, dict(x="x", w="w", a="a", t="t", b="b",
                                                   y="y")) == []
    assert any("no 'a' param" in e for e in lora_abi.check_kernel(
        dict(linear, fuse_down=True), case, dict(x="x", w="w", t="t", b="b", y="y")))
    assert lora_abi.launch_order(case, [fused]) == [fused]
    with pytest.raises(ValueError, match="expected"):
        lora_abi.launch_order(case, [linear])
    paired = dict(linear, multicast=2)
    assert lora_abi.check_kernel(paired, case, dict(x="x", w="w", t="t", b="b", y="y")) == []
    assert lora_abi.launch_plan(paired, 1000)["grid"] == [56, 8, 1]
    assert lora_abi.launch_plan(paired, 1025)["grid"] == [56, 10, 1]
    assert any("multicast" in e for e in lora_abi.check_kernel(
        dict(down, multicast=2), case, dict(x="x", a="a", t="t")))
    # A persistent kernel: one CTA per tile (56 x 8 at 1000 rows) up to its
    # CTA count and the GPU's SMs, M as its index param.
    walking = dict(linear, persistent=132, index_params=["M"])
    assert lora_abi.launch_plan(walking, 1000) == dict(
        grid=[132, 1, 1], block=[384, 1, 1], smem=197632, index=[1000])
    assert lora_abi.launch_plan(walking, 1000, sms=114)["grid"] == [114, 1, 1]
    assert lora_abi.launch_plan(walking, 100, sms=114)["grid"] == [56, 1, 1]
    assert lora_abi.launch_plan(dict(walking, persistent=64), 1000,
                                sms=132)["grid"] == [64, 1, 1]
    assert any("multicast" in e for e in lora_abi.check_kernel(
        dict(linear, multicast=4), case, dict(x="x", w="w", t="t", b="b", y="y")))
    # The limits of cuTensorMapEncodeTiled are enforced.
    with pytest.raises(ValueError, match="swizzle"):
        lora_abi.tensormap_args(dict(role="x", dtype="bf16", dims=["M", 4096],
                                     box=[128, 128], swizzle=128), 10, 0)
    with pytest.raises(ValueError, match="aligned"):
        lora_abi.tensormap_args(linear["params"][0], 10, 8)
    with pytest.raises(ValueError, match="globalStrides"):
        lora_abi.tensormap_args(dict(role="t", dtype="bf16", dims=["M", 4], box=[64, 4],
                                     swizzle=0), 10, 0)
    bad = json.loads(json.dumps(linear))
    bad["params"][1]["dims"] = [4096, 4096]
    assert any("w: dims" in e for e in lora_abi.check_kernel(
        bad, case, lora_abi.kernel_tensors(case, [bad])[0]))


def test_batched_kernel_abi():
    """A bmm case (the attention's q·kᵀ): rank-3 maps with the batch "B"
    outermost, the grid's x over every matrix's column tiles."""
    case = lora_abi.parse_case_spec("32x128x2048:bmmt")[0]
    assert case == dict(id="bmm_32x128x2048_t", op="bmm", B=32, K=128, N=2048, r=None,
                        scale=None, dtype="bf16", transposed=True)
    assert [c["id"] for c in lora_abi.default_cases() if c["op"] == "bmm"] == [
        "bmm_32x128x2048_t", "bmm_32x2048x128", "bmm_32x128x2048_t_tile64"]
    (abi,) = fake_abis(case)
    tensors = lora_abi.kernel_tensors(case, [abi])[0]
    assert lora_abi.check_kernel(abi, case, tensors) == []
    x, w, y = (lora_abi.tensormap_args(p, 1000, 0x10000, 32) for p in abi["params"])
    assert x["rank"] == 3 and x["globalDim"] == [128, 1000, 32]
    assert x["globalStrides"] == [256, 256 * 1000] and x["boxDim"] == [64, 128, 1]
    assert w["globalDim"] == [128, 2048, 32] and w["boxDim"] == [64, 128, 1]
    assert y["globalDim"] == [2048, 1000, 32] and y["globalStrides"] == [4096, 4096 * 1000]
    assert lora_abi.launch_plan(abi, 1000, 32)["grid"] == [16 * 32, 8, 1]
    with pytest.raises(ValueError, match="batch size"):
        lora_abi.launch_plan(abi, 1000)
    assert lora_abi.bmm_flops(32, 128, 2048, 1000) == 2 * 32 * 1000 * 128 * 2048

    def errors(**change):
        return "; ".join(lora_abi.check_kernel(dict(abi, **change), case, tensors))
    assert "batched False in a bmm case" in errors(batched=False)
    assert "transposed_a/b False/False, expected False/True" in errors(transposed_b=False)
    assert "w: dims ['B', 128, 2048] != ['B', 2048, 128] (w)" in errors(
        params=[dict(p, dims=["B", 128, 2048]) if p["role"] == "w" else p
                for p in abi["params"]])


def test_grad_kernels_abi():
    """The backward's kernels: the tensors they bind, their transposed dims,
    a static output row count and the token count as an index param."""
    case = lora_abi.parse_case_spec("4096x1024:g16")[0]
    # A backward that recomputes ts binds it; one that reads the forward's
    # t binds t there.
    abis = fake_abis(case, recompute=True)
    assert lora_abi.launch_order(case, abis[::-1]) == abis
    bindings = lora_abi.kernel_tensors(case, abis)
    assert [b[lora_abi.OUTPUT_ROLE[a["kind"]]] for a, b in zip(abis, bindings)] == [
        "t", "y", "ts", "dt", "db", "da", "dx"]
    assert bindings[4]["x"] == "ts"
    for abi, tensors in zip(abis, bindings):
        assert lora_abi.check_kernel(abi, case, tensors) == [], abi["name"]
    # The two lora_down are told apart by their gpu.module: the forward's
    # twice is two variants for the same rows, and no backward one.
    twice = abis[:2] + abis[:1] + abis[3:]
    assert "variants must cover every row count once" in "; ".join(
        lora_abi.check_row_variants(twice))
    with pytest.raises(ValueError, match="one variant each"):
        lora_abi.kernels_at(dict(case, kernels=twice), 100)
    with pytest.raises(ValueError, match="neither lora_linear nor lora_input_grad"):
        lora_abi.kernel_tensors(case, [dict(abis[2], module="lora_kernels_2")] + abis)
    abis = fake_abis(case)
    assert lora_abi.launch_order(case, abis[::-1]) == abis
    bindings = lora_abi.kernel_tensors(case, abis)
    assert [b[lora_abi.OUTPUT_ROLE[a["kind"]]] for a, b in zip(abis, bindings)] == [
        "t", "y", "dt", "db", "da", "dx"]
    assert bindings[3] == dict(x="t", w="g", y="db")
    for abi, tensors in zip(abis, bindings):
        assert lora_abi.check_kernel(abi, case, tensors) == [], abi["name"]
    # A forward without its lora_down is an error, unless its lora_linear
    # computes t itself (fuse-lora-down).
    with pytest.raises(ValueError, match="expected"):
        lora_abi.launch_order(case, abis[1:])
    fused = [dict(abis[1], fuse_down=True)] + abis[2:]
    assert lora_abi.launch_order(case, fused[::-1]) == fused
    assert lora_abi.kernel_tensors(case, fused)[0]["a"] == "a"
    # Both fused: lora_input_grad computes dt from B (its a) where
    # lora_t_grad would, before lora_a_grad reads dt.
    fused = fake_abis(case, fused=True)
    assert [lora_abi.kernel_name(k) for k in lora_abi.launch_order(case, fused[::-1])] == [
        "lora_linear", "lora_input_grad", "lora_b_grad", "lora_a_grad"]
    fused_bindings = lora_abi.kernel_tensors(case, fused)
    assert fused_bindings[1] == dict(x="g", w="w", a="b", t="dt", b="a", y="dx")
    assert [lora_abi.written_roles(k) for k in fused] == [
        ("y", "t"), ("y", "t"), ("y",), ("y",)]
    for abi, tensors in zip(fused, fused_bindings):
        assert lora_abi.check_kernel(abi, case, tensors) == [], abi["name"]
    # A backward that computes dt itself and launches lora_t_grad too.
    with pytest.raises(ValueError, match="expected"):
        lora_abi.launch_order(case, fused + abis[2:3])
    # fuse-lora-b-grad too: lora_input_grad reads ts (the forward's t) and
    # reduce-adds dBᵀ into dbt, an f32 [N, r] accumulator; no lora_b_grad.
    b_grad = fake_abis(case, fused=True, b_grad=True)
    assert [lora_abi.kernel_name(k) for k in lora_abi.launch_order(case, b_grad[::-1])] == [
        "lora_linear", "lora_input_grad", "lora_a_grad"]
    b_grad_bindings = lora_abi.kernel_tensors(case, b_grad)
    assert b_grad_bindings[1] == dict(x="g", w="w", a="b", t="dt", b="a", ts="t", db="dbt",
                                      y="dx")
    assert [lora_abi.written_roles(k) for k in b_grad] == [
        ("y", "t"), ("y", "t", "db"), ("y",)]
    assert [lora_abi.accumulated_roles(k) for k in b_grad] == [(), ("db",), ()]
    assert lora_abi.ACCUMULATED["dbt"] == ("db", True)
    assert lora_abi.tensor_dims("dbt", 4096, 1024, 16) == [1024, 16]
    for abi, tensors in zip(b_grad, b_grad_bindings):
        assert lora_abi.check_kernel(abi, case, tensors) == [], abi["name"]
    # With a recomputed ts, it binds that.
    assert lora_abi.kernel_tensors(case, b_grad[:1] + fake_abis(case, recompute=True)[2:3]
                                   + b_grad[1:])[2]["ts"] == "ts"
    # dBᵀ's map: f32 (CU_TENSOR_MAP_DATA_TYPE_FLOAT32), 64-byte rows, [64 x 16] boxes.
    db = lora_abi.tensormap_args(b_grad[1]["params"][6], 1000, 0x10000)
    assert (db["role"], db["dataType"], db["globalDim"], db["globalStrides"],
            db["boxDim"], db["swizzle"]) == ("db", 7, [16, 1024], [64], [16, 64], 0)
    # And lora_b_grad as well, or a lora_input_grad without dB: not the
    # kernels fuse-lora-b-grad generates.
    with pytest.raises(ValueError, match="expected"):
        lora_abi.launch_order(case, b_grad + [k for k in fused if k["name"] == "lora_b_grad"])

    def errors(abi, bindings, **change):
        """check_kernel's errors of `abi` with `change`, joined."""
        bad = dict(json.loads(json.dumps(abi)), **change)
        return "; ".join(lora_abi.check_kernel(bad, case, bindings))

    def b_grad_errors(**change):
        return errors(b_grad[1], b_grad_bindings[1], **change)
    assert "fuse_b_grad: only in a grad case's lora_input_grad that computes dt itself" in (
        b_grad_errors(fuse_down=False))
    assert "no 'ts' param" in b_grad_errors(params=[
        q for q in b_grad[1]["params"] if q["role"] != "ts"])
    assert "db: dtype 'bf16', expected f32" in b_grad_errors(params=[
        dict(q, dtype="bf16") if q["role"] == "db" else q for q in b_grad[1]["params"]])
    assert "db: dims [16, 1024] != [1024, 16] (dbt)" in b_grad_errors(params=[
        dict(q, dims=[16, 1024]) if q["role"] == "db" else q for q in b_grad[1]["params"]])
    # ts and db params on a lora_input_grad without fuse_b_grad.
    assert "unexpected role 'ts'" in "; ".join(lora_abi.check_kernel(
        dict(b_grad[1], fuse_b_grad=False), case, fused_bindings[1]))
    assert "fuse_b_grad: only" in "; ".join(lora_abi.check_kernel(
        dict(fused[0], fuse_b_grad=True), case, lora_abi.kernel_tensors(case, fused)[0]))
    # fuse-lora-a-grad too: lora_input_grad also reads x (its xa) and
    # reduce-adds dA into daf, an f32 [K, r] accumulator (dA = daf, not
    # transposed); no lora_a_grad, so the backward is that one kernel.
    a_grad = fake_abis(case, fused=True, b_grad=True, a_grad=True)
    assert [lora_abi.kernel_name(k) for k in lora_abi.launch_order(case, a_grad[::-1])] == [
        "lora_linear", "lora_input_grad"]
    a_grad_bindings = lora_abi.kernel_tensors(case, a_grad)
    assert a_grad_bindings[1] == dict(x="g", w="w", a="b", t="dt", b="a", ts="t", db="dbt",
                                      xa="x", da="daf", y="dx")
    assert [lora_abi.written_roles(k) for k in a_grad] == [("y", "t"), ("y", "t", "db", "da")]
    assert [lora_abi.accumulated_roles(k) for k in a_grad] == [(), ("db", "da")]
    assert lora_abi.ACCUMULATED["daf"] == ("da", False)
    assert lora_abi.tensor_dims("daf", 4096, 1024, 16) == [4096, 16]
    for abi, tensors in zip(a_grad, a_grad_bindings):
        assert lora_abi.check_kernel(abi, case, tensors) == [], abi["name"]
    # dA's map: f32, 64-byte rows, [64 x 16] boxes.
    da = lora_abi.tensormap_args(a_grad[1]["params"][8], 1000, 0x10000)
    assert (da["role"], da["dataType"], da["globalDim"], da["globalStrides"],
            da["boxDim"], da["swizzle"]) == ("da", 7, [16, 4096], [64], [16, 64], 0)
    # And lora_a_grad as well: not the kernels fuse-lora-a-grad generates.
    with pytest.raises(ValueError, match="expected"):
        lora_abi.launch_order(case, a_grad + [k for k in fused if k["name"] == "lora_a_grad"])

    def a_grad_errors(**change):
        return errors(a_grad[1], a_grad_bindings[1], **change)
    assert "fuse_a_grad: only in a lora_input_grad that computes dB too (fuse_b_grad)" in (
        a_grad_errors(fuse_b_grad=False))
    assert "no 'xa' param" in a_grad_errors(params=[
        q for q in a_grad[1]["params"] if q["role"] != "xa"])
    assert "da: dtype 'bf16', expected f32" in a_grad_errors(params=[
        dict(q, dtype="bf16") if q["role"] == "da" else q for q in a_grad[1]["params"]])
    assert "da: dims [16, 4096] != [4096, 16] (daf)" in a_grad_errors(params=[
        dict(q, dims=[16, 4096]) if q["role"] == "da" else q for q in a_grad[1]["params"]])
    assert "xa: dims ['M', 1024] != ['M', 4096] (x)" in a_grad_errors(params=[
        dict(q, dims=["M", 1024]) if q["role"] == "xa" else q for q in a_grad[1]["params"]])
    # xa and da params on a lora_input_grad without fuse_a_grad.
    assert "unexpected role 'xa'" in "; ".join(lora_abi.check_kernel(
        dict(a_grad[1], fuse_a_grad=False), case, b_grad_bindings[1]))
    # Not in a lora case's lora_linear.
    (lora,) = lora_abi.parse_case_spec("4096x1024:16")
    lora_linear = dict(a_grad[0], fuse_b_grad=True, fuse_a_grad=True,
                       params=a_grad[0]["params"] + a_grad[1]["params"][5:9])
    lora_errors = "; ".join(lora_abi.check_kernel(
        lora_linear, lora, {q["role"]: q["role"] for q in lora_linear["params"]}))
    assert "fuse_b_grad: only" in lora_errors and "unexpected role 'xa'" in lora_errors
    by_name = {a["name"]: a for a in abis[2:]}
    assert lora_abi.launch_plan(by_name["lora_b_grad"], 1000) == dict(
        grid=[16, 1, 1], block=[256, 1, 1], smem=99328, index=[1000])
    assert lora_abi.launch_plan(by_name["lora_a_grad"], 1000)["grid"] == [1, 64, 1]
    assert lora_abi.launch_plan(by_name["lora_input_grad"], 1000)["grid"] == [16, 8, 1]
    assert lora_abi.launch_plan(by_name["lora_t_grad"], 1000)["grid"] == [1, 16, 1]
    # dB's x is ts [M, r], read transposed: globalDim is innermost first.
    ts = lora_abi.tensormap_args(by_name["lora_b_grad"]["params"][0], 1000, 0x10000)
    assert ts["globalDim"] == [16, 1000] and ts["globalStrides"] == [32]

    def errors(name, **change):
        bad = json.loads(json.dumps(by_name[name]))
        bad.update(change)
        i = abis.index(by_name[name])
        return "; ".join(lora_abi.check_kernel(bad, case, bindings[i]))
    assert "transposed_a/b False/False, expected False/True" in errors(
        "lora_t_grad", transposed_b=False)
    assert "index_params [], expected ['K']" in errors("lora_b_grad", index_params=[])
    # Only a lora_down or a weight gradient (a matmul over the tokens, its
    # k "M") splits its K steps, over 1 to 8 CTAs.
    assert errors("lora_t_grad", splits=8) == ""
    assert "splits 9" in errors("lora_t_grad", splits=9)
    assert errors("lora_b_grad", splits=4, k="M") == ""
    assert "splits 2" in errors("lora_b_grad", splits=2, k=4096)
    assert "splits 2" in errors("lora_input_grad", splits=2)
    assert "m 'M', expected 4096" in errors("lora_a_grad", m="M")
    assert "kind matmul, expected lora_linear" in errors("lora_input_grad", kind="matmul")
    assert "w: dims [1024, 4096] != [4096, 1024] (w)" in errors(
        "lora_input_grad", params=[dict(p, dims=[1024, 4096]) if p["role"] == "w" else p
                                   for p in by_name["lora_input_grad"]["params"]])


def test_row_variants():
    """A kernel in tilings: each M launches the variant whose rows hold it;
    the variants must cover every M from 1 once."""
    case = lora_abi.parse_case_spec("4096x4096:16")[0]
    abis = fake_abis(case, variants=True)
    case = dict(case, kernels=abis)
    assert lora_abi.check_row_variants(abis) == []
    assert lora_abi.launch_order(case, abis[::-1]) == [abis[0], abis[2], abis[1]]
    for M, name in ((1, "lora_linear_64x64"), (128, "lora_linear_64x64"),
                    (129, "lora_linear"), (10**6, "lora_linear")):
        down, main = lora_abi.kernels_at(case, M)
        assert (down["name"], main["name"]) == ("lora_down", name)
    for abi in abis:
        assert lora_abi.check_kernel(abi, case, {p["role"]: p["role"]
                                                 for p in abi["params"]}) == []
    assert lora_abi.kernel_name(abis[2]) == "lora_linear"
    assert lora_abi.kernel_name({"name": "lora_down"}) == "lora_down"

    def with_rows(main, small):
        return [abis[0], dict(abis[1], rows=main), dict(abis[2], rows=small)]
    gap = with_rows([130, None], [1, 128])
    assert lora_abi.check_row_variants(gap) == [
        "lora_kernels_0/lora_linear: variant lora_linear is for rows [130, None], expected "
        "it from 129: the variants must cover every row count once"]
    with pytest.raises(ValueError, match=r"at M=129 the kernels \['lora_down'\]"):
        lora_abi.kernels_at(dict(case, kernels=gap), 129)
    overlap = with_rows([100, None], [1, 128])
    assert "expected it from 129" in lora_abi.check_row_variants(overlap)[0]
    with pytest.raises(ValueError, match="one variant each"):
        lora_abi.kernels_at(dict(case, kernels=overlap), 110)
    assert lora_abi.check_row_variants(with_rows([129, 4096], [1, 128])) == [
        "lora_kernels_0/lora_linear: no variant for 4097 rows or more"]
    assert "not a range from 1 up" in "; ".join(lora_abi.check_kernel(
        dict(abis[2], rows=[0, 128]), case, {p["role"]: p["role"] for p in abis[2]["params"]}))
    assert "is not [min, max or null]" in lora_abi.check_row_variants(
        [dict(abis[1], rows=[129])])[0]


def test_every_variant_is_checked():
    """The check's token counts: the ones asked for, and the first of each
    variant none of them launches (lora_down's by split count, K = 4096: from
    7361 rows all of K in one CTA, from 3649 over 2, below over 4)."""
    case = lora_abi.parse_case_spec("4096x4096:16")[0]
    down, main_big, main_small = fake_abis(case, variants=True)
    down = dict(down, kernel="lora_down")
    downs = [dict(down, rows=[7361, None]),
             dict(down, name="lora_down_split2", splits=2, rows=[3649, 7360]),
             dict(down, name="lora_down_split4", splits=4, rows=[1, 3648])]
    case = dict(case, kernels=downs + [main_big, main_small])
    assert lora_abi.check_row_variants(case["kernels"]) == []
    assert lora_abi.check_ms_for(case, [128, 384, 2048, 1000]) == [
        128, 384, 2048, 1000, 3649, 7361]
    assert lora_abi.check_ms_for(case, [128, 4000, 8192]) == [128, 4000, 8192]
    assert [k["name"] for k in lora_abi.kernels_at(case, 3649)] == [
        "lora_down_split2", "lora_linear"]
    # A case with one variant per kernel adds nothing.
    plain = lora_abi.parse_case_spec("4096x4096:16")[0]
    plain = dict(plain, kernels=fake_abis(plain))
    assert lora_abi.check_ms_for(plain, [2048, 128]) == [2048, 128]


def test_enum_values_match_cuda_h():
    header = Path("/usr/local/cuda/include/cuda.h")
    if not header.exists():
        pytest.skip("no /usr/local/cuda/include/cuda.h")
    text = header.read_text(errors="replace")

    def enum(name):
        body = re.search(r"typedef enum %s_enum \{(.*?)\}" % name, text, re.S).group(1)
        values, nxt = {}, 0
        for item in body.split(","):
            item = re.sub(r"/\*.*?\*/|//[^\n]*", "", item, flags=re.S).strip()
            if not item:
                continue
            key, _, val = item.partition("=")
            nxt = int(val, 0) if val.strip() else nxt
            values[key.strip()] = nxt
            nxt += 1
        return values
    dt = enum("CUtensorMapDataType")
    assert {k: v[0] for k, v in lora_abi.TENSORMAP_DTYPE.items()} == {
        "bf16": dt["CU_TENSOR_MAP_DATA_TYPE_BFLOAT16"],
        "f16": dt["CU_TENSOR_MAP_DATA_TYPE_FLOAT16"],
        "f32": dt["CU_TENSOR_MAP_DATA_TYPE_FLOAT32"]}
    sw = enum("CUtensorMapSwizzle")
    assert lora_abi.TENSORMAP_SWIZZLE == {0: sw["CU_TENSOR_MAP_SWIZZLE_NONE"],
                                          32: sw["CU_TENSOR_MAP_SWIZZLE_32B"],
                                          64: sw["CU_TENSOR_MAP_SWIZZLE_64B"],
                                          128: sw["CU_TENSOR_MAP_SWIZZLE_128B"]}
    assert enum("CUtensorMapInterleave")["CU_TENSOR_MAP_INTERLEAVE_NONE"] == 0
    l2 = enum("CUtensorMapL2promotion")
    assert lora_abi.TENSORMAP_L2_PROMOTION == {0: l2["CU_TENSOR_MAP_L2_PROMOTION_NONE"],
                                               64: l2["CU_TENSOR_MAP_L2_PROMOTION_L2_64B"],
                                               128: l2["CU_TENSOR_MAP_L2_PROMOTION_L2_128B"],
                                               256: l2["CU_TENSOR_MAP_L2_PROMOTION_L2_256B"]}
    assert enum("CUtensorMapFloatOOBfill")["CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE"] == 0
    assert re.search(r"CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES\s*=\s*8,", text)
    assert re.search(r"CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN\s*=\s*97,", text)
    assert re.search(r"#define CU_TENSOR_MAP_NUM_QWORDS 16\b", text)


def test_launch_structs_match_cuda_h(tmp_path):
    """run.py's ctypes CUlaunchAttribute and CUlaunchConfig (cuLaunchKernelEx
    with PDL) against a C compiler's layout of cuda.h's, and the attribute's
    id: a wrong offset would only show on a GPU."""
    header = Path("/usr/local/cuda/include/cuda.h")
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not header.exists() or not cc:
        pytest.skip("no cuda.h or C compiler")
    src = tmp_path / "layout.c"
    src.write_text(
        "#include <cuda.h>\n#include <stddef.h>\n#include <stdio.h>\n"
        "int main(void) {\n"
        "  printf(\"%zu %zu %zu %zu %zu %zu %zu %d\\n\", sizeof(CUlaunchAttribute),\n"
        "         offsetof(CUlaunchAttribute, value), sizeof(CUlaunchAttributeValue),\n"
        "         sizeof(CUlaunchConfig), offsetof(CUlaunchConfig, hStream),\n"
        "         offsetof(CUlaunchConfig, attrs), offsetof(CUlaunchConfig, numAttrs),\n"
        "         (int)CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION);\n"
        "  return 0;\n}\n")
    exe = tmp_path / "layout"
    subprocess.run([cc, f"-I{header.parent}", str(src), "-o", str(exe)], check=True)
    want = [int(v) for v in subprocess.run([str(exe)], check=True, capture_output=True,
                                            text=True).stdout.split()]
    attr, config = bench_run.launch_structs(ctypes)
    value = attr._fields_[2][1]
    assert [ctypes.sizeof(attr), attr.value.offset, ctypes.sizeof(value),
            ctypes.sizeof(config), config.hStream.offset, config.attrs.offset,
            config.numAttrs.offset,
            bench_run.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION] == want


def test_case_spec_flags_and_options():
    """`:f16`, `:bias` and `@opt+opt` in a spec (the emulator's small cases)."""
    (c,) = lora_abi.parse_case_spec("128x1024:16:f16:bias@fuse-lora-down+multicast=2")
    assert (c["id"], c["dtype"], c["bias"], c["pass_options"]) == (
        "lora_128x1024_r16_f16_bias_fuse_lora_down_multicast_2", "f16", True,
        "fuse-lora-down multicast=2")
    (m,) = lora_abi.parse_case_spec("64x1024:mm:f16")
    assert (m["id"], m["dtype"], "bias" in m) == ("matmul_64x1024_f16", "f16", False)
    assert lora_abi.parse_case_spec("64x64:mm:bf16")[0]["id"] == "matmul_64x64"
    (f32,) = lora_abi.parse_case_spec("64x1024:mm:f32out@persistent=2")
    assert (f32["id"], f32["dtype"], f32["out_dtype"]) == (
        "matmul_64x1024_f32out_persistent_2", "bf16", "f32")
    assert "-> tensor<?x1024xf32>" in prepare.matmul_mlir(64, 1024, "bf16", "fill", "f32")
    with pytest.raises(ValueError, match="only a matmul case has an f32 output"):
        lora_abi.parse_case_spec("64x64:16:f32out")
    with pytest.raises(ValueError, match="only a LoRA case takes a bias"):
        lora_abi.parse_case_spec("64x64:g16:bias")
    with pytest.raises(ValueError, match="bad case spec"):
        lora_abi.parse_case_spec("64x64:16:f32")
    assert "bias(%bias)" in prepare.lora_mlir(64, 128, 16, 2.0, "f16", bias=True)
    assert "bias" not in prepare.lora_mlir(64, 128, 16, 2.0, "f16").split("\n", 1)[1]


def test_case_selection():
    cases = lora_abi.default_cases()
    # 20 of the issue's shapes, 2 attention, 1 edge, 21 tuning
    assert len(cases) == 44
    # A tuning case: a default case with the pass's options overridden,
    # timed against its default case's baselines (no eager or torch.compile
    # of its own).
    tuning = [c for c in cases if c.get("pass_options")]
    assert [(c["id"], c["pass_options"]) for c in tuning] == [
        ("matmul_4096x1024_tile256", "tile-n=256"),
        ("lora_4096x4096_r16_stages7", "max-stages=7"),
        ("bmm_32x128x2048_t_tile64", "tile-n=64 max-stages=2"),
        ("lora_4096x4096_r16_mc2", "multicast=2"),
        ("matmul_4096x14336_mc2", "multicast=2"),
        ("matmul_4096x1024_mc2", "multicast=2"),
        ("grad_4096x4096_r16_mc2", "multicast=2"),
        ("lora_4096x4096_r16_fused", "fuse-lora-down"),
        ("lora_4096x4096_r16_fused_mc2", "fuse-lora-down multicast=2"),
        ("lora_4096x14336_r16_fused", "fuse-lora-down"),
        ("grad_4096x4096_r16_fused", "fuse-lora-down"),
        ("grad_4096x4096_r16_fused_db", "fuse-lora-down fuse-lora-b-grad"),
        ("grad_4096x4096_r16_fused_dadb", "fuse-lora-down fuse-lora-b-grad fuse-lora-a-grad"),
        ("grad_4096x4096_r16_fused_mc2", "fuse-lora-down multicast=2"),
        ("grad_4096x4096_r16_stages7", "max-stages=7"),
        ("matmul_4096x4096_de", "direct-epilogue"),
        ("lora_4096x4096_r16_fused_de", "fuse-lora-down direct-epilogue"),
        ("grad_4096x4096_r16_fused_de", "fuse-lora-down direct-epilogue"),
        ("matmul_4096x4096_pers", "persistent=132"),
        ("lora_4096x4096_r16_fused_pers", "fuse-lora-down persistent=132"),
        ("grad_4096x4096_r16_fused_pers", "fuse-lora-down persistent=132")]
    args = SimpleNamespace(time_ms=[2048], compile_mode="auto", only_correctness=False,
                           check_ms=[128])
    lora = lora_abi.parse_case_spec("4096x4096:16")[0]
    jobs = bench_run.timing_jobs([lora, tuning[1]], args)
    assert sorted((j["type"], j.get("case", "")) for j in jobs) == [
        ("compile", ""), ("cublas", ""), ("eager", ""),
        ("ours", "lora_4096x4096_r16"), ("ours", "lora_4096x4096_r16_stages7")]
    bmm = lora_abi.parse_case_spec("32x128x2048:bmmt")[0]
    jobs = bench_run.timing_jobs([bmm, tuning[2]], args)
    assert sorted((j["type"], j.get("case", "")) for j in jobs) == [
        ("cublas", ""), ("ours", "bmm_32x128x2048_t"), ("ours", "bmm_32x128x2048_t_tile64")]
    (grad_default,) = lora_abi.parse_case_spec("4096x4096:g16")
    jobs = bench_run.timing_jobs([grad_default, tuning[6]], args)
    assert sorted((j["type"], j.get("case", "")) for j in jobs) == [
        ("compile", ""), ("cublas", ""), ("eager", ""),
        ("ours", "grad_4096x4096_r16"), ("ours", "grad_4096x4096_r16_mc2")]
    assert [c["id"] for c in cases if c["op"] == "grad" and not c.get("pass_options")] == [
        "grad_4096x4096_r16", "grad_4096x14336_r16", "grad_14336x4096_r16",
        "grad_4096x1024_r16"]
    assert [c["id"] for c in lora_abi.parse_case_spec("1024x512:16,1024x512:mm,1024x512:g8")] == [
        "lora_1024x512_r16", "matmul_1024x512", "grad_1024x512_r8"]
    (grad,) = lora_abi.parse_case_spec("1024x512:g8")
    assert (grad["op"], grad["K"], grad["N"], grad["r"], grad["scale"]) == (
        "grad", 1024, 512, 8, 2.0)
    assert [c["id"] for c in lora_abi.parse_case_spec("4096x1024")] == [
        "lora_4096x1024_r8", "lora_4096x1024_r16", "lora_4096x1024_r64", "matmul_4096x1024",
        "grad_4096x1024_r16"]
    assert [c["id"] for c in lora_abi.select_cases(cases, "bmm_*")] == [
        "bmm_32x128x2048_t", "bmm_32x2048x128", "bmm_32x128x2048_t_tile64"]
    assert [c["id"] for c in lora_abi.select_cases(cases, "32x2048x128:bmm")] == [
        "bmm_32x2048x128"]
    for bad in ("4096*1024", "4096x1024:g", "4096x1024:r16", "32x128:bmm", "4x8x8:bmmx"):
        with pytest.raises(ValueError):
            lora_abi.parse_case_spec(bad)
    sel = lora_abi.select_cases(cases, "matmul_*,4096x14336:64")
    assert [c["id"] for c in sel] == ["matmul_4096x4096", "lora_4096x14336_r64",
                                      "matmul_4096x14336", "matmul_14336x4096",
                                      "matmul_4096x1024", "matmul_4096x1024_tile256",
                                      "matmul_4096x14336_mc2", "matmul_4096x1024_mc2",
                                      "matmul_4096x4096_de", "matmul_4096x4096_pers"]
    assert [c["id"] for c in lora_abi.select_cases(cases, "grad_4096x*,14336x4096:g16")] == [
        "grad_4096x4096_r16", "grad_4096x14336_r16", "grad_14336x4096_r16",
        "grad_4096x1024_r16", "grad_4096x4096_r16_mc2", "grad_4096x4096_r16_fused",
        "grad_4096x4096_r16_fused_db", "grad_4096x4096_r16_fused_dadb",
        "grad_4096x4096_r16_fused_mc2", "grad_4096x4096_r16_stages7",
        "grad_4096x4096_r16_fused_de", "grad_4096x4096_r16_fused_pers"]
    assert lora_abi.select_cases(cases, "4096x1024:g64") == []


# --- prepare.py and run.py --dry-run with a fake lora-opt --------------------------

FAKE_LORA_OPT = r'''
import json, re, sys
sys.path.insert(0, {gpu_dir!r}); sys.path.insert(0, {test_dir!r})
import lora_abi
from test_bench_gpu import fake_abis, make_elf
args = sys.argv[1:]
if "--help" in args:
    print("  --lora-generate-cuda-kernels   - the pass"); sys.exit(0)
if "--version" in args:
    print("fake lora-opt"); sys.exit(0)
src = open([a for a in args if not a.startswith("--")][0]).read()
m = re.search(r"func\.func @(lora_grad|lora|matmul)_(\d+)x(\d+)(?:_r(\d+))?", src)
r = int(m.group(4)) if m.group(4) else None
case = dict(op={{"lora_grad": "grad"}}.get(m.group(1), m.group(1)), K=int(m.group(2)),
            N=int(m.group(3)), r=r, scale=2.0 if r else None)
modules = {{}}
for abi in fake_abis(case):
    modules.setdefault(abi["module"], []).append(abi)
for module, abis in modules.items():
    if not any(a.startswith("--gpu-lower-to-nvvm-pipeline=") for a in args):
        print("gpu.module @%s {{" % module)
        for abi in abis:
            print('  gpu.func @%s(%%arg0: !llvm.ptr) kernel attributes {{lora.abi = "%s"}} {{'
                  % (abi["name"], lora_abi.mlir_escape(json.dumps(abi).encode())))
            print("  }}")
        print("}}")
    else:
        elf = make_elf([a["name"] for a in abis])
        note = r'"bin = \22x\\"'   # a string that mentions `bin = "` before the real one
        print('gpu.binary @%s  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", '
              'features = "+ptx80">, properties = {{note = ' % module + note
              + '}}, bin = "%s">]' % lora_abi.mlir_escape(elf))
'''


@pytest.fixture
def fake_lora_opt(tmp_path):
    path = tmp_path / "fake-lora-opt"
    path.write_text(f"#!{sys.executable}\n" + FAKE_LORA_OPT.format(
        gpu_dir=str(GPU_DIR), test_dir=str(Path(__file__).resolve().parent)))
    path.chmod(0o755)
    return path


def run_py(*args, **kw):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          **kw)


def test_prepare_and_dry_run_with_fake_lora_opt(tmp_path, fake_lora_opt, monkeypatch):
    if not prepare.find_ptxas():
        # prepare.py insists on ptxas (the real lora-opt needs it); the fake
        # does not, so give it one.
        ptxas = tmp_path / "bin" / "ptxas"
        ptxas.parent.mkdir()
        ptxas.write_text("#!/bin/sh\necho ptxas fake\n")
        ptxas.chmod(0o755)
        monkeypatch.setenv("PATH", f"{ptxas.parent}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "artifacts"
    (out / "model").mkdir(parents=True)          # from an earlier prepare: removed
    proc = run_py(GPU_DIR / "prepare.py", "--lora-opt", fake_lora_opt, "--out", out,
                  "--cases", "1024x1024:16,4096x1024:mm,1024x512:g16", "--no-model",
                  env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert not (out / "model").exists()
    manifest = json.loads((out / "kernels.json").read_text())
    assert [c["id"] for c in manifest["cases"]] == ["lora_1024x1024_r16", "matmul_4096x1024",
                                                    "grad_1024x512_r16"]
    lora = manifest["cases"][0]
    assert [k["kind"] for k in lora["kernels"]] == ["lora_down", "lora_linear"]
    assert lora["kernels"][0]["cubin"] == lora["kernels"][1]["cubin"]
    cubin = (out / lora["kernels"][0]["cubin"]).read_bytes()
    assert cubin == make_elf(["lora_down", "lora_linear"])
    assert manifest["provenance"]["lora_opt_version"] == "fake lora-opt"
    assert "lora.linear" in (out / lora["source"]).read_text()
    # The grad case: both gpu.modules, in launch order, one cubin each; the
    # backward reads the forward's t.
    grad = manifest["cases"][2]
    assert [lora_abi.kernel_label(k) for k in grad["kernels"]] == [
        "lora_kernels_0/lora_down", "lora_kernels_0/lora_linear",
        "lora_kernels_1/lora_t_grad", "lora_kernels_1/lora_b_grad",
        "lora_kernels_1/lora_a_grad", "lora_kernels_1/lora_input_grad"]
    assert [k["cubin"] for k in grad["kernels"]] == (
        ["grad_1024x512_r16.lora_kernels_0.cubin"] * 2
        + ["grad_1024x512_r16.lora_kernels_1.cubin"] * 4)
    assert (out / grad["kernels"][2]["cubin"]).read_bytes() == make_elf(
        ["lora_t_grad", "lora_b_grad", "lora_a_grad", "lora_input_grad"])
    assert "lora.linear_grad" in (out / grad["source"]).read_text()

    proc = run_py(GPU_DIR / "run.py", "--dry-run", "--artifacts", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "lora_linear (lora_linear): grid [4, 8, 1] block [384, 1, 1] smem 197632" in proc.stdout
    assert ("M=1000   lora_kernels_1/lora_b_grad (matmul): grid [8, 1, 1] block [256, 1, 1] "
            "smem 99328 index [1000]") in proc.stdout
    assert "    x=t   type 9 rank 2 dim [16, 1000] strides [32]" in proc.stdout
    assert "0 problems" in proc.stdout
    assert "model: " in proc.stdout and "not prepared" in proc.stdout
    proc = run_py(GPU_DIR / "run.py", "--dry-run", "--artifacts", out, "--cases", "matmul_*")
    assert proc.returncode == 0 and "lora_down" not in proc.stdout

    # Kernels out of launch order are a problem.
    grad["kernels"][2:4] = grad["kernels"][3:1:-1]
    (out / "kernels.json").write_text(json.dumps(manifest))
    proc = run_py(GPU_DIR / "run.py", "--dry-run", "--artifacts", out)
    assert proc.returncode == 1 and "grad_1024x512_r16: kernels not in launch order" in proc.stdout

    # A broken cubin is a problem the dry run reports.
    (out / lora["kernels"][0]["cubin"]).write_bytes(cubin[:100])
    proc = run_py(GPU_DIR / "run.py", "--dry-run", "--artifacts", out)
    assert proc.returncode == 1 and "truncated ELF" in proc.stdout


def test_prepare_fails_clearly_without_the_pass(tmp_path):
    fake = tmp_path / "lora-opt"
    fake.write_text("#!/bin/sh\necho '  --canonicalize'\n")
    fake.chmod(0o755)
    proc = run_py(GPU_DIR / "prepare.py", "--lora-opt", fake, "--out", tmp_path / "a",
                  "--cases", "1024x1024:16")
    assert proc.returncode == 2 and "no --lora-generate-cuda-kernels" in proc.stderr
    proc = run_py(GPU_DIR / "prepare.py", "--lora-opt", tmp_path / "missing",
                  "--out", tmp_path / "a")
    assert proc.returncode == 2 and "lora-opt not found" in proc.stderr


def test_run_without_gpu_exits_2(tmp_path):
    try:
        import torch
        if torch.cuda.is_available():
            pytest.skip("a GPU is here")
    except ImportError:
        pass
    out = tmp_path / "artifacts"
    out.mkdir()
    (out / "kernels.json").write_text(json.dumps(cpu_manifest(out, "256x512:16")))
    proc = run_py(GPU_DIR / "run.py", "--artifacts", out, "--out", tmp_path / "o")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--dry-run" in proc.stderr
    proc = run_py(GPU_DIR / "run.py", "--artifacts", tmp_path / "none")
    assert proc.returncode != 0 and "prepare.py" in proc.stderr


def test_profile_without_ncu_exits_2(tmp_path):
    """profile.sh says so when Nsight Compute is not installed (as here), and
    leaves no report."""
    if shutil.which("ncu") or list(Path("/opt/nvidia").glob("nsight-compute/*/ncu")):
        pytest.skip("ncu is here")
    proc = subprocess.run(["bash", str(GPU_DIR / "profile.sh")], capture_output=True,
                          text=True, env=dict(os.environ, OUT=str(tmp_path)))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "ncu not found" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_session_runs_profile_then_benchmark(tmp_path):
    """session.sh, the one device-tool call: the profile (its failure logged,
    not fatal), then run.sh, whose failure is the exit status."""
    if shutil.which("ncu") or list(Path("/opt/nvidia").glob("nsight-compute/*/ncu")):
        pytest.skip("ncu is here")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "events.log").write_text("x")
    proc = subprocess.run(["bash", str(GPU_DIR / "session.sh")], capture_output=True,
                          text=True, env=dict(os.environ, OUT=str(tmp_path),
                                              PYTHON=str(tmp_path / "no-python")))
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "profile.sh: exit 2" in proc.stdout
    assert "ncu not found" in (tmp_path / "profile.log").read_text()
    # The worker logs, packed for the device tool's 8 files.
    assert (tmp_path / "work.tgz").exists() and not (tmp_path / "work").exists()


# --- the real lora-opt -------------------------------------------------------------

def real_lora_opt_or_skip() -> str:
    lora_opt = BUILD / "bin" / "lora-opt"
    if not lora_opt.exists():
        pytest.skip(f"{lora_opt} is missing")
    helptext = subprocess.run([str(lora_opt), "--help"], capture_output=True,
                              text=True).stdout
    if "--lora-generate-cuda-kernels" not in helptext:
        pytest.skip("lora-opt has no --lora-generate-cuda-kernels")
    if not prepare.find_ptxas():
        pytest.skip("ptxas is missing")
    return str(lora_opt)


MODEL_WORKER = r'''
import json, sys
from pathlib import Path
from types import SimpleNamespace
sys.path.insert(0, {gpu_dir!r}); sys.path.insert(0, {test_dir!r})
import run
from test_bench_gpu import FakeDriver
run.DEVICE = "cpu"
run.MODEL_ARTIFACT = sys.argv[2]
art = Path(sys.argv[1])
w = run.Worker(json.loads((art / "kernels.json").read_text()), art,
               SimpleNamespace(compile_mode="auto"), driver=FakeDriver(2.0))
try:
    res = w.model(dict(type="model", dir=sys.argv[3]))
except Exception as e:
    res = dict(status="error", error=f"{{type(e).__name__}}: {{e}}")
print(json.dumps(res))
'''


def run_model_job(tmp_path, artifacts, which: str, model: str = "model") -> dict:
    """run.py's worker model job (in a child python: it imports the copied
    lora_opt package) on artifacts/<model>/<which>, with a fake kernel
    driver."""
    script = tmp_path / "model_worker.py"
    script.write_text(MODEL_WORKER.format(gpu_dir=str(GPU_DIR),
                                          test_dir=str(Path(__file__).resolve().parent)))
    env = {k: v for k, v in os.environ.items() if k != "LORA_OPT_LIB_DIR"}
    proc = run_py(script, artifacts, which, model, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_prepare_and_dry_run_with_lora_opt(tmp_path):
    lora_opt = real_lora_opt_or_skip()
    if not (BUILD / "bin" / "lora-compile").exists():
        pytest.skip("lora-compile is missing")
    np = pytest.importorskip("numpy")
    out = tmp_path / "artifacts"
    proc = run_py(GPU_DIR / "prepare.py", "--lora-opt", lora_opt, "--out", out,
                  "--cases", "1024x1024:16,1024x512:g16,4x64x96:bmmt")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = json.loads((out / "kernels.json").read_text())
    case, grad, bmm = manifest["cases"]
    # The batched matmul: one kernel from a tosa.matmul, rank-3 maps.
    assert (bmm["op"], bmm["B"], bmm["transposed"]) == ("bmm", 4, True)
    (bmm_kernel,) = bmm["kernels"]
    assert bmm_kernel["batched"] and bmm_kernel["transposed_b"]
    assert [p["dims"] for p in bmm_kernel["params"]] == [
        ["B", "M", 64], ["B", 96, 64], ["B", "M", 96]]
    assert (case["K"], case["N"], case["r"], case["scale"]) == (1024, 1024, 16, 2.0)
    # M is dynamic: lora_linear in two tilings, 128x128 from 1025 rows (8
    # column tiles x 9 row tiles, at least half of 132 SMs), 64x64 below.
    assert [(k["name"], k["kernel"], k["tile"], k["rows"]) for k in case["kernels"]] == [
        ("lora_down", "lora_down", [64, 64], [1, None]),
        ("lora_linear", "lora_linear", [128, 128], [1025, None]),
        ("lora_linear_64x64", "lora_linear", [64, 64], [1, 1024])]
    # The forward and backward: the generator's two gpu.modules, launch order.
    assert (grad["op"], grad["K"], grad["N"], grad["r"]) == ("grad", 1024, 512, 16)
    # The backward reads the forward's t: no lora_down of its own. The
    # weight gradients have 8 (dB, 16 x 512) and 16 (dA, 1024 x 16) tiles:
    # their tokens split over 4 CTAs from 4096, 2 from 2048.
    splits = ["", "_split2", "_split1"]
    assert [lora_abi.kernel_label(k) for k in grad["kernels"]] == [
        "lora_kernels_0/lora_down", "lora_kernels_0/lora_linear",
        "lora_kernels_0/lora_linear_64x64", "lora_kernels_1/lora_t_grad",
        *[f"lora_kernels_1/lora_b_grad{s}" for s in splits],
        *[f"lora_kernels_1/lora_a_grad{s}" for s in splits],
        "lora_kernels_1/lora_input_grad", "lora_kernels_1/lora_input_grad_64x64"]
    # N = 512 in the forward: 128x128 tiles from 2049 rows; dx has N = 1024.
    token_ranges = [[4096, None], [2048, 4095], [1, 2047]]
    assert [k["rows"] for k in grad["kernels"]] == [
        [1, None], [2049, None], [1, 2048], [1, None], *token_ranges, *token_ranges,
        [1025, None], [1, 1024]]
    assert [k.get("index_params") for k in grad["kernels"]] == [
        [], [], [], [], *[["K"]] * 6, [], []]
    assert [k.get("splits") for k in grad["kernels"]] == [
        1, 1, 1, 1, 4, 2, 1, 4, 2, 1, 1, 1]
    assert [lora_abi.kernel_label(k) for k in lora_abi.kernels_at(grad, 2048)] == [
        "lora_kernels_0/lora_down", "lora_kernels_0/lora_linear_64x64",
        "lora_kernels_1/lora_t_grad", "lora_kernels_1/lora_b_grad_split2",
        "lora_kernels_1/lora_a_grad_split2", "lora_kernels_1/lora_input_grad"]
    for c in (case, grad, bmm):
        for k, tensors in zip(c["kernels"], lora_abi.kernel_tensors(c, c["kernels"])):
            data = (out / k["cubin"]).read_bytes()
            assert data[:4] == b"\x7fELF"
            assert k["name"] in lora_abi.elf_symbols(data)
            assert lora_abi.check_kernel(k, c, tensors) == []
    proc = run_py(GPU_DIR / "run.py", "--dry-run", "--artifacts", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 problems" in proc.stdout
    # dA [1024, 16]: one column of tiles, the token count as the index param;
    # at 1000 tokens unsplit, at 2048 two CTAs a tile side by side along x.
    assert re.search(r"M=1000 +lora_kernels_1/lora_a_grad_split1 \(matmul\): grid \[1, 16, 1\] "
                     r".* index \[1000\]\n", proc.stdout), proc.stdout
    assert re.search(r"M=2048 +lora_kernels_1/lora_a_grad_split2 \(matmul\): grid \[2, 16, 1\] "
                     r".* index \[2048\]\n", proc.stdout), proc.stdout
    assert "files ok, the copied lora_opt imports" in proc.stdout
    # The LoRA case launches the variant for M: 64x64 tiles at 1000 rows,
    # 128x128 at 2048.
    assert re.search(r"M=1000 +lora_kernels_0/lora_linear_64x64 \(lora_linear\): "
                     r"grid \[16, 16, 1\] block \[256, 1, 1\]", proc.stdout), proc.stdout
    assert re.search(r"M=2048 +lora_kernels_0/lora_linear \(lora_linear\): "
                     r"grid \[8, 16, 1\] block \[384, 1, 1\]", proc.stdout), proc.stdout
    # 4 matrices of one column tile (N = 96), 8 row tiles of 128.
    assert re.search(r"M=1000 +lora_kernels_0/matmul \(matmul\): grid \[4, 8, 1\]",
                     proc.stdout), proc.stdout

    # The model step: the CUDA artifact, the runtime, the package, the reference.
    model = out / "model"
    assert not (out / "model.tmp").exists()
    for f in bench_run.MODEL_FILES:
        assert (model / f).exists(), f
    assert not (model / "lora_opt" / "_lib").exists()
    info = json.loads((model / "model.json").read_text())
    cuda = json.loads((model / "cuda" / "manifest.json").read_text())
    cpu = json.loads((model / "cpu" / "manifest.json").read_text())
    assert cuda["target"] == "cuda" and cpu["target"] == "cpu"
    assert cuda["arguments"] == cpu["arguments"]
    assert info["lora_compile_args"][-1] == "--target=cuda" and info["parameters"] == 8
    # The artifacts' host code ran on the fake driver, with and without graphs.
    preflight = info["host_preflight"]
    if not preflight.startswith("skipped"):
        assert "cuda 256 launches" in preflight and "cuda 4 of 6 calls replayed" in preflight \
            and "train_cuda 4 of 6 calls replayed" in preflight, preflight
    for lib in ("liblora_runtime.so", "liblora_cuda_runtime.so"):
        assert (model / "lib" / lib).read_bytes() == (BUILD / "lib" / lib).read_bytes()
    lora = {a["name"]: a for a in cuda["arguments"] if a["kind"] in ("lora_a", "lora_b")}
    with np.load(model / "lora_params.npz") as params:
        assert sorted(params.files) == sorted(lora)
        rng = np.random.default_rng(info["param_seed"])
        for a in cuda["arguments"]:
            if a["kind"] in ("lora_a", "lora_b"):
                want = (info["param_std"] * rng.standard_normal(a["shape"])).astype(np.float32)
                assert np.array_equal(params[a["name"]], want)
    logits = np.load(model / "cpu_logits.npy")
    assert logits.shape == (1, 8, 128) and logits.dtype == np.float32
    assert np.array_equal(np.load(model / "input_ids.npy"), np.load(ROOT / "examples" /
                                                                   "input_ids.npy"))
    # The LoRA parameters matter: the logits are not the base model's.
    base = np.load(ROOT / "examples" / "expected_logits.npy")
    assert np.abs(logits - base).max() > 10 * 1e-3 * max(1.0, np.abs(logits).max())
    assert info["lora_effect_max_abs"] == pytest.approx(
        float(np.abs(logits.astype(np.float64) - base).max()), rel=0.05, abs=1e-3)

    # The worker's model job, on the CPU artifact (same runtime, same code
    # path): matches the reference exactly and times the call. On the CUDA
    # artifact without a GPU it reports the runtime's error.
    res = run_model_job(tmp_path, out, "cpu")
    assert res["status"] == "PASS" and res["max_abs_diff"] == 0.0, res
    assert res["repeat_identical"] and res["n"] == 20 and res["median_us"] > 0
    assert res["parameters"] == 8 and res["target"] == "cpu"
    # The train step: the CPU train artifact repeats the reference exactly
    # (5 AdamW steps with dropout, then the eval loss, which is lower).
    train = res["train"]
    assert train["status"] == "PASS" and train["max_rel_diff"] == 0.0, train
    reference = json.loads((model / "train_reference.json").read_text())
    assert train["losses"] == reference["losses"] + [reference["eval_loss"]]
    assert reference["eval_loss"] < reference["losses"][0]
    assert train["n"] == 20 and train["median_us"] > 0
    # The same calls and steps loaded as with CUDA graphs (which a CPU
    # artifact has none of: load_with_graphs asks only of a CUDA one), bit
    # for bit.
    for graphs in (res["graphs"], train["graphs"]):
        assert graphs["status"] == "PASS" and graphs["identical"], graphs
        assert graphs["n"] == 20 and graphs["median_us"] > 0
    # And on PyTorch tensors through run_on_device (host ones for a CPU
    # artifact), the output bit for bit.
    device = res["graphs"]["device"]
    assert device["status"] == "PASS" and device["identical"] and device["device"] == "cpu"
    assert device["n"] == 20 and device["median_us"] > 0
    lines = bench_run.model_lines(dict(res, info=info))
    assert sum("with CUDA graphs: PASS" in line for line in lines) == 2, lines
    assert sum("with CUDA graphs on cpu tensors (run_on_device, no host copies): PASS, "
               "output bit for bit the direct one" in line for line in lines) == 1, lines
    train_cuda = json.loads((model / "train_cuda" / "manifest.json").read_text())
    assert train_cuda["target"] == "cuda" and train_cuda["train"]["dropout"]["rate"] == 0.1
    if not gpu_here():
        res = run_model_job(tmp_path, out, "cuda")
        assert res["status"] == "error" and "libcuda" in res["error"], res

    # The bf16 model: exported here, its reference the emulated CUDA target
    # (the kernels' call sites with their math in linalg); its CUDA artifact
    # runs every linear layer and the attention's matmuls in generated
    # kernels. LoRA parameters are bf16, stored as float32.
    bf16 = out / "model_bf16"
    for f in bench_run.MODEL_FILES:
        assert (bf16 / f).exists(), f
    info = json.loads((bf16 / "model.json").read_text())
    assert info["reference_target"] == "cuda-emulated" and info["parameters"] == 8
    assert (info["logits_tol"], info["train_tol"]) == (3e-2, 5e-3)
    cuda = json.loads((bf16 / "cuda" / "manifest.json").read_text())
    emulated = json.loads((bf16 / "cuda-emulated" / "manifest.json").read_text())
    assert emulated["target"] == "cuda-emulated"
    assert cuda["arguments"] == emulated["arguments"]
    assert {a["dtype"] for a in cuda["arguments"] if a["kind"] in ("lora_a", "lora_b")} == {
        "bf16"}
    ml_dtypes = pytest.importorskip("ml_dtypes")
    with np.load(bf16 / "lora_params.npz") as params:
        rng = np.random.default_rng(info["param_seed"])
        for a in cuda["arguments"]:
            if a["kind"] in ("lora_a", "lora_b"):
                want = (info["param_std"] * rng.standard_normal(a["shape"])).astype(
                    ml_dtypes.bfloat16).astype(np.float32)
                assert params[a["name"]].dtype == np.float32
                assert np.array_equal(params[a["name"]], want)
    # The LoRA branch moves the logits far more than the tolerance.
    logits = np.load(bf16 / "cpu_logits.npy")
    assert logits.dtype == np.float32 and logits.shape == (1, 8, 128)
    assert info["lora_effect_max_abs"] > 10 * info["logits_tol"] * max(
        1.0, info["cpu_logits_max_abs"])
    res = run_model_job(tmp_path, out, "cuda-emulated", "model_bf16")
    assert res["status"] == "PASS" and res["max_abs_diff"] == 0.0, res
    assert res["parameters"] == 8 and res["target"] == "cuda-emulated"
    assert res["train"]["status"] == "PASS" and res["train"]["max_rel_diff"] == 0.0

    # What the dry run finds wrong with the model files.
    (model / "lora_opt" / "__init__.py").write_text("raise ImportError('broken copy')\n")
    proc = run_py(GPU_DIR / "run.py", "--dry-run", "--artifacts", out)
    assert proc.returncode == 1 and "broken copy" in proc.stdout, proc.stdout
    proc = run_py(GPU_DIR / "run.py", "--dry-run", "--artifacts", out, "--no-model")
    assert proc.returncode == 0 and "\nmodel: " not in proc.stdout, proc.stdout
    (model / "cpu_logits.npy").unlink()
    proc = run_py(GPU_DIR / "run.py", "--dry-run", "--artifacts", out)
    assert proc.returncode == 1 and "cpu_logits.npy missing" in proc.stdout


def gpu_here() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def test_model_static_check_finds_mismatches(tmp_path):
    """The dry run's model check with a hand-made model folder (no compile):
    parameters of the wrong shape, a missing one, a bad input."""
    np = pytest.importorskip("numpy")
    for lib in ("liblora_runtime.so", "liblora_cuda_runtime.so"):
        if not (BUILD / "lib" / lib).exists():
            pytest.skip(f"{BUILD / 'lib' / lib} is missing")
    model = tmp_path / "model"
    (model / "cuda").mkdir(parents=True)
    (model / "lib").mkdir()
    for lib in ("liblora_runtime.so", "liblora_cuda_runtime.so"):
        shutil.copy2(BUILD / "lib" / lib, model / "lib" / lib)
    shutil.copytree(ROOT / "python_bindings" / "lora_opt", model / "lora_opt",
                    ignore=shutil.ignore_patterns("_lib", "__pycache__"))
    args = [dict(name="ids", kind="input", dtype="i64", shape=[1, 4]),
            dict(name="a", kind="lora_a", dtype="f32", shape=[8, 2]),
            dict(name="b", kind="lora_b", dtype="f32", shape=[2, 8])]
    (model / "cuda" / "manifest.json").write_text(json.dumps(dict(
        target="cuda", arguments=args, weights=dict(bytes=64),
        outputs=[dict(name="logits", dtype="f32", shape=[1, 4, 8])])))
    (model / "cuda" / "model.so").write_bytes(b"ELF")
    (model / "cuda" / "weights.bin").write_bytes(bytes(64))
    (model / "model.json").write_text(json.dumps(dict(input="ids", output="logits")))
    np.save(model / "input_ids.npy", np.zeros((1, 4), np.int64))
    np.save(model / "cpu_logits.npy", np.ones((1, 4, 8), np.float32))
    np.savez(model / "lora_params.npz", a=np.ones((8, 2), np.float32),
             b=np.ones((2, 8), np.float32))
    (model / "train_cuda").mkdir()
    (model / "train_cuda" / "manifest.json").write_text(json.dumps(dict(
        target="cuda", train=dict(loss="causal-lm"))))
    (model / "train_cuda" / "model.so").write_bytes(b"ELF")
    (model / "train_cuda" / "weights.bin").write_bytes(bytes(64))
    (model / "train_reference.json").write_text(json.dumps(dict(losses=[1.0])))
    assert bench_run.check_model_artifacts(model) == []
    np.savez(model / "lora_params.npz", a=np.ones((2, 8), np.float32))
    np.save(model / "input_ids.npy", np.zeros((1, 4), np.int32))
    (model / "train_cuda" / "manifest.json").write_text(json.dumps(dict(target="cuda")))
    problems = "\n".join(bench_run.check_model_artifacts(model))
    assert "lora_params.npz has ['a']" in problems
    assert "lora_params.npz[a]: float32 [2, 8]" in problems
    assert "input_ids.npy (int32 [1, 4])" in problems
    assert "train_cuda/manifest.json: not a cuda train step" in problems


# --- the worker on the CPU, with a fake driver ----------------------------------------

class FakeDriver:
    """Stands for run.Driver: encode() hands out numbered maps, launch() reads
    the map numbers (and the weight gradients' token count) back through the
    kernel-parameter pointers and computes the kernel from the tensormap
    arguments (address, dims) with torch, reading the operands the ABI says
    are transposed as stored."""

    INDEX_KERNELS = ("lora_b_grad", "lora_a_grad")   # one u64 after the maps

    def __init__(self, scale: float, bug: str | None = None):
        self.ct = ctypes
        self.driver_version = 0
        self.max_smem_optin = 232448
        self.maps = []
        self.launches = []
        self.scale = scale
        self.bug = bug
        self.pdl_launches = 0
        self.db_zeroed = []      # per launch with dB: its accumulator held zeros
        self.da_zeroed = []      # the same for dA

    def load_module(self, image):
        assert image[:4] == b"\x7fELF"
        return ("module", image)

    def get_function(self, module, name, smem):
        assert name.encode() in module[1]
        # A variant (lora_linear_64x64) computes what its kernel does.
        return re.sub(r"_\d+x\d+$", "", name), dict(max_threads=1024, static_smem=0,
                                                    local_bytes=0, regs=168)

    def encode(self, a):
        self.maps.append(dict(a))
        return struct.pack("<Q", len(self.maps) - 1).ljust(128, b"\0")

    def view(self, a):
        import torch
        dtype, esize = {9: (torch.bfloat16, 2), 7: (torch.float32, 4)}[a["dataType"]]
        dims = list(reversed(a["globalDim"]))
        n = 1
        for d in dims:
            n *= d
        assert a["globalStrides"] == [s * esize for s in _row_strides(dims)]
        raw = (ctypes.c_uint8 * (esize * n)).from_address(a["globalAddress"])
        return torch.frombuffer(raw, dtype=dtype).view(dims)

    def launch(self, fn, grid, block, smem, stream, params, pdl=False):
        import torch
        self.pdl_launches += bool(pdl)
        if fn == "matmul" and len(self.maps[ctypes.c_uint64.from_address(
                ctypes.c_uint64.from_address(params[0]).value).value]["globalDim"]) == 3:
            return self.launch_batched(params)
        maps = {}
        n_maps = len(params) - (fn in self.INDEX_KERNELS)
        for k in range(n_maps):
            map_address = ctypes.c_uint64.from_address(params[k]).value
            assert map_address % 64 == 0
            index = ctypes.c_uint64.from_address(map_address).value
            a = self.maps[index]
            maps[a["role"]] = self.view(a)
        tokens = maps["x"].shape[0]
        if fn in self.INDEX_KERNELS:
            assert ctypes.c_uint64.from_address(params[n_maps]).value == tokens, fn
        self.launches.append((fn, grid, block, smem, sorted(maps)))
        f = {k: v.double() for k, v in maps.items()}
        bf16 = torch.bfloat16
        if fn == "lora_down":
            maps["t"].copy_((self.scale * f["x"] @ f["a"]).to(bf16))
        elif fn == "lora_t_grad":                  # a is B, [r, N]
            maps["t"].copy_((self.scale * f["x"] @ f["a"].t()).to(bf16))
        elif fn in self.INDEX_KERNELS:             # x is [tokens, m]: y = xᵀ·w
            x = f["x"]
            if self.bug == "db_tail" and fn == "lora_b_grad":
                x[tokens // 64 * 64:] = 0          # the last partial tile of tokens lost
            maps["y"].copy_((x.t() @ f["w"]).to(bf16))
        elif fn == "lora_input_grad":              # w is W [K, N], b is A [K, r]
            if "a" in maps:                        # fused: a is B [r, N]
                self.store_t(maps, f, f["x"] @ f["a"].t())
            if "db" in maps:                       # fuse_b_grad: dBᵀ from ts
                self.reduce_db(maps["db"], f["x"], f["ts"], grid[0])
            if "da" in maps:                       # fuse_a_grad: dA from x and dt
                self.reduce_da(maps["da"], f["xa"], f["t"], grid)
            maps["y"].copy_((f["x"] @ f["w"].t() + f["t"] @ f["b"].t()).to(bf16))
            if self.bug == "pdl" and pdl:          # a race: its first row lost
                maps["y"][0] = 0
        elif fn == "lora_linear":
            if "a" in maps:                        # fused: t = scale·x·A
                self.store_t(maps, f, f["x"] @ f["a"])
            y = f["x"] @ f["w"] + (0 if self.bug == "no_lora" else f["t"] @ f["b"])
            maps["y"].copy_(y.to(bf16))
            if self.bug == "pdl" and pdl:
                maps["y"][0] = 0
            if self.bug == "tail":
                maps["y"][-3:] = float("nan")
        else:
            maps["y"].copy_((f["x"] @ f["w"]).to(bf16))


    def store_t(self, maps, f, product):
        """A fused kernel's t (or dt): scale·product rounded to bf16, into
        its t map and, rounded, into f for its y; with the bug "no_t", y
        reads it but it is never stored."""
        import torch
        t = (self.scale * product).to(torch.bfloat16)
        if self.bug != "no_t":
            maps["t"].copy_(t)
        f["t"] = t.double()

    def reduce_db(self, db, g, ts, tiles):
        """A fused dx kernel's dB: the CTAs of column tile j take g's
        64-column steps k with k mod `tiles` == j and add, per 64 rows,
        g[rows, 64k:64k+64]ᵀ·ts[rows] in f32 into dBᵀ's rows 64k.. (db);
        with the bug "db_store" they store it (the last rows' part wins)."""
        self.db_zeroed.append(bool((db == 0).all()))
        for j in range(tiles):
            for k in range(j, -(-g.shape[1] // 64), tiles):
                for m in range(0, g.shape[0], 64):
                    part = (g[m:m + 64, 64 * k:64 * k + 64].t() @ ts[m:m + 64]).float()
                    if self.bug == "db_store":
                        db[64 * k:64 * k + 64] = part
                    else:
                        db[64 * k:64 * k + 64] += part

    def reduce_da(self, da, x, dt, grid):
        """A fused dx kernel's dA: the CTA of dx's tile (rows i, columns j)
        adds x[rows i, columns j]ᵀ·dt[rows i] in f32 into dA's rows j (da);
        with the bug "da_store" it stores it (the last row tile's part wins)."""
        self.da_zeroed.append(bool((da == 0).all()))
        tile_n, tile_m = -(-x.shape[1] // grid[0]), -(-x.shape[0] // grid[1])
        for j in range(0, x.shape[1], tile_n):
            for i in range(0, x.shape[0], tile_m):
                part = (x[i:i + tile_m, j:j + tile_n].t() @ dt[i:i + tile_m]).float()
                if self.bug == "da_store":
                    da[j:j + tile_n] = part
                else:
                    da[j:j + tile_n] += part

    def launch_batched(self, params):
        """A batched matmul: w is [B, K, N], or [B, N, K] read transposed
        (told apart by K, which the tests keep apart from N)."""
        import torch
        maps = {}
        for k in range(3):
            map_address = ctypes.c_uint64.from_address(params[k]).value
            a = self.maps[ctypes.c_uint64.from_address(map_address).value]
            maps[a["role"]] = self.view(a)
        self.launches.append(("matmul", None, None, None, sorted(maps)))
        x, w = maps["x"].double(), maps["w"].double()
        if w.shape[-2] != x.shape[-1]:
            w = w.transpose(-1, -2)
        y = (x @ w).to(torch.bfloat16)
        if self.bug == "batch0":                  # every CTA on matrix 0
            maps["y"][:1].copy_(y[:1])
        else:
            maps["y"].copy_(y)
        if self.bug == "bmm_tail":                # each matrix's last rows lost
            maps["y"][:, -3:] = float("nan")


def _row_strides(dims):
    """Element strides of the outer dims of a row-major tensor, innermost first."""
    strides, acc = [], 1
    for d in reversed(dims[1:]):
        acc *= d
        strides.append(acc)
    return strides


def cpu_manifest(tmp_path, specs, fused=False, b_grad=False, a_grad=False):
    """kernels.json as prepare.py writes it, with fake_abis and one ELF per
    gpu.module."""
    cases = []
    for case in lora_abi.parse_case_spec(specs):
        kernels = []
        abis = fake_abis(case, variants=True, fused=fused, b_grad=b_grad, a_grad=a_grad)
        for abi in abis:
            name = f"{case['id']}.{abi['module']}.cubin"
            (tmp_path / name).write_bytes(make_elf([a["name"] for a in abis
                                                    if a["module"] == abi["module"]]))
            kernels.append(dict(abi, cubin=name))
        cases.append(dict(case, kernels=kernels))
    return dict(format=1, provenance=dict(commit="0" * 40), cases=cases)


def run_jobs_on_cpu(monkeypatch, torch, worker, jobs):
    """Runs every job on the CPU worker, each timing a fake of 10 us that
    calls its run warmup + iters times, torch.compile the identity: (results
    by job index, check results by (case, M))."""
    def fake_bench(self, fn, warmup, iters, queue_us=None):
        for _ in range(warmup + iters):
            fn()
        return dict(median_us=10.0, min_us=9.0, p90_us=11.0, n=iters)
    monkeypatch.setattr(bench_run.Worker, "bench", fake_bench)
    monkeypatch.setattr(torch, "compile", lambda fn, mode=None: fn)
    results = {}
    for i, job in enumerate(jobs):
        method = {"check": worker.check, "ours": worker.time_ours, "cublas": worker.time_cublas,
                  "eager": worker.time_eager, "compile": worker.time_compile}[job["type"]]
        results[i] = method(job)
        results[i].setdefault("status", "ok")
    checks = {(j["case"], j["M"]): results[i] for i, j in enumerate(jobs)
              if j["type"] == "check"}
    return results, checks


@pytest.mark.parametrize("bug", [None, "no_lora", "tail", "db_tail", "batch0", "bmm_tail", "pdl"])
def test_worker_on_cpu(tmp_path, monkeypatch, bug):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(bench_run, "DEVICE", "cpu")
    manifest = cpu_manifest(tmp_path, "256x512:16,256x512:mm,256x512:g16,4x64x96:bmmt")
    args = SimpleNamespace(warmup=1, iters=3, compile_mode="auto", only_correctness=False,
                           check_ms=[200, 100], time_ms=[64], quick=False)
    drv = FakeDriver(2.0, bug)
    worker = bench_run.Worker(manifest, tmp_path, args, driver=drv)
    cases = manifest["cases"]
    jobs = bench_run.make_jobs(cases, args)
    assert [j.get("op", "lora") for j in jobs if j["type"] == "compile"] == ["lora", "grad"]
    assert {j["type"] for j in jobs if j.get("op") == "grad"} == {"cublas", "eager", "compile"}
    results, checks = run_jobs_on_cpu(monkeypatch, torch, worker, jobs)
    lora = checks[("lora_256x512_r16", 200)]
    assert lora["t_nan"] == 0 and lora["t_err"] < 1e-6 and lora["guard_ok"]
    assert lora["launches"][0]["grid"] == [1, 4, 1]          # lora_down, tile 64
    assert lora["launches"][1]["grid"] == [2, 2, 1]          # lora_linear, tile 128x256
    # 100 rows: the 64x64 variant.
    assert [(k["name"], k["grid"], k["block"]) for k in
            checks[("lora_256x512_r16", 100)]["launches"]] == [
        ("lora_kernels_0/lora_down", [1, 2, 1], [256, 1, 1]),
        ("lora_kernels_0/lora_linear_64x64", [8, 2, 1], [256, 1, 1])]
    grad = checks[("grad_256x512_r16", 200)]
    assert [(g["name"], g["grid"], g["index"]) for g in grad["launches"]] == [
        ("lora_kernels_0/lora_down", [1, 4, 1], []),
        ("lora_kernels_0/lora_linear", [2, 2, 1], []),
        ("lora_kernels_1/lora_t_grad", [1, 4, 1], []),
        ("lora_kernels_1/lora_b_grad", [8, 1, 1], [200]),      # dB [16, 512]
        ("lora_kernels_1/lora_a_grad", [1, 4, 1], [200]),      # dA [256, 16]
        ("lora_kernels_1/lora_input_grad", [1, 2, 1], [])]     # dx [200, 256]
    assert grad["guard_ok"] and grad["ts_err"] < 1e-6 and grad["dt_err"] < 1e-6
    assert len(grad["kernel_attrs"]) == 6 and grad["ts_reads_t"]
    # Each check of several launches runs them again with PDL on all but the
    # first: the same bits (the fake computes the same, unless its "pdl" bug
    # loses a row then); one launch, no PDL.
    assert grad["pdl_same"] == lora["pdl_same"] == (bug != "pdl")
    if bug == "pdl":
        assert lora["pdl_differ"] == ["y"] and grad["pdl_differ"] == ["y", "dx"]
    assert "pdl_same" not in checks[("matmul_256x512", 200)]
    assert drv.pdl_launches > 0
    bmm = checks[("bmm_4x64x96_t", 200)]
    assert bmm["launches"][0]["grid"] == [4, 2, 1]          # 1 column tile x 4 matrices
    assert bmm["guard_ok"]
    if bug == "batch0":
        assert bmm["status"] == "FAIL" and bmm["y_nan"] == 3 * 200 * 96
    elif bug == "bmm_tail":                                 # rows 197..199 of each matrix
        assert bmm["status"] == "FAIL" and bmm["y_nan_tail_rows"] == 4 * 3 * 96
    else:
        assert bmm["status"] == "PASS" and bmm["y_err"] < 1e-2 and bmm["y_nan"] == 0
    if bug in (None, "batch0", "bmm_tail", "pdl"):
        assert all(r["status"] == "PASS" for (case, _), r in checks.items()
                   if case != "bmm_4x64x96_t"), checks
        assert lora["y_err"] < 1e-2 and lora["y_err_exact_t"] < 1e-2
        for name in ("y", "dx", "da", "db"):
            assert grad[f"{name}_err"] < 1e-2 and grad[f"{name}_err_exact"] < 1e-2, name
        assert not any(grad["nan"].values())
    elif bug == "no_lora":
        assert lora["status"] == "FAIL" and lora["y_err_vs_no_lora"] < 1e-2
        assert checks[("matmul_256x512", 200)]["status"] == "PASS"
        assert grad["status"] == "FAIL" and grad["y_err"] > 1e-2 and grad["dx_err"] < 1e-2
    elif bug == "tail":
        assert checks[("lora_256x512_r16", 100)]["y_nan_tail_rows"] == 3 * 512
        assert lora["status"] == "FAIL"
        assert grad["status"] == "FAIL" and grad["nan"]["y"] == 3 * 512
    else:
        # dB over the tokens of whole 64-token tiles only: caught at M = 200
        # and 100, not at a multiple of the tile.
        assert lora["status"] == "PASS"
        for M in (200, 100):
            g = checks[("grad_256x512_r16", M)]
            assert g["status"] == "FAIL" and g["db_err"] > 1e-2, g
            assert max(g[f"{n}_err"] for n in ("y", "dx", "da")) < 1e-2, g
    # Kernel parameters: one map per param, in ABI order.
    assert drv.launches[0][4] == ["a", "t", "x"] and drv.launches[1][4] == ["b", "t", "w", "x", "y"]
    assert worker.compiled[1] == "max-autotune-no-cudagraphs"

    report, text = bench_run.build_report(cases, jobs, results, dict(
        gpu="H200", capability="9.0", sms=132, driver=13000, torch="x", torch_cuda="13"),
        manifest, args)
    assert json.dumps(report, default=str)
    # Ours also without L2 promotion in the maps: the whole, and each launch
    # of a case with several; the maps were encoded both ways.
    ours = {j["case"]: results[i] for i, j in enumerate(jobs) if j["type"] == "ours"}
    assert ours["matmul_256x512"]["no_l2_promotion_us"] == 10.0
    assert "kernels_us" not in ours["matmul_256x512"]
    assert list(ours["lora_256x512_r16"]["kernels_no_l2_promotion_us"]) == list(
        ours["lora_256x512_r16"]["kernels_us"]) == ["lora_down", "lora_linear_64x64"]
    # CU_TENSOR_MAP_L2_PROMOTION_L2_256B (3) as the ABI states, and none.
    assert {m["l2Promotion"] for m in drv.maps if m["role"] == "x"} == {0, 3}
    assert {m["l2Promotion"] for m in drv.maps if m["role"] == "y"} == {0}
    mm = next(r for r in report["rows"] if r["case"] == "matmul_256x512")
    assert mm["ours_no_l2_promotion_us"] == 10.0
    # The launches with PDL, timed beside: in the rows and the breakdown.
    assert ours["lora_256x512_r16"]["pdl_us"] == 10.0 and "pdl_us" not in ours["matmul_256x512"]
    assert "; all together 10.0, with PDL 10.0)" in text
    n_pdl = sum(1 for (case, _) in checks if case != "matmul_256x512"
                and not case.startswith("bmm"))
    same = 0 if bug == "pdl" else n_pdl
    assert f"{same} of {n_pdl} checks wrote the same bits" in text
    assert ("lora_256x512_r16 M=200: differ in y" in text) == (bug == "pdl")
    row = next(r for r in report["rows"] if r["case"] == "lora_256x512_r16")
    assert row["ours_us"] == 10.0 and row["ours_over_cublas"] == 1.0
    assert row["tile"] == "64x64"                          # M = 64: the variant
    assert row["flops"] == 2 * 64 * 256 * 512 + 2 * 64 * 16 * (256 + 512)
    lora_line = next(line for line in text.splitlines() if line.startswith("   256    512  16"))
    assert lora_line.endswith("!") == (bug in ("no_lora", "tail"))
    assert "Plain matmul" in text
    bmm_bug = bug in ("batch0", "bmm_tail")
    assert report["correct"]["lora_256x512_r16"] == (bug in (None, "db_tail", "pdl")
                                                     or bmm_bug)
    assert report["correct"]["grad_256x512_r16"] == (bug in (None, "pdl") or bmm_bug)
    assert report["correct"]["bmm_4x64x96_t"] == (not bmm_bug)
    bmm_row = next(r for r in report["rows"] if r["case"] == "bmm_4x64x96_t")
    assert bmm_row["ours_us"] == bmm_row["cublas_us"] == 10.0
    assert bmm_row["flops"] == 2 * 4 * 64 * 64 * 96
    bmm_line = next(line for line in text[text.index("Batched matmul"):].splitlines()
                    if line.startswith("   4    64     96  T     64"))
    assert bmm_line.endswith("!") == bmm_bug
    grad_row = next(r for r in report["rows"] if r["case"] == "grad_256x512_r16")
    assert grad_row["op"] == "grad" and grad_row["ours_over_cublas"] == 1.0
    assert grad_row["cublas_status"] == grad_row["eager_status"] == "ok"
    assert grad_row["compile_status"] == "ok"
    assert grad_row["flops"] == 4 * 64 * 256 * 512 + 6 * 64 * 16 * (256 + 512)
    grad_table = text[text.index("LoRA forward+backward (W frozen"):]
    grad_line = next(line for line in grad_table.splitlines()
                     if line.startswith("   256    512  16"))
    grad_ok = bug in (None, "pdl") or bmm_bug
    assert grad_line.endswith("!") == (not grad_ok)
    assert f"{int(grad_ok)} of 1 rows correct and within 1.10x" in grad_table
    checks_text = text[text.index("LoRA forward+backward correctness"):]
    assert ("grad_256x512_r16         200  " + ("PASS" if grad_ok else "FAIL")) in checks_text
    if bug == "db_tail":
        assert "unrounded t, dt:" in checks_text


@pytest.mark.parametrize("bug", [None, "no_t"])
def test_worker_on_cpu_fused(tmp_path, monkeypatch, bug):
    """fuse-lora-down's kernels, as tuning cases beside their defaults:
    lora_linear writes t and lora_input_grad dt (guarded and poisoned like
    every output); the backward runs lora_input_grad where lora_t_grad
    would, before lora_a_grad reads dt. A fused kernel that never stores t
    fails its case. The forward+backward bar counts the default case only."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(bench_run, "DEVICE", "cpu")
    specs = "256x512:16,256x512:g16"
    fused = cpu_manifest(tmp_path, specs, fused=True)["cases"]
    for case in fused:                       # one cubin per gpu.module
        for cubin in {k["cubin"] for k in case["kernels"]}:
            (tmp_path / cubin).rename(tmp_path / cubin.replace(".", "_fused.", 1))
        for k in case["kernels"]:
            k["cubin"] = k["cubin"].replace(".", "_fused.", 1)
    manifest = cpu_manifest(tmp_path, specs)
    manifest["cases"] += [dict(c, id=c["id"] + "_fused", pass_options="fuse-lora-down")
                          for c in fused]
    args = SimpleNamespace(warmup=1, iters=3, compile_mode="auto", only_correctness=False,
                           check_ms=[200, 100], time_ms=[64], quick=False)
    worker = bench_run.Worker(manifest, tmp_path, args, driver=FakeDriver(2.0, bug))
    jobs = bench_run.make_jobs(manifest["cases"], args)
    results, checks = run_jobs_on_cpu(monkeypatch, torch, worker, jobs)
    lora = checks[("lora_256x512_r16_fused", 200)]
    grad = checks[("grad_256x512_r16_fused", 200)]
    assert [g["name"] for g in lora["launches"]] == ["lora_kernels_0/lora_linear"]
    assert [g["name"] for g in checks[("lora_256x512_r16_fused", 100)]["launches"]] == [
        "lora_kernels_0/lora_linear_64x64"]
    assert [g["name"] for g in grad["launches"]] == [
        "lora_kernels_0/lora_linear", "lora_kernels_1/lora_input_grad",
        "lora_kernels_1/lora_b_grad", "lora_kernels_1/lora_a_grad"]
    assert grad["ts_reads_t"] and lora["guard_ok"] and grad["guard_ok"]
    fused_checks = {k: r for k, r in checks.items() if k[0].endswith("_fused")}
    if bug is None:
        assert all(r["status"] == "PASS" for r in checks.values()), checks
        assert lora["t_ok"] and lora["t_err"] < 1e-6 and lora["y_err"] < 1e-2
        assert grad["t_err"] < 1e-6 and grad["dt_err"] < 1e-6
        for name in ("y", "dx", "da", "db"):
            assert grad[f"{name}_err"] < 1e-2, name
    else:
        # y is right (the kernel used its t), the stored t is the poison.
        assert all(r["status"] == "FAIL" for r in fused_checks.values())
        assert lora["t_nan"] == 200 * 16 and lora["y_err"] < 1e-2
        assert grad["nan"]["t"] == grad["nan"]["dt"] == 200 * 16
    # The defaults pass either way (the bug is in fused kernels only).
    assert all(r["status"] == "PASS" for k, r in checks.items() if k not in fused_checks)
    report, text = bench_run.build_report(manifest["cases"], jobs, results, dict(
        gpu="H200", capability="9.0", sms=132, driver=13000, torch="x", torch_cuda="13"),
        manifest, args)
    grad_table = text[text.index("LoRA forward+backward (W frozen"):]
    fused_line = next(line for line in grad_table.splitlines()
                      if line.startswith("   256    512  16") and "[fuse-lora-down]" in line)
    assert fused_line.count("!") == (bug is not None)
    assert "1 of 1 rows correct and within 1.10x" in grad_table
    assert report["correct"]["grad_256x512_r16_fused"] == (bug is None)


@pytest.mark.parametrize("bug", [None, "db_store", "db_unzeroed"])
def test_worker_on_cpu_fused_b_grad(tmp_path, monkeypatch, bug):
    """fuse-lora-b-grad's backward, as a tuning case beside the default:
    lora_input_grad adds dBᵀ into dbt, an f32 accumulator the worker zeroes
    before every run (checks, PDL runs and timed ones alike; poisoned like
    every output before a check) and from which it rounds dB = dbtᵀ after;
    no lora_b_grad. A kernel that stores its partial dBᵀ tiles instead of
    adding them ("db_store"), or a worker that did not zero the accumulator
    (its zero_ made a no-op: the check's poison stays), fails the case."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(bench_run, "DEVICE", "cpu")
    spec = "256x512:g16"
    (fused,) = cpu_manifest(tmp_path, spec, fused=True, b_grad=True)["cases"]
    for cubin in {k["cubin"] for k in fused["kernels"]}:    # one cubin per gpu.module
        (tmp_path / cubin).rename(tmp_path / cubin.replace(".", "_fused_db.", 1))
    for k in fused["kernels"]:
        k["cubin"] = k["cubin"].replace(".", "_fused_db.", 1)
    manifest = cpu_manifest(tmp_path, spec)
    manifest["cases"].append(dict(fused, id=fused["id"] + "_fused_db",
                                  pass_options="fuse-lora-down fuse-lora-b-grad"))
    args = SimpleNamespace(warmup=1, iters=3, compile_mode="auto", only_correctness=False,
                           check_ms=[200, 100], time_ms=[64], quick=False)
    drv = FakeDriver(2.0, None if bug == "db_unzeroed" else bug)
    worker = bench_run.Worker(manifest, tmp_path, args, driver=drv)
    if bug == "db_unzeroed":
        monkeypatch.setattr(torch.Tensor, "zero_", lambda self: self)
    jobs = bench_run.make_jobs(manifest["cases"], args)
    results, checks = run_jobs_on_cpu(monkeypatch, torch, worker, jobs)
    grad = checks[("grad_256x512_r16_fused_db", 200)]
    # dx [200, 256]: one column tile of 256 (g's 8 steps all in it).
    assert [(g["name"], g["grid"]) for g in grad["launches"]] == [
        ("lora_kernels_0/lora_linear", [2, 2, 1]), ("lora_kernels_1/lora_input_grad", [1, 2, 1]),
        ("lora_kernels_1/lora_a_grad", [1, 4, 1])]
    assert grad["ts_reads_t"] and grad["guard_ok"]
    # dbt's guard rows too; the default case has none.
    assert checks[("grad_256x512_r16", 200)]["status"] == "PASS"
    # Every launch of the fused kernel, in a check, with PDL, timed alone or
    # with the others, found its accumulator zeroed: 2 checks x (plain +
    # PDL), then 1 + 3 runs of each of 5 timings (the whole case, with PDL,
    # lora_input_grad alone; both again without L2 promotion).
    assert len(drv.db_zeroed) == 2 * 2 + 5 * 4
    assert all(drv.db_zeroed) == (bug != "db_unzeroed")
    if bug is None:
        assert grad["status"] == "PASS" and grad["pdl_same"], grad
        for name in ("y", "dx", "da", "db"):
            assert grad[f"{name}_err"] < 1e-2, name
        assert not any(grad["nan"].values())
    elif bug == "db_store":
        # Only the last 64 rows' part of each step: dB wrong, the rest right.
        for M in (200, 100):
            g = checks[("grad_256x512_r16_fused_db", M)]
            assert g["status"] == "FAIL" and g["db_err"] > 1e-2, g
            assert max(g[f"{n}_err"] for n in ("y", "dx", "da")) < 1e-2, g
    else:
        # The check's NaN poison stays in the accumulator, and so in dB.
        assert grad["status"] == "FAIL" and grad["nan"]["db"] == 16 * 512, grad
        assert grad["dx_err"] < 1e-2
    ours = next(results[i] for i, j in enumerate(jobs)
                if j["type"] == "ours" and j["case"] == "grad_256x512_r16_fused_db")
    assert list(ours["kernels_us"]) == ["lora_linear_64x64", "lora_input_grad",
                                        "lora_a_grad"]
    report, text = bench_run.build_report(manifest["cases"], jobs, results, dict(
        gpu="H200", capability="9.0", sms=132, driver=13000, torch="x", torch_cuda="13"),
        manifest, args)
    assert report["correct"]["grad_256x512_r16_fused_db"] == (bug is None)
    assert report["correct"]["grad_256x512_r16"]
    assert "wrote the same bits (dB summed by reduce-adds, in no fixed order: within 0.001 " \
        "relative)" in text


@pytest.mark.parametrize("bug", [None, "da_store", "da_unzeroed"])
def test_worker_on_cpu_fused_a_grad(tmp_path, monkeypatch, bug):
    """fuse-lora-a-grad's backward (with fuse-lora-b-grad), as a tuning case
    beside the default: lora_input_grad, the backward's only kernel, adds
    dA = xᵀ·dt into daf, a second f32 accumulator [K, r] that the worker
    zeroes before every run beside dbt and rounds into dA (not transposed)
    after; no lora_a_grad. A kernel that stores its parts of dA instead of
    adding them ("da_store"), or a worker that zeroes dbt but not daf
    ("da_unzeroed": the check's poison stays in dA only), fails the case."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(bench_run, "DEVICE", "cpu")
    spec = "256x512:g16"
    (fused,) = cpu_manifest(tmp_path, spec, fused=True, b_grad=True, a_grad=True)["cases"]
    for cubin in {k["cubin"] for k in fused["kernels"]}:    # one cubin per gpu.module
        (tmp_path / cubin).rename(tmp_path / cubin.replace(".", "_fused_dadb.", 1))
    for k in fused["kernels"]:
        k["cubin"] = k["cubin"].replace(".", "_fused_dadb.", 1)
    manifest = cpu_manifest(tmp_path, spec)
    manifest["cases"].append(dict(
        fused, id=fused["id"] + "_fused_dadb",
        pass_options="fuse-lora-down fuse-lora-b-grad fuse-lora-a-grad"))
    args = SimpleNamespace(warmup=1, iters=3, compile_mode="auto", only_correctness=False,
                           check_ms=[200, 100], time_ms=[64], quick=False)
    drv = FakeDriver(2.0, None if bug == "da_unzeroed" else bug)
    worker = bench_run.Worker(manifest, tmp_path, args, driver=drv)
    if bug == "da_unzeroed":
        zero = torch.Tensor.zero_
        # daf is [K, r] = [256, 16] (dbt [N, r] = [512, 16] still zeroed).
        monkeypatch.setattr(torch.Tensor, "zero_", lambda self: self if (
            self.dtype == torch.float32 and list(self.shape) == [256, 16]) else zero(self))
    jobs = bench_run.make_jobs(manifest["cases"], args)
    results, checks = run_jobs_on_cpu(monkeypatch, torch, worker, jobs)
    case = "grad_256x512_r16_fused_dadb"
    grad = checks[(case, 200)]
    # dx [200, 256]: one column tile of 256, two row tiles of 128.
    assert [(g["name"], g["grid"]) for g in grad["launches"]] == [
        ("lora_kernels_0/lora_linear", [2, 2, 1]), ("lora_kernels_1/lora_input_grad", [1, 2, 1])]
    assert grad["ts_reads_t"] and grad["guard_ok"]
    assert checks[("grad_256x512_r16", 200)]["status"] == "PASS"
    # Every launch of the fused kernel found both accumulators zeroed (but
    # daf with "da_unzeroed"): as in test_worker_on_cpu_fused_b_grad.
    assert len(drv.da_zeroed) == len(drv.db_zeroed) == 2 * 2 + 5 * 4
    assert all(drv.db_zeroed)
    assert all(drv.da_zeroed) == (bug != "da_unzeroed")
    if bug is None:
        assert grad["status"] == "PASS" and grad["pdl_same"], grad
        for name in ("y", "dx", "da", "db"):
            assert grad[f"{name}_err"] < 1e-2, name
        assert not any(grad["nan"].values())
    elif bug == "da_store":
        # Only the last row tile's part: dA wrong, the rest right; at
        # M = 100, one row tile, the store is the sum.
        assert grad["status"] == "FAIL" and grad["da_err"] > 1e-2, grad
        assert max(grad[f"{n}_err"] for n in ("y", "dx", "db")) < 1e-2, grad
        assert checks[(case, 100)]["status"] == "PASS"
    else:
        # The check's NaN poison stays in daf, and so in dA; dB is right.
        assert grad["status"] == "FAIL" and grad["nan"]["da"] == 256 * 16, grad
        assert not grad["nan"]["db"] and grad["db_err"] < 1e-2 and grad["dx_err"] < 1e-2
    ours = next(results[i] for i, j in enumerate(jobs)
                if j["type"] == "ours" and j["case"] == case)
    assert list(ours["kernels_us"]) == ["lora_linear_64x64", "lora_input_grad"]
    report, text = bench_run.build_report(manifest["cases"], jobs, results, dict(
        gpu="H200", capability="9.0", sms=132, driver=13000, torch="x", torch_cuda="13"),
        manifest, args)
    assert report["correct"][case] == (bug is None)
    assert report["correct"]["grad_256x512_r16"]
    assert "wrote the same bits (dB and dA summed by reduce-adds, in no fixed order: " \
        "within 0.001 relative)" in text


def test_pdl_check_of_an_accumulated_output(monkeypatch):
    """dB's reduce-adds arrive in an order no launch fixes: with PDL, dbt
    and db must agree within PDL_ORDER_TOL, not bit for bit; a lost part
    differs by far more."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(bench_run, "DEVICE", "cpu")
    worker = bench_run.Worker.__new__(bench_run.Worker)
    worker.torch = torch
    dbt = torch.randn(512, 16)
    bufs = {"dbt": dbt.clone(), "dx": torch.randn(8, 8).to(torch.bfloat16)}
    guards = {name: torch.full((2,) + tuple(t.shape[1:]), bench_run.GUARD_VALUE,
                               dtype=t.dtype) for name, t in bufs.items()}

    def rerun(change):
        def run():
            pass
        run.accumulated = ["dbt"]

        def pdl():
            bufs["dbt"].copy_(change(dbt.clone()))
            bufs["dx"].copy_(first_dx)
        run.pdl = pdl
        return run
    first_dx = bufs["dx"].clone()
    res = {}
    # Another order of f32 adds: a few ulps.
    worker.check_pdl(rerun(lambda t: t * (1 + 2**-22)), bufs, guards, res)
    assert res["pdl_same"] and "pdl_differ" not in res
    bufs["dbt"].copy_(dbt)
    res = {}
    worker.check_pdl(rerun(lambda t: torch.cat([t[:448], t[448:] * 0.5])), bufs, guards, res)
    assert not res["pdl_same"] and res["pdl_differ"] == ["dbt"]


# --- the watchdog ----------------------------------------------------------------

FAKE_WORKER = r'''
import json, os, sys, time
args = sys.argv[1:]
jobs = json.load(open(args[args.index("--worker") + 1]))
out = open(args[args.index("--worker-out") + 1], "a")
mode = args[args.index("--compile-mode") + 1]
def emit(e):
    out.write(json.dumps(e) + "\n"); out.flush()
emit(dict(event="env", env=dict(gpu="fake", driver=1, torch="0")))
for i, job in jobs:
    emit(dict(event="start", i=i))
    what = job.get("case", "")
    if what == "crash":
        os._exit(7)
    if what == "hang" or (job["type"] == "compile" and mode != "default"):
        time.sleep(60)
    emit(dict(event="done", i=i, result=dict(status="ok", mode=mode, median_us=1.0)))
'''


def test_watchdog_restarts_after_crash_and_hang(tmp_path):
    fake = tmp_path / "fake_worker.py"
    fake.write_text(FAKE_WORKER)

    class Runner(bench_run.Runner):
        def worker_cmd(self, jobfile, resfile, deadline, hard_deadline):
            return [sys.executable, str(fake), "--worker", str(jobfile), "--worker-out",
                    str(resfile), "--compile-mode", self.compile_mode]

    args = SimpleNamespace(artifacts=tmp_path, warmup=1, iters=1, compile_mode="auto",
                           budget_s=100.0, job_timeout_s=3.0, compile_timeout_s=1.5,
                           check_timeout_s=1.0, startup_timeout_s=20.0)
    (tmp_path / "work").mkdir()
    jobs = [dict(type="check", case="a"), dict(type="check", case="crash"),
            dict(type="check", case="b"), dict(type="ours", case="hang"),
            dict(type="compile", case="c"), dict(type="check", case="d"),
            dict(type="check", case="hang")]
    seen = []
    runner = Runner(args, tmp_path)
    runner.run(jobs, lambda i, job, res: seen.append(i))
    status = {i: runner.results[i]["status"] for i in range(len(jobs))}
    assert status == {0: "ok", 1: "crash", 2: "ok", 3: "crash", 4: "ok", 5: "ok",
                      6: "crash"}, runner.results
    assert "exit 7" in runner.results[1]["error"]
    assert "timed out after 3 s" in runner.results[3]["error"]
    # A hung kernel's correctness check has a limit of its own.
    assert "timed out after 1 s" in runner.results[6]["error"]
    # The compile that hung in max-autotune ran again in default mode.
    assert runner.results[4]["mode"] == "default" and runner.compile_mode == "default"
    assert sorted(seen) == list(range(len(jobs)))


FAKE_WORKER_RESULTS = r'''
import json, os, sys
args = sys.argv[1:]
jobs = json.load(open(args[args.index("--worker") + 1]))
out = open(args[args.index("--worker-out") + 1], "a")
def emit(e):
    out.write(json.dumps(e) + "\n"); out.flush()
emit(dict(event="env", env=dict(gpu="NVIDIA H200", capability="9.0", sms=132, driver=13000,
                                torch="2.9", torch_cuda="12.8")))
models = 0
for i, job in jobs:
    emit(dict(event="start", i=i))
    if job["type"] == "model":
        models += 1
        if models > 1:       # a process imports one lora_opt copy and runtime
            emit(dict(event="done", i=i, result=dict(
                status="error", error="a second model in the same worker")))
            continue
        if os.environ.get("FAKE_MODEL") == "crash" and job["dir"] == "model":
            os._exit(11)
        emit(dict(event="done", i=i, result=dict(
            status="PASS", max_abs_diff=2e-6, max_rel_diff=1e-6, rel_l2=1e-7, tol=1.3e-3,
            nan=0, ref_max_abs=1.3, shape=[1, 8, 128], repeat_identical=True,
            median_us=321.0, min_us=300.0, n=20, warmup=3, load_s=0.5, first_call_s=0.1,
            train=dict(status="PASS", losses=[4.9, 4.8, 4.7], reference=[4.9, 4.8, 4.7001],
                       max_rel_diff=2.1e-5, tol=1e-3, median_us=654.0, min_us=600.0,
                       n=20, warmup=3))))
        continue
    if job["type"] == "check" and job["case"].startswith("matmul") and job["M"] == 1000:
        os._exit(9)
    if job["type"] == "ours" and job["case"].startswith("matmul"):
        raise SystemExit("skipped jobs must not run")
    if job["type"] == "check":
        res = dict(status="PASS", y_err=1e-3, y_nan=0, y_nan_tail_rows=0, guard_ok=True)
        if job["case"].startswith("lora"):
            res.update(y_err_exact_t=2e-3, t_err=1e-3, t_nan=0, t_ok=True)
        if job["case"].startswith("grad"):
            res.update(dx_err=2e-3, da_err=3e-3, db_err=4e-3, ts_err=0.0, dt_err=1e-3,
                       nan=dict(y=0, dx=0))
    else:
        res = dict(status="ok", median_us=100.0 if job["type"] == "ours" else 150.0)
        if job["type"] == "compile":
            res.update(mode="default", first_call_s=1.0)
    emit(dict(event="done", i=i, result=res))
'''


def test_main_end_to_end_with_fake_worker(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    fake = tmp_path / "fake_worker.py"
    fake.write_text(FAKE_WORKER_RESULTS)
    art = tmp_path / "artifacts"
    art.mkdir()
    (art / "kernels.json").write_text(json.dumps(cpu_manifest(
        art, "4096x4096:16,4096x4096:mm,4096x4096:g16")))
    monkeypatch.setattr(bench_run.Runner, "worker_cmd",
                        lambda self, jobfile, resfile, d, h: [
                            sys.executable, str(fake), "--worker", str(jobfile),
                            "--worker-out", str(resfile)])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (9, 0))
    out = tmp_path / "out"
    rc = bench_run.main(["--artifacts", str(art), "--out", str(out), "--quick"])
    assert rc == 1                                  # the matmul check crashed
    report = json.loads((out / "results.json").read_text())
    text = (out / "results.txt").read_text()
    assert report["correct"] == {"lora_4096x4096_r16": True, "matmul_4096x4096": False,
                                 "grad_4096x4096_r16": True}
    assert "CRASH" in text and "worker died (exit 9)" in text
    for op in ("lora", "grad"):
        rows = [r for r in report["rows"] if r["op"] == op]
        assert [r["M"] for r in rows] == [128, 2048, 8192]
        assert rows[0]["ours_over_cublas"] == pytest.approx(100 / 150)
        assert rows[0]["compile_mode"] == "default"
    assert "grad_4096x4096_r16      1000  PASS    1.00e-03  2.00e-03  3.00e-03  4.00e-03" in text
    assert "3 of 3 rows correct and within 1.10x of cuBLAS x*W + g*W^T" in text
    skipped = [j for j in report["jobs"] if j["job"].get("skip")]
    assert len(skipped) == 3 and all(j["result"]["status"] == "skipped" for j in skipped)
    assert "Jobs that did not give a time" in text
    assert report["model"]["status"] == "not prepared" and "not prepared" in text
    assert all(j["job"]["type"] != "model" for j in report["jobs"])


@pytest.mark.parametrize("fake_model", ["pass", "crash"])
def test_main_runs_the_model_first(tmp_path, monkeypatch, fake_model):
    torch = pytest.importorskip("torch")
    fake = tmp_path / "fake_worker.py"
    fake.write_text(FAKE_WORKER_RESULTS)
    art = tmp_path / "artifacts"
    (art / "model").mkdir(parents=True)
    (art / "model" / "model.json").write_text(json.dumps(dict(
        onnx="examples/tiny_llama.onnx", output="logits",
        lora_compile_args=["--lora-targets=q_proj,v_proj", "--lora-rank=8"])))
    (art / "model_bf16").mkdir(parents=True)
    (art / "model_bf16" / "model.json").write_text(json.dumps(dict(
        onnx="model_bf16/model.onnx", output="logits", reference_target="cuda-emulated",
        logits_tol=3e-2, note="bf16: on the generated kernels",
        lora_compile_args=["--lora-targets=q_proj,v_proj", "--lora-rank=8"])))
    (art / "kernels.json").write_text(json.dumps(cpu_manifest(art, "4096x4096:16")))
    monkeypatch.setattr(bench_run, "check_model_artifacts", lambda d: [])
    monkeypatch.setattr(bench_run.Runner, "worker_cmd",
                        lambda self, jobfile, resfile, d, h: [
                            sys.executable, str(fake), "--worker", str(jobfile),
                            "--worker-out", str(resfile)])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (9, 0))
    monkeypatch.setenv("FAKE_MODEL", fake_model)
    out = tmp_path / "out"
    rc = bench_run.main(["--artifacts", str(art), "--out", str(out), "--quick"])
    report = json.loads((out / "results.json").read_text())
    text = (out / "results.txt").read_text()
    assert report["jobs"][0]["job"] == {"type": "model", "dir": "model"}
    assert report["jobs"][1]["job"] == {"type": "model", "dir": "model_bf16"}
    # Each model in a worker of its own: the bf16 one passes even after the
    # f32 one's worker died.
    bf16 = report["models"]["model_bf16"]
    assert bf16["status"] == "PASS", bf16
    assert bf16["info"]["reference_target"] == "cuda-emulated"
    assert "Whole model (model_bf16/model.onnx" in text
    assert "bf16: on the generated kernels" in text and "vs the cuda-emulated artifact" in text
    assert report["correct"] == {"lora_4096x4096_r16": True}    # the kernels ran anyway
    assert report["model"]["info"]["onnx"] == "examples/tiny_llama.onnx"
    if fake_model == "pass":
        assert rc == 0
        assert report["model"]["status"] == "PASS" and report["model"]["median_us"] == 321.0
        assert "Whole model (examples/tiny_llama.onnx" in text and ": PASS" in text
        assert "max abs diff 2.00e-06" in text and "median 321.0 us" in text
        assert "train step (" in text and "max rel diff 2.10e-05 (tol 0.001)" in text
        assert "train step: median 654.0 us" in text
    else:
        assert rc == 1
        assert report["model"]["status"] == "crash"
        assert "worker died (exit 11)" in report["model"]["error"]
        assert "Whole model (examples/tiny_llama.onnx" in text and "): crash" in text
        assert "worker died (exit 11)" in text
    # --no-model: no model job at all.
    rc = bench_run.main(["--artifacts", str(art), "--out", str(tmp_path / "o2"), "--quick",
                         "--no-model", "--only-correctness"])
    report = json.loads((tmp_path / "o2" / "results.json").read_text())
    assert rc == 0 and report["model"]["status"] == "skipped"
    assert all(j["job"]["type"] != "model" for j in report["jobs"])


def test_prepare_rejects_an_unknown_model_folder(capsys):
    assert prepare.main(["--models", "model,model_fp8", "--no-model"]) == 2
    err = capsys.readouterr().err
    assert "unknown model folders ['model_fp8']: the models are ['model', 'model_bf16']" in err


def test_bf16_model_job_without_ml_dtypes_is_skipped(tmp_path, monkeypatch):
    """The GPU machine's python may lack ml_dtypes, which the lora_opt package
    reads bf16 arrays with: the model job says so instead of failing."""
    pytest.importorskip("torch")
    monkeypatch.setattr(bench_run, "DEVICE", "cpu")
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)       # import raises
    model = tmp_path / "model_bf16" / "cuda"
    model.mkdir(parents=True)
    (model / "manifest.json").write_text(json.dumps(dict(
        target="cuda", arguments=[dict(name="a", kind="lora_a", dtype="bf16", shape=[8, 2])],
        outputs=[dict(name="logits", dtype="bf16", shape=[1, 4, 8])])))
    worker = bench_run.Worker(dict(cases=[]), tmp_path, SimpleNamespace(compile_mode="auto"),
                              driver=FakeDriver(2.0))
    res = worker.model(dict(type="model", dir="model_bf16"))
    assert res["status"] == "skipped"
    assert "model_bf16 has bf16 tensors" in res["error"] and "pip install ml_dtypes" in res["error"]
