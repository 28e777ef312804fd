"""What prepare.py (here, with our build) and run.py (on the GPU machine) share:
reading lora-opt's printed IR (MLIR string escapes, `lora.abi`, `gpu.binary`),
checking a cubin, the case list, and the launch ABI of the generated kernels
(grid, block, dynamic smem, and the cuTensorMapEncodeTiled arguments of every
parameter). Standard library only: run.py's --dry-run imports no torch.

The ABI, as the kernel generator states it (one `lora.abi` JSON per gpu.func):
every tensor parameter is one 8-byte pointer, in "params" order, to a 128-byte,
64-byte-aligned CUtensorMap in device global memory, encoded with
cuTensorMapEncodeTiled from the param's dtype, dims (outermost first, "M" = the
token count, known at run time; "B" = the batch of a batched kernel), box
(outermost first), swizzle (bytes) and l2_promotion (bytes the L2 fetches
per miss: 0, 64, 128 or 256; absent: 0); after them one u64 per "index_params"
entry ("K": a contraction over the tokens, i.e. the token count; "M": a
persistent kernel's token count); grid =
(ceil(N / tile[1]) · B · splits, ceil(rows / (tile[0] · multicast)) ·
multicast, 1) with N the last dim of the output ("y", or "t" for lora_down),
B the batch ("batched": true; else 1), splits the CTAs that share a tile's K
steps ("splits", a cluster along x the cubin fixes, so a plain launch; else
1), multicast the CTAs one above the other that share w's loads
("multicast", a cluster along y the cubin fixes; else 1) and rows the token
count, or "m" where that is static (the weight gradients); of a persistent
kernel ("persistent": P, a count of CTAs) (min(P, tiles, SMs), 1, 1) with
tiles = ceil(N / tile[1]) · ceil(rows / tile[0]) and SMs the GPU's
multiprocessors; block as given;
dynamic smem = "dynamic_smem".

One kernel of an op may come in variants, one per tiling, each a gpu.func
of its own ("name") with the same "kernel" (the name of the first) and the
token counts it is launched for, "rows": [min, max] (max null: no bound);
the variants of one kernel cover every count from 1, without overlap, and a
launcher launches the one whose rows hold M (kernels_at).
"""

from __future__ import annotations

import fnmatch
import json
import re
import struct

# --- MLIR string literals ----------------------------------------------------

_HEX = "0123456789abcdefABCDEF"


def mlir_unescape(body: str) -> bytes:
    """The bytes of an MLIR string literal's body (without the quotes).

    MLIR prints a string with llvm::printEscapedString: printable ASCII stays
    except `"` and `\\`; `\\` is printed as two backslashes; every other byte
    (including `"`) as `\\XX`, two hex digits. The lexer also reads `\\"`,
    `\\n` and `\\t`, and some writers print `\\` as `\\5C`; all are accepted.
    """
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            # The printer only leaves printable ASCII; anything else is taken
            # as UTF-8 text (a hand-written file), byte for byte.
            out += c.encode("utf-8")
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError(f"dangling backslash at offset {i}")
        d = body[i + 1]
        if d in "\\\"":
            out.append(ord(d))
            i += 2
        elif d == "n":
            out.append(0x0A)
            i += 2
        elif d == "t":
            out.append(0x09)
            i += 2
        elif d in _HEX and i + 2 < n and body[i + 2] in _HEX:
            out.append(int(body[i + 1:i + 3], 16))
            i += 3
        else:
            raise ValueError(f"bad escape {body[i:i + 3]!r} at offset {i}")
    return bytes(out)


def mlir_escape(data: bytes, backslash_as_hex: bool = False) -> str:
    """llvm::printEscapedString, the writer's rule (for tests)."""
    out = []
    for b in data:
        if b == 0x5C:
            out.append("\\5C" if backslash_as_hex else "\\\\")
        elif 0x20 <= b <= 0x7E and b != 0x22:
            out.append(chr(b))
        else:
            out.append("\\%02X" % b)
    return "".join(out)


def scan_string(text: str, start: int) -> tuple[str, int]:
    """`text[start]` is an opening quote: (the body, index after the closing
    quote). A quote preceded by a backslash is part of an escape."""
    assert text[start] == '"', text[start:start + 10]
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return text[start + 1:i], i + 1
        if c == "\n":
            break
        i += 1
    raise ValueError(f"unterminated string literal at offset {start}")


_BINARY = re.compile(r'gpu\.binary\s+@(?:"([^"]*)"|([A-Za-z_$.][\w$.\-]*))')


def find_binaries(text: str, key: str = "bin") -> dict[str, bytes]:
    """{gpu.binary symbol: decoded `bin` of its (first) object}; with `key`
    "assembly", the PTX of a cubin-format=isa object."""
    result = {}
    for m in _BINARY.finditer(text):
        name = m.group(1) if m.group(1) is not None else m.group(2)
        i, n = m.end(), len(text)
        plain = ""  # text since the last string literal
        found = None
        while i < n:
            c = text[i]
            if c == '"':
                body, j = scan_string(text, i)
                if re.search(r"\b" + key + r"\s*=\s*$", plain):
                    found = body
                    break
                plain, i = "", j
                continue
            if c == "\n":
                break
            plain += c
            i += 1
        if found is None:
            raise ValueError(f"gpu.binary @{name} has no `{key} = \"...\"` "
                             "(was cubin-format=bin, or isa for assembly, used?)")
        if name in result:
            raise ValueError(f"two gpu.binary ops named @{name}")
        result[name] = mlir_unescape(found)
    return result


_ABI = re.compile(r'lora\.abi\s*=\s*"')


def find_abis(text: str) -> list[dict]:
    """Every `lora.abi = "..."` attribute, parsed as JSON, in textual order."""
    abis = []
    for m in _ABI.finditer(text):
        body, _ = scan_string(text, m.end() - 1)
        raw = mlir_unescape(body).decode("utf-8")
        try:
            abis.append(json.loads(raw))
        except json.JSONDecodeError as e:
            raise ValueError(f"lora.abi is not JSON ({e}): {raw[:300]}") from e
    return abis


