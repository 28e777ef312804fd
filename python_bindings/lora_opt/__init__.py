"""lora-opt from Python: compile ONNX models with LoRA, load the compiled
artifacts, swap PEFT adapters without recompiling, and run them on numpy
arrays.

    import lora_opt
    out = lora_opt.compile("model.onnx", targets=["q_proj", "v_proj"],
                           rank=8, alpha=16, input_shape={"input_ids": (1, 8)})
    m = lora_opt.load(out)
    logits = m(input_ids=ids)["logits"]
    m.set_adapter("peft_adapter_dir")      # no recompile

The package is a thin layer over lora-opt's C API: liblora_runtime.so (loads
and runs artifacts, no MLIR/LLVM inside) and liblora_compiler.so (the
compiler, loaded on the first compile() or run_passes()). Both are copied
into the package when it is installed (`pip install ./python_bindings`).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

__all__ = ["LoraOptError", "TensorInfo", "Model", "compile", "load",
           "run_passes", "compiler_version"]

__version__ = "0.1.0"


class LoraOptError(RuntimeError):
    """A failure reported by lora-opt's compiler or runtime."""


def _library_dir() -> Path:
    override = os.environ.get("LORA_OPT_LIB_DIR")
    return Path(override) if override else Path(__file__).resolve().parent / "_lib"


def _open(name: str) -> ctypes.CDLL:
    path = _library_dir() / name
    if not path.exists():
        raise LoraOptError(
            f"{path} is missing: install the package with "
            "`pip install ./python_bindings` after building lora-opt")
    return ctypes.CDLL(str(path))


# --- runtime -----------------------------------------------------------------

_rt = _open("liblora_runtime.so")
_i64p = ctypes.POINTER(ctypes.c_int64)
for _name, _res, _args in [
        ("loraGetLastError", ctypes.c_char_p, []),
        ("loraModelLoad", ctypes.c_void_p, [ctypes.c_char_p]),
        ("loraModelLoadWithFlags", ctypes.c_void_p,
         [ctypes.c_char_p, ctypes.c_uint32]),
        ("loraModelUsesCudaGraphs", ctypes.c_int, [ctypes.c_void_p]),
        ("loraModelRunOnDevice", ctypes.c_int,
         [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
          ctypes.POINTER(ctypes.c_void_p)]),
        ("loraModelDestroy", None, [ctypes.c_void_p]),
        ("loraModelGetNumInputs", ctypes.c_size_t, [ctypes.c_void_p]),
        ("loraModelGetNumOutputs", ctypes.c_size_t, [ctypes.c_void_p]),
        ("loraModelGetInputName", ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_size_t]),
        ("loraModelGetInputDType", ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t]),
        ("loraModelGetInputRank", ctypes.c_size_t, [ctypes.c_void_p, ctypes.c_size_t]),
        ("loraModelGetInputShape", _i64p, [ctypes.c_void_p, ctypes.c_size_t]),
        ("loraModelGetOutputName", ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_size_t]),
        ("loraModelGetOutputDType", ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t]),
        ("loraModelGetOutputRank", ctypes.c_size_t, [ctypes.c_void_p, ctypes.c_size_t]),
        ("loraModelGetOutputShape", _i64p, [ctypes.c_void_p, ctypes.c_size_t]),
        ("loraModelSetAdapter", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p]),
        ("loraModelSetParameter", ctypes.c_int,
         [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]),
        ("loraModelRun", ctypes.c_int,
         [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
          ctypes.POINTER(ctypes.c_void_p)]),
        ("loraModelIsTraining", ctypes.c_int, [ctypes.c_void_p]),
        ("loraModelGetStep", ctypes.c_int64, [ctypes.c_void_p]),
        ("loraModelGetDropoutSeed", ctypes.c_uint64, [ctypes.c_void_p]),
        ("loraModelSetDropoutSeed", None, [ctypes.c_void_p, ctypes.c_uint64]),
        ("loraModelTrainStep", ctypes.c_int,
         [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_double,
          ctypes.POINTER(ctypes.c_double)]),
        ("loraModelEvalStep", ctypes.c_int,
         [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
          ctypes.POINTER(ctypes.c_double)]),
        ("loraModelSaveAdapter", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p]),
        ("loraModelSaveCheckpoint", ctypes.c_int,
         [ctypes.c_void_p, ctypes.c_char_p]),
        ("loraModelLoadCheckpoint", ctypes.c_int,
         [ctypes.c_void_p, ctypes.c_char_p]),
]:
    _fn = getattr(_rt, _name)
    _fn.restype, _fn.argtypes = _res, _args


