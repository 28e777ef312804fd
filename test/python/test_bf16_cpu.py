"""The bf16 LoRA graph that test/tools/lora-compile-cuda.mlir compiles for
the GPU also runs on the CPU target, and matches float64 numpy: the CPU is
where every graph is checked numerically when no GPU is present."""

import subprocess
from pathlib import Path

import numpy as np

import lora_opt
from conftest import tool

import ml_dtypes  # noqa: E402  (pinned in requirements.txt)

ROOT = Path(__file__).resolve().parents[2]
GRAPH = ROOT / "test" / "tools" / "lora-compile-cuda.mlir"


def test_bf16_lora_graph_on_cpu(tmp_path):
    out = tmp_path / "out"
    subprocess.run([tool("lora-compile"), "--quiet", str(GRAPH),
                    "--target=cpu", "-o", str(out)], check=True)
    model = lora_opt.load(out)
    rng = np.random.default_rng(0)
    bf16 = ml_dtypes.bfloat16
    x = rng.standard_normal((256, 512)).astype(bf16)
    w = (rng.standard_normal((512, 256)) / np.sqrt(512)).astype(bf16)
    a = (rng.standard_normal((512, 16)) / np.sqrt(512)).astype(bf16)
    b = (rng.standard_normal((16, 256)) / 4).astype(bf16)
    y = model(x=x, w=w, a=a, b=b)["y"]
    assert y.dtype == bf16 and y.shape == (256, 256)

    f64 = lambda t: t.astype(np.float64)  # noqa: E731
    pre = f64(x) @ f64(w) + 2.0 * (f64(x) @ f64(a)) @ f64(b)
    ref = 1.0 / (1.0 + np.exp(-pre))
    got = f64(y)
    assert not np.isnan(got).any()
    # One bf16 rounding of the output (half an ulp: 2^-9 relative) plus
    # f32 accumulation; the LoRA term matters (it moves the output by more).
    assert np.abs(got - ref).max() <= 8e-3
    base = 1.0 / (1.0 + np.exp(-(f64(x) @ f64(w))))
    assert np.abs(base - ref).max() > 0.05