# --- cubin -------------------------------------------------------------------

def elf_symbols(data: bytes) -> list[str]:
    """Checks that `data` is a whole little-endian ELF64 file (the section
    table lies inside it) and returns the names in its symbol tables."""
    if data[:4] != b"\x7fELF":
        raise ValueError(f"not an ELF file (starts with {data[:8]!r})")
    if len(data) < 64 or data[4] != 2 or data[5] != 1:
        raise ValueError("not a little-endian ELF64 file")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    if shentsize != 64 or shoff + shnum * shentsize > len(data):
        raise ValueError(f"truncated ELF: section table at {shoff}+{shnum}x"
                         f"{shentsize} > {len(data)} bytes")
    sections = []
    for k in range(shnum):
        (_name, sh_type, _flags, _addr, off, size, link, _info, _align,
         entsize) = struct.unpack_from("<IIQQQQIIQQ", data, shoff + k * 64)
        if sh_type != 8 and off + size > len(data):  # 8 = SHT_NOBITS
            raise ValueError(f"truncated ELF: section {k} ends past the file")
        sections.append((sh_type, off, size, link, entsize))
    names = []
    for sh_type, off, size, link, entsize in sections:
        if sh_type != 2 or not entsize:  # SHT_SYMTAB
            continue
        _, str_off, str_size, _, _ = sections[link]
        strtab = data[str_off:str_off + str_size]
        for e in range(off, off + size, entsize):
            (st_name,) = struct.unpack_from("<I", data, e)
            end = strtab.find(b"\0", st_name)
            if st_name and end > st_name:
                names.append(strtab[st_name:end].decode("utf-8", "replace"))
    return names


# --- cases -------------------------------------------------------------------

SHAPES = [(4096, 4096), (4096, 14336), (14336, 4096), (4096, 1024)]
RANKS = [8, 16, 64]
GRAD_RANK = 16
DTYPE = "bf16"
# The attention's batched matmuls of Llama-8B (32 heads of 128) at 2048
# keys, one sequence: (B, K, N, transposed w). q·kᵀ reads k [B, N, K] as
# stored; probabilities·v is [B, M, 2048]·[B, 2048, 128].
ATTENTION = [(32, 128, 2048, True), (32, 2048, 128, False)]
# LoRA layers beyond the shapes, for what those leave unchecked: K =
# 3520 splits lora_down's 55 K steps over 2 CTAs of 28 and 27, and r = 128
# makes its staging rows 136 floats.
EDGE = [(3520, 4096, 128)]


def lora_id(K: int, N: int, r: int) -> str:
    return f"lora_{K}x{N}_r{r}"


def matmul_id(K: int, N: int) -> str:
    return f"matmul_{K}x{N}"


def grad_id(K: int, N: int, r: int) -> str:
    return f"grad_{K}x{N}_r{r}"


def bmm_id(B: int, K: int, N: int, transposed: bool) -> str:
    return f"bmm_{B}x{K}x{N}{'_t' if transposed else ''}"


def bmm_case(B: int, K: int, N: int, transposed: bool) -> dict:
    """y[b] = x[b]·w[b] for b < B (w[b] stored [N, K] when transposed): a
    tosa.matmul [B, M, K] x [B, K, N], bf16 out, as the attention computes
    q·kᵀ and probabilities·v."""
    return dict(id=bmm_id(B, K, N, transposed), op="bmm", B=B, K=K, N=N, r=None,
                scale=None, dtype=DTYPE, transposed=transposed)


def lora_case(K: int, N: int, r: int) -> dict:
    """y = x·W + scale·(x·A)·B with scale 2.0 (alpha = 2r)."""
    return dict(id=lora_id(K, N, r), op="lora", K=K, N=N, r=r, scale=2.0, dtype=DTYPE)


def matmul_case(K: int, N: int) -> dict:
    return dict(id=matmul_id(K, N), op="matmul", K=K, N=N, r=None, scale=None,
                dtype=DTYPE)


def grad_case(K: int, N: int, r: int) -> dict:
    """The forward and backward of one LoRA layer (lora.linear and
    lora.linear_grad), scale 2.0."""
    return dict(id=grad_id(K, N, r), op="grad", K=K, N=N, r=r, scale=2.0, dtype=DTYPE)


def case_variant(case: dict, dtype: str | None = None, bias: bool = False,
                 f32_out: bool = False) -> dict:
    """`case` in another input/output type (`_f16`), with a bias added in
    the epilogue (`_bias`, LoRA cases), or with an f32 output (`_f32out`,
    the matmul: a tosa.matmul's own result type, no rounding cast after
    it)."""
    out = dict(case)
    if dtype and dtype != case["dtype"]:
        out.update(dtype=dtype, id=f"{out['id']}_{dtype}")
    if f32_out:
        if case["op"] != "matmul":
            raise ValueError(f"{case['id']}: only a matmul case has an f32 output")
        out.update(out_dtype="f32", id=f"{out['id']}_f32out")
    if bias:
        if case["op"] != "lora":
            raise ValueError(f"{case['id']}: only a LoRA case takes a bias")
        out.update(bias=True, id=f"{out['id']}_bias")
    return out


def shape_cases(K: int, N: int) -> list[dict]:
    """The default cases of one (K, N): LoRA at every rank, the matmul, and
    the forward+backward at GRAD_RANK."""
    return ([lora_case(K, N, r) for r in RANKS] + [matmul_case(K, N)]
            + [grad_case(K, N, GRAD_RANK)])


def tuning_case(case: dict, options: str, suffix: str) -> dict:
    """`case` compiled with `options` for lora-generate-cuda-kernels, its id
    suffixed with `suffix`."""
    return dict(case, id=f"{case['id']}_{suffix}", pass_options=options)