def _runtime_error() -> LoraOptError:
    return LoraOptError(_rt.loraGetLastError().decode(errors="replace"))


def _bfloat16():
    try:
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    except ImportError:  # bf16 tensors then need ml_dtypes
        return None


# LoraDType order (lora-c/Runtime.h) and the manifest's names.
_DTYPE_NAMES = ["f32", "f64", "f16", "bf16", "i64", "i32", "i16", "i8", "u8",
                "bool"]
_DTYPES = [np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16),
           _bfloat16(), np.dtype(np.int64), np.dtype(np.int32),
           np.dtype(np.int16), np.dtype(np.int8), np.dtype(np.uint8),
           np.dtype(np.bool_)]


# --- DLPack (https://dmlc.github.io/dlpack/latest/c_api.html) -----------------

# DLDataType (code, bits) of each LoraDType, in _DTYPES order: kDLInt 0,
# kDLUInt 1, kDLFloat 2, kDLBfloat 4, kDLBool 6.
_DLPACK_TYPES = [(2, 32), (2, 64), (2, 16), (4, 16), (0, 64), (0, 32), (0, 16),
                 (0, 8), (1, 8), (6, 8)]
_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 13


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice),
                ("ndim", ctypes.c_int32), ("dtype", _DLDataType),
                ("shape", _i64p), ("strides", _i64p),
                ("byte_offset", ctypes.c_uint64)]


_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _dlpack_address(value, info: "TensorInfo", kind: str, cuda: bool):
    """(address, capsule) of `value`'s data, an object with __dlpack__ that
    must hold `info`'s dtype and shape, dense row-major, on the model's
    device (CUDA device 0, or the host). The capsule keeps the memory alive
    and is not consumed: its producer frees it when it goes."""
    what = f"{kind} '{info.name}'"
    if not hasattr(value, "__dlpack__") or not hasattr(value, "__dlpack_device__"):
        raise LoraOptError(f"{what} must be a DLPack tensor (__dlpack__: a PyTorch or "
                           f"CuPy array), got {type(value).__name__}")
    device_type, device_id = (int(v) for v in value.__dlpack_device__())
    try:
        if cuda:
            if device_type not in (_DL_CUDA, _DL_CUDA_MANAGED) or device_id != 0:
                raise LoraOptError(f"{what} is on DLPack device ({device_type}, "
                                   f"{device_id}); the model runs on CUDA device 0 (2, 0)")
            # 1: the legacy default stream, which the model waits for: the
            # producer orders its own stream's work before it.
            capsule = value.__dlpack__(stream=1)
        else:
            # Pinned host memory (kDLCUDAHost) is host memory too.
            if device_type not in (_DL_CPU, _DL_CUDA_HOST, _DL_CUDA_MANAGED):
                raise LoraOptError(f"{what} is on DLPack device ({device_type}, "
                                   f"{device_id}); the model runs on the host (1, 0)")
            capsule = value.__dlpack__()
        tensor = _DLTensor.from_address(_capsule_pointer(capsule, b"dltensor"))
    except (BufferError, TypeError, ValueError, RuntimeError) as e:
        if isinstance(e, LoraOptError):
            raise
        # A read-only array (numpy's refuse DLPack export), a tensor that
        # requires grad, a producer without the legacy capsule.
        raise LoraOptError(f"{what}: its DLPack export failed: {e}") from e
    shape = tuple(tensor.shape[d] for d in range(tensor.ndim))
    dtype = (tensor.dtype.code, tensor.dtype.bits, tensor.dtype.lanes)
    code, bits = _DLPACK_TYPES[_DTYPES.index(info.dtype)]
    if dtype == (1, 8, 1) and code == 6:
        dtype = (6, 8, 1)  # bool as uint8, from producers before kDLBool
    if dtype != (code, bits, 1) or shape != info.shape:
        known = [t for t, dl in zip(_DTYPES, _DLPACK_TYPES) if dtype == (*dl, 1)]
        got = (known[0] if known and known[0] is not None else
               f"DLPack type (code {dtype[0]}, {dtype[1]} bits, {dtype[2]} lanes)")
        raise LoraOptError(f"{what} must be {info.dtype} {list(info.shape)}, "
                           f"got {got} {list(shape)}")
    if tensor.strides and 0 not in shape:
        dense, stride = True, 1
        for d in reversed(range(tensor.ndim)):
            if shape[d] != 1 and tensor.strides[d] != stride:
                dense = False
            stride *= shape[d]
        if not dense:
            raise LoraOptError(f"{what} is not dense row-major (strides "
                               f"{[tensor.strides[d] for d in range(tensor.ndim)]}); "
                               "make it contiguous first")
    return (tensor.data or 0) + tensor.byte_offset, capsule


