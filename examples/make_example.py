"""Write the tiny Llama example used by the lora-opt docs and smoke tests.

    python examples/make_example.py [OUTDIR]      (default: this directory)

Outputs (deterministic: fixed seeds, no downloads):
    tiny_llama.onnx       LlamaForCausalLM from a config (hidden 64, 2 layers,
                          4 heads / 2 KV heads (GQA), intermediate 128, vocab
                          128), random weights, exported with the dynamo
                          exporter at opset 18, static shapes [1, 8].
                          Graph: input_ids int64[1, 8] -> logits float32[1, 8, 128]
    input_ids.npy         int64 [1, 8]
    expected_logits.npy   float32 [1, 8, 128], from onnxruntime (CPU)

Why dynamo and not TorchScript: for the same model the dynamo exporter gives
about half the nodes, no Shape/ConstantOfShape/Equal/Where shape subgraphs,
rotary cos/sin folded to initializers, and full value_info (see
test/python/EXPORT_CENSUS.md).  The model code lives in
test/python/onnx_models.py.
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "python"))

import onnx_models  # noqa: E402

FAMILY, EXPORTER, BATCH, SEQ, SEED = "llama", "dynamo", 1, 8, 0


def main(outdir: str = HERE) -> None:
    os.makedirs(outdir, exist_ok=True)
    model = os.path.join(outdir, "tiny_llama.onnx")
    onnx_models.export_model(FAMILY, EXPORTER, model, batch=BATCH, seq=SEQ,
                             seed=SEED, with_mask=False)
    inputs = onnx_models.make_inputs(FAMILY, BATCH, SEQ, SEED, path=model)
    assert list(inputs) == ["input_ids"], list(inputs)
    logits = onnx_models.ort_run(model, inputs)[0]
    ref = onnx_models.torch_reference(FAMILY, inputs, SEED)
    err = float(np.abs(logits - ref).max())
    assert err < 1e-4, f"onnxruntime vs torch mismatch: {err}"
    np.save(os.path.join(outdir, "input_ids.npy"), inputs["input_ids"])
    np.save(os.path.join(outdir, "expected_logits.npy"), logits.astype(np.float32))
    print(f"wrote {model} ({os.path.getsize(model)} bytes), input_ids.npy, "
          f"expected_logits.npy {list(logits.shape)}; max|ort-torch|={err:.2e}")


if __name__ == "__main__":
    main(*sys.argv[1:])