def tuning_cases() -> list[dict]:
    """Default cases compiled with the pass's options overridden
    ("pass_options"), each timed beside its default against the same
    baselines, for choices not yet measured on a GPU:
    - 128x256 tiles where N = 1024 (the default, 128x128, was 1.18x cuBLAS
      at M >= 8192);
    - lora_down with 7 stages instead of 14 (112 KiB: two CTAs per SM, so
      that one's fill and drain overlap the other's streaming);
    - q·kᵀ (K = 128: two K steps) in 128x64 tiles with 2 stages: 58
      registers and 52 KiB of shared memory (ptxas -v) against the
      default's 90 and 224 KiB (128x128 tiles, 7 stages), so two CTAs share
      an SM and one's epilogue overlaps the other's loads (the default was
      3x cuBLAS, one CTA per SM writing 256 MiB of output);
    - TMA multicast of w over pairs of 128-row tiles (multicast=2): each
      CTA's TMA moves 128 + tileN/2 box rows a stage instead of 128 + tileN,
      and the L2 serves w once per pair. On the forward (4096², r = 16; the
      widest and the narrowest Llama layers' plain matmul) and on the
      forward+backward, whose dx kernel reads a transposed w (its box
      halved);
    - t = scale·x·A inside lora_linear's tiles (fuse-lora-down, r <= 16): no
      lora_down kernel and no second read of x, for 16/tileN more tensor
      work (6% at 128x256) and A's 2 KiB slice a stage; alone and with
      multicast, on 4096², the widest Llama layer, and the forward+backward
      (whose backward reads the t the fused forward stores, and whose dx
      kernel computes dt = scale·g·Bᵀ likewise: no lora_t_grad), there
      also with multicast;
    - dB inside the fused dx kernel (fuse-lora-b-grad, with fuse-lora-down):
      no lora_b_grad kernel and no second read of g; the dx kernel's CTAs
      add partial dBᵀ tiles of the g steps they stream into an f32
      accumulator with TMA reduce-adds, which the host zeroes before and
      rounds into dB after (both timed with the launches);
    - dA inside it too (fuse-lora-a-grad, with the two above): no
      lora_a_grad kernel and no second read of dt; after its main loop each
      CTA loads its dx tile's block of x and adds its parts of dA = xᵀ·dt
      into a second f32 accumulator [K, r] likewise (zeroed before, rounded
      into dA after);
    - the forward+backward with at most 7 stages: the weight gradients'
      64x64 tiles (and lora_down's) then take 112 KiB instead of 229, two
      CTAs per SM, so that one's fill and drain overlap the other's
      streaming (a split CTA runs only 16-32 steps through its ring);
    - the direct epilogue (direct-epilogue): the accumulator converted in
      registers and written once to shared memory, 128B-swizzled, for the
      TMA stores, instead of an f32 staging tile written and read back (at
      128x256, 64 KiB of shared-memory traffic per tile instead of 320); on
      the plain matmul, and with fuse-lora-down on the forward and the
      forward+backward;
    - persistent kernels (persistent=132, one CTA per SM of an H200, each
      taking output tiles in turn): the producer loads the next tile's
      stages while the consumers store the last one's output from a tile of
      shared memory of its own (3 stages instead of 4 at 128x256), and the
      CTA's launch and prologue are paid once; on the same cases."""
    return [tuning_case(matmul_case(4096, 1024), "tile-n=256", "tile256"),
            tuning_case(lora_case(4096, 4096, 16), "max-stages=7", "stages7"),
            tuning_case(bmm_case(32, 128, 2048, True), "tile-n=64 max-stages=2",
                        "tile64"),
            tuning_case(lora_case(4096, 4096, 16), "multicast=2", "mc2"),
            tuning_case(matmul_case(4096, 14336), "multicast=2", "mc2"),
            tuning_case(matmul_case(4096, 1024), "multicast=2", "mc2"),
            tuning_case(grad_case(4096, 4096, GRAD_RANK), "multicast=2", "mc2"),
            tuning_case(lora_case(4096, 4096, 16), "fuse-lora-down", "fused"),
            tuning_case(lora_case(4096, 4096, 16), "fuse-lora-down multicast=2",
                        "fused_mc2"),
            tuning_case(lora_case(4096, 14336, 16), "fuse-lora-down", "fused"),
            tuning_case(grad_case(4096, 4096, GRAD_RANK), "fuse-lora-down",
                        "fused"),
            tuning_case(grad_case(4096, 4096, GRAD_RANK),
                        "fuse-lora-down fuse-lora-b-grad", "fused_db"),
            tuning_case(grad_case(4096, 4096, GRAD_RANK),
                        "fuse-lora-down fuse-lora-b-grad fuse-lora-a-grad", "fused_dadb"),
            tuning_case(grad_case(4096, 4096, GRAD_RANK), "fuse-lora-down multicast=2",
                        "fused_mc2"),
            tuning_case(grad_case(4096, 4096, GRAD_RANK), "max-stages=7", "stages7"),
            tuning_case(matmul_case(4096, 4096), "direct-epilogue", "de"),
            tuning_case(lora_case(4096, 4096, 16), "fuse-lora-down direct-epilogue",
                        "fused_de"),
            tuning_case(grad_case(4096, 4096, GRAD_RANK),
                        "fuse-lora-down direct-epilogue", "fused_de"),
            tuning_case(matmul_case(4096, 4096), "persistent=132", "pers"),
            tuning_case(lora_case(4096, 4096, 16), "fuse-lora-down persistent=132",
                        "fused_pers"),
            tuning_case(grad_case(4096, 4096, GRAD_RANK),
                        "fuse-lora-down persistent=132", "fused_pers")]


def default_cases() -> list[dict]:
    return ([c for K, N in SHAPES for c in shape_cases(K, N)]
            + [bmm_case(*shape) for shape in ATTENTION]
            + [lora_case(*shape) for shape in EDGE]
            + tuning_cases())


_SPEC = re.compile(r"^(\d+)x(\d+)(?::(mm|matmul|g\d+|\d+))?((?::(?:bf16|f16|bias|f32out))*)$")
_BMM_SPEC = re.compile(r"^(\d+)x(\d+)x(\d+):(bmm|bmmt)$")


