"""The child processes of test_cuda_host.py, which run on the fake libcuda.so.1
of test/lib/FakeCuda (a libcuda loaded into pytest's own process would be
the driver of every later test there).

    fake_cuda_child.py run ARTIFACT INPUTS CALLS ADAPTER_DIR
        INPUTS: input_ids (.npy), or every input of an inference model (.npz);
        loads a CUDA artifact (LD_LIBRARY_PATH names the fake's folder;
        load(cuda_graphs=...) from CHILD_CUDA_GRAPHS: 1 True, 0 False,
        unset None; prints "uses_cuda_graphs: <bool>"), sets
        its LoRA parameters, runs CALLS calls (a train step for a train
        artifact, then an eval step and save_adapter), appending a
        {"call": ...} marker to the fake's trace before each; before call
        CHILD_SET_ADAPTER_AT (if set), swaps in the artifact's own adapter
        (after a {"call": "set_adapter"} marker); exit 3 with the message
        on a LoraOptError
    fake_cuda_child.py two-models ARTIFACT_A ARTIFACT_B INPUT_IDS
        runs two inference artifacts in one process, alternately, then in
        two threads at once, then closes one (its kernels unloaded) and runs
        the other again; exit 3 with the message on a LoraOptError
    fake_cuda_child.py two-models-cold ARTIFACT_A ARTIFACT_B INPUT_IDS
        the same, from the first calls in two threads, one model closed and
        loaded again meanwhile (see two_models_cold)
    fake_cuda_child.py run-on-device ARTIFACT INPUT_IDS CALLS
        loads an inference artifact with CUDA graphs and runs it CALLS times
        with run_on_device on DLPack tensors in the fake's device memory
        (the same buffers each call), marking each call as `run` does; then
        the C API's checks of bad device buffers; prints a JSON line of the
        buffers' allocation ids and the errors, then "ok"
    fake_cuda_child.py check-launches|check-memory|check-graphs FAKE_DIR PTXAS TMP
        calls the fake directly through ctypes: calls a driver would fail
        must fail, with the reason in the trace
    fake_cuda_child.py runtime-clusters RUNTIME_LIBRARY PTXAS TMP
        launches a kernel in clusters through liblora_cuda_runtime.so's
        mgpuLaunchClusterKernel (LD_LIBRARY_PATH names the fake's folder)
"""

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path


def run(artifact: str, inputs: str, calls: int, adapter: str) -> int:
    import numpy as np
    import lora_opt
    trace = os.environ["LORA_FAKE_CUDA_TRACE"]

    def mark(what):
        with open(trace, "a") as f:
            f.write(json.dumps({"call": what}) + "\n")

    x = np.load(inputs)
    named = dict(x) if inputs.endswith(".npz") else {"input_ids": x}
    try:
        mark("load")
        graphs = {"1": True, "0": False, None: None}[os.environ.get("CHILD_CUDA_GRAPHS")]
        with lora_opt.load(artifact, cuda_graphs=graphs) as m:
            print("uses_cuda_graphs:", m.uses_cuda_graphs)
            rng = np.random.default_rng(0)
            for a in m.manifest["arguments"]:
                if a["kind"] in ("lora_a", "lora_b"):
                    value = 0.02 * rng.standard_normal(a["shape"])
                    if a["dtype"] == "bf16":
                        import ml_dtypes
                        m.set_parameter(a["name"], value.astype(ml_dtypes.bfloat16))
                    else:
                        m.set_parameter(a["name"], value.astype(np.float32))
            train = m.is_training
            swap_at = int(os.environ.get("CHILD_SET_ADAPTER_AT", "-1"))
            for i in range(calls):
                if i == swap_at:
                    mark("set_adapter")
                    m.set_adapter(Path(artifact) / "adapter")
                mark(i)
                if train:
                    m.train_step(input_ids=x, labels=x, lr=1e-3)
                else:
                    m(**named)
            if train:
                mark("eval")
                m.eval_step(input_ids=x, labels=x)
                m.save_adapter(adapter)
    except lora_opt.LoraOptError as e:
        print("LoraOptError:", e)
        return 3
    print("ok")
    return 0


