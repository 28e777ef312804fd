"""A functional emulator of the PTX our kernels are made of, on the CPU.

No GPU was lent to most sessions, and ptxas only says that a kernel
compiles: not that its TMA coordinates, its wgmma descriptors, its mbarrier
protocol or its epilogue compute the right thing. This runs the PTX that
`gpu-lower-to-nvvm-pipeline` emits (cubin-format=isa), thread by thread,
with the semantics of the PTX ISA for the instructions the generated
kernels use, so that bench/gpu/run.py's correctness checks (every output
poisoned, guard rows, float64 references) run here on small shapes:
`EmuDriver` stands for run.Driver.

What is modelled, and how:
  threads     every thread of a CTA (all CTAs of a cluster together) has its
              own registers, held as raw bits (Python ints); a round-robin
              scheduler runs each until it blocks (bar.sync, a collective
              wgmma), spins (a failed mbarrier.try_wait yields) or exits. A
              round in which no thread moves is a deadlock, reported with
              each thread's instruction.
  memory      global: the host process's memory at the kernel's addresses
              (the worker's tensors are CPU tensors); shared: one byte
              array per CTA, static variables first, the dynamic array at its
              alignment; shared::cluster addresses carry the CTA rank above
              bit 24; generic addresses of shared memory lie above 2^60.
  mbarrier    count, pending arrivals, transaction bytes and phase per
              barrier; try_wait.parity(p) succeeds once the phase of parity p
              has completed, as the hardware's does.
  TMA         a cp.async.bulk.tensor load reads its box when issued and
              lands it, with the tensor map's swizzle (zeros outside the
              tensor), only when a thread next waits on the mbarrier it
              completes on (of every CTA in a multicast mask); a store reads
              shared memory when the thread's cp.async.bulk.wait_group
              retires its group (or the thread exits) and writes the box's
              elements that lie inside the tensor; a reduce-add
              (cp.reduce.async.bulk.tensor .add, f32) likewise adds them.
  wgmma       wgmma.mma_async is queued once all 128 threads of the
              warpgroup have issued it, and runs when a wgmma.wait_group
              retires its group (commit and wait are warpgroup-collective):
              each operand is read from shared memory through its descriptor
              (start, LBO, SBO, swizzle) in the canonical layouts of the PTX
              ISA, the product accumulated in float64 and rounded to f32 into
              each thread's fragment registers (m64nNk16's layout).
  races       every shared byte records who else holds it: in-flight wgmmas
              and TMA stores reading it, TMA loads that have not landed in
              it, an mbarrier living in it. A TMA load into bytes an
              unretired wgmma reads (a stage released before its
              wait_group), a wgmma or ld.shared reading bytes a load has not
              landed in (no wait on the full barrier), a st.shared into any
              held byte, an access to an exited CTA's shared memory, all
              stop the run with an error naming the race. Shared memory
              starts as all ones (a bf16 NaN), not zeros.
  proxies     each shared byte written through the generic proxy (st.shared,
              atom) records its writer until that thread runs a
              fence.proxy.async; a TMA store (or reduce-add) or wgmma
              reading such a byte, or a TMA load overwriting it, is a race
              (the async proxy may not see the write) and stops the run.
  PDL         in a kernel with a griddepcontrol.wait, a thread that loads or
              stores global memory (TMA included) before its own wait stops
              the run: launched with PDL, the kernel before it in the stream
              may still be running. Grids still run one at a time, and
              launch_dependents is a no-op.
  not         timing, other fences (no-ops: the one interleaving orders
              everything they would), caches, tensor-map prefetches (the
              maps themselves are read at will); one interleaving only (a
              thread runs until it blocks, CTAs in rank order), and wgmma
              commit/wait gather the whole warpgroup where the ISA syncs a
              warp, so a race that needs another order may go unseen.

The tensor maps are run.py's (lora_abi.tensormap_args): encode() keeps each
in a table and writes its index into the 128 bytes the kernel is given.
"""

from __future__ import annotations

import collections
import ctypes
import re
import struct
from dataclasses import dataclass, field

import numpy as np

SHARED_GENERIC = 1 << 60       # generic addresses of shared memory
CLUSTER_RANK_SHIFT = 24        # shared::cluster address: (rank + 1) << 24 | offset
SMEM_LIMIT = 232448            # sm_90's opt-in dynamic shared memory per block
MAX_STEPS = 400_000_000        # instructions per launch before giving up

_F32 = struct.Struct("<f")
_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
_U64 = struct.Struct("<Q")


class EmuError(RuntimeError):
    pass


# --- bit helpers -------------------------------------------------------------

def f32(bits: int) -> float:
    return _F32.unpack(_U32.pack(bits & 0xFFFFFFFF))[0]


def f32_bits(x: float) -> int:
    try:
        return _U32.unpack(_F32.pack(x))[0]
    except OverflowError:
        return 0xFF800000 if x < 0 else 0x7F800000


def f64(bits: int) -> float:
    return _F64.unpack(_U64.pack(bits & 0xFFFFFFFFFFFFFFFF))[0]


def f64_bits(x: float) -> int:
    return _U64.unpack(_F64.pack(x))[0]


def bf16_bits(x_bits: int) -> int:
    """cvt.rn.bf16.f32 on f32 bits: round to nearest even."""
    b = x_bits & 0xFFFFFFFF
    if (b & 0x7F800000) == 0x7F800000 and b & 0x7FFFFF:
        return 0x7FC0
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) & 0xFFFF


def f16_bits(x_bits: int) -> int:
    return int(np.array([f32(x_bits)], dtype=np.float32).astype(np.float16).view(np.uint16)[0])


def half_to_f32(bits: int, kind: str) -> float:
    if kind == "bf16":
        return f32((bits & 0xFFFF) << 16)
    return float(np.array([bits & 0xFFFF], dtype=np.uint16).view(np.float16)[0])