def parse_case_spec(specs: str | None) -> list[dict]:
    """Cases from a comma-separated list: `KxN:r` (one LoRA case, scale 2.0
    i.e. alpha = 2r), `KxN:gR` (the forward+backward at rank R), `KxN:mm`
    (the plain matmul), `KxN` (the shape's default cases: LoRA at every
    default rank, the matmul and the forward+backward at GRAD_RANK),
    `BxKxN:bmm` (a batched matmul), `BxKxN:bmmt` (one reading w [B, N, K]
    transposed); a KxN spec may end in `:f16` (f16 instead of bf16), for
    LoRA `:bias` (y + bias), for the matmul `:f32out` (y in f32); any of them followed by `@opt+opt` is that case compiled
    with those lora-generate-cuda-kernels options (a tuning case:
    `256x512:g16@fuse-lora-down+multicast=2`). None: the default cases."""
    if not specs:
        return default_cases()
    cases, seen = [], set()
    for spec in filter(None, (s.strip() for s in specs.split(","))):
        spec, _, options = spec.partition("@")
        m = _SPEC.match(spec)
        b = _BMM_SPEC.match(spec)
        if not m and not b:
            raise ValueError(f"bad case spec {spec!r}: want KxN, KxN:r, KxN:gR, KxN:mm, "
                             "BxKxN:bmm or BxKxN:bmmt, each with @options or not")
        if b:
            new = [bmm_case(int(b.group(1)), int(b.group(2)), int(b.group(3)),
                            b.group(4) == "bmmt")]
        else:
            K, N, what = int(m.group(1)), int(m.group(2)), m.group(3)
            if what is None:
                new = shape_cases(K, N)
            elif what in ("mm", "matmul"):
                new = [matmul_case(K, N)]
            elif what.startswith("g"):
                new = [grad_case(K, N, int(what[1:]))]
            else:
                new = [lora_case(K, N, int(what))]
            flags = [f for f in (m.group(4) or "").split(":") if f]
            dtype = next((f for f in flags if f not in ("bias", "f32out")), None)
            new = [case_variant(c, dtype, "bias" in flags, "f32out" in flags)
                   for c in new]
        if options:
            new = [tuning_case(c, options.replace("+", " "),
                               re.sub(r"[^A-Za-z0-9]+", "_", options).strip("_"))
                   for c in new]
        for c in new:
            if c["id"] not in seen:
                seen.add(c["id"])
                cases.append(c)
    return cases


def select_cases(cases: list[dict], patterns: str | None) -> list[dict]:
    """The cases whose id matches one of the comma-separated patterns: an id
    glob (`lora_4096x*_r16`, `matmul_*`, `grad_*`) or a spec as
    parse_case_spec reads it."""
    if not patterns:
        return list(cases)
    wanted_ids, globs = set(), []
    for p in filter(None, (s.strip() for s in patterns.split(","))):
        if _SPEC.match(p) or _BMM_SPEC.match(p):
            wanted_ids.update(c["id"] for c in parse_case_spec(p))
        else:
            globs.append(p)
    return [c for c in cases if c["id"] in wanted_ids
            or any(fnmatch.fnmatchcase(c["id"], g) for g in globs)]


# --- launch ABI --------------------------------------------------------------

# dtype name -> (CUtensorMapDataType, element bytes); values from cuda.h.
TENSORMAP_DTYPE = {"bf16": (9, 2), "f16": (6, 2), "f32": (7, 4)}
# swizzle bytes -> CUtensorMapSwizzle
TENSORMAP_SWIZZLE = {0: 0, 32: 1, 64: 2, 128: 3}
# L2 promotion bytes -> CUtensorMapL2promotion
TENSORMAP_L2_PROMOTION = {0: 0, 64: 1, 128: 2, 256: 3}
CU_TENSOR_MAP_INTERLEAVE_NONE = 0
CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE = 0
TENSORMAP_BYTES = 128
TENSORMAP_ALIGN = 64

OUTPUT_ROLE = {"lora_down": "t", "lora_linear": "y", "matmul": "y"}
ROLES = {"lora_down": ("x", "a", "t"),
         "lora_linear": ("x", "w", "a", "t", "b", "ts", "db", "xa", "da", "bias", "y"),
         "matmul": ("x", "w", "y")}