def two_models(artifact_a: str, artifact_b: str, inputs: str) -> int:
    import threading
    import numpy as np
    import lora_opt
    x = np.load(inputs)
    try:
        a, b = lora_opt.load(artifact_a), lora_opt.load(artifact_b)
        first = {"a": a(input_ids=x), "b": b(input_ids=x)}
        for _ in range(2):
            a(input_ids=x)
            b(input_ids=x)
        errors = []

        def work(model):
            try:
                for _ in range(5):
                    model(input_ids=x)
            except lora_opt.LoraOptError as e:
                errors.append(str(e))
        threads = [threading.Thread(target=work, args=(m,)) for m in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise lora_opt.LoraOptError(errors[0])
        with open(os.environ["LORA_FAKE_CUDA_TRACE"], "a") as f:
            f.write(json.dumps({"call": "closed"}) + "\n")
        b.close()              # unloads b's kernels: the runtime's caches forget
        again = a(input_ids=x)
        assert set(again) == set(first["a"]) and all(
            v.shape == first["a"][k].shape for k, v in again.items())
        a.close()
    except lora_opt.LoraOptError as e:
        print("LoraOptError:", e)
        return 3
    print("ok")
    return 0


def two_models_cold(artifact_a: str, artifact_b: str, inputs: str) -> int:
    """Two models from their first call in two threads at once: one calls
    its model 10 times; the other calls its own 3 times, closes it (its
    kernels unloaded, its memory given back) and loads and calls it again,
    while the first may be capturing a graph."""
    import threading
    import numpy as np
    import lora_opt
    x = np.load(inputs)
    errors = []

    def first():
        with lora_opt.load(artifact_a) as a:
            for _ in range(10):
                a(input_ids=x)

    def second():
        for _ in range(2):
            with lora_opt.load(artifact_b) as b:
                for _ in range(3):
                    b(input_ids=x)

    def guarded(work):
        try:
            work()
        except lora_opt.LoraOptError as e:
            errors.append(str(e))
    threads = [threading.Thread(target=guarded, args=(w,)) for w in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print("LoraOptError:", errors[0])
        return 3
    print("ok")
    return 0


PROBE_PTX = """
.version 8.0
.target sm_90a
.address_size 64
.visible .entry probe(.param .u64 p0, .param .u32 p1)
.maxntid 128, 1, 1
{
  ret;
}
"""
u32, u64, uint = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_uint
MAX_DYNAMIC_SHARED_SIZE_BYTES = 8      # CUfunction_attribute
BFLOAT16, SWIZZLE_128B, L2_128B = 9, 3, 2


def probe_cubin(ptxas: str, tmp: Path) -> Path:
    """PROBE_PTX compiled for sm_90a into `tmp`."""
    ptx, cubin = tmp / "probe.ptx", tmp / "probe.cubin"
    ptx.write_text(PROBE_PTX)
    subprocess.run([ptxas, "-arch=sm_90a", str(ptx), "-o", str(cubin)], check=True)
    return cubin


class FakeDriver:
    """The fake, with a context current and the probe kernel loaded."""

    def __init__(self, fake_dir: str, ptxas: str, tmp: Path):
        cubin = probe_cubin(ptxas, tmp)
        self.trace = tmp / "fake_trace.jsonl"
        os.environ["LORA_FAKE_CUDA_TRACE"] = str(self.trace)
        self.lib = ctypes.CDLL(str(Path(fake_dir) / "libcuda.so.1"))
        assert self.lib.cuInit(0) == 0
        ctx = ctypes.c_void_p()
        assert self.lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), 0) == 0
        assert self.lib.cuCtxPushCurrent_v2(ctx) == 0
        self.image = ctypes.create_string_buffer(cubin.read_bytes())
        module = ctypes.c_void_p()
        assert self.lib.cuModuleLoadData(ctypes.byref(module), self.image) == 0
        self.kernel = ctypes.c_void_p()
        assert self.lib.cuModuleGetFunction(ctypes.byref(self.kernel), module, b"probe") == 0
        absent = ctypes.c_void_p()
        assert self.lib.cuModuleGetFunction(ctypes.byref(absent), module, b"absent") != 0

    def errors(self) -> str:
        lines = self.trace.read_text().splitlines()
        return "\n".join(json.loads(l)["error"] for l in lines if '"error"' in l)

    def alloc(self, size: int) -> int:
        ptr = u64()
        assert self.lib.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(size)) == 0
        return ptr.value

    def launch(self, block=128, shared=0, params=True, pointer=0, stream=None) -> int:
        p0, p1 = u64(pointer), u32(7)
        args = (ctypes.c_void_p * 2)(ctypes.addressof(p0), ctypes.addressof(p1))
        return self.lib.cuLaunchKernel(self.kernel, uint(1), uint(1), uint(1), uint(block),
                                       uint(1), uint(1), uint(shared), stream,
                                       args if params else None, None)

    def stream(self, non_blocking=True) -> ctypes.c_void_p:
        stream = ctypes.c_void_p()
        assert self.lib.cuStreamCreate(ctypes.byref(stream), uint(int(non_blocking))) == 0
        return stream

    def tensor_map(self, address: int, dims, strides, box) -> int:
        rank = len(dims)
        out = ctypes.create_string_buffer(128)
        return self.lib.cuTensorMapEncodeTiled(
            out, BFLOAT16, u32(rank), ctypes.c_void_p(address), (u64 * rank)(*dims),
            (u64 * (rank - 1))(*strides), (u32 * rank)(*box), (u32 * rank)(*[1] * rank),
            0, SWIZZLE_128B, L2_128B, 0)