@dataclass(frozen=True)
class TensorInfo:
    """Name, element type and static shape of an input or output."""
    name: str
    dtype: np.dtype
    shape: tuple


def _as_path(path) -> bytes:
    return os.fsencode(os.fspath(path))


# LoraLoadFlags of lora-c/Runtime.h.
_LOAD_CUDA_GRAPHS = 1
_LOAD_NO_CUDA_GRAPHS = 2


class Model:
    """A loaded artifact (see load()). Use it from one thread at a time."""

    def __init__(self, path, *, cuda_graphs: bool | None = None):
        self.path = Path(path)
        if cuda_graphs not in (None, True, False):
            raise LoraOptError(f"cuda_graphs must be True, False or None, got "
                               f"{cuda_graphs!r}")
        flags = {None: 0, True: _LOAD_CUDA_GRAPHS,
                 False: _LOAD_NO_CUDA_GRAPHS}[cuda_graphs]
        handle = _rt.loraModelLoadWithFlags(_as_path(self.path), flags)
        if not handle:
            raise _runtime_error()
        self._handle = ctypes.c_void_p(handle)
        self.manifest = json.loads(
            (self.path / "manifest.json").read_text(encoding="utf-8"))
        self.inputs = [self._info(i, True) for i in
                       range(_rt.loraModelGetNumInputs(self._handle))]
        self.outputs = [self._info(i, False) for i in
                        range(_rt.loraModelGetNumOutputs(self._handle))]

    def _info(self, i: int, is_input: bool) -> TensorInfo:
        kind = "Input" if is_input else "Output"
        name = getattr(_rt, f"loraModelGet{kind}Name")(self._handle, i).decode()
        code = getattr(_rt, f"loraModelGet{kind}DType")(self._handle, i)
        rank = getattr(_rt, f"loraModelGet{kind}Rank")(self._handle, i)
        dims = getattr(_rt, f"loraModelGet{kind}Shape")(self._handle, i)
        dtype = _DTYPES[code]
        if dtype is None:
            raise LoraOptError(f"'{name}' is bf16, which needs the ml_dtypes "
                               "package")
        return TensorInfo(name, dtype, tuple(dims[d] for d in range(rank)))

    @property
    def lora_modules(self) -> list:
        """The LoRA modules the model was compiled with (manifest entries)."""
        lora = self.manifest.get("lora")
        return list(lora["modules"]) if lora else []

    def set_adapter(self, path) -> None:
        """Loads a PEFT adapter folder into the LoRA parameters (no
        recompile). On failure the previous adapter stays."""
        if _rt.loraModelSetAdapter(self._handle, _as_path(path)):
            raise _runtime_error()

    def set_parameter(self, name: str, value) -> None:
        """Replaces one LoRA parameter (manifest name; ONNX orientation:
        A [K, r], B [r, N], not PEFT's lora_A.weight [r, K]) with `value`,
        an array of exactly its dtype and shape."""
        spec = next((a for a in self.manifest["arguments"]
                     if a["name"] == name), None)
        if spec is None or spec["kind"] not in ("lora_a", "lora_b"):
            raise LoraOptError(f"'{name}' is not a LoRA parameter of the model")
        dtype = _DTYPES[_DTYPE_NAMES.index(spec["dtype"])]
        shape = tuple(spec["shape"])
        array = np.asarray(value)
        if array.dtype != dtype or array.shape != shape:
            raise LoraOptError(
                f"parameter '{name}' must be {dtype} {list(shape)} (ONNX "
                f"orientation), got {array.dtype} {list(array.shape)}")
        array = np.ascontiguousarray(array)
        if _rt.loraModelSetParameter(self._handle, name.encode(),
                                     array.ctypes.data, array.nbytes):
            raise _runtime_error()

    def __call__(self, *args, **kwargs) -> dict:
        """Runs the model: inputs by position or by name (numpy arrays of the
        exact dtype and shape); returns {output name: array}."""
        arrays = self._input_arrays(args, kwargs)
        outputs = [np.empty(info.shape, dtype=info.dtype) for info in self.outputs]
        in_ptrs = (ctypes.c_void_p * max(1, len(arrays)))(
            *[a.ctypes.data for a in arrays])
        out_ptrs = (ctypes.c_void_p * max(1, len(outputs)))(
            *[o.ctypes.data for o in outputs])
        if _rt.loraModelRun(self._handle, in_ptrs, out_ptrs):
            raise _runtime_error()
        return {info.name: o for info, o in zip(self.outputs, outputs)}

    def run_on_device(self, inputs: Mapping, outputs: Mapping) -> None:
        """Runs the model on tensors already on its device, without copies
        through the host: `inputs` and `outputs` map every input and output
        name to a DLPack tensor (__dlpack__) of its dtype and shape, dense
        row-major; the outputs, which must be writable (PyTorch, CuPy), are
        written in place. For the CUDA target they are on CUDA device 0
        (torch.empty(..., device="cuda")), 256-byte aligned as a tensor of
        its own is, and their producer's stream is ordered before the call
        (DLPack's stream 1, the legacy default stream, which the model
        waits for); the outputs are complete on return. For the CPU target
        they are host arrays (numpy, PyTorch CPU). Reuse the same tensors:
        calls at the same addresses replay from CUDA graphs where the model
        has them (load(cuda_graphs=True)), and each new address costs the
        runtime a tensor map it keeps."""
        cuda = self.manifest.get("target") == "cuda"
        for kind, given, infos in (("input", inputs, self.inputs),
                                   ("output", outputs, self.outputs)):
            names = {i.name for i in infos}
            if set(given) != names:
                missing, unknown = sorted(names - set(given)), sorted(set(given) - names)
                raise LoraOptError(f"{kind}s: missing {missing}, unknown {unknown}; "
                                   f"the model's are {[i.name for i in infos]}")
        keep = []

        def addresses(given, infos, kind):
            array = (ctypes.c_void_p * max(1, len(infos)))()
            for n, info in enumerate(infos):
                address, capsule = _dlpack_address(given[info.name], info, kind, cuda)
                keep.append(capsule)
                array[n] = address
            return array

        in_ptrs = addresses(inputs, self.inputs, "input")
        out_ptrs = addresses(outputs, self.outputs, "output")
        if _rt.loraModelRunOnDevice(self._handle, in_ptrs, out_ptrs):
            raise _runtime_error()

    # --- training (lora-compile --mode=train) ---

    @property
    def uses_cuda_graphs(self) -> bool:
        """Whether CUDA graphs are on for the model (see load()); a function
        whose capture failed runs without, as stderr says."""
        return bool(_rt.loraModelUsesCudaGraphs(self._handle))

    @property
    def is_training(self) -> bool:
        return bool(_rt.loraModelIsTraining(self._handle))

    @property
    def step(self) -> int:
        """Optimizer steps taken."""
        return int(_rt.loraModelGetStep(self._handle))

    @property
    def dropout_seed(self) -> int:
        """The seed of LoRA dropout's masks (lora-compile --lora-seed at
        load; saved and restored with checkpoints). Step n passes the train
        step splitmix64's n-th output for this seed; see lora.dropout."""
        return int(_rt.loraModelGetDropoutSeed(self._handle))

    @dropout_seed.setter
    def dropout_seed(self, seed: int) -> None:
        _rt.loraModelSetDropoutSeed(self._handle, int(seed) % (1 << 64))

    def _train_inputs(self, args, kwargs):
        """The batch as input pointers, with None for the inputs the model
        fills itself (learning rate, step, dropout seed)."""
        train = self.manifest.get("train")
        if not train:
            raise LoraOptError(f"'{self.path}' is not a train step; compile "
                               "it with lora-compile --mode=train")
        dropout = train.get("dropout") or {}
        filled = {train["lr_input"], train.get("step_input"),
                  dropout.get("seed_input")}
        arrays = self._input_arrays(args, kwargs, skip=filled)
        pointers = (ctypes.c_void_p * max(1, len(arrays)))(
            *[None if a is None else a.ctypes.data for a in arrays])
        return arrays, pointers

    def eval_step(self, *args, **kwargs) -> float:
        """The loss on a batch (graph inputs and labels) with the current
        parameters; nothing changes."""
        arrays, in_ptrs = self._train_inputs(args, kwargs)
        loss = ctypes.c_double()
        if _rt.loraModelEvalStep(self._handle, in_ptrs, ctypes.byref(loss)):
            raise _runtime_error()
        return loss.value

    def train_step(self, *args, lr: float, **kwargs) -> float:
        """One optimizer step on a batch (the graph inputs and the labels, by
        position or name; not the learning rate or the step, which the model
        passes): updates the LoRA parameters and the optimizer state in
        place and returns the loss before the update."""
        arrays, in_ptrs = self._train_inputs(args, kwargs)
        loss = ctypes.c_double()
        if _rt.loraModelTrainStep(self._handle, in_ptrs, float(lr),
                                  ctypes.byref(loss)):
            raise _runtime_error()
        return loss.value

    def save_adapter(self, path) -> None:
        """Writes the current LoRA parameters as a PEFT adapter folder."""
        if _rt.loraModelSaveAdapter(self._handle, _as_path(path)):
            raise _runtime_error()

    def save_checkpoint(self, path) -> None:
        """Saves adapter, optimizer state and step count to a folder; a
        failed save leaves a previous checkpoint there intact."""
        if _rt.loraModelSaveCheckpoint(self._handle, _as_path(path)):
            raise _runtime_error()

    def load_checkpoint(self, path) -> None:
        """Restores a checkpoint of this model (another model's is
        refused)."""
        if _rt.loraModelLoadCheckpoint(self._handle, _as_path(path)):
            raise _runtime_error()

    def _input_arrays(self, args, kwargs, skip=frozenset()) -> list:
        """The inputs in model order as contiguous arrays checked against
        their specs; None for the names in `skip`, which are not given."""
        inputs = [i for i in self.inputs if i.name not in skip]
        if len(args) > len(inputs):
            raise LoraOptError(f"the model has {len(inputs)} inputs, "
                               f"got {len(args)} positional arguments")
        given = {info.name: a for info, a in zip(inputs, args)}
        for name, value in kwargs.items():
            if name in given:
                raise LoraOptError(f"input '{name}' given twice")
            given[name] = value
        unknown = sorted(set(given) - {info.name for info in inputs})
        if unknown:
            raise LoraOptError(f"unknown inputs {unknown}; the model's inputs "
                               f"are {[i.name for i in inputs]}")
        arrays = []
        for info in self.inputs:
            if info.name in skip:
                arrays.append(None)
                continue
            if info.name not in given:
                raise LoraOptError(f"missing input '{info.name}'")
            array = np.asarray(given[info.name])
            if array.dtype != info.dtype or tuple(array.shape) != info.shape:
                raise LoraOptError(
                    f"input '{info.name}' must be {info.dtype} {list(info.shape)}, "
                    f"got {array.dtype} {list(array.shape)}")
            arrays.append(np.ascontiguousarray(array))
        return arrays

    def close(self) -> None:
        if getattr(self, "_handle", None):
            _rt.loraModelDestroy(self._handle)
            self._handle = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load(path, *, cuda_graphs: bool | None = None) -> Model:
    """Loads an artifact folder written by lora-compile or compile().

    cuda_graphs=True replays the steady calls of a model compiled for the
    CUDA target from CUDA graphs: once a function's calls allocate nothing
    new and reuse their buffers, each call is one graph launch instead of a
    launch per kernel. It raises LoraOptError for another target, a driver
    without graphs, or with LORA_CUDA_CACHING=0. False never uses them; None
    leaves it to the environment variable LORA_CUDA_GRAPHS=1.
    """
    return Model(path, cuda_graphs=cuda_graphs)