# A grad case's kernels in launch order, as (step, kernel name), with the
# case's tensor each param role binds: x, w, a, b and g (dL/dy) are the
# inputs; t and y the forward's outputs; ts (t again, where the backward
# recomputes it), dt = scale·g·Bᵀ, db, da and dx the backward's (and dbt
# and daf, dB's and dA's f32 accumulators where the dx kernel computes
# them). The forward
# is the lora.linear's gpu.module, the backward the lora.linear_grad's
# (passes/GenerateCudaKernels.cpp). A backward that reads the forward's t
# has no lora_down (BACKWARD_DOWN), and its ts is t. In a lora or matmul
# case every role is its own tensor.
BACKWARD_DOWN = ("backward", "lora_down")
# A forward whose lora_linear computes t itself ("fuse_down" in its ABI) has
# no lora_down either: its a param is A, and it stores t. A backward whose
# lora_input_grad computes dt itself has no lora_t_grad: its a param is B,
# it stores dt, and it runs where lora_t_grad would (lora_a_grad reads dt).
FORWARD_DOWN = ("forward", "lora_down")
BACKWARD_T_GRAD = ("backward", "lora_t_grad")
BACKWARD_INPUT_GRAD = ("backward", "lora_input_grad")
# A fused lora_input_grad that also computes dB ("fuse_b_grad" in its ABI)
# has no lora_b_grad after it: it reads ts (its role ts) and adds its
# partial dBᵀ tiles with TMA reduce-adds into dbt, an f32 accumulator [N, r]
# (its role db) that the launcher zeroes before it runs and from which it
# computes the case's dB = dbtᵀ rounded to the dtype after (ACCUMULATED).
BACKWARD_B_GRAD = ("backward", "lora_b_grad")
B_GRAD_FUSED_TENSORS = dict(ts="ts", db="dbt")
# One that computes dA as well ("fuse_a_grad", only with "fuse_b_grad") has
# no lora_a_grad either: after its main loop it reads its dx tile's block of
# the layer input x (its role xa) and adds its parts of dA = xᵀ·dt into daf,
# an f32 accumulator [K, r] (its role da), from which dA is rounded, not
# transposed.
BACKWARD_A_GRAD = ("backward", "lora_a_grad")
A_GRAD_FUSED_TENSORS = dict(xa="x", da="daf")
# {accumulator: (the case's output computed from it, whether transposed)}.
ACCUMULATED = {"dbt": ("db", True), "daf": ("da", False)}
GRAD_TENSORS = {
    ("forward", "lora_down"): dict(x="x", a="a", t="t"),
    ("forward", "lora_linear"): dict(x="x", w="w", a="a", t="t", b="b", y="y"),
    ("backward", "lora_down"): dict(x="x", a="a", t="ts"),
    ("backward", "lora_t_grad"): dict(x="g", a="b", t="dt"),
    ("backward", "lora_b_grad"): dict(x="ts", w="g", y="db"),
    ("backward", "lora_a_grad"): dict(x="x", w="dt", y="da"),
    ("backward", "lora_input_grad"): dict(x="g", w="w", a="b", t="dt", b="a", y="dx"),
}
# A grad case's kernels by name: (kind, transposed_a, transposed_b). A
# transposed x is stored [k, m] (the weight gradients read the token-major
# ts, x and dt as they are); transposed w, a, b are stored [n, k] (W, A and B
# as the forward stores them).
GRAD_LAYOUT = {"lora_down": ("lora_down", False, False),
               "lora_linear": ("lora_linear", False, False),
               "lora_t_grad": ("lora_down", False, True),
               "lora_b_grad": ("matmul", True, False),
               "lora_a_grad": ("matmul", True, False),
               "lora_input_grad": ("lora_linear", False, True)}


def case_tensor_dims(case: dict, name: str) -> list:
    """The dims of a case's tensor (tensor_dims; for a bmm case x, w, y with
    the batch "B" first and w [B, N, K] when transposed)."""
    if case["op"] == "bmm":
        K, N = case["K"], case["N"]
        w = ["B", N, K] if case["transposed"] else ["B", K, N]
        return {"x": ["B", "M", K], "w": w, "y": ["B", "M", N]}[name]
    return tensor_dims(name, case["K"], case["N"], case["r"])


def tensor_dims(name: str, K: int, N: int, r: int | None) -> list:
    """The dims of a case's tensor (see GRAD_TENSORS), outermost first, "M"
    for the token count."""
    return {"x": ["M", K], "w": [K, N], "a": [K, r], "b": [r, N], "bias": [N],
            "g": ["M", N], "t": ["M", r], "ts": ["M", r], "dt": ["M", r],
            "y": ["M", N], "db": [r, N], "dbt": [N, r], "da": [K, r],
            "daf": [K, r], "dx": ["M", K]}[name]


def written_roles(k: dict) -> tuple[str, ...]:
    """The params kernel k writes: its output, t where a lora_linear
    computes t itself ("fuse_down"), and db and da where it adds dBᵀ and dA
    into them ("fuse_b_grad", "fuse_a_grad"; see accumulated_roles)."""
    out = OUTPUT_ROLE[k["kind"]]
    if k["kind"] != "lora_linear" or not k.get("fuse_down"):
        return (out,)
    return (out, "t") + accumulated_roles(k)


def accumulated_roles(k: dict) -> tuple[str, ...]:
    """The params kernel k adds into (TMA reduce-add) rather than stores:
    whoever launches it zeroes them first (db of a "fuse_b_grad" kernel, da
    of a "fuse_a_grad" one)."""
    return (("db",) if k.get("fuse_b_grad") else ()) + (
        ("da",) if k.get("fuse_a_grad") else ())


def kernel_label(k: dict) -> str:
    """module/name: unique within a case (a grad case has two lora_down)."""
    return f"{k['module']}/{k['name']}"


def kernel_name(k: dict) -> str:
    """The kernel a variant is of (its "kernel"; "name" in an ABI without
    one): what the kernel computes in its op, e.g. lora_input_grad."""
    return k.get("kernel", k["name"])


def row_range(k: dict) -> tuple[int, float]:
    """(min, max) of the token counts kernel k is launched for; max is
    infinity for no bound (an ABI without "rows": every count)."""
    rows = k.get("rows", [1, None])
    if not isinstance(rows, list) or len(rows) != 2 or not isinstance(rows[0], int) \
            or not (rows[1] is None or isinstance(rows[1], int)):
        raise ValueError(f"{kernel_label(k)}: rows {rows!r} is not [min, max or null]")
    return rows[0], float("inf") if rows[1] is None else rows[1]


def check_ms_for(case: dict, check_ms: list[int]) -> list[int]:
    """The token counts to check `case` at: `check_ms`, and the least count
    of each kernel variant that none of them launches (a row range's first
    count leaves one row in its last tile of 64), so that every variant a
    timing may launch has been checked."""
    ms = list(dict.fromkeys(check_ms))
    for k in sorted(case.get("kernels", []), key=lambda k: row_range(k)[0]):
        lo, hi = row_range(k)
        if not any(lo <= M <= hi for M in ms):
            ms.append(lo)
    return ms


def check_row_variants(kernels: list[dict]) -> list[str]:
    """What is wrong with the row ranges of the variants of each kernel
    (module and "kernel"): they must cover every token count from 1, each
    count once (empty when nothing is)."""
    groups: dict[tuple, list] = {}
    errors = []
    for k in kernels:
        try:
            groups.setdefault((k["module"], kernel_name(k)), []).append((row_range(k), k))
        except ValueError as e:
            errors.append(str(e))
    for (module, name), variants in groups.items():
        variants.sort(key=lambda v: v[0][0])
        start = 1
        for (lo, hi), k in variants:
            if lo != start or hi < lo:
                errors.append(f"{module}/{name}: variant {k['name']} is for rows "
                              f"{k.get('rows')}, expected it from {start}: the "
                              "variants must cover every row count once")
                break
            start = hi + 1
        else:
            if start != float("inf"):
                errors.append(f"{module}/{name}: no variant for {start} rows or more")
    return errors