def check_launches(d: FakeDriver) -> None:
    assert d.launch() == 0
    assert d.launch(block=256) != 0              # past .maxntid 128
    assert d.launch(params=False) != 0           # the kernel has parameters
    assert d.launch(shared=64 * 1024) != 0       # > 48 KiB without the attribute
    assert d.lib.cuFuncSetAttribute(d.kernel, MAX_DYNAMIC_SHARED_SIZE_BYTES, 64 * 1024) == 0
    assert d.launch(shared=64 * 1024) == 0
    assert d.lib.cuFuncSetAttribute(d.kernel, MAX_DYNAMIC_SHARED_SIZE_BYTES, 228 * 1024) != 0
    errors = d.errors()
    for expected in ("probe: 256 threads a block, but .maxntid is 128x1x1",
                     "kernelParams is null", "65536 bytes of dynamic shared memory",
                     "233472 bytes of dynamic shared memory with 0 static"):
        assert expected in errors, (expected, errors)
    # The launches that passed were traced with their parameters.
    launches = [json.loads(l) for l in d.trace.read_text().splitlines() if '"launch"' in l]
    assert [e["params"] for e in launches] == [["0x0", "0x00000007"]] * 2, launches


def check_memory(d: FakeDriver) -> None:
    base = d.alloc(64 * 128 * 2)                 # a bf16 [128, 64]
    assert d.tensor_map(base, [64, 128], [128], [64, 64]) == 0
    assert d.tensor_map(base, [64, 129], [128], [64, 64]) != 0       # past the end
    assert d.tensor_map(base + 2, [64, 64], [128], [64, 64]) != 0    # misaligned
    assert d.tensor_map(base, [64, 64], [120], [64, 64]) != 0        # stride % 16
    assert d.tensor_map(base, [72, 64], [144], [72, 64]) != 0        # 144 B > swizzle
    assert d.tensor_map(base, [64, 128], [128], [64, 300]) != 0      # box > 256
    host = ctypes.create_string_buffer(64 * 128 * 2 + 16)
    assert d.lib.cuMemcpyHtoD_v2(u64(base), host, ctypes.c_size_t(16384)) == 0
    assert d.lib.cuMemcpyHtoD_v2(u64(base), host, ctypes.c_size_t(16385)) != 0
    assert d.lib.cuMemsetD8_v2(u64(base + 16), ctypes.c_ubyte(0), ctypes.c_size_t(16384)) != 0
    assert d.lib.cuMemFree_v2(u64(base + 256)) != 0                  # not its start
    assert d.lib.cuMemFree_v2(u64(base)) == 0
    assert d.lib.cuMemFree_v2(u64(base)) != 0                        # twice
    assert d.lib.cuMemFree_v2(u64(16)) != 0                          # never allocated
    # Freed memory is neither device memory nor host memory.
    assert d.lib.cuMemcpyHtoD_v2(u64(base + 64), host, ctypes.c_size_t(16)) != 0
    assert d.lib.cuMemcpy(u64(0), u64(ctypes.addressof(host)), ctypes.c_size_t(16)) != 0
    errors = d.errors()
    for expected in ("the tensor: 16512 bytes from a0+0 run past the end",
                     "a0+2 is not 16-byte aligned", "globalStrides[0] is 120",
                     "144 bytes, more than the 128-byte swizzle span",
                     "boxDim[1] is 300", "destination: 16385 bytes from a0+0 run past",
                     "destination: 16384 bytes from a0+16 run past",
                     "a0+256 is inside an allocation, not its start",
                     "a0+0 was freed before", "destination: a0+64 is in a freed allocation",
                     "destination is null", "0x10 is not a live allocation"):
        assert expected in errors, (expected, errors)


