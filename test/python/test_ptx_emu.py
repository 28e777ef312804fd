"""bench/gpu/ptx_emu.py: the generated kernels' PTX run on the CPU.

- the emulator's model of the hardware against the PTX ISA's tables and the
  descriptor values CUTLASS writes (swizzle patterns, a TMA-written tile read
  back through wgmma descriptors, the accumulator fragment, mbarrier phases),
  a hand-written kernel for the scalar instructions and one for the TMA
  reduce-add (clipped at the tensor's edge, fenced, after its
  griddepcontrol.wait, its source held until its group retires);
- every kind of generated kernel, compiled by the real lora-opt for small
  shapes (prepare.py --ptx), run through run.py's correctness check (outputs
  poisoned, guard rows, float64 references) with the emulator as its driver:
  the 64x64, 128x128 and 128x256 tilings, lora_down split over a cluster,
  the weight gradients split over tokens, the batched matmuls, f16 with a
  bias in the epilogue, TMA multicast and the fused t / dt (`fuse-lora-down`), whose hand-built 32B-swizzle
  descriptors no GPU has run yet, and dB and dA reduce-added by the dx
  kernel (`fuse-lora-b-grad`, `fuse-lora-a-grad`);
- that it catches broken kernels: a wrong descriptor fails the check, and
  so do dB's reduce-adds made stores; a missing TMA load is reported as a
  deadlock, and a consumer that lets the producer refill a stage before its
  wgmma has read it (no wgmma.wait_group in the main loop) is reported as a
  race, and so are a TMA store or reduce-add of what st.shared wrote
  without a fence.proxy.async after it and a TMA load before the thread's
  griddepcontrol.wait.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
GPU_DIR = ROOT / "bench" / "gpu"
sys.path.insert(0, str(GPU_DIR))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ptx_emu  # noqa: E402
from test_bench_gpu import real_lora_opt_or_skip  # noqa: E402


# --- the model ------------------------------------------------------------------

def test_swizzle_matches_the_ptx_tables():
    """The PTX ISA's swizzle tables: the 16-byte chunk order of each 128-byte
    line of a pattern (32B: 2 lines, 64B: 4, 128B: 8)."""
    tables = {32: ["0 1 2 3 4 5 6 7", "1 0 3 2 5 4 7 6"],
              64: ["0 1 2 3 4 5 6 7", "1 0 3 2 5 4 7 6", "2 3 0 1 6 7 4 5",
                   "3 2 1 0 7 6 5 4"],
              128: [" ".join(str(c ^ line) for c in range(8)) for line in range(8)]}
    for s, lines in tables.items():
        for line, text in enumerate(lines):
            chunks = [ptx_emu.swizzle(128 * line + 16 * c, s) for c in range(8)]
            # Chunk c of the line lands where the table puts it.
            order = [0] * 8
            for c, addr in enumerate(chunks):
                assert addr // 128 == line
                order[(addr % 128) // 16] = c
            assert " ".join(map(str, order)) == text, (s, line)
    assert ptx_emu.swizzle(np.arange(4096), 0).tolist() == list(range(4096))


def tma_tile(values: np.ndarray, base: int, s: int, smem: np.ndarray) -> None:
    """Writes a [rows, cols] bf16 box as TMA does: dense rows, swizzled."""
    rows, cols = values.shape
    lin = base + 2 * np.arange(rows * cols).reshape(rows, cols)
    addr = ptx_emu.swizzle(lin, s)
    bits = (values.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    smem[addr] = bits & 0xFF
    smem[addr + 1] = bits >> 8


def read_operand(smem, desc, rows, mn_major):
    off = ptx_emu.operand_offsets(desc, rows, mn_major)
    bits = smem[off].astype(np.uint32) | (smem[off + 1].astype(np.uint32) << 8)
    return (bits << 16).view(np.float32)


def descriptor(start, lbo, sbo, layout):
    return (start >> 4) | ((lbo >> 4) << 16) | ((sbo >> 4) << 32) | (layout << 62)


def bf16_values(shape, seed=0):
    v = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return ((v.view(np.uint32) >> 16) << 16).view(np.float32)


def test_tma_tile_read_through_descriptors():
    """A box that TMA writes is read back by wgmma descriptors with the
    values CUTLASS puts in them: K-major 128B (SBO 1024, + 32 B per k16), an
    N-major 128B [64 k x 64 n] box (SBO 1024 between 8-row groups of k), an
    N-major 32B [k x 16 n] box (SBO 256), and a K-major 128B slice of 16
    rows (B of the backward's g·Bᵀ)."""
    smem = np.zeros(1 << 16, dtype=np.uint8)
    base = 4096
    # K-major x box [64 rows x 64 k]: A of m64 for each k16.
    x = bf16_values((64, 64))
    tma_tile(x, base, 128, smem)
    for k16 in range(4):
        a = read_operand(smem, descriptor(base + 32 * k16, 16, 1024, 1), 64, False)
        assert np.array_equal(a, x[:, 16 * k16:16 * k16 + 16])
    # N-major w box [64 k x 64 n]: B (n, k) of each k16 two 8-row groups on.
    w = bf16_values((64, 64), 1)
    tma_tile(w, base, 128, smem)
    for k16 in range(4):
        b = read_operand(smem, descriptor(base + 2048 * k16, 0, 1024, 1), 64, True)
        assert np.array_equal(b, w[16 * k16:16 * k16 + 16, :].T)
    # N-major A slice of the fused forward: [64 k x 16 n] with 32 B rows.
    a_slice = bf16_values((64, 16), 2)
    tma_tile(a_slice, base, 32, smem)
    for k16 in range(4):
        b = read_operand(smem, descriptor(base + 512 * k16, 2048, 256, 3), 16, True)
        assert np.array_equal(b, a_slice[16 * k16:16 * k16 + 16, :].T)
    # The same slice read with LBO and SBO swapped is not the slice: the
    # check that lets the end-to-end test below catch such a descriptor.
    wrong = read_operand(smem, descriptor(base, 256, 2048, 3), 16, True)
    assert not np.array_equal(wrong, a_slice[:16, :].T)
    # K-major B slice [16 n x 64 k] (the dx kernel's B of g·Bᵀ).
    bt = bf16_values((16, 64), 3)
    tma_tile(bt, base, 128, smem)
    for k16 in range(4):
        b = read_operand(smem, descriptor(base + 32 * k16, 16, 1024, 1), 16, False)
        assert np.array_equal(b, bt[:, 16 * k16:16 * k16 + 16])


def test_accumulator_fragment():
    rows, cols = ptx_emu.fragment_index(256)
    assert rows.shape == (128, 128)
    cells = set(zip(rows.ravel().tolist(), cols.ravel().tolist()))
    assert len(cells) == 64 * 256
    # Thread 0: d0, d1 = (0, 0), (0, 1); d2, d3 = (8, 0), (8, 1); d4 = (0, 8).
    first = [(rows[0, i], cols[0, i]) for i in range(5)]
    assert first == [(0, 0), (0, 1), (8, 0), (8, 1), (0, 8)]
    # Lane 5 of warp 2: row 16·2 + 5/4, columns 2·(5 % 4).
    assert (rows[69, 0], cols[69, 0]) == (33, 2)


def test_mbarrier_phases():
    bar = ptx_emu.Mbarrier(2)
    assert bar.done(1) and not bar.done(0)      # the phase before the first
    bar.expect_tx(100)
    bar.arrive()
    bar.arrive()
    assert not bar.done(0)                      # bytes still in flight
    bar.complete_tx(100)
    assert bar.done(0) and not bar.done(1)
    bar.complete_tx(8)                          # bytes before their expect_tx
    bar.expect_tx(8)
    bar.arrive(2)
    assert bar.done(1) and bar.phase == 2
    with pytest.raises(ptx_emu.EmuError):
        bar.arrive(3)


SCALAR_PTX = r"""
.version 8.0
.target sm_90a
.address_size 64
.visible .entry scalar(
	.param .u64 .ptr .align 1 scalar_param_0,
	.param .u32 scalar_param_1
)
.reqntid 64, 1, 1
{
	.reg .pred 	%p<3>;
	.reg .b32 	%r<20>;
	.reg .f32 	%f<6>;
	.reg .b64 	%rd<6>;
	ld.param.u64 	%rd1, [scalar_param_0];
	ld.param.u32 	%r1, [scalar_param_1];
	mov.u32 	%r2, %tid.x;
	mul.wide.u32 	%rd2, %r2, 16;
	add.s64 	%rd3, %rd1, %rd2;
	mad.lo.s32 	%r3, %r2, %r1, -5;
	cvt.rn.f32.s32 	%f1, %r3;
	mul.rn.f32 	%f2, %f1, 0f3F000000;
	cvt.rn.bf16x2.f32 	%r4, %f2, %f1;
	setp.lt.s32 	%p1, %r3, 0;
	selp.b32 	%r5, 1, 2, %p1;
	shfl.sync.idx.b32 	%r6, %r2, 3, 31, -1;
	shr.s32 	%r7, %r3, 1;
	st.global.v4.u32 	[%rd3], {%r3, %r4, %r5, %r6};
	setp.ne.s32 	%p2, %r2, 0;
	@%p2 bra 	$L__done;
	st.global.u32 	[%rd3+12], %r7;
$L__done:
	ret;
}
"""


def test_scalar_instructions():
    drv = ptx_emu.EmuDriver()
    fn, info = drv.get_function(drv.load_module(SCALAR_PTX.encode()), "scalar", 0)
    assert info["max_threads"] == 64
    out = np.zeros((64, 4), dtype=np.uint32)
    values = [ctypes.c_uint64(out.ctypes.data), ctypes.c_uint32(7)]
    params = (ctypes.c_void_p * 2)(*[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p)
                                     for v in values])
    drv.launch(fn, (1, 1, 1), (64, 1, 1), 0, 0, params)
    tid = np.arange(64)
    r3 = tid * 7 - 5
    assert out[:, 0].view(np.int32).tolist() == r3.tolist()
    f = r3.astype(np.float32)

    torch = pytest.importorskip("torch")

    def bf16(v):                                       # torch rounds to nearest even
        t = torch.from_numpy(v.astype(np.float32)).to(torch.bfloat16).view(torch.int16)
        return t.numpy().astype(np.uint16).astype(np.uint32)
    assert out[:, 1].tolist() == ((bf16(f * 0.5) << 16) | bf16(f)).tolist()
    assert out[:, 2].tolist() == np.where(r3 < 0, 1, 2).tolist()
    assert out[1:, 3].tolist() == [32 * (t // 32) + 3 for t in range(1, 64)]
    assert out[0, 3].view(np.int32) == -3                  # shr.s32 of -5


def test_unknown_instruction_is_named():
    ptx = SCALAR_PTX.replace("ret;", "brkpt.foo;\n\tret;")
    drv = ptx_emu.EmuDriver()
    fn, _ = drv.get_function(drv.load_module(ptx.encode()), "scalar", 0)
    out = np.zeros((64, 4), dtype=np.uint32)
    values = [ctypes.c_uint64(out.ctypes.data), ctypes.c_uint32(1)]
    params = (ctypes.c_void_p * 2)(*[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p)
                                     for v in values])
    with pytest.raises(ptx_emu.EmuError, match="not modelled: brkpt.foo"):
        drv.launch(fn, (1, 1, 1), (64, 1, 1), 0, 0, params)


REDUCE_PTX = r"""
.version 8.0
.target sm_90a
.address_size 64
.visible .entry reduce_add(
	.param .u64 .ptr .align 1 reduce_add_param_0,
	.param .u32 reduce_add_param_1
)
.reqntid 64, 1, 1
{
	.reg .pred 	%p<3>;
	.reg .b32 	%r<12>;
	.reg .f32 	%f<2>;
	.reg .b64 	%rd<2>;
	.shared .align 128 .b8 box[4096];
	ld.param.u64 	%rd1, [reduce_add_param_0];
	ld.param.u32 	%r1, [reduce_add_param_1];
	griddepcontrol.wait;
	mov.u32 	%r2, %tid.x;
	mov.u32 	%r3, 0;
	mov.u32 	%r4, box;
	shl.b32 	%r5, %r2, 6;
	add.s32 	%r6, %r4, %r5;
	shl.b32 	%r7, %r2, 4;
$L__row:
	add.s32 	%r8, %r7, %r3;
	cvt.rn.f32.u32 	%f1, %r8;
	st.shared.f32 	[%r6], %f1;
	add.s32 	%r6, %r6, 4;
	add.s32 	%r3, %r3, 1;
	setp.lt.u32 	%p1, %r3, 16;
	@%p1 bra 	$L__row;
	fence.proxy.async.shared::cta;
	bar.sync 	0;
	setp.ne.s32 	%p2, %r2, 0;
	@%p2 bra 	$L__done;
	cp.reduce.async.bulk.tensor.2d.global.shared::cta.add.tile.bulk_group [%rd1, {0, %r1}], [box];
	cp.async.bulk.commit_group;
	cp.async.bulk.wait_group.read 0;
$L__done:
	ret;
}
"""


def run_reduce_add(ptx: str, row: int, dbt: np.ndarray, rows: int = 80) -> None:
    """REDUCE_PTX (or an edit of it): 64 threads write a [64 x 16] f32 box
    (element (i, j) = 16i + j) to shared memory and thread 0 adds it with a
    TMA reduce-add at row `row` of dbt's first `rows` rows, through a map
    as the fused dx kernel's db param has it (dims [rows, 16], box [64, 16])."""
    import lora_abi
    drv = ptx_emu.EmuDriver()
    fn, _ = drv.get_function(drv.load_module(ptx.encode()), "reduce_add", 0)
    param = dict(role="db", dtype="f32", dims=[rows, 16], box=[64, 16], swizzle=0)
    tmap = np.frombuffer(drv.encode(lora_abi.tensormap_args(param, 1, dbt.ctypes.data)),
                         dtype=np.uint8).copy()
    values = [ctypes.c_uint64(tmap.ctypes.data), ctypes.c_uint32(row)]
    params = (ctypes.c_void_p * 2)(*[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p)
                                     for v in values])
    drv.launch(fn, (1, 1, 1), (64, 1, 1), 0, 0, params)


