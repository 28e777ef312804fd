"""lora.adamw and lora.sgd compiled for the CPU, stepped against
torch.optim.AdamW and torch.optim.SGD on the same parameters and gradients
(issue 6: the optimizer ops the train step will use)."""

import numpy as np
import pytest
import torch

from conftest import compile_mlir

SHAPE = (16, 8)


def tensor(dtype: str) -> str:
    return "tensor<" + "x".join(map(str, SHAPE)) + "x" + dtype + ">"


def adamw_source(attrs: str) -> str:
    t = tensor("f32")
    return f"""
func.func @main(%p: {t} {{onnx.name = "p"}}, %g: {t} {{onnx.name = "g"}},
                %m: {t} {{onnx.name = "m"}}, %v: {t} {{onnx.name = "v"}},
                %lr: tensor<f64> {{onnx.name = "lr"}},
                %step: tensor<i64> {{onnx.name = "step"}})
    -> ({t} {{onnx.name = "p2"}}, {t} {{onnx.name = "m2"}},
        {t} {{onnx.name = "v2"}}) {{
  %p2, %m2, %v2 = lora.adamw %p, %g, %m, %v, %lr, %step {attrs}
      : ({t}, {t}, {t}, {t}, tensor<f64>, tensor<i64>) -> ({t}, {t}, {t})
  return %p2, %m2, %v2 : {t}, {t}, {t}
}}
"""


def sgd_source(attrs: str) -> str:
    t = tensor("f32")
    return f"""
func.func @main(%p: {t} {{onnx.name = "p"}}, %g: {t} {{onnx.name = "g"}},
                %buf: {t} {{onnx.name = "buf"}},
                %lr: tensor<f64> {{onnx.name = "lr"}})
    -> ({t} {{onnx.name = "p2"}}, {t} {{onnx.name = "buf2"}}) {{
  %p2, %buf2 = lora.sgd %p, %g, %buf, %lr {attrs}
      : ({t}, {t}, {t}, tensor<f64>) -> ({t}, {t})
  return %p2, %buf2 : {t}, {t}
}}
"""


def gradients(steps: int, seed: int):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(SHAPE).astype(np.float32) for _ in range(steps)]


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adamw_matches_torch(tmp_path, weight_decay):
    attrs = (f"{{beta1 = 0.9, beta2 = 0.999, eps = 1.0e-8, "
             f"weight_decay = {weight_decay}}}")
    model = compile_mlir(tmp_path, "adamw", adamw_source(attrs))
    rng = np.random.default_rng(0)
    start = rng.standard_normal(SHAPE).astype(np.float32)
    param = torch.nn.Parameter(torch.from_numpy(start.copy()))
    opt = torch.optim.AdamW([param], lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=weight_decay, foreach=False)
    p, m, v = start, np.zeros(SHAPE, np.float32), np.zeros(SHAPE, np.float32)
    # A schedule: the learning rate is an input of every step.
    for step, grad in enumerate(gradients(12, 1), start=1):
        lr = 1e-3 * (0.5 if step > 6 else 1.0)
        for group in opt.param_groups:
            group["lr"] = lr
        param.grad = torch.from_numpy(grad.copy())
        opt.step()
        out = model(p=p, g=grad, m=m, v=v, lr=np.array(lr), step=np.array(step))
        p, m, v = out["p2"], out["m2"], out["v2"]
        state = opt.state[param]
        np.testing.assert_allclose(m, state["exp_avg"].numpy(), rtol=1e-6,
                                   atol=1e-7)
        np.testing.assert_allclose(v, state["exp_avg_sq"].numpy(), rtol=1e-6,
                                   atol=1e-9)
        np.testing.assert_allclose(p, param.detach().numpy(), rtol=1e-6,
                                   atol=1e-7)
    assert np.abs(p - start).max() > 1e-3  # it moved


@pytest.mark.parametrize("momentum,weight_decay,nesterov",
                         [(0.0, 0.0, False), (0.9, 0.0, False),
                          (0.9, 0.05, True)])
def test_sgd_matches_torch(tmp_path, momentum, weight_decay, nesterov):
    attrs = (f"{{momentum = {momentum}, weight_decay = {weight_decay}"
             + (", nesterov" if nesterov else "") + "}")
    model = compile_mlir(tmp_path, "sgd", sgd_source(attrs))
    rng = np.random.default_rng(3)
    start = rng.standard_normal(SHAPE).astype(np.float32)
    param = torch.nn.Parameter(torch.from_numpy(start.copy()))
    opt = torch.optim.SGD([param], lr=0.05, momentum=momentum,
                          weight_decay=weight_decay, nesterov=nesterov,
                          foreach=False)
    p, buf = start, np.zeros(SHAPE, np.float32)
    for grad in gradients(8, 4):
        param.grad = torch.from_numpy(grad.copy())
        opt.step()
        out = model(p=p, g=grad, buf=buf, lr=np.array(0.05))
        p, buf = out["p2"], out["buf2"]
        np.testing.assert_allclose(p, param.detach().numpy(), rtol=1e-6,
                                   atol=1e-7)