CAPTURE_MODE_GLOBAL, CAPTURE_MODE_RELAXED = 0, 2
STREAM_CAPTURE_INVALIDATED = 901                 # CUresult


def check_graphs(d: FakeDriver) -> None:
    """Stream capture and graph replay, and what a capture cannot hold."""
    lib = d.lib
    stream, blocking = d.stream(), d.stream(non_blocking=False)
    buffer = d.alloc(4096)
    host = ctypes.create_string_buffer(64)

    def begin(on, mode=CAPTURE_MODE_RELAXED):
        assert lib.cuStreamBeginCapture_v2(on, uint(mode)) == 0

    def end(on):
        graph = ctypes.c_void_p()
        return lib.cuStreamEndCapture(on, ctypes.byref(graph)), graph

    # Captured: a launch, a memset, and, in relaxed mode on a non-blocking
    # stream, an allocation and a copy on the legacy stream beside it.
    begin(stream)
    assert d.launch(pointer=buffer, stream=stream) == 0
    assert lib.cuMemsetD32Async(u64(buffer), uint(0), ctypes.c_size_t(16), stream) == 0
    extra = d.alloc(256)
    assert lib.cuMemcpyHtoD_v2(u64(extra), host, ctypes.c_size_t(64)) == 0
    result, graph = end(stream)
    assert result == 0 and graph.value
    executable = ctypes.c_void_p()
    assert lib.cuGraphInstantiateWithFlags(ctypes.byref(executable), graph,
                                           ctypes.c_ulonglong(0)) == 0
    assert lib.cuGraphDestroy(graph) == 0
    before = d.trace.read_text()
    assert '"launch"' not in before               # captured, not run
    assert lib.cuGraphLaunch(executable, stream) == 0
    replayed = [json.loads(l) for l in d.trace.read_text()[len(before):].splitlines()]
    assert [e for e in replayed if "launch" in e] == [
        {"launch": "probe", "module": 0, "grid": [1, 1, 1], "block": [128, 1, 1],
         "cluster": [1, 1, 1], "shared": 0, "params": ["a0+0", "0x00000007"],
         "graph": replayed[0]["replay"]}], replayed

    # What invalidates a capture; its end then fails.
    for what, refused in [
            ("sync", lambda: lib.cuStreamSynchronize(stream)),
            ("context", lambda: lib.cuCtxSynchronize()),
            ("free", lambda: lib.cuMemFree_v2(u64(extra))),
            ("host copy", lambda: lib.cuMemcpyAsync(u64(buffer), u64(ctypes.addressof(host)),
                                                    ctypes.c_size_t(16), stream))]:
        begin(stream)
        assert refused() != 0, what
        assert d.launch(pointer=buffer, stream=stream) == STREAM_CAPTURE_INVALIDATED, what
        assert end(stream)[0] == STREAM_CAPTURE_INVALIDATED, what
    begin(blocking)
    assert lib.cuMemcpyHtoD_v2(u64(extra), host, ctypes.c_size_t(64)) != 0
    assert end(blocking)[0] == STREAM_CAPTURE_INVALIDATED
    begin(stream, CAPTURE_MODE_GLOBAL)
    assert lib.cuMemAlloc_v2(ctypes.byref(u64()), ctypes.c_size_t(256)) != 0
    assert end(stream)[0] == STREAM_CAPTURE_INVALIDATED
    assert lib.cuStreamBeginCapture_v2(None, uint(CAPTURE_MODE_RELAXED)) != 0

    # A replay after its buffer was freed reads freed memory.
    assert lib.cuMemFree_v2(u64(buffer)) == 0
    assert lib.cuGraphLaunch(executable, stream) != 0
    assert lib.cuGraphExecDestroy(executable) == 0
    assert lib.cuGraphExecDestroy(executable) != 0
    errors = d.errors()
    for expected in (
            "cuStreamSynchronize: waiting for the stream while a stream is being captured",
            "cuCtxSynchronize: waiting for the context while",
            "cuMemFree: a free, which waits for the device, while",
            "cuMemcpyAsync: a copy whose source 0x", "the stream's capture was invalidated",
            "cuMemcpyHtoD: work on the legacy stream, which would wait for a blocking stream,",
            "cuMemAlloc: an allocation (not in relaxed mode)",
            "the legacy stream cannot be captured",
            "kernelParams[0] points into a0, which was freed since the graph was captured",
            "cuGraphExecDestroy: not a live executable graph"):
        assert expected in errors, (expected, errors)