def test_tma_reduce_add():
    """cp.reduce.async.bulk.tensor .add: each f32 of the box is added to
    global memory, the rows past the tensor's 80 clipped (the guard rows
    after it keep their value); two boxes over rows 48..63 sum there."""
    dbt = np.full((80 + 64, 16), 0.5, dtype=np.float32)
    box = np.arange(64 * 16, dtype=np.float32).reshape(64, 16)
    run_reduce_add(REDUCE_PTX, 0, dbt)
    run_reduce_add(REDUCE_PTX, 48, dbt)
    want = np.full_like(dbt, 0.5)
    want[:64] += box
    want[48:80] += box[:32]
    assert np.array_equal(dbt, want)


@pytest.mark.parametrize("edit,error", [
    # Written with st.shared and not fenced: the async proxy may not see it.
    (lambda t: t.replace("fence.proxy.async.shared::cta;", ""),
     r"TMA reduce-add from shared 0x[0-9a-f]+: .*no fence\.proxy\.async"),
    # Before the thread's griddepcontrol.wait (PDL: the kernel before may
    # still be writing the accumulator).
    (lambda t: t.replace("griddepcontrol.wait;", "").replace(
        "cp.async.bulk.commit_group;", "cp.async.bulk.commit_group;\n\tgriddepcontrol.wait;"),
     r"TMA reduce-add before the thread's griddepcontrol\.wait"),
    # The box rewritten before wait_group.read retired the reduce that reads it.
    (lambda t: t.replace("cp.async.bulk.commit_group;",
                         "cp.async.bulk.commit_group;\n\tst.shared.f32 \t[box], %f1;"),
     r"shared store at 0x[0-9a-f]+ into bytes that an in-flight wgmma or TMA store still reads"),
], ids=["unfenced", "before-griddepcontrol-wait", "rewritten-before-wait-group"])
def test_tma_reduce_add_races(edit, error):
    ptx = edit(REDUCE_PTX)
    assert ptx != REDUCE_PTX
    dbt = np.zeros((80 + 64, 16), dtype=np.float32)
    with pytest.raises(ptx_emu.EmuError, match=error):
        run_reduce_add(ptx, 0, dbt)