def kernels_at(case: dict, M: int) -> list[dict]:
    """The kernels a case launches at M tokens, in launch order: of each
    kernel the variant whose rows hold M. Raises ValueError unless that is
    one variant of every kernel the case's op is generated as."""
    chosen = []
    for k in case["kernels"]:
        lo, hi = row_range(k)
        if lo <= M <= hi:
            chosen.append(k)
    keys, want = _kernel_keys(case, chosen)
    if sorted(keys) != sorted(want):
        raise ValueError(f"{case['id']}: at M={M} the kernels {keys}, expected {want} "
                         "(one variant each)")
    return launch_order(case, chosen)


def grad_steps(kernels: list[dict]) -> dict[str, str]:
    """{gpu.module: "forward" or "backward"} of a grad case's kernels: the
    module with lora_linear is the forward's, the one with lora_input_grad the
    backward's. Raises ValueError for a module with neither."""
    steps = {k["module"]: "forward" if kernel_name(k) == "lora_linear" else "backward"
             for k in kernels if kernel_name(k) in ("lora_linear", "lora_input_grad")}
    for k in kernels:
        if k["module"] not in steps:
            raise ValueError(f"gpu.module {k['module']} has neither lora_linear nor "
                             "lora_input_grad")
    return steps


def _kernel_keys(case: dict, kernels: list[dict]) -> tuple[list, list]:
    """(each kernel's key, the keys in launch order): the kind for a lora or
    matmul case, (step, name) for a grad case."""
    if case["op"] == "grad":
        steps = grad_steps(kernels)
        keys = [(steps[k["module"]], kernel_name(k)) for k in kernels]
        fused = {step: any(k.get("fuse_down") for k in kernels
                           if steps[k["module"]] == step)
                 for step in ("forward", "backward")}
        want = [key for key in GRAD_TENSORS
                if key != BACKWARD_DOWN and not (key == FORWARD_DOWN and fused["forward"])
                or key in keys]
        if fused["backward"]:
            # lora_input_grad in lora_t_grad's place.
            want.remove(BACKWARD_INPUT_GRAD)
            want[want.index(BACKWARD_T_GRAD)] = BACKWARD_INPUT_GRAD
        if any(k.get("fuse_b_grad") for k in kernels if steps[k["module"]] == "backward"):
            want.remove(BACKWARD_B_GRAD)       # lora_input_grad computes dB too
        if any(k.get("fuse_a_grad") for k in kernels if steps[k["module"]] == "backward"):
            want.remove(BACKWARD_A_GRAD)       # and dA
        return keys, want
    want = ["lora_down", "lora_linear"] if case["op"] == "lora" else ["matmul"]   # mm, bmm
    # A lora_linear that computes t itself ("fuse_down") has no lora_down.
    if any(k.get("fuse_down") for k in kernels):
        want = ["lora_linear"]
    return [k.get("kind") for k in kernels], want


def launch_order(case: dict, kernels: list[dict]) -> list[dict]:
    """The case's kernels in launch order (the variants of one kernel
    together, in their order). Raises ValueError unless they are the kernels
    its op is generated as, each at least once."""
    keys, want = _kernel_keys(case, kernels)
    if sorted(set(keys)) != sorted(want):
        raise ValueError(f"kernels {keys}, expected {want}")
    return [k for _, k in sorted(zip(map(want.index, keys), kernels), key=lambda p: p[0])]


def kernel_tensors(case: dict, kernels: list[dict]) -> list[dict[str, str]]:
    """Per kernel (same order): {param role: the case's tensor it binds}."""
    if case["op"] != "grad":
        return [{p["role"]: p["role"] for p in k["params"]} for k in kernels]
    keys, _ = _kernel_keys(case, kernels)
    unknown = [key for key in keys if key not in GRAD_TENSORS]
    if unknown:
        raise ValueError(f"unexpected kernels {unknown} in a grad case")
    bindings = [dict(GRAD_TENSORS[key],
                     **(B_GRAD_FUSED_TENSORS if k.get("fuse_b_grad")
                        and key == BACKWARD_INPUT_GRAD else {}),
                     **(A_GRAD_FUSED_TENSORS if k.get("fuse_a_grad")
                        and key == BACKWARD_INPUT_GRAD else {}))
                for key, k in zip(keys, kernels)]
    if BACKWARD_DOWN in keys:
        return bindings
    # The backward reads the forward's t.
    return [{role: "t" if tensor == "ts" else tensor for role, tensor in b.items()}
            for b in bindings]