# --- compiler ----------------------------------------------------------------

_compiler = None


def _compiler_lib() -> ctypes.CDLL:
    global _compiler
    if _compiler is None:
        lib = _open("liblora_compiler.so")
        lib.loraCompilerGetLastError.restype = ctypes.c_char_p
        lib.loraCompilerGetVersion.restype = ctypes.c_char_p
        lib.loraCompile.restype = ctypes.c_int
        lib.loraCompile.argtypes = [ctypes.c_char_p] * 3
        lib.loraRunPasses.restype = ctypes.c_void_p
        lib.loraRunPasses.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        lib.loraFreeString.argtypes = [ctypes.c_void_p]
        _compiler = lib
    return _compiler


def _compiler_error() -> LoraOptError:
    return LoraOptError(
        _compiler_lib().loraCompilerGetLastError().decode(errors="replace"))


def compiler_version() -> str:
    return _compiler_lib().loraCompilerGetVersion().decode()


def _shape_spec(input_shape) -> str:
    if input_shape is None or isinstance(input_shape, str):
        return input_shape or ""
    return ",".join(f"{name}:" + ("x".join(str(int(d)) for d in dims) or "scalar")
                    for name, dims in input_shape.items())


def compile(model, out=None, *, targets: Sequence[str] | None = None,
            rank: int = 8, alpha: float = 8.0, target: str = "cpu",
            adapter=None, merge: bool = False,
            input_shape: Mapping[str, Sequence[int]] | str | None = None,
            **options) -> Path:
    """Compiles `model` (an .onnx file or MLIR) like `lora-compile` and
    returns the artifact folder: `out`, or a new temporary folder.

    `targets` are PEFT target_modules (names or '.'-suffixes); `adapter` a
    PEFT adapter folder whose targets, ranks and weights are used instead.
    Further keyword options are lora-compile's (see lora-c/Compiler.h):
    targets_regex, exclude, exclude_regex, all_linear, rank_pattern,
    alpha_pattern (dicts), rslora, init, seed, function, emit, opt_level,
    min_weight_bytes, timing, lora_dropout, cuda_kernel_options (a string
    of lora-generate-cuda-kernels options for target="cuda" or
    "cuda-emulated"); mode="train" builds a train
    step, with loss, ignore_index, optimizer, adam_beta1, adam_beta2,
    adam_eps, weight_decay, momentum, nesterov.
    """
    made = None
    if out is None:
        made = Path(tempfile.mkdtemp(prefix="lora_opt-"))
        out = made / Path(model).stem
    config = {"rank": int(rank), "alpha": float(alpha), "target": target,
              "merge": bool(merge), **options}
    if targets:
        config["targets"] = [targets] if isinstance(targets, str) else list(targets)
    if adapter is not None:
        config["adapter"] = os.fspath(adapter)
    shape = _shape_spec(input_shape)
    if shape:
        config["input_shape"] = shape
    lib = _compiler_lib()
    if lib.loraCompile(_as_path(model), _as_path(out),
                       json.dumps(config).encode()):
        error = _compiler_error()
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        raise error
    return Path(out)


def run_passes(mlir_text: str, pipeline: str) -> str:
    """Runs a textual pass pipeline (lora-opt's passes and MLIR's) on MLIR
    text and returns the result, e.g.
    run_passes(text, "builtin.module(lora-insert{targets=q_proj}, "
                     "func.func(lora-fuse))")."""
    lib = _compiler_lib()
    result = lib.loraRunPasses(mlir_text.encode(), pipeline.encode())
    if not result:
        raise _compiler_error()
    try:
        return ctypes.string_at(result).decode()
    finally:
        lib.loraFreeString(result)