def sext(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


# --- parsing -----------------------------------------------------------------

@dataclass
class Param:
    name: str
    size: int
    align: int


@dataclass
class Instr:
    pred: str | None          # "%p1" or "!%p1" guard, register name resolved later
    op: str                   # "add.s32"
    args: list                # operand strings
    text: str                 # the statement, for messages


@dataclass
class Kernel:
    name: str
    params: list[Param]
    instrs: list[Instr]
    labels: dict[str, int]
    reqntid: tuple | None = None
    maxntid: tuple | None = None
    cluster: tuple = (1, 1, 1)
    shared: dict = field(default_factory=dict)     # name -> offset (module layout)
    shared_static: int = 0
    dynamic_base: int = 0


_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def _split_args(s: str) -> list[str]:
    out, depth, cur = [], 0, []
    for ch in s:
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def _align(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def parse_module(text: str) -> dict[str, Kernel]:
    """The .entry kernels of a PTX module, with the module's shared
    variables laid out (static ones first, in order; the extern dynamic array
    after them at its alignment)."""
    text = _COMMENT.sub("", text)
    shared, static_end, dyn_align, dyn_name = {}, 0, 16, None
    for m in re.finditer(r"^\s*(\.extern\s+)?\.shared\s+\.align\s+(\d+)\s+\.(\w+)\s+"
                         r"([\w$]+)\[(\d*)\]\s*;", text, re.M):
        extern, align, _, name, count = m.groups()
        if extern or not count:
            dyn_align, dyn_name = int(align), name
            continue
        static_end = _align(static_end, int(align))
        shared[name] = static_end
        static_end += int(count)
    kernels = {}
    for m in re.finditer(r"\.entry\s+([\w$]+)\s*\((.*?)\)(.*?)\{", text, re.S):
        name, params_text, directives = m.groups()
        params = []
        for p in re.finditer(r"\.param\s+(.*?)([\w$]+)(\[(\d+)\])?\s*(?:,|$)", params_text, re.S):
            spec, pname, _, count = p.groups()
            align = int(re.search(r"\.align\s+(\d+)", spec).group(1)) if ".align" in spec else 0
            tm = re.search(r"\.([usbf])(\d+)\b", spec)
            esize = int(tm.group(2)) // 8 if tm else 1
            size = esize * (int(count) if count else 1)
            params.append(Param(pname, size, align or esize))
        body, end = _body(text, m.end())
        k = Kernel(name, params, [], {})
        for key, attr in (("reqntid", "reqntid"), ("maxntid", "maxntid"),
                          ("reqnctapercluster", "cluster")):
            dm = re.search(r"\." + key + r"\s+([\d,\s]+)", directives)
            if dm:
                vals = tuple(int(v) for v in dm.group(1).replace(" ", "").split(",") if v)
                setattr(k, attr, vals + (1,) * (3 - len(vals)))
        k.shared = dict(shared)
        k.shared_static = static_end
        _parse_body(k, body)                 # adds the kernel's own shared variables
        k.dynamic_base = _align(k.shared_static, dyn_align)
        if dyn_name:
            k.shared[dyn_name] = k.dynamic_base
        kernels[name] = k
    return kernels


def _body(text: str, start: int) -> tuple[str, int]:
    depth, i = 1, start
    while depth:
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        i += 1
    return text[start:i - 1], i


def _parse_body(k: Kernel, body: str) -> None:
    """Statements, labels and `{ }` scopes (inline asm declares registers
    and labels of its own: they are renamed per scope)."""
    scopes = [dict()]            # name -> renamed
    counter = [0]
    label_re = re.compile(r"\s*([\w$]+):(?!:)")

    def rename(name: str) -> str:
        for s in reversed(scopes):
            if name in s:
                return s[name]
        return name

    def sub_names(s: str) -> str:
        return re.sub(r"%?[A-Za-z_$][\w$]*", lambda m: rename(m.group(0)), s)

    stmts = list(_statements(k.name, body, label_re))
    for i, t in enumerate(stmts):
        if t == "{":
            counter[0] += 1
            scopes.append({})
            depth = 0
            for u in stmts[i + 1:]:                # the scope's labels, before their use
                if u == "{":
                    depth += 1
                elif u == "}":
                    if not depth:
                        break
                    depth -= 1
                elif not depth and u.endswith(":"):
                    scopes[-1][u[:-1]] = f"{u[:-1]}@{counter[0]}"
            continue
        if t == "}":
            scopes.pop()
            continue
        if t.endswith(":"):
            label = t[:-1]
            if len(scopes) > 1:
                label = scopes[-1][label]
            k.labels[label] = len(k.instrs)
            continue
        stmt = t[:-1].strip()
        if not stmt:
            continue
        if stmt.startswith(".reg"):
            if len(scopes) > 1:
                for name, count in re.findall(r"(%?[\w$]+)\s*(?:<(\d+)>)?\s*(?:,|$)",
                                              re.sub(r"^\.reg\s+(\.\w+\s+)+", "", stmt)):
                    for n in ([name] if not count else
                              [f"{name}{i}" for i in range(int(count))]):
                        scopes[-1][n] = f"{n}@{counter[0]}"
            continue
        if stmt.startswith(".shared"):
            sm = re.fullmatch(r"\.shared\s+\.align\s+(\d+)\s+\.\w+\s+([\w$]+)\[(\d+)\]", stmt)
            if not sm:
                raise EmuError(f"{k.name}: shared declaration {stmt!r}")
            off = _align(k.shared_static, int(sm.group(1)))
            k.shared[sm.group(2)] = off
            k.shared_static = off + int(sm.group(3))
            continue
        if stmt.startswith((".local", ".pragma", ".loc", ".file")):
            if stmt.startswith(".local"):
                raise EmuError(f"{k.name}: local memory ({stmt}) is not modelled")
            continue
        pred = None
        pm = re.match(r"@(!?%?[\w$]+)\s+(.*)", stmt, re.S)
        if pm:
            pred, stmt = pm.group(1), pm.group(2)
        parts = stmt.split(None, 1)
        op = parts[0]
        args = _split_args(parts[1]) if len(parts) > 1 else []
        if len(scopes) > 1:
            args = [sub_names(a) for a in args]
            if pred:
                neg = pred.startswith("!")
                pred = ("!" if neg else "") + rename(pred.lstrip("!"))
        k.instrs.append(Instr(pred, op, args, stmt))


def _statements(name: str, body: str, label_re):
    """`{`, `}`, `label:` and `statement;` (whose operands may hold braces)."""
    pos, n = 0, len(body)
    while pos < n:
        while pos < n and body[pos].isspace():
            pos += 1
        if pos >= n:
            return
        c = body[pos]
        if c in "{}":
            pos += 1
            yield c
            continue
        m = label_re.match(body, pos)
        if m:
            pos = m.end()
            yield m.group(1) + ":"
            continue
        depth, j = 0, pos
        while j < n:
            cj = body[j]
            if cj == "{":
                depth += 1
            elif cj == "}":
                depth -= 1
            elif cj == ";" and depth == 0:
                break
            j += 1
        if j >= n or depth:
            raise EmuError(f"{name}: cannot parse near {body[pos:pos + 80]!r}")
        yield body[pos:j + 1].strip()
        pos = j + 1


# --- wgmma and TMA layouts (PTX ISA, "shared memory matrix layout") ----------

SWIZZLE_BYTES = {0: 0, 1: 128, 2: 64, 3: 32}        # descriptor layout type -> S
TMAP_SWIZZLE_BYTES = {0: 0, 1: 32, 2: 64, 3: 128}   # CUtensorMapSwizzle -> S
TMAP_DTYPE = {9: ("bf16", 2), 6: ("f16", 2), 7: ("f32", 4)}


def swizzle(addr, s: int):
    """The XOR of 16-byte chunk bits [4, 4 + log2(S/16)) with the bits from 7
    of the absolute shared address (SW32: 1 bit, SW64: 2, SW128: 3); TMA
    writes and wgmma reads both go through it. Works on numpy arrays."""
    if not s:
        return addr
    mask = s // 16 - 1
    return addr ^ (((addr >> 7) & mask) << 4)


def operand_offsets(desc: int, rows: int, mn_major: bool):
    """Byte addresses [rows, 16] of a wgmma operand's elements (mn, k) (16-bit
    elements) from its descriptor, in the canonical layouts of the PTX ISA
    ("matrix descriptor", "canonical layouts"): K-major, the 8-row groups
    SBO apart, rows S bytes apart when swizzled (LBO unused), else 16 with
    the second 8 k LBO on; MN-major swizzled, 8-k-row groups SBO apart and
    atoms of S/2 elements LBO apart (the roles swap without swizzle). These
    are the layouts CUTLASS builds its descriptors for
    (cute/atom/mma_traits_sm90_gmma.hpp, make_gmma_desc), compared element
    by element with CuTe's own: they agree for all eight cases."""
    start = (desc & 0x3FFF) << 4
    lbo = ((desc >> 16) & 0x3FFF) << 4
    sbo = ((desc >> 32) & 0x3FFF) << 4
    base_offset = (desc >> 49) & 7
    s = SWIZZLE_BYTES[(desc >> 62) & 3]
    if base_offset:
        raise EmuError(f"wgmma descriptor {desc:#x}: base offset {base_offset} is not modelled")
    mn = np.arange(rows, dtype=np.int64)[:, None]
    k = np.arange(16, dtype=np.int64)[None, :]
    if not mn_major:
        if s:
            off = (mn % 8) * s + (mn // 8) * sbo + 2 * k
        else:
            off = (mn % 8) * 16 + (mn // 8) * sbo + (k % 8) * 2 + (k // 8) * lbo
    else:
        if s:
            w = s // 2
            off = (mn % w) * 2 + (mn // w) * lbo + (k % 8) * s + (k // 8) * sbo
        else:
            off = (mn % 8) * 2 + (mn // 8) * sbo + (k % 8) * 16 + (k // 8) * lbo
    return swizzle(start + off, s)


def fragment_index(n: int):
    """(row, col) of each f32 accumulator register of an m64nNk16 wgmma:
    arrays [128 threads, N/2 registers]."""
    t = np.arange(128)[:, None]
    i = np.arange(n // 2)[None, :]
    w, lane = t // 32, t % 32
    row = 16 * w + lane // 4 + 8 * ((i // 2) % 2)
    col = 2 * (lane % 4) + (i % 2) + 8 * (i // 4)
    return row, col


# --- machine state -------------------------------------------------------------

class Mbarrier:
    __slots__ = ("count", "pending", "tx", "phase", "copies")

    def __init__(self, count: int):
        self.count = count
        self.pending = count
        self.tx = 0
        self.phase = 0
        self.copies = []            # TMA loads that complete on it, not landed yet

    def land(self) -> bool:
        """Lands the TMA loads that complete on this barrier (as late as the
        hardware may: a waiter is looking). True if there were any."""
        copies, self.copies = self.copies, []
        for c in copies:
            c()
        return bool(copies)

    def _maybe_complete(self):
        if self.pending == 0 and self.tx == 0:
            self.phase += 1
            self.pending = self.count

    def arrive(self, n: int = 1):
        if self.pending < n:
            raise EmuError(f"mbarrier: {n} arrivals with {self.pending} pending")
        self.pending -= n
        self._maybe_complete()

    def expect_tx(self, n: int):
        self.tx += n

    def complete_tx(self, n: int):
        self.tx -= n
        self._maybe_complete()

    def done(self, parity: int) -> bool:
        """try_wait.parity: the phase of this parity has completed, that is
        the current phase's parity is the other one."""
        return (self.phase & 1) != (parity & 1)


READ, LANDING, BARRIER = 0x1, 0x100, 0x4000
LANDING_MASK = 0x3F00


class Cta:
    def __init__(self, rank: int, ctaid: tuple, smem_bytes: int):
        self.rank = rank
        self.ctaid = ctaid
        # Shared memory starts as garbage on a GPU: all ones here (a bf16 NaN),
        # so that reading what no one wrote shows.
        self.buf = bytearray(b"\xff" * smem_bytes)
        self.smem = np.frombuffer(self.buf, dtype=np.uint8)     # a view of buf
        # Who else holds each byte: + READ per in-flight wgmma or TMA store
        # reading it, + LANDING per TMA load not yet landed in it, BARRIER
        # for an mbarrier's 8 bytes. A write to a held byte, or a read of one
        # a load has not landed in, is a race the hardware would lose.
        self.claims = np.zeros(smem_bytes, dtype=np.uint16)
        # Who wrote each byte through the generic proxy (st.shared, atom) and
        # has not yet made it visible to the async proxy with a
        # fence.proxy.async: a Thread.uid, or 0. TMA and wgmma reading (or a
        # TMA load overwriting) such a byte is a cross-proxy race.
        self.unfenced = np.zeros(smem_bytes, dtype=np.int32)
        self.live = 0
        self.mbarriers: dict[int, Mbarrier] = {}
        self.barriers: dict[int, list] = {}       # bar.sync id -> [threads waiting]
        self.wgmma_pending: dict = {}             # (warpgroup, pc) -> threads there
        self.wg_uncommitted: dict = {}            # warpgroup -> wgmmas since its commit
        self.wg_groups: dict = {}                 # warpgroup -> committed groups in flight
        self.threads: list = []


class Thread:
    __slots__ = ("regs", "pc", "cta", "tid", "lin", "uid", "state", "wait", "spin", "bulk",
                 "unfenced", "gdc_waited")

    def __init__(self, cta: Cta, tid: tuple, lin: int, nregs: int):
        self.regs = [0] * nregs
        self.pc = 0
        self.cta = cta
        self.tid = tid
        self.lin = lin
        self.uid = cta.rank * 1024 + lin + 1    # unique in its cluster, never 0
        self.state = "run"          # run, block, exit
        self.wait = None
        self.spin = None            # (pc, address) of the mbarrier wait that last failed
        self.bulk = ([], [])        # TMA stores not yet committed, committed groups
        self.unfenced = []          # (cta, offset, bytes) written since its last proxy fence
        self.gdc_waited = False     # past its griddepcontrol.wait


class Memory:
    """Global memory is this process's memory: the kernel's pointers are
    host addresses."""

    @staticmethod
    def view(addr: int, n: int) -> np.ndarray:
        if addr < 4096:
            raise EmuError(f"global access at {addr:#x}")
        return np.ctypeslib.as_array((ctypes.c_uint8 * n).from_address(addr))

    @staticmethod
    def load(addr: int, size: int) -> int:
        if addr < 4096 or addr >= SHARED_GENERIC:
            raise EmuError(f"global load at {addr:#x}")
        return int.from_bytes(ctypes.string_at(addr, size), "little")

    @staticmethod
    def store(addr: int, size: int, value: int) -> None:
        if addr < 4096 or addr >= SHARED_GENERIC:
            raise EmuError(f"global store at {addr:#x}")
        ctypes.memmove(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"), size)


# --- instructions --------------------------------------------------------------

YIELD, BLOCK, EXIT = -1, -2, -3

_TYPE_BITS = {"pred": 1, "b8": 8, "u8": 8, "s8": 8, "b16": 16, "u16": 16, "s16": 16,
              "f16": 16, "bf16": 16, "b32": 32, "u32": 32, "s32": 32, "f32": 32,
              "b64": 64, "u64": 64, "s64": 64, "f64": 64, "f16x2": 32, "bf16x2": 32}
_SPECIAL = ("%tid", "%ntid", "%ctaid", "%nctaid", "%laneid", "%warpid", "%cluster_ctarank",
            "%cluster_nctarank", "%clusterid", "%nclusterid", "%cluster_ctaid",
            "%cluster_nctaid", "%is_explicit_cluster", "%smid", "%nsmid", "%gridid",
            "%dynamic_smem_size", "%total_smem_size", "%lanemask_lt", "%lanemask_eq")


def _types(op: str) -> list[str]:
    return [p for p in op.split(".")[1:] if p in _TYPE_BITS]


class Compiler:
    """Turns a kernel's instructions into closures over a thread; each
    returns the next instruction's index or YIELD / BLOCK / EXIT."""

    def __init__(self, kernel: Kernel, launch):
        self.k = kernel
        self.launch = launch
        self.regs: dict[str, int] = {}

    def _global(self, access):
        """`access` (th, ...) of global memory, which in a PDL-aware kernel
        only a thread past its griddepcontrol.wait may make."""
        if not self.launch.pdl:
            return access
        launch = self.launch

        def checked(th, *args):
            launch.check_grid_dependency(th, "global memory access")
            return access(th, *args)
        return checked

    def reg(self, name: str) -> int:
        if name not in self.regs:
            self.regs[name] = len(self.regs)
        return self.regs[name]

    # operands

    def src(self, a: str, bits: int = 64):
        """A getter th -> int (raw bits, masked to `bits`)."""
        a = a.strip()
        mask = (1 << bits) - 1
        if a.startswith("%") and a.split(".")[0] in _SPECIAL:
            return self.special(a)
        if a.startswith("!"):                    # a negated predicate
            i = self.reg(a[1:])
            return lambda th: 1 - (th.regs[i] & 1)
        if a.startswith("%") or "@" in a:
            i = self.reg(a)
            return lambda th: th.regs[i] & mask
        m = re.fullmatch(r"0[fF]([0-9a-fA-F]{8})", a)
        if m:
            v = int(m.group(1), 16)
            return lambda th: v
        m = re.fullmatch(r"0[dD]([0-9a-fA-F]{16})", a)
        if m:
            v = int(m.group(1), 16)
            return lambda th: v
        m = re.fullmatch(r"-?(0[xX][0-9a-fA-F]+|\d+)U?", a)
        if m:
            v = int(a.rstrip("U"), 0) & mask
            return lambda th: v
        if a in self.k.shared:
            v = self.k.shared[a]
            return lambda th: v
        raise EmuError(f"{self.k.name}: operand {a!r} not understood")

    def special(self, a: str):
        name, _, comp = a.partition(".")
        ix = "xyz".index(comp) if comp else 0
        L = self.launch
        if name == "%tid":
            return lambda th: th.tid[ix]
        if name == "%ntid":
            v = L.block[ix]
            return lambda th: v
        if name == "%ctaid":
            return lambda th: th.cta.ctaid[ix]
        if name == "%nctaid":
            v = L.grid[ix]
            return lambda th: v
        if name == "%laneid":
            return lambda th: th.lin % 32
        if name == "%warpid":
            return lambda th: th.lin // 32
        if name == "%cluster_ctarank":
            return lambda th: th.cta.rank
        if name == "%cluster_nctarank":
            v = L.cluster[0] * L.cluster[1] * L.cluster[2]
            return lambda th: v
        if name == "%cluster_ctaid":
            return lambda th: th.cta.ctaid[ix] % L.cluster[ix]
        if name == "%cluster_nctaid":
            v = L.cluster[ix]
            return lambda th: v
        if name == "%clusterid":
            return lambda th: th.cta.ctaid[ix] // L.cluster[ix]
        if name == "%nclusterid":
            v = L.grid[ix] // L.cluster[ix]
            return lambda th: v
        if name == "%is_explicit_cluster":
            v = int(L.cluster != (1, 1, 1))
            return lambda th: v
        if name == "%dynamic_smem_size":
            v = L.smem
            return lambda th: v
        if name in ("%smid", "%gridid"):
            return lambda th: 0
        if name == "%nsmid":
            return lambda th: 132
        if name == "%lanemask_lt":
            return lambda th: (1 << (th.lin % 32)) - 1
        if name == "%lanemask_eq":
            return lambda th: 1 << (th.lin % 32)
        raise EmuError(f"special register {a}")

    @staticmethod
    def _is_reg(a: str) -> bool:
        a = a.strip()
        if a.startswith("!"):
            return False
        return (a.startswith("%") and a.split(".")[0] not in _SPECIAL) or "@" in a

    def dst(self, a: str) -> int:
        a = a.strip()
        if not (a.startswith("%") or "@" in a):
            raise EmuError(f"{self.k.name}: destination {a!r}")
        return self.reg(a)

    def vec(self, a: str) -> list[str]:
        a = a.strip()
        if a.startswith("{"):
            return [x.strip() for x in a[1:-1].split(",")]
        return [a]

    def address(self, a: str):
        """[reg], [reg+imm], [sym], [sym+imm] -> getter of the address."""
        inner = a.strip()
        if not (inner.startswith("[") and inner.endswith("]")):
            raise EmuError(f"address {a!r}")
        inner = inner[1:-1].strip()
        m = re.fullmatch(r"(.+?)\s*\+\s*(-?\s*(?:0[xX][0-9a-fA-F]+|\d+))", inner)
        off = 0
        if m:
            inner, off = m.group(1), int(m.group(2).replace(" ", ""), 0)
        if inner in self.param_offsets:
            base = self.param_offsets[inner]
            return ("param", lambda th: base + off)
        get = self.src(inner)
        if off:
            return (None, lambda th: get(th) + off)
        return (None, get)

    # compile

    def compile(self):
        k = self.k
        self.param_offsets, off = {}, 0
        for p in k.params:
            off = _align(off, p.align)
            self.param_offsets[p.name] = off
            off += p.size
        self.param_bytes = off
        code, unknown = [], {}
        for i, ins in enumerate(k.instrs):
            try:
                f = self.instr(ins, i)
            except NotImplementedError:
                unknown.setdefault(ins.op, ins.text)
                f = None
            if ins.pred and f is not None:
                f = self.guard(ins.pred, f, i + 1)
            code.append(f)
        if unknown:
            raise EmuError(f"{k.name}: instructions not modelled: " +
                           "; ".join(unknown.values()))
        return code

    def guard(self, pred: str, f, nxt: int):
        neg = pred.startswith("!")
        i = self.reg(pred.lstrip("!"))
        if neg:
            return lambda th: nxt if th.regs[i] & 1 else f(th)
        return lambda th: f(th) if th.regs[i] & 1 else nxt

    def instr(self, ins: Instr, pc: int):
        op, args = ins.op, ins.args
        nxt = pc + 1
        head = op.split(".")[0]
        # Modifiers that change results and that no handler implements.
        mods = set(op.split(".")[1:])
        if mods & {"relu", "satfinite"} or ("sat" in mods and head != "cvt"):
            raise NotImplementedError(op)
        h = getattr(self, "op_" + head.replace("-", "_"), None)
        if h is None:
            raise NotImplementedError(op)
        return h(op, args, nxt, pc, ins)

    # --- data movement and integer/float arithmetic -------------------------

    def op_mov(self, op, args, nxt, pc, ins):
        t = _types(op)[-1]
        bits = _TYPE_BITS[t]
        d, s = args
        if d.startswith("{"):                        # unpack
            parts = [self.dst(x) for x in self.vec(d)]
            w = bits // len(parts)
            get = self.src(s, bits)
            m = (1 << w) - 1

            def f(th):
                v = get(th)
                for j, r in enumerate(parts):
                    th.regs[r] = (v >> (w * j)) & m
                return nxt
            return f
        di = self.dst(d)
        if s.startswith("{"):                        # pack
            parts = self.vec(s)
            w = bits // len(parts)
            gets = [self.src(x, w) for x in parts]

            def f(th):
                v = 0
                for j, g in enumerate(gets):
                    v |= g(th) << (w * j)
                th.regs[di] = v
                return nxt
            return f
        get = self.src(s, bits)

        def f(th):
            th.regs[di] = get(th)
            return nxt
        return f

    def _arith(self, op, args, nxt, fn_int, fn_float=None, wraps=False):
        """`wraps`: the low bits do not depend on signedness (add, sub, mul.lo,
        mad.lo), so signed operands need no sign extension."""
        ts = _types(op)
        t = ts[-1]
        bits = _TYPE_BITS[t]
        mods = op.split(".")
        wide = "wide" in mods
        hi = "hi" in mods
        d = self.dst(args[0])
        gets = [self.src(a, bits) for a in args[1:]]
        if t in ("f32", "f64"):
            if fn_float is None:
                raise NotImplementedError(op)
            to, back = (f32, f32_bits) if t == "f32" else (f64, f64_bits)
            if len(gets) == 1:
                g0 = gets[0]

                def f(th):
                    th.regs[d] = back(fn_float(to(g0(th))))
                    return nxt
            elif len(gets) == 2:
                g0, g1 = gets

                def f(th):
                    th.regs[d] = back(fn_float(to(g0(th)), to(g1(th))))
                    return nxt
            else:
                g0, g1, g2 = gets

                def f(th):
                    th.regs[d] = back(fn_float(to(g0(th)), to(g1(th)), to(g2(th))))
                    return nxt
            return f
        if t == "pred" or t.startswith(("b", "u", "s")):
            signed = t.startswith("s") and not (wraps and not wide and not hi)
            obits = 2 * bits if wide else bits
            omask = (1 << obits) - 1

            def conv(v):
                return sext(v, bits) if signed else v
            if len(gets) == 1:
                g0 = gets[0]

                def f(th):
                    th.regs[d] = fn_int(conv(g0(th))) & omask
                    return nxt
            elif len(gets) == 2 and not signed and not hi and all(
                    self._is_reg(a) for a in args[1:3]):
                # The common case: registers hold their width's bits already.
                i0, i1 = self.reg(args[1].strip()), self.reg(args[2].strip())

                def f(th):
                    r = th.regs
                    r[d] = fn_int(r[i0], r[i1]) & omask
                    return nxt
            elif len(gets) == 2 and not signed and not hi and self._is_reg(args[1]):
                i0, g1 = self.reg(args[1].strip()), gets[1]

                def f(th):
                    th.regs[d] = fn_int(th.regs[i0], g1(th)) & omask
                    return nxt
            elif len(gets) == 2:
                g0, g1 = gets
                if hi:
                    def f(th):
                        th.regs[d] = (fn_int(conv(g0(th)), conv(g1(th))) >> bits) & omask
                        return nxt
                else:
                    def f(th):
                        th.regs[d] = fn_int(conv(g0(th)), conv(g1(th))) & omask
                        return nxt
            else:
                g0, g1, g2 = gets
                if hi:                               # mad.hi: (a*b)>>bits + c
                    def f(th):
                        th.regs[d] = ((conv(g0(th)) * conv(g1(th)) >> bits)
                                      + conv(g2(th))) & omask
                        return nxt
                elif wide:                           # mad.wide: a*b (2n bits) + c (2n bits)
                    g2w = self.src(args[3], obits)

                    def f(th):
                        c = sext(g2w(th), obits) if signed else g2w(th)
                        th.regs[d] = (conv(g0(th)) * conv(g1(th)) + c) & omask
                        return nxt
                else:
                    def f(th):
                        th.regs[d] = fn_int(conv(g0(th)), conv(g1(th)), conv(g2(th))) & omask
                        return nxt
            return f
        raise NotImplementedError(op)

    def op_add(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, lambda a, b: a + b,
                           lambda a, b: a + b, wraps=True)

    def op_sub(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, lambda a, b: a - b, lambda a, b: a - b, wraps=True)

    def op_mul(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, lambda a, b: a * b, lambda a, b: a * b, wraps=True)

    def op_mul24(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, lambda a, b: sext(a, 24) * sext(b, 24))

    def op_mad(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, lambda a, b, c: a * b + c, _fma, wraps=True)

    def op_fma(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, None, _fma)

    def op_div(self, op, args, nxt, pc, ins):
        def idiv(a, b):
            if b == 0:
                return -1
            q = abs(a) // abs(b)
            return q if (a >= 0) == (b >= 0) else -q
        return self._arith(op, args, nxt, idiv, _fdiv)

    def op_rem(self, op, args, nxt, pc, ins):
        def irem(a, b):
            if b == 0:
                return a
            r = abs(a) % abs(b)
            return r if a >= 0 else -r
        return self._arith(op, args, nxt, irem)

    def op_min(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, min, _fmin)

    def op_max(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, max, _fmax)

    def op_abs(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, abs, abs)

    def op_neg(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, lambda a: -a, lambda a: -a)

    def op_rcp(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, None, lambda a: _fdiv(1.0, a))

    def op_sqrt(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, None,
                           lambda a: float("nan") if a < 0 else a ** 0.5)

    def op_and(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, lambda a, b: a & b)

    def op_or(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, lambda a, b: a | b)

    def op_xor(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, lambda a, b: a ^ b)

    def op_not(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, lambda a: ~a)

    def op_cnot(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, lambda a: int(a == 0))

    def op_shl(self, op, args, nxt, pc, ins):
        bits = _TYPE_BITS[_types(op)[-1]]
        d, g0, g1 = self.dst(args[0]), self.src(args[1], bits), self.src(args[2], 32)
        m = (1 << bits) - 1

        def f(th):
            s = g1(th)
            th.regs[d] = (g0(th) << s) & m if s < bits else 0
            return nxt
        return f

    def op_shr(self, op, args, nxt, pc, ins):
        t = _types(op)[-1]
        bits = _TYPE_BITS[t]
        d, g0, g1 = self.dst(args[0]), self.src(args[1], bits), self.src(args[2], 32)
        m = (1 << bits) - 1
        signed = t.startswith("s")

        def f(th):
            s = min(g1(th), bits)
            v = g0(th)
            th.regs[d] = ((sext(v, bits) >> s) if signed else (v >> s)) & m
            return nxt
        return f

    def op_shf(self, op, args, nxt, pc, ins):
        mods = op.split(".")
        left, clamp = "l" in mods, "clamp" in mods
        d, ga, gb, gc = (self.dst(args[0]), self.src(args[1], 32), self.src(args[2], 32),
                         self.src(args[3], 32))

        def f(th):
            n = gc(th)
            n = min(n, 32) if clamp else n & 31
            v = (gb(th) << 32) | ga(th)
            th.regs[d] = ((v << n) >> 32) & 0xFFFFFFFF if left else (v >> n) & 0xFFFFFFFF
            return nxt
        return f

    def op_prmt(self, op, args, nxt, pc, ins):
        if op != "prmt.b32":
            raise NotImplementedError(op)
        d, ga, gb, gc = (self.dst(args[0]), self.src(args[1], 32), self.src(args[2], 32),
                         self.src(args[3], 32))

        def f(th):
            src = ga(th) | (gb(th) << 32)
            c = gc(th)
            out = 0
            for j in range(4):
                sel = (c >> (4 * j)) & 0xF
                byte = (src >> (8 * (sel & 7))) & 0xFF
                if sel & 8:
                    byte = 0xFF if byte & 0x80 else 0
                out |= byte << (8 * j)
            th.regs[d] = out
            return nxt
        return f

    def op_bfe(self, op, args, nxt, pc, ins):
        t = _types(op)[-1]
        bits = _TYPE_BITS[t]
        d, ga, gb, gc = (self.dst(args[0]), self.src(args[1], bits), self.src(args[2], 32),
                         self.src(args[3], 32))
        signed = t.startswith("s")

        def f(th):
            pos, ln = gb(th) & 0xFF, gc(th) & 0xFF
            v = (ga(th) >> pos) & ((1 << ln) - 1) if ln else 0
            if signed and ln and v >> (ln - 1):
                v -= 1 << ln
            th.regs[d] = v & ((1 << bits) - 1)
            return nxt
        return f

    def op_popc(self, op, args, nxt, pc, ins):
        return self._arith(op, args, nxt, lambda a: bin(a & ((1 << 64) - 1)).count("1"))

    def op_clz(self, op, args, nxt, pc, ins):
        bits = _TYPE_BITS[_types(op)[-1]]
        return self._arith(op, args, nxt, lambda a: bits - (a & ((1 << bits) - 1)).bit_length())

    def op_selp(self, op, args, nxt, pc, ins):
        bits = _TYPE_BITS[_types(op)[-1]]
        d, ga, gb = self.dst(args[0]), self.src(args[1], bits), self.src(args[2], bits)
        gc = self.src(args[3], 1)

        def f(th):
            th.regs[d] = ga(th) if gc(th) else gb(th)
            return nxt
        return f

    def op_setp(self, op, args, nxt, pc, ins):
        mods = op.split(".")
        cmp = mods[1]
        t = _types(op)[-1]
        bits = _TYPE_BITS[t]
        boolop = next((m for m in mods[2:] if m in ("and", "or", "xor")), None)
        dests = args[0].split("|")
        p = self.dst(dests[0])
        q = self.dst(dests[1]) if len(dests) > 1 else None
        ga, gb = self.src(args[1], bits), self.src(args[2], bits)
        gc = self.src(args[3], 1) if boolop else None
        if t in ("f32", "f64"):
            to = f32 if t == "f32" else f64
            test = _FCMP[cmp]

            def value(th):
                return test(to(ga(th)), to(gb(th)))
        else:
            signed = t.startswith("s")
            test = _ICMP[cmp]

            def value(th):
                a, b = ga(th), gb(th)
                if signed:
                    a, b = sext(a, bits), sext(b, bits)
                return test(a, b)
        comb = {None: lambda v, c: v, "and": lambda v, c: v and c,
                "or": lambda v, c: v or c, "xor": lambda v, c: v != c}[boolop]

        def f(th):
            v = bool(value(th))
            c = bool(gc(th)) if gc else False
            th.regs[p] = int(comb(v, c))
            if q is not None:
                th.regs[q] = int(comb(not v, c))
            return nxt
        return f

    def op_cvt(self, op, args, nxt, pc, ins):
        mods = op.split(".")
        ts = _types(op)
        dt, st = ts[0], ts[1] if len(ts) > 1 else ts[0]
        d = self.dst(args[0])
        rounding = ("rn", "rz", "rm", "rp", "rni", "rzi", "rmi", "rpi")
        rnd = next((m for m in mods if m in rounding), None)
        sat = "sat" in mods
        if dt in ("bf16x2", "f16x2"):
            ga, gb = self.src(args[1], 32), self.src(args[2], 32)
            conv = bf16_bits if dt == "bf16x2" else f16_bits

            def f(th):
                th.regs[d] = (conv(ga(th)) << 16) | conv(gb(th))
                return nxt
            return f
        g = self.src(args[1], _TYPE_BITS[st])
        dbits = _TYPE_BITS[dt]
        dmask = (1 << dbits) - 1
        if st == "f32" and dt == "bf16":
            return self._wrap(d, lambda th: bf16_bits(g(th)), nxt)
        if st == "f32" and dt == "f16":
            return self._wrap(d, lambda th: f16_bits(g(th)), nxt)
        if st in ("bf16", "f16") and dt == "f32":
            return self._wrap(d, lambda th: f32_bits(half_to_f32(g(th), st)), nxt)
        if st == "f32" and dt == "f64":
            return self._wrap(d, lambda th: f64_bits(f32(g(th))), nxt)
        if st == "f64" and dt == "f32":
            return self._wrap(d, lambda th: f32_bits(f64(g(th))), nxt)
        if st == "f32" and dt == "f32":
            def same(th):
                x = f32(g(th))
                if sat:
                    x = 0.0 if x != x else min(max(x, 0.0), 1.0)
                return f32_bits(_round_int(x, rnd) if rnd and rnd.endswith("i") else x)
            return self._wrap(d, same, nxt)
        if st in ("f32", "f64") and dt[0] in "us":
            to = f32 if st == "f32" else f64
            signed = dt[0] == "s"
            lo, hi = (-(1 << (dbits - 1)), (1 << (dbits - 1)) - 1) if signed else (0, dmask)

            def fi(th):
                x = to(g(th))
                if x != x:
                    return 0
                v = _round_int(x, rnd or "rzi")
                return int(min(max(v, lo), hi)) & dmask
            return self._wrap(d, fi, nxt)
        if st[0] in "us" and dt in ("f32", "f64"):
            back = f32_bits if dt == "f32" else f64_bits
            sbits = _TYPE_BITS[st]
            signed = st[0] == "s"
            return self._wrap(d, lambda th: back(float(sext(g(th), sbits) if signed
                                                       else g(th))), nxt)
        if st[0] in "usb" and dt[0] in "usb":
            sbits = _TYPE_BITS[st]
            signed = st[0] == "s"

            def ii(th):
                v = g(th)
                if signed:
                    v = sext(v, sbits)
                return v & dmask
            return self._wrap(d, ii, nxt)
        raise NotImplementedError(op)

    @staticmethod
    def _wrap(d, fn, nxt):
        def f(th):
            th.regs[d] = fn(th)
            return nxt
        return f

    def op_cvta(self, op, args, nxt, pc, ins):
        mods = op.split(".")
        d, g = self.dst(args[0]), self.src(args[1], 64)
        to = "to" in mods
        if any(m.startswith("shared") for m in mods):
            if to:
                return self._wrap(d, lambda th: _generic_to_shared(g(th)), nxt)
            return self._wrap(d, lambda th: SHARED_GENERIC + g(th), nxt)
        if "global" in mods or "param" in mods or "const" in mods:
            return self._wrap(d, g, nxt)
        raise NotImplementedError(op)

    # --- memory ---------------------------------------------------------------

    def _space(self, op: str):
        for s in ("param", "shared::cluster", "shared::cta", "shared", "global", "local",
                  "const"):
            if "." + s in op:
                return {"shared::cta": "shared"}.get(s, s)
        return "generic"

    def op_ld(self, op, args, nxt, pc, ins):
        space = self._space(op)
        t = _types(op)[-1]
        size = _TYPE_BITS[t] // 8
        dests = [self.dst(x) for x in self.vec(args[0])]
        kind, addr = self.address(args[1])
        signed = t.startswith("s")
        read = self.reader(space if kind != "param" else "param")

        def f(th):
            a = addr(th)
            for j, r in enumerate(dests):
                v = read(th, a + j * size, size)
                th.regs[r] = v
            return nxt
        if signed and size < 4:
            def f(th, f=f):                                # sign-extend to the register
                nxt_ = f(th)
                for r in dests:
                    th.regs[r] = sext(th.regs[r], 8 * size) & 0xFFFFFFFF
                return nxt_
        return f

    op_ldu = op_ld

    def op_st(self, op, args, nxt, pc, ins):
        space = self._space(op)
        t = _types(op)[-1]
        size = _TYPE_BITS[t] // 8
        _, addr = self.address(args[0])
        gets = [self.src(x, 8 * size) for x in self.vec(args[1])]
        write = self.writer(space)

        def f(th):
            a = addr(th)
            for j, g in enumerate(gets):
                write(th, a + j * size, size, g(th))
            return nxt
        return f

    def reader(self, space: str):
        if space == "param":
            def read(th, a, n):
                return int.from_bytes(self.launch.param_bytes[a:a + n], "little")
            return read
        if space == "global":
            return self._global(lambda th, a, n: Memory.load(a, n))
        load_global = self._global(lambda th, a, n: Memory.load(a, n))

        def read(th, a, n):
            cta, off = self.launch.shared_target(th, a, space)
            if cta is None:
                return load_global(th, a, n)
            if off + n > len(cta.buf):
                raise EmuError(f"shared load at {off:#x} past {len(cta.buf):#x} bytes")
            if (cta.claims[off:off + n] & LANDING_MASK).any():
                raise EmuError(f"shared load at {off:#x} of bytes a TMA load has not landed "
                               "in (no wait on its mbarrier before it?)")
            return int.from_bytes(cta.buf[off:off + n], "little")
        return read

    def writer(self, space: str):
        if space == "global":
            return self._global(lambda th, a, n, v: Memory.store(a, n, v))
        launch = self.launch
        store_global = self._global(lambda th, a, n, v: Memory.store(a, n, v))

        def write(th, a, n, v):
            cta, off = launch.shared_target(th, a, space)
            if cta is None:
                store_global(th, a, n, v)
                return
            if off + n > len(cta.smem):
                raise EmuError(f"shared store at {off:#x} past {len(cta.smem):#x} bytes")
            if cta.claims[off:off + n].any():
                raise EmuError(f"shared store at {off:#x} into bytes that "
                               f"{launch.claim_text(cta.claims[off:off + n])}")
            cta.buf[off:off + n] = (v & ((1 << (8 * n)) - 1)).to_bytes(n, "little")
            cta.unfenced[off:off + n] = th.uid
            th.unfenced.append((cta, off, n))
        return write

    def op_atom(self, op, args, nxt, pc, ins):
        mods = op.split(".")
        space = self._space(op)
        t = _types(op)[-1]
        bits = _TYPE_BITS[t]
        size = bits // 8
        d = self.dst(args[0])
        _, addr = self.address(args[1])
        gets = [self.src(x, bits) for x in args[2:]]
        read, write = self.reader(space), self.writer(space)
        if "add" in mods and t in ("f32",):
            fn = lambda old, b: f32_bits(f32(old) + f32(b))  # noqa: E731
        elif "add" in mods:
            fn = lambda old, b: old + b  # noqa: E731
        elif "exch" in mods:
            fn = lambda old, b: b  # noqa: E731
        elif "max" in mods:
            fn = max
        elif "min" in mods:
            fn = min
        elif "cas" in mods:
            fn = None
        else:
            raise NotImplementedError(op)

        def f(th):
            a = addr(th)
            old = read(th, a, size)
            if fn is None:
                new = gets[1](th) if old == gets[0](th) else old
            else:
                new = fn(old, gets[0](th))
            write(th, a, size, new)
            th.regs[d] = old
            self.launch.epoch += 1
            return nxt
        return f

    def op_red(self, op, args, nxt, pc, ins):
        return self.op_atom(op, ["%__red_sink"] + list(args), nxt, pc, ins)

    # --- control --------------------------------------------------------------

    def op_bra(self, op, args, nxt, pc, ins):
        label = args[0].strip()
        if label not in self.k.labels:
            raise EmuError(f"{self.k.name}: branch to unknown label {label}")
        target = self.k.labels[label]
        return lambda th: target

    def op_ret(self, op, args, nxt, pc, ins):
        launch = self.launch

        def f(th):
            launch.exit(th)
            return EXIT
        return f

    op_exit = op_ret

    def op_trap(self, op, args, nxt, pc, ins):
        def f(th):
            raise EmuError(f"trap in thread {th.tid} of CTA {th.cta.ctaid}")
        return f

    def op_bar(self, op, args, nxt, pc, ins):
        mods = op.split(".")
        if "warp" in mods:                             # bar.warp.sync: lanes converge
            return lambda th: nxt
        if "arrive" in mods:
            raise NotImplementedError(op)
        gid = self.src(args[0], 32) if args else (lambda th: 0)
        gcount = self.src(args[1], 32) if len(args) > 1 else None
        launch = self.launch

        def f(th):
            return launch.bar_sync(th, gid(th), gcount(th) if gcount else None, nxt)
        return f

    def op_barrier(self, op, args, nxt, pc, ins):
        """barrier.sync (as bar.sync) and barrier.cluster.arrive / wait."""
        mods = op.split(".")
        launch = self.launch
        if "cluster" in mods:
            if "arrive" in mods:
                def f(th):
                    launch.cluster_arrive(th)
                    return nxt
                return f
            if "wait" in mods:
                def f(th):
                    if launch.cluster_ready(th):
                        return nxt
                    th.pc = pc
                    return YIELD
                return f
            raise NotImplementedError(op)
        return self.op_bar(op, args, nxt, pc, ins)

    def op_elect(self, op, args, nxt, pc, ins):
        dests = args[0].split("|")
        r = self.dst(dests[0]) if dests[0].strip() != "_" else None
        p = self.dst(dests[1]) if len(dests) > 1 else None

        def f(th):
            if r is not None:
                th.regs[r] = 0
            if p is not None:
                th.regs[p] = int(th.lin % 32 == 0)
            return nxt
        return f

    def op_shfl(self, op, args, nxt, pc, ins):
        mods = op.split(".")
        mode = mods[2]
        dests = args[0].split("|")
        d = self.dst(dests[0])
        p = self.dst(dests[1]) if len(dests) > 1 else None
        ga, gb, gc = self.src(args[1], 32), self.src(args[2], 32), self.src(args[3], 32)
        launch = self.launch

        def compute(values):                      # lane -> (a, b, c)
            out = {}
            for lane, (a, b, c) in values.items():
                clamp, seg = c & 0x1F, (c >> 8) & 0x1F
                lo = lane & seg
                hi = lo | (clamp & ~seg)
                if mode == "idx":
                    j = lo | (b & ~seg & 0x1F)
                    ok = j <= hi
                elif mode == "up":
                    j = lane - b
                    ok = j >= lo
                elif mode == "down":
                    j = lane + b
                    ok = j <= hi
                else:
                    j = lane ^ b
                    ok = j <= hi
                j = j if ok else lane
                out[lane] = (values[j][0] if j in values else a, int(ok))
            return out

        def f(th):
            return launch.warp_collective(th, pc, nxt, (ga(th), gb(th), gc(th)), compute,
                                          (d, p))
        return f

    def op_activemask(self, op, args, nxt, pc, ins):
        d = self.dst(args[0])
        return self._wrap(d, lambda th: 0xFFFFFFFF, nxt)

    def _noop(self, op, args, nxt, pc, ins):
        return lambda th: nxt

    op_membar = op_prefetch = op_prefetchu = _noop

    def op_griddepcontrol(self, op, args, nxt, pc, ins):
        """griddepcontrol.wait: the thread may now touch what the grids
        before it wrote (the emulator runs one grid at a time, so it only
        records that it waited); launch_dependents: nothing to do here."""
        if op == "griddepcontrol.wait":
            def f(th):
                th.gdc_waited = True
                return nxt
            return f
        return lambda th: nxt

    def op_fence(self, op, args, nxt, pc, ins):
        """fence.proxy.async (all state spaces, or .shared::cta/cluster): the
        thread's earlier generic writes to shared memory become visible to
        the async proxy (TMA, wgmma). Other fences order nothing the
        emulator's one interleaving does not already."""
        mods = op.split(".")
        if mods[1:3] == ["proxy", "async"] and (len(mods) == 3
                                                 or mods[3].startswith("shared")):
            def f(th):
                for cta, off, n in th.unfenced:
                    mine = cta.unfenced[off:off + n]
                    mine[mine == th.uid] = 0
                th.unfenced.clear()
                return nxt
            return f
        return lambda th: nxt
    op_setmaxnreg = op_nanosleep = op_pmevent = _noop

    # --- clusters ---------------------------------------------------------------

    def op_mapa(self, op, args, nxt, pc, ins):
        generic = "shared::cluster" not in op
        bits = _TYPE_BITS[_types(op)[-1]]
        d, ga, gr = self.dst(args[0]), self.src(args[1], bits), self.src(args[2], 32)

        def f(th):
            a = ga(th)
            if generic:
                a -= SHARED_GENERIC
            v = ((gr(th) + 1) << CLUSTER_RANK_SHIFT) | (a & ((1 << CLUSTER_RANK_SHIFT) - 1))
            th.regs[d] = v + SHARED_GENERIC if generic else v
            return nxt
        return f

    def op_getctarank(self, op, args, nxt, pc, ins):
        d, ga = self.dst(args[0]), self.src(args[1], 64)
        launch = self.launch

        def f(th):
            cta, _ = launch.shared_target(th, ga(th), "shared::cluster")
            th.regs[d] = cta.rank
            return nxt
        return f

    # --- mbarrier ---------------------------------------------------------------

    def op_mbarrier(self, op, args, nxt, pc, ins):
        mods = op.split(".")
        space = "shared::cluster" if "shared::cluster" in mods else (
            "shared" if any(m.startswith("shared") for m in mods) else "generic")
        launch = self.launch
        action = mods[1]
        if action == "init":
            _, addr = self.address(args[0])
            gc = self.src(args[1], 32)

            def f(th):
                cta, off = launch.shared_target(th, addr(th), space)
                if off % 8 or off + 8 > len(cta.smem):
                    raise EmuError(f"mbarrier.init at {off:#x}: not 8-byte aligned inside "
                                   f"the {len(cta.smem)} bytes of shared memory")
                cta.claims[off:off + 8] |= BARRIER
                cta.mbarriers[off] = Mbarrier(gc(th))
                launch.epoch += 1
                return nxt
            return f
        if action == "inval":
            _, addr = self.address(args[0])

            def f(th):
                cta, off = launch.shared_target(th, addr(th), space)
                cta.mbarriers.pop(off, None)
                return nxt
            return f
        if action == "expect_tx":
            _, addr = self.address(args[0])
            gtx = self.src(args[1], 32)

            def f(th):
                launch.mbarrier(th, addr(th), space).expect_tx(gtx(th))
                launch.epoch += 1
                return nxt
            return f
        if action == "arrive":
            state = args[0].strip()
            d = None if state == "_" else self.dst(state)
            _, addr = self.address(args[1])
            expect = "expect_tx" in mods
            rest = [self.src(x, 32) for x in args[2:]]

            def f(th):
                bar = launch.mbarrier(th, addr(th), space)
                phase = bar.phase
                if expect:
                    bar.expect_tx(rest[0](th))
                    bar.arrive(1)
                else:
                    bar.arrive(rest[0](th) if rest else 1)
                if d is not None:
                    th.regs[d] = phase
                launch.epoch += 1
                return nxt
            return f
        if action in ("try_wait", "test_wait"):
            parity = "parity" in mods
            p = self.dst(args[0])
            _, addr = self.address(args[1])
            gs = self.src(args[2], 64)

            def f(th):
                bar = launch.mbarrier(th, addr(th), space)
                if bar.copies:
                    bar.land()
                s = gs(th)
                ok = bar.done(s) if parity else bar.phase > s
                th.regs[p] = int(ok)
                if ok:
                    th.spin = None
                    return nxt
                th.spin = (pc, addr(th))
                th.pc = nxt                   # the kernel's loop tries again
                return YIELD
            return f
        raise NotImplementedError(op)

    # --- TMA ----------------------------------------------------------------------

    def op_cp(self, op, args, nxt, pc, ins):
        mods = op.split(".")
        launch = self.launch
        if "bulk" not in mods:
            raise NotImplementedError(op)
        if "commit_group" in mods:
            def f(th):
                uncommitted, groups = th.bulk
                groups.append(list(uncommitted))
                uncommitted.clear()
                return nxt
            return f
        if "wait_group" in mods:
            gn = self.src(args[0], 32)

            def f(th):
                groups, n = th.bulk[1], gn(th)
                while len(groups) > n:
                    for store in groups.pop(0):
                        store()
                return nxt
            return f
        if "tensor" not in mods:
            raise NotImplementedError(op)
        dims = int(next(m for m in mods if re.fullmatch(r"\dd", m))[0])
        # cp.reduce.async.bulk.tensor: only .add in tile mode (im2col and the
        # other operations are not modelled).
        reduce = "reduce" in mods
        if reduce and ("add" not in mods or "im2col_no_offs" in mods):
            raise NotImplementedError(op)
        load = mods.index("global") > next(i for i, m in enumerate(mods)
                                           if m.startswith("shared"))
        tm_arg = args[1] if load else args[0]
        m = re.fullmatch(r"\[\s*([^,\s]+)\s*,\s*\{(.*)\}\s*\]", tm_arg.strip())
        if not m:
            raise EmuError(f"tensor operand {tm_arg!r}")
        gmap = self.src(m.group(1), 64)
        gcoords = [self.src(c, 32) for c in m.group(2).split(",")]
        if len(gcoords) != dims:
            raise EmuError(f"{op}: {len(gcoords)} coordinates")
        if not load:
            _, gsrc = self.address(args[1])

            def f(th):
                launch.tma_store(th, gmap(th), [sext(g(th), 32) for g in gcoords], gsrc(th),
                                 reduce)
                return nxt
            return f
        _, gdst = self.address(args[0])
        _, gbar = self.address(args[2])
        multicast = "multicast::cluster" in mods
        gmask = self.src(args[3], 16) if multicast else None

        def f(th):
            launch.tma_load(th, gmap(th), [sext(g(th), 32) for g in gcoords], gdst(th),
                            gbar(th), gmask(th) if gmask else None)
            return nxt
        return f

    # --- wgmma ----------------------------------------------------------------------

    def op_wgmma(self, op, args, nxt, pc, ins):
        mods = op.split(".")
        launch = self.launch
        if mods[1] == "fence":
            return lambda th: nxt
        if mods[1] == "commit_group":
            return lambda th: launch.wg_collective(th, pc, nxt, launch.wgmma_commit)
        if mods[1] == "wait_group":
            n = int(args[0], 0)
            return lambda th: launch.wg_collective(
                th, pc, nxt, lambda cta, wg: launch.wgmma_wait(cta, wg, n))
        if mods[1] != "mma_async" or "sp" in mods:
            raise NotImplementedError(op)
        shape = next(m for m in mods if m.startswith("m64"))
        n = int(re.fullmatch(r"m64n(\d+)k16", shape).group(1))
        types = [m for m in mods if m in ("f32", "f16", "bf16")]
        if types[0] != "f32" or types[1] not in ("bf16", "f16") or types[1] != types[2]:
            raise NotImplementedError(op)
        dregs = [self.dst(x) for x in self.vec(args[0])]
        if len(dregs) != n // 2:
            raise EmuError(f"{op}: {len(dregs)} accumulator registers for n = {n}")
        if args[1].strip().startswith("{"):
            raise NotImplementedError(op + " with A in registers")
        ga, gb = self.src(args[1], 64), self.src(args[2], 64)
        gscale = self.src(args[3], 1)
        imm = [int(x, 0) for x in args[4:8]]
        launch = self.launch
        spec = (n, types[1], dregs, imm)

        def f(th):
            return launch.wgmma(th, pc, nxt, spec, ga(th), gb(th), gscale(th))
        return f


def _fma(a, b, c):
    return a * b + c


def _fdiv(a, b):
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return float("nan")
        return float("inf") if (a > 0) == (str(b)[0] != "-") else float("-inf")


def _ignoring_nan(pick):
    """min.f32 / max.f32: a NaN operand yields the other one."""
    return lambda a, b: b if a != a else a if b != b else pick(a, b)


_fmin, _fmax = _ignoring_nan(min), _ignoring_nan(max)


def _round_int(x: float, rnd: str) -> float:
    import math
    if x != x or x in (float("inf"), float("-inf")):
        return x
    if rnd in ("rni", "rn"):
        return float(round(x))                       # Python rounds half to even
    if rnd in ("rzi", "rz"):
        return float(math.trunc(x))
    if rnd in ("rmi", "rm"):
        return float(math.floor(x))
    return float(math.ceil(x))


def _generic_to_shared(a: int) -> int:
    if a < SHARED_GENERIC:
        raise EmuError(f"cvta.to.shared of a non-shared address {a:#x}")
    return a - SHARED_GENERIC


_ICMP = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
         "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
         "lo": lambda a, b: a < b, "ls": lambda a, b: a <= b, "hi": lambda a, b: a > b,
         "hs": lambda a, b: a >= b}


def _ordered(fn):
    return lambda a, b: a == a and b == b and fn(a, b)


def _unordered(fn):
    return lambda a, b: a != a or b != b or fn(a, b)


_FCMP = {"eq": _ordered(lambda a, b: a == b), "ne": _ordered(lambda a, b: a != b),
         "lt": _ordered(lambda a, b: a < b), "le": _ordered(lambda a, b: a <= b),
         "gt": _ordered(lambda a, b: a > b), "ge": _ordered(lambda a, b: a >= b),
         "equ": _unordered(lambda a, b: a == b), "neu": _unordered(lambda a, b: a != b),
         "ltu": _unordered(lambda a, b: a < b), "leu": _unordered(lambda a, b: a <= b),
         "gtu": _unordered(lambda a, b: a > b), "geu": _unordered(lambda a, b: a >= b),
         "num": lambda a, b: a == a and b == b, "nan": lambda a, b: a != a or b != b}


# --- one launch ------------------------------------------------------------------

class Cluster:
    def __init__(self):
        self.ctas: list[Cta] = []
        self.arrived = 0
        self.phase = 0


class Launch:
    """Runs one kernel launch: cluster after cluster, the CTAs of a cluster
    together."""

    SLICE = 2000          # instructions a thread runs before the next gets a turn

    def __init__(self, kernel: Kernel, grid, block, smem: int, param_bytes: bytes,
                 maps: list):
        self.k = kernel
        self.grid, self.block = tuple(grid), tuple(block)
        self.cluster = kernel.cluster
        self.smem = smem
        self.param_bytes = param_bytes
        self.maps = maps
        self.epoch = 0
        self.steps = 0
        if kernel.reqntid and tuple(kernel.reqntid) != self.block:
            raise EmuError(f"{kernel.name}: block {self.block} but .reqntid {kernel.reqntid}")
        if any(g % c for g, c in zip(self.grid, self.cluster)):
            raise EmuError(f"{kernel.name}: grid {self.grid} is not a multiple of the "
                           f"cluster {self.cluster}")
        if smem > SMEM_LIMIT:
            raise EmuError(f"{kernel.name}: {smem} bytes of dynamic shared memory")
        # A kernel with a griddepcontrol.wait is PDL-aware: its threads touch
        # global memory only after their wait (check_grid_dependency).
        self.pdl = any(i.op == "griddepcontrol.wait" for i in kernel.instrs)
        # Compiled per launch: the closures hold the launch's grid and state.
        self.comp = Compiler(kernel, self)
        self.code = self.comp.compile()
        self.nregs = len(self.comp.regs) + 1

    # addresses

    def shared_target(self, th, a: int, space: str):
        if space == "generic":
            if a < SHARED_GENERIC:
                return None, a
            a -= SHARED_GENERIC
            space = "shared::cluster"
        if space == "shared::cluster" and a >> CLUSTER_RANK_SHIFT:
            rank = (a >> CLUSTER_RANK_SHIFT) - 1
            ctas = self.current.ctas
            if rank >= len(ctas):
                raise EmuError(f"shared::cluster address {a:#x}: rank {rank} of "
                               f"{len(ctas)}")
            if ctas[rank].live == 0:
                raise EmuError(f"shared::cluster access to CTA rank {rank}, whose threads "
                               "have all exited (its shared memory is gone)")
            return ctas[rank], a & ((1 << CLUSTER_RANK_SHIFT) - 1)
        if a >> CLUSTER_RANK_SHIFT:
            raise EmuError(f"shared address {a:#x} out of the CTA's window")
        return th.cta, a

    def mbarrier(self, th, a: int, space: str) -> Mbarrier:
        cta, off = self.shared_target(th, a, space)
        if cta is None or off not in cta.mbarriers:
            raise EmuError(f"{self.k.name}: mbarrier at {a:#x} used before mbarrier.init "
                           f"(thread {th.tid}, CTA {th.cta.ctaid})")
        return cta.mbarriers[off]

    # barriers

    def bar_sync(self, th, bid: int, count, nxt: int) -> int:
        cta = th.cta
        waiting = cta.barriers.setdefault(bid, [])
        waiting.append((th, count))
        th.pc = nxt
        if self._release(cta, bid, th):
            return nxt
        th.state = "block"
        th.wait = ("bar", bid)
        return BLOCK

    def _release(self, cta, bid, caller=None) -> bool:
        """Frees barrier `bid`'s waiters once all have arrived; they go back
        to the queue, except `caller`, which goes on running."""
        waiting = cta.barriers.get(bid, [])
        if not waiting:
            return False
        count = waiting[0][1]
        if count is None:
            count = cta.live
        if len(waiting) < count:
            return False
        for t, _ in waiting:
            t.state, t.wait = "run", None
            if t is not caller:
                self.ready.append(t)
        cta.barriers[bid] = []
        self.epoch += 1
        return True

    def cluster_arrive(self, th) -> None:
        cl = self.current
        cl.arrived += 1
        th.wait = ("cluster", cl.phase + 1)
        self._cluster_check()

    def _cluster_check(self) -> None:
        cl = self.current
        alive = sum(c.live for c in cl.ctas)
        if cl.arrived and cl.arrived >= alive:
            cl.phase += 1
            cl.arrived = 0
            self.epoch += 1

    def cluster_ready(self, th) -> bool:
        if not th.wait or th.wait[0] != "cluster":
            raise EmuError("barrier.cluster.wait without barrier.cluster.arrive")
        if self.current.phase >= th.wait[1]:
            th.wait = None
            return True
        return False

    def exit(self, th) -> None:
        for group in [th.bulk[0]] + th.bulk[1]:       # stores in flight still land
            for store in group:
                store()
        th.bulk = ([], [])
        wg = th.lin // 128
        if th.cta.wg_uncommitted.get(wg) or th.cta.wg_groups.get(wg):
            raise EmuError(f"{self.k.name}: thread {th.tid} exits with wgmma in flight "
                           "(no wgmma.wait_group retired them)")
        th.state = "exit"
        th.cta.live -= 1
        th.cta.wg_live[th.lin // 128] -= 1
        th.cta.warp_live[th.lin // 32] -= 1
        self.epoch += 1
        for bid in list(th.cta.barriers):
            self._release(th.cta, bid)
        if self.current.arrived:
            self._cluster_check()
        for key, waiting in th.cta.wgmma_pending.items():
            if waiting and key[0] == th.lin // 128:
                raise EmuError(f"{self.k.name}: thread {th.tid} exited while its "
                               f"warpgroup waits in a wgmma")
            if waiting and key[0] == "warp" and key[1] == th.lin // 32:
                raise EmuError(f"{self.k.name}: thread {th.tid} exited while its warp "
                               f"waits in a collective")

    # TMA

    def tensormap(self, addr: int) -> dict:
        index = Memory.load(addr, 8)
        if index >= len(self.maps):
            raise EmuError(f"tensor map at {addr:#x} holds {index}, not a map of ours")
        return self.maps[index]

    def _box(self, tm: dict, coords: list[int]):
        """(global element view, box element indices, in-bounds mask, esize)."""
        dtype, esize = TMAP_DTYPE[tm["dataType"]]
        dims = list(tm["globalDim"])
        strides = [esize] + list(tm["globalStrides"])
        box = list(tm["boxDim"])
        if any(e != 1 for e in tm["elementStrides"]):
            raise EmuError("element strides other than 1 are not modelled")
        extent = sum((d - 1) * s for d, s in zip(dims, strides)) + esize
        raw = Memory.view(tm["globalAddress"], extent)
        # Box element (outermost ... innermost) -> global coordinates.
        grids = np.meshgrid(*[np.arange(b) for b in reversed(box)], indexing="ij")
        inside = np.ones(grids[0].shape, dtype=bool)
        offset = np.zeros(grids[0].shape, dtype=np.int64)
        for axis, (c, d, s) in enumerate(zip(reversed(coords), reversed(dims),
                                             reversed(strides))):
            g = grids[axis] + c
            inside &= (g >= 0) & (g < d)
            offset += np.clip(g, 0, d - 1) * s
        return raw, offset, inside, esize

    def _smem_offsets(self, tm, base: int, shape, esize: int):
        lin = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape) * esize + base
        s = TMAP_SWIZZLE_BYTES[tm["swizzle"]]
        if s:
            inner = tm["boxDim"][0] * esize
            if inner != s:
                raise EmuError(f"box inner dimension {inner} B with {s} B swizzle is not "
                               "modelled")
            if base % 128:
                raise EmuError(f"swizzled box at shared {base:#x}: not 128-byte aligned")
        elif base % 128:
            raise EmuError(f"box at shared {base:#x}: not 128-byte aligned")
        return swizzle(lin, s)

    def check_grid_dependency(self, th, what: str) -> None:
        """In a PDL-aware kernel (one with a griddepcontrol.wait), `th`'s
        `what` before its wait: launched with programmatic stream
        serialization, the kernel before it may still be writing (or
        reading) that memory."""
        if self.pdl and not th.gdc_waited:
            raise EmuError(f"{self.k.name}: {what} before the thread's griddepcontrol.wait "
                           "(with PDL the previous kernel may still be running)")

    def tma_load(self, th, map_addr, coords, dst, bar, mask) -> None:
        """Reads the box now and lands it later: when a thread next waits on
        a barrier it completes on (mbarrier.land), so that a kernel reading
        the stage without waiting reads stale data, as it may on a GPU."""
        self.check_grid_dependency(th, "TMA load")
        tm = self.tensormap(map_addr)
        raw, offset, inside, esize = self._box(tm, coords)
        bytes_ = np.stack([raw[offset + b] for b in range(esize)], axis=-1)
        bytes_[~inside] = 0
        cta, off = self.shared_target(th, dst, "shared::cluster")
        bcta, boff = self.shared_target(th, bar, "shared::cluster")
        targets = [cta] if mask is None else [c for c in self.current.ctas
                                              if mask >> c.rank & 1]
        if mask is not None and (cta is not th.cta or bcta is not th.cta):
            raise EmuError("multicast TMA with a destination in another CTA")
        where = self._smem_offsets(tm, off, inside.shape, esize)
        total = inside.size * esize
        for c in targets:
            if where.max() + esize > len(c.smem):
                raise EmuError(f"TMA box at {off:#x} past the {len(c.smem)} bytes of "
                               "shared memory")
            if boff not in c.mbarriers:
                raise EmuError(f"TMA completes on mbarrier {boff:#x}, not initialized in "
                               f"CTA rank {c.rank}")
        every = np.concatenate([(where + b).ravel() for b in range(esize)])
        for c in targets:
            if c.live == 0:
                raise EmuError(f"TMA multicast into CTA rank {c.rank}, whose threads have "
                               "all exited")
            held = c.claims[every]
            if held.any():
                raise EmuError(f"TMA load into shared {off:#x}..{off + total:#x} of CTA rank "
                               f"{c.rank}, bytes that {self.claim_text(held)}")
            self._check_fenced(c, every, f"TMA load into shared {off:#x}..{off + total:#x} "
                                         f"of CTA rank {c.rank}")
            c.claims[every] += LANDING
        landed = []

        def land():
            if landed:
                return
            landed.append(True)
            for c in targets:
                for b in range(esize):
                    c.smem[where + b] = bytes_[..., b]
                c.claims[every] -= LANDING
            for c in targets:
                c.mbarriers[boff].complete_tx(total)
            self.epoch += 1
        for c in targets:
            c.mbarriers[boff].copies.append(land)

    @staticmethod
    def claim_text(held) -> str:
        what = []
        if (held & BARRIER).any():
            what.append("hold an mbarrier")
        if (held & LANDING_MASK).any():
            what.append("a TMA load in flight will write")
        if (held & 0xFF).any():
            what.append("an in-flight wgmma or TMA store still reads (released before "
                        "its wait_group retired it?)")
        return " and ".join(what)

    def land_all(self) -> bool:
        """Lands every TMA load in flight (when nothing else can move)."""
        return any([bar.land() for c in self.current.ctas for bar in c.mbarriers.values()
                    if bar.copies])

    @staticmethod
    def _check_fenced(cta, offsets, what: str) -> None:
        """An async-proxy access (TMA, wgmma) to `offsets` of `cta`'s shared
        memory after a generic write there that its writer did not follow
        with a fence.proxy.async: the async proxy may not see the write."""
        writers = cta.unfenced[offsets]
        if writers.any():
            uid = int(writers[writers != 0][0])
            raise EmuError(f"{what}: reads (or overwrites) bytes that thread "
                           f"{(uid - 1) % 1024} of CTA rank {(uid - 1) // 1024} wrote "
                           "with st.shared and no fence.proxy.async after (the async "
                           "proxy may not see that write)")

    def tma_store(self, th, map_addr, coords, src, reduce: bool = False) -> None:
        """Reads shared memory when the thread's cp.async.bulk.wait_group
        retires the store's group (or it exits): a kernel that rewrites the
        staging tile before waiting stores the new data, as it may on a GPU.
        With `reduce` (cp.reduce.async.bulk.tensor .add), each element of the
        box that lies inside the tensor is added to global memory instead:
        f32 only, rounded to nearest even, one box's adds after another's
        in the order their groups retire (the L2's order on a GPU is not
        fixed, so a kernel must not count on any)."""
        what = "TMA reduce-add" if reduce else "TMA store"
        self.check_grid_dependency(th, what)
        tm = self.tensormap(map_addr)
        raw, offset, inside, esize = self._box(tm, coords)
        if reduce and TMAP_DTYPE[tm["dataType"]][0] != "f32":
            raise EmuError(f"{what} of {TMAP_DTYPE[tm['dataType']][0]} elements is not "
                           "modelled (f32 only)")
        cta, off = self.shared_target(th, src, "shared")
        where = self._smem_offsets(tm, off, inside.shape, esize)
        every = np.concatenate([(where + b).ravel() for b in range(esize)])
        if (cta.claims[every] & (LANDING_MASK | BARRIER)).any():
            raise EmuError(f"{what} from shared {off:#x}: {self.claim_text(cta.claims[every])}")
        self._check_fenced(cta, every, f"{what} from shared {off:#x}")
        cta.claims[every] += READ

        def store():
            if reduce:
                # Element-wise: its 4 bytes in shared and in global memory.
                lanes = np.arange(esize)
                src_bytes = cta.smem[where[inside][:, None] + lanes]
                dst = offset[inside][:, None] + lanes
                total = (raw[dst].copy().view(np.float32)
                         + src_bytes.copy().view(np.float32))
                raw[dst] = total.view(np.uint8)
            else:
                for b in range(esize):
                    vals = cta.smem[where + b]
                    raw[(offset + b)[inside]] = vals[inside]
            cta.claims[every] -= READ
        th.bulk[0].append(store)

    # wgmma

    def _gather(self, th, key, needed: int, nxt: int, payload):
        """The rendezvous of a collective instruction: th arrives at `key`
        with its payload. Until `needed` threads are there it blocks (None);
        the last to come gets [(thread, payload)] of all of them, and the
        others go on at `nxt` once it has carried the instruction out."""
        cta = th.cta
        waiting = cta.wgmma_pending.setdefault(key, [])
        waiting.append((th, payload))
        if len(waiting) < needed:
            th.state, th.pc = "block", nxt
            return None
        del cta.wgmma_pending[key]
        for t, _ in waiting:
            if t is not th:
                t.state, t.pc = "run", nxt
                self.ready.append(t)
        self.epoch += 1
        return waiting

    def warp_collective(self, th, pc, nxt, operands, compute, dests) -> int:
        """A .sync warp instruction: runs once every live lane of the warp has
        reached it; compute({lane: operands}) -> {lane: (value, pred)}."""
        warp = th.lin // 32
        waiting = self._gather(th, ("warp", warp, pc), th.cta.warp_live[warp], nxt, operands)
        if waiting is None:
            return BLOCK
        results = compute({t.lin % 32: ops for t, ops in waiting})
        d, p = dests
        for t, _ in waiting:
            value, pred = results[t.lin % 32]
            t.regs[d] = value
            if p is not None:
                t.regs[p] = pred
        return nxt

    def wg_collective(self, th, pc, nxt, action, payload=None) -> int:
        """A .sync.aligned warpgroup instruction: once all of the warpgroup's
        live threads have reached it, action(cta, warpgroup, [(thread,
        payload)]) runs once and they all go on."""
        wg = th.lin // 128
        waiting = self._gather(th, (wg, pc), th.cta.wg_live[wg], nxt, payload)
        if waiting is None:
            return BLOCK
        if payload is None:
            action(th.cta, wg)
        else:
            action(th.cta, wg, waiting)
        return nxt

    def wgmma(self, th, pc, nxt, spec, da, db, scale) -> int:
        """wgmma.mma_async: queued for the warpgroup; it reads shared memory
        and the accumulators when a wgmma.wait_group retires its group (as
        late as the hardware may). Its operand bytes are claimed from issue
        to retirement, so that a stage refilled before then is a race."""
        def issue(cta, wg, waiting):
            if len(waiting) != 128:
                raise EmuError(f"{self.k.name}: wgmma at {pc} issued by {len(waiting)} "
                               "threads of a warpgroup, not 128")
            if len({w[1] for w in waiting}) != 1:
                raise EmuError(f"{self.k.name}: wgmma at {pc} with descriptors that "
                               "differ across the warpgroup")
            threads = sorted((w[0] for w in waiting), key=lambda t: t.lin % 128)
            n, _, _, (_, _, trans_a, trans_b) = spec
            off_a = self._operand_offsets(cta, da, 64, trans_a)
            off_b = self._operand_offsets(cta, db, n, trans_b)
            reads = np.concatenate([off_a.ravel(), off_a.ravel() + 1,
                                    off_b.ravel(), off_b.ravel() + 1])
            held = cta.claims[reads]
            if (held & (LANDING_MASK | BARRIER)).any():
                raise EmuError(f"{self.k.name}: wgmma at {pc} reads shared memory that "
                               f"{self.claim_text(held & (LANDING_MASK | BARRIER))} (no "
                               "wait on the stage's full barrier before it?)")
            self._check_fenced(cta, reads, f"{self.k.name}: wgmma at {pc}")
            np.add.at(cta.claims, reads, READ)
            cta.wg_uncommitted.setdefault(wg, []).append((spec, off_a, off_b, scale,
                                                          threads, reads))
        return self.wg_collective(th, pc, nxt, issue, (da, db, scale))

    def wgmma_commit(self, cta, wg) -> None:
        groups = cta.wg_groups.setdefault(wg, [])
        groups.append(cta.wg_uncommitted.pop(wg, []))

    def wgmma_wait(self, cta, wg, n: int) -> None:
        groups = cta.wg_groups.setdefault(wg, [])
        while len(groups) > n:
            for op in groups.pop(0):
                self.wgmma_run(cta, *op)

    def wgmma_run(self, cta, spec, off_a, off_b, scale, threads, reads) -> None:
        n, kind, dregs, (scale_a, scale_b, _, _) = spec
        np.subtract.at(cta.claims, reads, READ)
        a = self._operand(cta, off_a, kind) * scale_a
        b = self._operand(cta, off_b, kind) * scale_b
        rows, cols = fragment_index(n)
        acc = np.zeros((64, n), dtype=np.float64)
        if scale:
            bits = np.array([[t.regs[r] for r in dregs] for t in threads], dtype=np.uint32)
            acc[rows, cols] = bits.view(np.float32)
        acc += a @ b.T
        out = acc.astype(np.float32)[rows, cols].view(np.uint32)
        for t, vals in zip(threads, out.tolist()):
            regs = t.regs
            for r, v in zip(dregs, vals):
                regs[r] = v

    @staticmethod
    def _operand_offsets(cta, desc: int, rows: int, mn_major: int):
        off = operand_offsets(desc, rows, bool(mn_major))
        if off.max() + 2 > len(cta.smem):
            raise EmuError(f"wgmma descriptor {desc:#x} reads past shared memory")
        return off

    @staticmethod
    def _operand(cta, off, kind: str):
        """The operand's 16-bit elements at byte offsets `off`, as float64."""
        bits = cta.smem[off].astype(np.uint32) | (cta.smem[off + 1].astype(np.uint32) << 8)
        if kind == "bf16":
            return (bits << 16).view(np.float32).astype(np.float64)
        return bits.astype(np.uint16).view(np.float16).astype(np.float64)

    # scheduling

    def run(self) -> None:
        gx, gy, gz = self.grid
        cx, cy, cz = self.cluster
        bx, by, bz = self.block
        for z0 in range(0, gz, cz):
            for y0 in range(0, gy, cy):
                for x0 in range(0, gx, cx):
                    cl = Cluster()
                    self.current = cl
                    rank = 0
                    for dz in range(cz):
                        for dy in range(cy):
                            for dx in range(cx):
                                cta = Cta(rank, (x0 + dx, y0 + dy, z0 + dz),
                                          self.k.dynamic_base + self.smem)
                                lin = 0
                                for tz in range(bz):
                                    for ty in range(by):
                                        for tx in range(bx):
                                            cta.threads.append(
                                                Thread(cta, (tx, ty, tz), lin, self.nregs))
                                            lin += 1
                                cta.live = len(cta.threads)
                                cta.wg_live = [0] * ((cta.live + 127) // 128)
                                cta.warp_live = [0] * ((cta.live + 31) // 32)
                                for t in cta.threads:
                                    cta.wg_live[t.lin // 128] += 1
                                    cta.warp_live[t.lin // 32] += 1
                                cl.ctas.append(cta)
                                rank += 1
                    self._schedule([t for c in cl.ctas for t in c.threads])

    def _schedule(self, threads) -> None:
        """Runs the threads from a queue of runnable ones: a thread that
        blocks leaves it until a barrier or collective wakes it (back in the
        queue), one that spins on a failed mbarrier wait or uses up its slice
        goes to the back. When every queued thread has spun since anything
        changed, the TMA loads in flight land; if none are, it is a deadlock."""
        code = self.code
        slice_ = self.SLICE
        ready = self.ready = collections.deque(threads)
        spins, epoch = 0, self.epoch
        while True:
            if not ready:
                live = [t for t in threads if t.state != "exit"]
                if not live:
                    return
                if self.land_all():
                    ready.extend(t for t in live if t.state == "run")
                    continue
                self._deadlock(live)
            th = ready.popleft()
            if th.state != "run":
                continue
            pc, n = th.pc, 0
            try:
                while n < slice_:
                    r = code[pc](th)
                    n += 1
                    if r < 0:
                        break
                    pc = r
                else:
                    th.pc = pc
                    r = None
            except EmuError as e:
                raise EmuError(f"{e} [at {self.k.instrs[pc].text!r}, thread {th.tid}, "
                               f"CTA {th.cta.ctaid}]") from None
            except Exception as e:
                raise EmuError(f"{type(e).__name__}: {e} [at {self.k.instrs[pc].text!r}, "
                               f"thread {th.tid}, CTA {th.cta.ctaid}]") from e
            self.steps += n
            if self.steps > MAX_STEPS:
                raise EmuError(f"{self.k.name}: more than {MAX_STEPS} instructions")
            if r is None or r == YIELD:
                ready.append(th)
            if r is None or self.epoch != epoch:
                spins, epoch = 0, self.epoch
            elif r == YIELD:
                spins += 1
                if spins > 2 * len(ready):
                    spins = 0
                    if not self.land_all():
                        self._deadlock([t for t in threads if t.state != "exit"])

    def _deadlock(self, live) -> None:
        where = {}
        for t in live:
            if t.spin:
                state = f"spinning (mbarrier {t.spin[1]:#x})"
                text = self.k.instrs[t.spin[0]].text
            else:
                state = "waiting" if t.state == "block" else t.state
                text = self.k.instrs[t.pc].text if t.pc < len(self.k.instrs) else "?"
            where.setdefault((state, text), []).append(f"{t.cta.ctaid}/{t.lin}")
        lines = [f"{len(v)} thread(s) {s} at {txt!r} (first: CTA/thread {v[0]})"
                 for (s, txt), v in where.items()]
        raise EmuError(f"{self.k.name}: deadlock: " + "; ".join(lines))


# --- the driver run.py talks to -----------------------------------------------------

class EmuDriver:
    """Stands for run.Driver: modules are PTX text, launches run here."""

    image_key = "ptx"
    models_pdl = False        # griddepcontrol is a no-op: launches run one after another

    def __init__(self):
        self.ct = ctypes
        self.driver_version = 0
        self.max_smem_optin = SMEM_LIMIT
        self.maps: list[dict] = []
        self.launches: list[dict] = []

    def load_module(self, image: bytes):
        text = image.decode() if isinstance(image, bytes) else image
        if ".entry" not in text:
            raise EmuError("the emulator runs PTX text; this module has no .entry")
        return parse_module(text)

    def get_function(self, module, name: str, smem: int):
        if name not in module:
            raise EmuError(f"no kernel {name} in the module ({sorted(module)})")
        k = module[name]
        if smem > self.max_smem_optin:
            raise RuntimeError(f"{name}: dynamic smem {smem} > {self.max_smem_optin}")
        nt = k.reqntid or k.maxntid or (1024, 1, 1)
        return k, dict(max_threads=nt[0] * nt[1] * nt[2], static_smem=k.shared_static,
                       local_bytes=0, regs=0)

    def encode(self, a: dict) -> bytes:
        self.maps.append(dict(a))
        return struct.pack("<Q", len(self.maps) - 1).ljust(128, b"\0")

    def launch(self, fn: Kernel, grid, block, smem, stream, params, pdl=False) -> None:
        import time
        buf = bytearray()
        for i, p in enumerate(fn.params):
            buf.extend(b"\0" * (_align(len(buf), p.align) - len(buf)))
            buf.extend(ctypes.string_at(params[i], p.size))
        start = time.perf_counter()
        launch = Launch(fn, grid, block, smem, bytes(buf), self.maps)
        launch.run()
        self.launches.append(dict(name=fn.name, grid=tuple(grid), cluster=launch.cluster,
                                  steps=launch.steps,
                                  seconds=time.perf_counter() - start, pdl=pdl))


# --- command line ---------------------------------------------------------------------

def check_cases(artifacts, case_globs: str | None, ms: list[int], log=print) -> list[dict]:
    """run.py's correctness check of every selected case at each M, each
    kernel run here from its PTX; one dict per (case, M): id, M, status
    (PASS, FAIL, or ERROR with the emulator's message), the check's errors
    and the instructions and seconds the emulation took."""
    import pathlib
    from types import SimpleNamespace

    import lora_abi
    import run as bench_run

    # The worker's tensors on the CPU, for this call only (run.py's own
    # processes stay on CUDA).
    device, bench_run.DEVICE = bench_run.DEVICE, "cpu"
    try:
        artifacts = pathlib.Path(artifacts)
        manifest = bench_run.load_manifest(artifacts)
        cases = lora_abi.select_cases(manifest["cases"], case_globs)
        drv = EmuDriver()
        worker = bench_run.Worker(manifest, artifacts, SimpleNamespace(compile_mode="auto"),
                                  driver=drv)
        results = []
        for case in cases:
            for M in ms:
                first = len(drv.launches)
                try:
                    res = worker.check(dict(case=case["id"], M=M, type="check"))
                except EmuError as e:
                    res = dict(status="ERROR", error=str(e))
                ran = drv.launches[first:]
                res.update(id=case["id"], M=M, steps=sum(r["steps"] for r in ran),
                           seconds=round(sum(r["seconds"] for r in ran), 1),
                           kernels=[r["name"] for r in ran],
                           clusters={r["name"]: r["cluster"] for r in ran})
                errs = " ".join(f"{k}={v:.2e}" for k, v in sorted(res.items())
                                if k.endswith("_err") and isinstance(v, float))
                ran_text = (f" ({', '.join(res['kernels'])}; {res['steps']} instructions, "
                            f"{res['seconds']} s)" if ran else "")
                log(f"{res['status']:5} {case['id']} M={M}: {errs or res.get('error', '')}"
                    + ran_text)
                results.append(res)
    finally:
        bench_run.DEVICE = device
    return results


def main(argv=None) -> int:
    import argparse
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    ap = argparse.ArgumentParser(
        description="Runs bench/gpu/run.py's correctness checks on the CPU: each kernel's "
                    "PTX (prepare.py --ptx) in this emulator. Small shapes only: a CTA "
                    "takes about a tenth of a second.")
    ap.add_argument("--artifacts", default=os.path.join(here, "artifacts"))
    ap.add_argument("--cases", help="comma-separated id globs (default: every case)")
    ap.add_argument("--ms", default="64,200", help="comma-separated row counts M")
    args = ap.parse_args(argv)
    results = check_cases(args.artifacts, args.cases,
                          [int(m) for m in args.ms.split(",") if m.strip()])
    bad = [r for r in results if r["status"] != "PASS"]
    print(f"{len(results) - len(bad)} of {len(results)} checks passed")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