# --- the generated kernels --------------------------------------------------------

# (case spec, M, kernels that must have run): each kind of kernel at a shape
# small enough to emulate in seconds.
KERNEL_CASES = [
    ("256x512:g16", 100, {"lora_down", "lora_linear_64x64", "lora_t_grad",
                          "lora_b_grad_split1", "lora_a_grad_split1",
                          "lora_input_grad_64x64"}),
    ("256x512:g16@fuse-lora-down", 100, {"lora_linear_64x64", "lora_input_grad_64x64",
                                         "lora_b_grad_split1", "lora_a_grad_split1"}),
    # dB in the dx kernel: 4 column tiles of dx [100, 256] take g's 8 steps
    # in turn (j, j + 4), each of 2 row tiles (rows 100..127 past M) adding
    # its 64 x 16 parts of dBᵀ; no lora_b_grad.
    ("256x512:g16@fuse-lora-down+fuse-lora-b-grad", 100, {"lora_linear_64x64",
                                                          "lora_input_grad_64x64",
                                                          "lora_a_grad_split1"}),
    # dA too: each of those 8 CTAs loads x's [64 x 64] block of its dx tile
    # (rows 100..127 past M read as zeros) and adds its [64 x 16] part of
    # dA = xᵀ·dt, two row tiles into each of dA's 4 row blocks; no
    # lora_a_grad, the backward is that one kernel.
    ("256x512:g16@fuse-lora-down+fuse-lora-b-grad+fuse-lora-a-grad", 100,
     {"lora_linear_64x64", "lora_input_grad_64x64"}),
    ("4x64x96:bmmt", 100, {"matmul"}),
    ("4x64x96:bmm", 70, {"matmul"}),
    ("2048x64:16", 64, {"lora_down_split2", "lora_linear_64x64"}),
    ("64x64:g16", 2100, {"lora_b_grad_split2", "lora_a_grad_split2"}),
    ("128x1024:16@multicast=2", 1100, {"lora_down", "lora_linear"}),
    ("128x1024:16@fuse-lora-down+multicast=2", 1100, {"lora_linear"}),
    ("1024x128:g16@fuse-lora-down+multicast=2", 1100, {"lora_linear_64x64",
                                                       "lora_input_grad"}),
    # 128x256 tiles, 4 stages wrapping twice over K = 512: the forward of
    # the `_fused_mc2` tuning case, at its tiling.
    ("512x1024:16@tile-n=256+fuse-lora-down+multicast=2", 2100, {"lora_linear"}),
    # K = 4096: lora_down split 4 ways, 14-stage rings wrapping 4 times; K =
    # 3520 (55 steps over 2 CTAs of 28 and 27) with r = 128 (staging rows of
    # 136 floats), the bench's edge case.
    ("4096x64:16", 64, {"lora_down_split4", "lora_linear_64x64"}),
    ("4096x64:g16@fuse-lora-down", 64, {"lora_input_grad_64x64", "lora_a_grad_split1"}),
    ("3520x64:128", 64, {"lora_down_split2"}),
    ("256x512:16:f16:bias", 100, {"lora_down", "lora_linear_64x64"}),
    ("128x1024:16:f16:bias@fuse-lora-down", 1100, {"lora_linear"}),
    # The direct epilogue: 64x64 tiles (one 128 B box) in every kernel of
    # the forward+backward that keeps it; 128x128 tiles of two consumers with
    # an f16 bias; 64x256 tiles (four boxes) of the fused forward.
    ("256x512:g16@direct-epilogue", 100, {"lora_linear_64x64", "lora_input_grad_64x64",
                                          "lora_b_grad_split1", "lora_a_grad_split1"}),
    ("128x1024:16:f16:bias@direct-epilogue", 1100, {"lora_down", "lora_linear"}),
    ("512x1024:16@tile-n=256+fuse-lora-down+direct-epilogue", 300,
     {"lora_linear_64x256"}),
    # Persistent kernels of 2 or 3 CTAs taking 20-40 tiles each, their
    # stages' uses carried across tiles (13 stages of 64x64 over 5 steps a
    # tile; 5 of 128x128 over 3): 64x64 tiles, fused, in the forward and
    # the dx kernel; 128x128 tiles of two consumers; 64x256 tiles, fused.
    ("256x512:g16@fuse-lora-down+persistent=2", 100, {"lora_linear_64x64",
                                                      "lora_input_grad_64x64"}),
    ("128x1024:16@persistent=3", 1100, {"lora_down", "lora_linear"}),
    ("512x1024:16@tile-n=256+fuse-lora-down+persistent=2", 300,
     {"lora_linear_64x256"}),
    # The bench's persistent tiling: 128x256, two consumers, 3 stages beside
    # the 64 KiB epilogue tile, 2 CTAs over 68 tiles.
    ("512x1024:16@tile-n=256+fuse-lora-down+persistent=2", 2100, {"lora_linear"}),
    # f32 outputs (a tosa.matmul's own result): the direct epilogue's
    # 32-column boxes of 8-byte pairs, persistent at 128x128 and at 64x256
    # (3 stages); at 128x256 the epilogue tile (128 KiB) would leave 2
    # stages, so that tiling stays one CTA per tile with its staging tile.
    ("512x1024:mm:f32out@persistent=2", 1100, {"matmul"}),
    ("512x1024:mm:f32out@tile-n=256+persistent=2", 300, {"matmul_64x256"}),
    ("512x1024:mm:f32out@tile-n=256+persistent=2", 2100, {"matmul"}),
]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    real_lora_opt_or_skip()
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("emu")
    specs = ",".join(spec for spec, _, _ in KERNEL_CASES)
    proc = subprocess.run([sys.executable, str(GPU_DIR / "prepare.py"), "--no-model",
                           "--ptx", "--cases", specs, "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def case_id(spec: str) -> str:
    import lora_abi
    (case,) = lora_abi.parse_case_spec(spec)
    return case["id"]


@pytest.mark.parametrize("spec,M,kernels", KERNEL_CASES,
                         ids=[f"{s}-M{m}" for s, m, _ in KERNEL_CASES])
def test_generated_kernel_on_emulator(artifacts, spec, M, kernels):
    (res,) = ptx_emu.check_cases(artifacts, case_id(spec), [M], log=lambda _: None)
    assert res["status"] == "PASS", res
    assert kernels <= set(res["kernels"]), res["kernels"]
    for name, err in res.items():
        if name.endswith("_err") and isinstance(err, float):
            assert err < 1e-2, (name, err)
    assert res["guard_ok"]
    if "fuse-lora-b-grad" in spec:
        assert not any("lora_b_grad" in k for k in res["kernels"]), res["kernels"]
    if "fuse-lora-a-grad" in spec:
        assert not any("lora_a_grad" in k for k in res["kernels"]), res["kernels"]
    # The multicast and split cases ran as clusters of two CTAs.
    if "multicast" in spec or "split2" in " ".join(kernels):
        assert (1, 2, 1) in res["clusters"].values() or (2, 1, 1) in res["clusters"].values(), \
            res["clusters"]


def mutated(artifacts: Path, tmp_path: Path, case: str, edit) -> Path:
    """A copy of the artifacts whose `case` PTX went through edit(text)."""
    out = tmp_path / "mutated"
    shutil.copytree(artifacts, out)
    changed = 0
    for p in out.glob(f"{case}.*.ptx"):
        text = p.read_text()
        new = edit(text)
        changed += new != text
        p.write_text(new)
    assert changed, "the mutation changed nothing"
    return out


def test_wrong_descriptor_fails(artifacts, tmp_path):
    """The fused forward's 32B-swizzled A-slice descriptors with LBO and SBO
    swapped: t and y come out wrong and the check says so."""
    case = case_id("256x512:g16@fuse-lora-down")
    mask = (1 << 64) - 1

    def swap(m):
        v = int(m.group(2)) & mask
        if v >> 62 != 3:                                # not a 32B-swizzle descriptor
            return m.group(0)
        lbo, sbo = (v >> 16) & 0x3FFF, (v >> 32) & 0x3FFF
        v = (v & ~((0x3FFF << 16) | (0x3FFF << 32))) | (sbo << 16) | (lbo << 32)
        return m.group(1) + str(v - (1 << 64) if v >> 63 else v)
    bad = mutated(artifacts, tmp_path, case,
                  lambda t: re.sub(r"(or\.b64\s+%rd\d+,\s*%rd\d+,\s*)(-?\d+)", swap, t))
    (res,) = ptx_emu.check_cases(bad, case, [100], log=lambda _: None)
    # Reading k rows 8..15 from 2048 bytes on, it reads the next stages' A
    # slices, which TMA loads in flight still hold: a race, before even the
    # wrong t.
    assert res["status"] == "ERROR" and "wgmma" in res["error"] and (
        "TMA load in flight" in res["error"]), res


def test_lost_tma_load_deadlocks(artifacts, tmp_path):
    """A kernel whose producer skips one TMA load never completes that
    stage's mbarrier: the emulator names the deadlock, where each thread waits."""
    case = case_id("4x64x96:bmm")

    def drop_first_load(text):
        return re.sub(r"\n\s*cp\.async\.bulk\.tensor\.\dd\.shared::cluster\.global[^;]*;",
                      "\n", text, count=1)
    bad = mutated(artifacts, tmp_path, case, drop_first_load)
    (res,) = ptx_emu.check_cases(bad, case, [70], log=lambda _: None)
    assert res["status"] == "ERROR" and "deadlock" in res["error"], res
    assert "mbarrier.try_wait" in res["error"]


def test_stage_released_before_its_wgmma_fails(artifacts, tmp_path):
    """The main loop's wgmma.wait_group 1 made a no-op (wait for 16 groups):
    each consumer then releases a stage while the wgmma that reads it may
    still be in flight. With more K steps (32) than stages (14) the producer
    refills such a stage: the emulator names the race at that TMA load (an
    emulator that ran each wgmma at issue passed this kernel)."""
    case = case_id("2048x64:16")
    bad = mutated(artifacts, tmp_path, case, lambda t: re.sub(
        r"wgmma\.wait_group\.sync\.aligned\s+1;", "wgmma.wait_group.sync.aligned 16;", t))
    (res,) = ptx_emu.check_cases(bad, case, [64], log=lambda _: None)
    assert res["status"] == "ERROR" and "TMA load into shared" in res["error"] and (
        "in-flight wgmma" in res["error"]), res


def test_db_stored_instead_of_added_fails(artifacts, tmp_path):
    """The dx kernel's dB reduce-adds made plain TMA stores: of each g
    step's parts (one per row tile) only the last stored survives, and the
    check names dB (the other outputs stay right)."""
    case = case_id("256x512:g16@fuse-lora-down+fuse-lora-b-grad")
    bad = mutated(artifacts, tmp_path, case, lambda t: re.sub(
        r"cp\.reduce\.async\.bulk\.tensor\.(\dd)\.global\.shared::cta\.add\.tile\.bulk_group",
        r"cp.async.bulk.tensor.\1.global.shared::cta.tile.bulk_group", t))
    (res,) = ptx_emu.check_cases(bad, case, [100], log=lambda _: None)
    assert res["status"] == "FAIL" and res["db_err"] > 0.1, res
    assert max(res[f"{n}_err"] for n in ("y", "dx", "da")) < 1e-2, res


def test_db_reduce_without_proxy_fence_fails(artifacts, tmp_path):
    """The fence.proxy.async between the consumers' st.shared of a dB part
    and its reduce-add deleted (the last one before each cp.reduce): the
    async proxy may not see the part, and the emulator names the race at
    the reduce-add."""
    case = case_id("256x512:g16@fuse-lora-down+fuse-lora-b-grad")
    fence = "fence.proxy.async.shared::cta;"

    def drop_fences(text):
        out, pos = [], 0
        for m in re.finditer(r"cp\.reduce\.async\.bulk\.tensor", text):
            cut = text.rfind(fence, pos, m.start())
            if cut >= 0:
                out.append(text[pos:cut])
                pos = cut + len(fence)
        return "".join(out) + text[pos:]
    bad = mutated(artifacts, tmp_path, case, drop_fences)
    (res,) = ptx_emu.check_cases(bad, case, [100], log=lambda _: None)
    assert res["status"] == "ERROR" and "TMA reduce-add from shared" in res["error"] and (
        "no fence.proxy.async" in res["error"]), res


@pytest.mark.parametrize("spec,M", [("256x512:g16@direct-epilogue", 100),
                                    ("128x1024:16:f16:bias@fuse-lora-down", 1100)])
def test_missing_proxy_fence_fails(artifacts, tmp_path, spec, M):
    """TMA and wgmma read shared memory through the async proxy, which sees
    what st.shared wrote only after the writer's fence.proxy.async. With
    those fences deleted, the direct epilogue's y boxes and the fused
    forward's t tile reach their TMA stores unfenced: the emulator names
    the race there (before, a missing fence went unseen and both passed)."""
    case = case_id(spec)
    bad = mutated(artifacts, tmp_path, case, lambda t: re.sub(
        r"\n\s*fence\.proxy\.async\.shared::cta;", "\n", t))
    (res,) = ptx_emu.check_cases(bad, case, [M], log=lambda _: None)
    assert res["status"] == "ERROR" and "TMA store from shared" in res["error"] and (
        "no fence.proxy.async" in res["error"]), res


def test_global_access_before_griddepcontrol_wait_fails(artifacts, tmp_path):
    """Every kernel waits in griddepcontrol.wait before it touches global
    memory, so that launched with PDL it cannot read what the kernel before
    it is still writing. With each wait moved to just before the kernel's
    ret, the first thread to load (lora_down's producer) is stopped there;
    before, griddepcontrol was a no-op and the kernel passed."""
    case = case_id("64x64:g16")

    def wait_last(text):
        text = re.sub(r"\n\s*griddepcontrol\.wait;", "\n", text)
        return re.sub(r"\n(\s*)ret;", r"\n\1griddepcontrol.wait;\n\1ret;", text)
    bad = mutated(artifacts, tmp_path, case, wait_last)
    (res,) = ptx_emu.check_cases(bad, case, [100], log=lambda _: None)
    assert res["status"] == "ERROR" and (
        "TMA load before the thread's griddepcontrol.wait" in res["error"]), res


def test_artifacts_without_ptx_say_how_to_get_it(tmp_path, monkeypatch):
    """Cubin-only artifacts (prepare.py without --ptx) under the emulator:
    the error names the missing PTX and the flag that writes it."""
    pytest.importorskip("torch")
    from types import SimpleNamespace

    import run as bench_run
    from test_bench_gpu import cpu_manifest
    monkeypatch.setattr(bench_run, "DEVICE", "cpu")
    manifest = cpu_manifest(tmp_path, "256x512:mm")
    worker = bench_run.Worker(manifest, tmp_path, SimpleNamespace(compile_mode="auto"),
                              driver=ptx_emu.EmuDriver())
    with pytest.raises(RuntimeError, match=r"no ptx in kernels.json \(prepare.py --ptx"):
        worker.check(dict(case="matmul_256x512", M=64, type="check"))