def runtime_clusters(runtime: str, ptxas: str, tmp: Path) -> None:
    """mgpuLaunchClusterKernel on the fake: portable and non-portable cluster
    sizes launch (the runtime opts in above 8 blocks); a grid the cluster
    does not divide fails, and the runtime reports it."""
    cubin = probe_cubin(ptxas, tmp)
    lib = ctypes.CDLL(runtime)
    lib.mgpuModuleLoad.restype = ctypes.c_void_p
    lib.mgpuModuleGetFunction.restype = ctypes.c_void_p
    lib.loraCudaGetLastError.restype = ctypes.c_char_p
    image = ctypes.create_string_buffer(cubin.read_bytes())
    module = lib.mgpuModuleLoad(image, ctypes.c_size_t(len(image)))
    assert module, lib.loraCudaGetLastError()
    kernel = lib.mgpuModuleGetFunction(ctypes.c_void_p(module), b"probe")
    assert kernel, lib.loraCudaGetLastError()
    p0, p1 = u64(0), u32(7)
    args = (ctypes.c_void_p * 2)(ctypes.addressof(p0), ctypes.addressof(p1))
    i = ctypes.c_int64

    def launch(cluster_y: int, grid_y: int):
        lib.loraCudaClearLastError()
        lib.mgpuLaunchClusterKernel(
            ctypes.c_void_p(kernel), i(1), i(cluster_y), i(1), i(1), i(grid_y), i(1),
            i(128), i(1), i(1), ctypes.c_int32(0), None, args, None)
        return lib.loraCudaGetLastError()
    assert launch(2, 4) is None
    assert launch(16, 32) is None          # non-portable: the runtime opts in
    error = launch(2, 3)
    assert error and b"cuLaunchKernelEx failed with CUDA_ERROR_INVALID_VALUE" in error, error
    trace = Path(os.environ["LORA_FAKE_CUDA_TRACE"]).read_text().splitlines()
    clusters = [json.loads(l)["cluster"] for l in trace if '"launch"' in l]
    assert clusters == [[1, 2, 1], [1, 16, 1]], clusters
    assert any("cluster dimension 1 is 2, which does not divide the grid's 3" in l
               for l in trace), trace