def check_kernel(abi: dict, case: dict, tensors: dict[str, str]) -> list[str]:
    """What in a kernel's ABI disagrees with the case (empty when none);
    `tensors` is the kernel's entry of kernel_tensors."""
    errors = []
    kind = abi.get("kind")
    if kind not in ROLES:
        return [f"unknown kind {kind!r}"]
    transposed = (False, False)
    if case["op"] == "grad":
        if abi.get("kernel", abi.get("name")) not in GRAD_LAYOUT:
            return [f"unexpected kernel {abi.get('kernel', abi.get('name'))!r} in a grad case"]
        want_kind, *layout = GRAD_LAYOUT[kernel_name(abi)]
        transposed = tuple(layout)
        if kind != want_kind:
            errors.append(f"kind {kind}, expected {want_kind}")
    elif (case["op"] in ("matmul", "bmm")) != (kind == "matmul"):
        errors.append(f"kind {kind} in a {case['op']} case")
    if case["op"] == "bmm":
        transposed = (False, case["transposed"])
    if bool(abi.get("batched", False)) != (case["op"] == "bmm"):
        errors.append(f"batched {abi.get('batched', False)} in a {case['op']} case")
    for key in ("name", "module", "block", "dynamic_smem", "tile", "params"):
        if key not in abi:
            errors.append(f"no {key!r}")
    if errors:
        return errors
    # A lora_down and a weight gradient (a matmul over the tokens: its K is
    # "M") may split a tile's K steps over a cluster of CTAs.
    splits = abi.get("splits", 1)
    splittable = kind == "lora_down" or (kind == "matmul" and abi.get("k") == "M")
    if not isinstance(splits, int) or not 1 <= splits <= 8 or (
            splits > 1 and not splittable):
        errors.append(f"splits {splits!r}: 1 to 8 CTAs per tile in a lora_down or "
                      "a weight gradient, else 1")
    # A lora_linear or a matmul of 128-row tiles over a static K may share
    # its w loads over a pair of CTAs.
    multicast = abi.get("multicast", 1)
    if multicast not in (1, 2) or (multicast == 2 and (
            kind == "lora_down" or splits != 1 or abi.get("k") == "M"
            or abi.get("batched", False) or abi["tile"][0] != 128
            or abi["tile"][1] % 128 != 0 or abi["block"][0] != 384)):
        errors.append(f"multicast {multicast!r}: 1, or 2 for a lora_linear or "
                      "matmul of 128-row tiles (two consumers) and an even number "
                      "of 64-column w boxes, unsplit, over a static K")
    stated = (abi.get("transposed_a", False), abi.get("transposed_b", False))
    if stated != transposed:
        errors.append(f"transposed_a/b {stated[0]}/{stated[1]}, "
                      f"expected {transposed[0]}/{transposed[1]}")
    # dB inside the dx kernel: only where it computes dt itself.
    b_grad = bool(abi.get("fuse_b_grad"))
    if b_grad and (case["op"] != "grad" or kernel_name(abi) != "lora_input_grad"
                   or not abi.get("fuse_down")):
        errors.append("fuse_b_grad: only in a grad case's lora_input_grad that computes "
                      "dt itself (fuse_down)")
    # dA inside it: only where it computes dB too.
    a_grad = bool(abi.get("fuse_a_grad"))
    if a_grad and not b_grad:
        errors.append("fuse_a_grad: only in a lora_input_grad that computes dB too "
                      "(fuse_b_grad)")
    roles = [p.get("role") for p in abi["params"]]
    for need in ROLES[kind]:
        # A lora_linear reads A only where it computes t itself, ts and dBᵀ's
        # accumulator only where it computes dB, x and dA's only where dA.
        optional = ("bias",) + (("a",) if kind == "lora_linear"
                                and not abi.get("fuse_down") else ()) + (
            ("ts", "db") if not b_grad else ()) + (("xa", "da") if not a_grad else ())
        if need not in optional and need not in roles:
            errors.append(f"no {need!r} param")
    if len(set(roles)) != len(roles):
        errors.append(f"repeated roles {roles}")
    for p in abi["params"]:
        role = p.get("role")
        # The fused backward's roles bind nothing outside a grad case.
        if role not in ROLES[kind] or role not in tensors or (
                case["op"] != "grad" and role in {**B_GRAD_FUSED_TENSORS,
                                                  **A_GRAD_FUSED_TENSORS}):
            errors.append(f"unexpected role {role!r}")
            continue
        want = case_tensor_dims(case, tensors[role])
        if list(p.get("dims", [])) != want:
            errors.append(f"{role}: dims {p.get('dims')} != {want} ({tensors[role]})")
        if p.get("dtype") not in TENSORMAP_DTYPE:
            errors.append(f"{role}: dtype {p.get('dtype')!r} unsupported")
        if role in accumulated_roles(abi) and p.get("dtype") != "f32":
            errors.append(f"{role}: dtype {p.get('dtype')!r}, expected f32 (an "
                          "accumulator of TMA reduce-adds)")
        if p.get("swizzle", 0) not in TENSORMAP_SWIZZLE:
            errors.append(f"{role}: swizzle {p.get('swizzle')!r}")
        if p.get("l2_promotion", 0) not in TENSORMAP_L2_PROMOTION:
            errors.append(f"{role}: l2_promotion {p.get('l2_promotion')!r}")
        if len(p.get("box", [])) != len(want):
            errors.append(f"{role}: box {p.get('box')} has not rank {len(want)}")
    if not errors:
        # The output's rows are the token count or static; a kernel with
        # static rows (a weight gradient) contracts over the tokens instead
        # and takes their count as its index param "K".
        out = next(p for p in abi["params"] if p["role"] == OUTPUT_ROLE[kind])
        rows = out["dims"][-2]
        if abi.get("m", "M") != rows:
            errors.append(f"m {abi.get('m')!r}, expected {rows!r} (the output's rows)")
        # A persistent kernel takes the token count for its tile count.
        want_index = (["M"] if abi.get("persistent") else []) if rows == "M" else ["K"]
        if list(abi.get("index_params", [])) != want_index:
            errors.append(f"index_params {abi.get('index_params')}, expected {want_index}")
    if kind == "lora_down" and case.get("scale") is not None \
            and abi.get("scale") is not None and float(abi["scale"]) != case["scale"]:
        errors.append(f"scale {abi['scale']} != the case's {case['scale']}")
    block = abi["block"]
    if len(block) != 3 or block[0] * block[1] * block[2] > 1024:
        errors.append(f"block {block}")
    if len(abi["tile"]) != 2 or min(abi["tile"]) <= 0:
        errors.append(f"tile {abi['tile']}")
    try:
        lo, hi = row_range(abi)
        if lo < 1 or hi < lo:
            errors.append(f"rows {abi.get('rows')}: not a range from 1 up")
    except ValueError as e:
        errors.append(str(e))
    return errors