class DeviceTensor:
    """A DLPack tensor over device memory of the fake (what a PyTorch CUDA
    tensor gives): __dlpack_device__ (2, 0), __dlpack__ a "dltensor"
    capsule with no deleter, which run_on_device does not consume."""

    class _Tensor(ctypes.Structure):
        _fields_ = [("data", ctypes.c_void_p), ("device_type", ctypes.c_int32),
                    ("device_id", ctypes.c_int32), ("ndim", ctypes.c_int32),
                    ("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                    ("lanes", ctypes.c_uint16), ("shape", ctypes.POINTER(ctypes.c_int64)),
                    ("strides", ctypes.POINTER(ctypes.c_int64)),
                    ("byte_offset", ctypes.c_uint64), ("manager_ctx", ctypes.c_void_p),
                    ("deleter", ctypes.c_void_p)]

    def __init__(self, address: int, shape, code: int, bits: int):
        self.shape = (ctypes.c_int64 * len(shape))(*shape)
        self.tensor = self._Tensor(address, 2, 0, len(shape), code, bits, 1, self.shape,
                                   None, 0, None, None)
        self.streams = []

    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, stream=None):
        self.streams.append(stream)
        new = ctypes.pythonapi.PyCapsule_New
        new.restype = ctypes.py_object
        new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        return new(ctypes.addressof(self.tensor), b"dltensor", None)


def run_on_device(artifact: str, inputs: str, calls: int) -> int:
    import numpy as np
    import lora_opt
    trace = os.environ["LORA_FAKE_CUDA_TRACE"]

    def mark(what):
        with open(trace, "a") as f:
            f.write(json.dumps({"call": what}) + "\n")

    ids = np.load(inputs)
    mark("load")
    m = lora_opt.load(artifact, cuda_graphs=True)
    cuda = ctypes.CDLL("libcuda.so.1")  # the fake, as the runtime loaded it
    ctx = ctypes.c_void_p()
    assert cuda.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), 0) == 0
    assert cuda.cuCtxPushCurrent_v2(ctx) == 0

    def alloc(size: int) -> int:
        ptr = u64()
        assert cuda.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(size)) == 0
        return ptr.value

    (logits,) = m.outputs
    x_address = alloc(ids.nbytes)
    y_address = alloc(logits.dtype.itemsize * int(np.prod(logits.shape)))
    assert cuda.cuMemcpyHtoD_v2(u64(x_address), ctypes.c_void_p(ids.ctypes.data),
                                ctypes.c_size_t(ids.nbytes)) == 0
    x = DeviceTensor(x_address, ids.shape, 0, 64)
    y = DeviceTensor(y_address, logits.shape, 2, 32)
    mark("allocated")
    for i in range(calls):
        mark(i)
        m.run_on_device({"input_ids": x}, {logits.name: y})
    mark("checks")
    errors = {}
    try:
        m.run_on_device({"input_ids": ids}, {logits.name: y})
    except lora_opt.LoraOptError as e:
        errors["host_array"] = str(e)

    def c_run(x_ptr: int, y_ptr: int) -> str:
        ins, outs = (ctypes.c_void_p * 1)(x_ptr), (ctypes.c_void_p * 1)(y_ptr)
        assert lora_opt._rt.loraModelRunOnDevice(m._handle, ins, outs) != 0
        return lora_opt._rt.loraGetLastError().decode()

    host = np.zeros(1024, np.uint8)
    errors["host_address"] = c_run(host.ctypes.data + (-host.ctypes.data) % 256, y_address)
    errors["unaligned"] = c_run(x_address + 64, y_address)
    errors["short"] = c_run(x_address, alloc(64))
    errors["overlap"] = c_run(y_address + 256, y_address)
    m.close()
    print(json.dumps({"x": x_address, "y": y_address, "streams": x.streams + y.streams,
                      "errors": errors}))
    print("ok")
    return 0


def main(argv: list) -> int:
    if argv[0] == "run":
        return run(argv[1], argv[2], int(argv[3]), argv[4])
    if argv[0] == "run-on-device":
        return run_on_device(argv[1], argv[2], int(argv[3]))
    if argv[0] == "two-models":
        return two_models(argv[1], argv[2], argv[3])
    if argv[0] == "two-models-cold":
        return two_models_cold(argv[1], argv[2], argv[3])
    if argv[0] == "runtime-clusters":
        runtime_clusters(argv[1], argv[2], Path(argv[3]))
        print("ok")
        return 0
    driver = FakeDriver(argv[1], argv[2], Path(argv[3]))
    {"check-launches": check_launches, "check-memory": check_memory,
     "check-graphs": check_graphs}[argv[0]](driver)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