def param_shape(param: dict, M: int, B: int | None = None) -> list[int]:
    """The param's tensor shape, outermost first, with "M" = M and "B" = B
    (a batched kernel's batch)."""
    shape = []
    for d in param["dims"]:
        if d == "M":
            shape.append(M)
        elif d == "B" and B is not None:
            shape.append(B)
        elif isinstance(d, int):
            shape.append(d)
        else:
            raise ValueError(f"{param['role']}: unknown dim {d!r}")
    return shape


def tensormap_args(param: dict, M: int, address: int, B: int | None = None,
                   l2_promotion: int | None = None) -> dict:
    """The arguments of cuTensorMapEncodeTiled for `param` on a contiguous
    row-major tensor at `address` with M rows (and B matrices), checked
    against the limits that cuda.h states for cuTensorMapEncodeTiled; with
    the param's L2 promotion, or `l2_promotion` bytes where given (run.py's
    side-by-side timing without it). Raises ValueError."""
    dtype, esize = TENSORMAP_DTYPE[param["dtype"]]
    shape = param_shape(param, M, B)
    rank = len(shape)
    global_dim = list(reversed(shape))
    # Row strides in bytes of the contiguous tensor, innermost-first, without
    # the innermost dimension's (it is the element size).
    strides, acc = [], esize
    for d in global_dim[:-1]:
        acc *= d
        strides.append(acc)
    box = list(reversed(param["box"]))
    swizzle = TENSORMAP_SWIZZLE[param.get("swizzle", 0)]
    promotion = TENSORMAP_L2_PROMOTION[param.get("l2_promotion", 0)
                                       if l2_promotion is None else l2_promotion]
    args = dict(role=param["role"], dataType=dtype, rank=rank, globalAddress=address,
                globalDim=global_dim, globalStrides=strides, boxDim=box,
                elementStrides=[1] * rank, interleave=CU_TENSOR_MAP_INTERLEAVE_NONE,
                swizzle=swizzle, l2Promotion=promotion,
                oobFill=CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE)
    where = f"{param['role']} (dims {param['dims']}, box {param['box']}, M={M})"
    if not 1 <= rank <= 5:
        raise ValueError(f"{where}: rank {rank} not in 1..5")
    if address % 16:
        raise ValueError(f"{where}: address {address:#x} not 16-byte aligned")
    if any(not 0 < d <= 2**32 for d in global_dim):
        raise ValueError(f"{where}: globalDim {global_dim} not in 1..2^32")
    if any(s % 16 or s >= 2**40 for s in strides):
        raise ValueError(f"{where}: globalStrides {strides} not multiples of 16 below 2^40")
    if len(box) != rank or any(not 0 < b <= 256 for b in box):
        raise ValueError(f"{where}: boxDim {box} not in 1..256")
    if box[0] * esize % 16:
        raise ValueError(f"{where}: inner box {box[0]}x{esize} bytes not a multiple of 16")
    if swizzle and box[0] * esize > param["swizzle"]:
        raise ValueError(f"{where}: inner box {box[0] * esize} bytes > swizzle "
                         f"{param['swizzle']}")
    return args


def launch_plan(abi: dict, M: int, B: int | None = None,
                sms: int | None = None) -> dict:
    """grid, block and dynamic smem of a kernel at M tokens (and B matrices
    for a batched one), and the values of its index params (the u64s after
    the tensor maps); a persistent kernel's grid at most `sms` CTAs where
    given (the GPU's SM count, as the generated launcher asks the runtime)."""
    batches = 1
    if abi.get("batched"):
        if B is None:
            raise ValueError(f"{abi['name']}: a batched kernel needs the batch size")
        batches = B
    out = next(p for p in abi["params"] if p["role"] == OUTPUT_ROLE[abi["kind"]])
    N = param_shape(out, M, B)[-1]
    rows = M if abi.get("m", "M") == "M" else int(abi["m"])
    tm, tn = abi["tile"]
    index = []
    for name in abi.get("index_params", []):
        if name not in ("K", "M"):
            raise ValueError(f"{abi['name']}: unknown index param {name!r}")
        index.append(M)
    # A split kernel (LoraDown, a weight gradient) runs `splits` CTAs per
    # tile side by side along x, as a cluster fixed in the cubin
    # (.reqnctapercluster): a plain launch.
    # A multicast kernel's clusters are pairs of row tiles along y (a last
    # one past the rows still loads its peer's share of w).
    splits = int(abi.get("splits", 1))
    multicast = int(abi.get("multicast", 1))
    # A persistent kernel runs one CTA per tile up to "persistent" and the
    # SM count, each taking tiles in turn.
    persistent = int(abi.get("persistent", 0))
    if persistent:
        tiles = -(-N // tn) * -(-rows // tm)
        ctas = min(persistent, tiles, sms or persistent)
        return dict(grid=[ctas, 1, 1], block=list(abi["block"]),
                    smem=int(abi["dynamic_smem"]), index=index)
    return dict(grid=[-(-N // tn) * batches * splits,
                      -(-rows // (tm * multicast)) * multicast, 1],
                block=list(abi["block"]),
                smem=int(abi["dynamic_smem"]), index=index)


def flops(K: int, N: int, M: int, r: int | None) -> tuple[int, int]:
    """(2·M·K·N of x·W, 2·M·r·(K+N) of the LoRA branch)."""
    return 2 * M * K * N, (2 * M * r * (K + N) if r else 0)


def bmm_flops(B: int, K: int, N: int, M: int) -> int:
    """2·B·M·K·N."""
    return 2 * B * M * K * N


def grad_flops(K: int, N: int, M: int, r: int) -> tuple[int, int]:
    """The forward and backward of a LoRA layer with W frozen, as autograd
    computes them: (4·M·K·N of x·W and g·Wᵀ, 6·M·r·(K+N) of the LoRA terms:
    x·A, t·B; g·Bᵀ, dt·Aᵀ, xᵀ·dt, tᵀ·g). Our backward's recomputed
    t = x·A (2·M·K·r) is not counted: it is our cost, not the layer's work."""
    return 4 * M * K * N, 6 * M * r * (K + N)
