"""lora-autodiff's gradient rules (passes/GradientRules.cpp), one per op,
and its losses, compiled for the CPU in float64: every `<param>.grad` of
train_step against central finite differences of train_step's own loss in
random directions, and every loss against a float64 numpy reference.

Each rule gets a small @main: its parameters (`lora.param`) go through the
op under test, and the loss is sum(w * op(...)) with a fixed random weight
`w`, so that every element of the op's result gets a different gradient.
Inputs stay away from the points where an op is not differentiable (kinks
of abs, clamp, maximum, minimum and reduce_max; x <= 0 for log, rsqrt and
pow).
"""

from __future__ import annotations

import math
import re
import subprocess
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

from conftest import tool

EPS = 1e-6
TOL = 1e-6
DIRECTIONS = 3


def t(shape, dtype="f64") -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dtype + ">"


def const_shape(name: str, values) -> str:
    values = list(values)
    return (f"%{name} = tosa.const_shape {{values = dense<{values}> : "
            f"tensor<{len(values)}xindex>}} : () -> !tosa.shape<{len(values)}>")


def run_tool(args):
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} failed "
                    f"({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout


def compile_train_step(tmp_path, source: str, options: str = "loss=output",
                       keep_params: bool = False):
    """Runs lora-autodiff on `source`, compiles its train_step for the CPU
    and loads it.

    Unless `keep_params`, the `lora.param` attributes are dropped after
    lora-autodiff: an artifact's LoRA parameters must feed a lora.linear
    (they are a PEFT adapter's A and B), so the parameters of a rule's test
    become plain inputs that are given at each call."""
    import lora_opt  # noqa: PLC0415 (tests without it need not have it)
    path = tmp_path / "forward.mlir"
    path.write_text(source)
    text = run_tool([tool("lora-opt"), f"--lora-autodiff={options}", str(path)])
    if not keep_params:
        text = re.sub(r'lora\.param = "[^"]*",\s*', "", text)
    steps = tmp_path / "steps.mlir"
    steps.write_text(text)
    out = tmp_path / "train_step"
    run_tool([tool("lora-compile"), "--quiet", str(steps),
              "--function=train_step", "--target=cpu", "--opt-level=1",
              "-o", str(out)])
    return lora_opt.load(out)


def check_finite_differences(loss, values: dict, grads: dict, rng,
                             eps: float = EPS, tol: float = TOL):
    """<grad, d> against (L(v + eps d) - L(v - eps d)) / 2 eps for a few
    random directions d of each parameter in `grads`."""
    for name, grad in grads.items():
        assert grad.shape == values[name].shape, name
        for _ in range(DIRECTIONS):
            d = rng.standard_normal(grad.shape)
            plus = dict(values, **{name: values[name] + eps * d})
            minus = dict(values, **{name: values[name] - eps * d})
            numeric = (loss(plus) - loss(minus)) / (2 * eps)
            analytic = float(np.sum(grad * d))
            assert abs(numeric - analytic) <= tol * max(1.0, abs(analytic)), (
                name, numeric, analytic)


# --- samplers: rng, shape -> float64 values -----------------------------------

def normal(rng, shape):
    return rng.standard_normal(shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def nonzero(rng, shape):
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)


def off_kinks(rng, shape):
    """|v| in [0.05, 0.45] or [0.55, 1.5]: away from 0 (abs) and from the
    clamp bounds ±0.5."""
    small = rng.uniform(0.05, 0.45, shape)
    large = rng.uniform(0.55, 1.5, shape)
    magnitude = np.where(rng.random(shape) < 0.5, small, large)
    return rng.choice([-1.0, 1.0], shape) * magnitude


def far_from_zero(rng, shape):
    """|v| in [0.5, 1.5], against `near_zero`: never within 0.2 of it."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 1.5, shape)


def near_zero(rng, shape):
    return rng.uniform(-0.3, 0.3, shape)


def distinct(rng, shape):
    """A permutation of evenly spaced values: no ties for reduce_max."""
    n = int(np.prod(shape))
    return rng.permutation(np.linspace(-1.0, 1.0, n)).reshape(shape)


def exponent(rng, shape):
    return rng.uniform(-1.5, 1.5, shape)


def mask(rng, shape):
    """Booleans, both values present."""
    values = np.arange(np.prod(shape)) % 2 == 0
    return rng.permutation(values).reshape(shape)


# --- the rules ----------------------------------------------------------------

@dataclass
class Rule:
    """`body` computes %r, of shape `out`, from the parameters and the
    frozen inputs; `forward` computes it in numpy on float64."""
    name: str
    params: dict  # name -> (shape, sampler)
    body: str
    out: tuple
    forward: Callable
    frozen: dict = field(default_factory=dict)  # name -> (shape, sampler, type)
    eps: float = EPS
    tol: float = TOL

    def __str__(self):
        return self.name


def unary_rule(name, op, forward, sampler=normal, shape=(3, 4)):
    return Rule(name, {"p": (shape, sampler)},
                f"%r = tosa.{op} %p : ({t(shape)}) -> {t(shape)}", shape,
                lambda v: forward(v["p"]))


def binary_rule(name, op, forward, s0, s1, sampler0=normal, sampler1=normal,
                extra=""):
    out = tuple(np.broadcast_shapes(s0, s1))
    return Rule(name, {"p0": (s0, sampler0), "p1": (s1, sampler1)},
                f"%r = tosa.{op} %p0, %p1{extra} : ({t(s0)}, {t(s1)}"
                f"{', tensor<1xi8>' if extra else ''}) -> {t(out)}", out,
                lambda v: forward(v["p0"], v["p1"]))


erf = np.vectorize(math.erf)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def with_masked_row(rng, shape):
    """Normal values, with the softmax row p[0, :, 1] (axis 1) all -inf."""
    p = normal(rng, shape)
    p[0, :, 1] = -np.inf
    return p


def guarded_softmax(p, axis):
    """softmax(p) along `axis`, NaN (a row of -inf) replaced by 0."""
    with np.errstate(invalid="ignore"):
        e = np.exp(p - p.max(axis, keepdims=True))
        y = e / e.sum(axis, keepdims=True)
    return np.where(np.isnan(y), 0.0, y)


def shifted_exp_sum(shape, axis) -> str:
    """The importer's softmax prefix on %p: %d = p - max(p), %e = exp(%d),
    %s = sum(%e), over `axis`; each line ends with a newline."""
    kept = tuple(1 if i == axis else d for i, d in enumerate(shape))
    return (f"%m = tosa.reduce_max %p {{axis = {axis} : i32}} : ({t(shape)}) -> "
            f"{t(kept)}\n"
            f"  %d = tosa.sub %p, %m : ({t(shape)}, {t(kept)}) -> {t(shape)}\n"
            f"  %e = tosa.exp %d : ({t(shape)}) -> {t(shape)}\n"
            f"  %s = tosa.reduce_sum %e {{axis = {axis} : i32}} : ({t(shape)}) -> "
            f"{t(kept)}\n")


RULES = [
    # Binary ops, with an operand of shape 1xN or Mx1 broadcast against MxN.
    binary_rule("add_broadcast", "add", np.add, (1, 4), (3, 4)),
    binary_rule("sub_broadcast", "sub", np.subtract, (3, 4), (3, 1)),
    binary_rule("mul_broadcast_both", "mul", np.multiply, (3, 1), (1, 4),
                extra=", %shift"),
    binary_rule("pow", "pow", np.power, (3, 4), (1, 4), positive, exponent),
    binary_rule("maximum_broadcast", "maximum", np.maximum, (3, 4), (1, 4),
                far_from_zero, near_zero),
    binary_rule("minimum_broadcast", "minimum", np.minimum, (1, 4), (3, 4),
                near_zero, far_from_zero),
    # One parameter against a frozen input: only the parameter is wanted.
    Rule("add_frozen_operand", {"p": ((1, 4), normal)},
         f"%r = tosa.add %x, %p : ({t((3, 4))}, {t((1, 4))}) -> {t((3, 4))}",
         (3, 4), lambda v: v["x"] + v["p"],
         frozen={"x": ((3, 4), normal, "f64")}),
    # The same value as both operands: the two gradients add up.
    Rule("mul_square", {"p": ((3, 4), normal)},
         f"%r = tosa.mul %p, %p, %shift : ({t((3, 4))}, {t((3, 4))}, "
         f"tensor<1xi8>) -> {t((3, 4))}", (3, 4), lambda v: v["p"] ** 2),
    Rule("negate", {"p": ((3, 4), normal)},
         f"%r = tosa.negate %p, %zp, %zp : ({t((3, 4))}, tensor<1xf64>, "
         f"tensor<1xf64>) -> {t((3, 4))}", (3, 4), lambda v: -v["p"]),
    # Unary ops.
    unary_rule("exp", "exp", np.exp),
    unary_rule("log", "log", np.log, positive),
    unary_rule("reciprocal", "reciprocal", np.reciprocal, nonzero),
    unary_rule("rsqrt", "rsqrt", lambda x: 1.0 / np.sqrt(x), positive),
    unary_rule("sigmoid", "sigmoid", sigmoid),
    unary_rule("tanh", "tanh", np.tanh),
    unary_rule("erf", "erf", erf),
    unary_rule("sin", "sin", np.sin),
    unary_rule("cos", "cos", np.cos),
    unary_rule("abs", "abs", np.abs, off_kinks),
    Rule("clamp", {"p": ((3, 4), off_kinks)},
         f"%r = tosa.clamp %p {{min_val = -0.5 : f64, max_val = 0.5 : f64}} "
         f": ({t((3, 4))}) -> {t((3, 4))}", (3, 4),
         lambda v: np.clip(v["p"], -0.5, 0.5)),
    # f64 -> f32 -> f64: the loss is linear in the rounded values, so a large
    # step sees the slope, where 1e-6 would see only f32 rounding.
    Rule("cast", {"p": ((3, 4), normal)},
         f"%c = tosa.cast %p : ({t((3, 4))}) -> {t((3, 4), 'f32')}\n"
         f"  %r = tosa.cast %c : ({t((3, 4), 'f32')}) -> {t((3, 4))}",
         (3, 4), lambda v: v["p"].astype(np.float32).astype(np.float64),
         eps=0.1, tol=1e-5),
    # Shapes.
    Rule("reshape", {"p": ((2, 3, 4), normal)},
         const_shape("s", [6, 4]) + "\n"
         f"  %r = tosa.reshape %p, %s : ({t((2, 3, 4))}, !tosa.shape<2>) -> "
         f"{t((6, 4))}", (6, 4), lambda v: v["p"].reshape(6, 4)),
    # A permutation that is not its own inverse.
    Rule("transpose", {"p": ((2, 3, 4), normal)},
         f"%r = tosa.transpose %p {{perms = array<i32: 2, 0, 1>}} : "
         f"({t((2, 3, 4))}) -> {t((4, 2, 3))}", (4, 2, 3),
         lambda v: v["p"].transpose(2, 0, 1)),
    Rule("slice", {"p": ((4, 5), normal)},
         const_shape("start", [1, 2]) + "\n  " + const_shape("size", [2, 2])
         + f"\n  %r = tosa.slice %p, %start, %size : ({t((4, 5))}, "
         f"!tosa.shape<2>, !tosa.shape<2>) -> {t((2, 2))}", (2, 2),
         lambda v: v["p"][1:3, 2:4]),
    Rule("pad", {"p": ((2, 3), normal)},
         const_shape("padding", [1, 0, 2, 1]) + "\n"
         "  %padval = \"tosa.const\"() <{values = dense<0.5> : tensor<1xf64>}> "
         ": () -> tensor<1xf64>\n"
         f"  %r = tosa.pad %p, %padding, %padval : ({t((2, 3))}, "
         f"!tosa.shape<4>, tensor<1xf64>) -> {t((3, 6))}", (3, 6),
         lambda v: np.pad(v["p"], ((1, 0), (2, 1)), constant_values=0.5)),
    # A frozen operand between the parameters shifts the second one's slice.
    Rule("concat", {"p0": ((2, 3), normal), "p1": ((2, 3), normal)},
         f"%r = tosa.concat %p0, %x, %p1 {{axis = 0 : i32}} : ({t((2, 3))}, "
         f"{t((1, 3))}, {t((2, 3))}) -> {t((5, 3))}", (5, 3),
         lambda v: np.concatenate([v["p0"], v["x"], v["p1"]], axis=0),
         frozen={"x": ((1, 3), normal, "f64")}),
    Rule("tile", {"p": ((2, 3), normal)},
         const_shape("multiples", [2, 3]) + "\n"
         f"  %r = tosa.tile %p, %multiples : ({t((2, 3))}, !tosa.shape<2>) -> "
         f"{t((4, 9))}", (4, 9), lambda v: np.tile(v["p"], (2, 3))),
    # Reductions.
    Rule("reduce_sum", {"p": ((2, 3, 4), normal)},
         f"%r = tosa.reduce_sum %p {{axis = 1 : i32}} : ({t((2, 3, 4))}) -> "
         f"{t((2, 1, 4))}", (2, 1, 4), lambda v: v["p"].sum(1, keepdims=True)),
    Rule("reduce_max", {"p": ((3, 4), distinct)},
         f"%r = tosa.reduce_max %p {{axis = 1 : i32}} : ({t((3, 4))}) -> "
         f"{t((3, 1))}", (3, 1), lambda v: v["p"].max(1, keepdims=True)),
    # A broadcast predicate and a broadcast false operand.
    Rule("select", {"p0": ((3, 4), normal), "p1": ((1, 4), normal)},
         f"%r = tosa.select %mask, %p0, %p1 : ({t((3, 1), 'i1')}, "
         f"{t((3, 4))}, {t((1, 4))}) -> {t((3, 4))}", (3, 4),
         lambda v: np.where(v["mask"], v["p0"], v["p1"]),
         frozen={"mask": ((3, 1), mask, "i1")}),
    Rule("matmul", {"p0": ((2, 3, 4), normal), "p1": ((2, 4, 5), normal)},
         f"%r = tosa.matmul %p0, %p1, %zp, %zp : ({t((2, 3, 4))}, "
         f"{t((2, 4, 5))}, tensor<1xf64>, tensor<1xf64>) -> {t((2, 3, 5))}",
         (2, 3, 5), lambda v: v["p0"] @ v["p1"]),
    # A chain with fan-out: %m reaches the loss through exp and directly.
    Rule("chain_fan_out", {"p0": ((3, 4), normal), "p1": ((3, 4), normal)},
         f"%m = tosa.mul %p0, %p1, %shift : ({t((3, 4))}, {t((3, 4))}, "
         f"tensor<1xi8>) -> {t((3, 4))}\n"
         f"  %e = tosa.exp %m : ({t((3, 4))}) -> {t((3, 4))}\n"
         f"  %r = tosa.add %e, %m : ({t((3, 4))}, {t((3, 4))}) -> {t((3, 4))}",
         (3, 4), lambda v: np.exp(v["p0"] * v["p1"]) + v["p0"] * v["p1"]),
    # Softmax and log-softmax as the ONNX importer builds them, along axis
    # 1 of 3: lora-autodiff differentiates each as one op (fused rules that
    # read only the result), not op by op.
    Rule("softmax", {"p": ((2, 3, 4), normal)},
         shifted_exp_sum((2, 3, 4), 1) +
         f"  %inv = tosa.reciprocal %s : ({t((2, 1, 4))}) -> {t((2, 1, 4))}\n"
         f"  %r = tosa.mul %e, %inv, %shift : ({t((2, 3, 4))}, {t((2, 1, 4))}, "
         f"tensor<1xi8>) -> {t((2, 3, 4))}", (2, 3, 4),
         lambda v: np.exp(v["p"]) / np.exp(v["p"]).sum(1, keepdims=True)),
    Rule("log_softmax", {"p": ((2, 3, 4), normal)},
         shifted_exp_sum((2, 3, 4), 1) +
         f"  %l = tosa.log %s : ({t((2, 1, 4))}) -> {t((2, 1, 4))}\n"
         f"  %r = tosa.sub %d, %l : ({t((2, 3, 4))}, {t((2, 1, 4))}) -> "
         f"{t((2, 3, 4))}", (2, 3, 4),
         lambda v: v["p"] - np.log(np.exp(v["p"]).sum(1, keepdims=True))),
    # A softmax whose exp is also used outside it: the fused rule covers the
    # path through the softmax, exp's own rule the other.
    Rule("softmax_shared_exp", {"p": ((3, 4), normal)},
         shifted_exp_sum((3, 4), 1) +
         f"  %inv = tosa.reciprocal %s : ({t((3, 1))}) -> {t((3, 1))}\n"
         f"  %y = tosa.mul %inv, %e, %shift : ({t((3, 1))}, {t((3, 4))}, "
         f"tensor<1xi8>) -> {t((3, 4))}\n"
         f"  %r = tosa.add %y, %e : ({t((3, 4))}, {t((3, 4))}) -> {t((3, 4))}",
         (3, 4),
         lambda v: (np.exp(v["p"]) / np.exp(v["p"]).sum(1, keepdims=True)
                    + np.exp(v["p"] - v["p"].max(1, keepdims=True)))),
    # A softmax with the NaN guard torch.onnx puts after an attention
    # softmax, select(y == y, y, 0), one op to lora-autodiff as well. One
    # row is masked entirely (-inf): its probabilities are NaN, guarded to
    # zeros, and its gradient is zero, the derivative of that constant row.
    Rule("softmax_nan_guard", {"p": ((2, 3, 4), with_masked_row)},
         shifted_exp_sum((2, 3, 4), 1) +
         f"  %inv = tosa.reciprocal %s : ({t((2, 1, 4))}) -> {t((2, 1, 4))}\n"
         f"  %y = tosa.mul %e, %inv, %shift : ({t((2, 3, 4))}, {t((2, 1, 4))}, "
         f"tensor<1xi8>) -> {t((2, 3, 4))}\n"
         f"  %eq = tosa.equal %y, %y : ({t((2, 3, 4))}, {t((2, 3, 4))}) -> "
         f"{t((2, 3, 4), 'i1')}\n"
         f"  %zero = \"tosa.const\"() <{{values = dense<0.0> : {t((1, 1, 1))}}}> "
         f": () -> {t((1, 1, 1))}\n"
         f"  %r = tosa.select %eq, %y, %zero : ({t((2, 3, 4), 'i1')}, "
         f"{t((2, 3, 4))}, {t((1, 1, 1))}) -> {t((2, 3, 4))}", (2, 3, 4),
         lambda v: guarded_softmax(v["p"], 1)),
    # The pad value's gradient is the sum of g outside the padded tensor.
    Rule("pad_value", {"p": ((2, 3), normal), "q": ((1,), normal)},
         const_shape("padding", [1, 0, 2, 1]) + "\n"
         f"  %r = tosa.pad %p, %padding, %q : ({t((2, 3))}, "
         f"!tosa.shape<4>, tensor<1xf64>) -> {t((3, 6))}", (3, 6),
         lambda v: np.pad(v["p"], ((1, 0), (2, 1)),
                          constant_values=v["q"][0])),
]


def rule_source(rule: Rule) -> str:
    args = [f"%{n}: {t(s)} {{lora.param = \"{n}\", onnx.name = \"{n}\"}}"
            for n, (s, _) in rule.params.items()]
    args += [f"%{n}: {t(s, ty)} {{onnx.name = \"{n}\"}}"
             for n, (s, _, ty) in rule.frozen.items()]
    args.append(f"%w: {t(rule.out)} {{onnx.name = \"w\"}}")
    # loss = sum(w * r), summed one axis at a time, as tensor<1xf64>.
    lines = [f"%wr = tosa.mul %r, %w, %shift : ({t(rule.out)}, "
             f"{t(rule.out)}, tensor<1xi8>) -> {t(rule.out)}"]
    shape, value = list(rule.out), "%wr"
    for axis in range(len(shape)):
        before, shape[axis] = t(shape), 1
        lines.append(f"%sum{axis} = tosa.reduce_sum {value} {{axis = {axis} "
                     f": i32}} : ({before}) -> {t(shape)}")
        value = f"%sum{axis}"
    lines.append(const_shape("one", [1]))
    lines.append(f"%loss = tosa.reshape {value}, %one : ({t(shape)}, "
                 f"!tosa.shape<1>) -> tensor<1xf64>")
    tail = "\n  ".join(lines)
    return f"""
func.func @main({", ".join(args)}) -> (tensor<1xf64> {{onnx.name = "y"}}) {{
  %shift = "tosa.const"() <{{values = dense<0> : tensor<1xi8>}}> : () -> tensor<1xi8>
  %zp = "tosa.const"() <{{values = dense<0.0> : tensor<1xf64>}}> : () -> tensor<1xf64>
  {rule.body}
  {tail}
  return %loss : tensor<1xf64>
}}
"""


def seeded(name: str):
    return np.random.default_rng(zlib.crc32(name.encode()))


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_rule_matches_finite_differences(tmp_path, rule):
    model = compile_train_step(tmp_path, rule_source(rule))
    rng = seeded(rule.name)
    values = {n: sampler(rng, s) for n, (s, sampler) in rule.params.items()}
    values.update({n: sampler(rng, s) for n, (s, sampler, _) in
                   rule.frozen.items()})
    values["w"] = rng.standard_normal(rule.out)

    out = model(**values)
    grad_names = [f"{n}.grad" for n in rule.params]
    assert [o.name for o in model.outputs] == ["loss", *grad_names]
    expected = float(np.sum(values["w"] * rule.forward(values)))
    assert abs(float(out["loss"]) - expected) <= 1e-12 * max(1.0, abs(expected))

    def loss(v):
        return float(model(**v)["loss"])

    check_finite_differences(
        loss, values, {n: out[f"{n}.grad"] for n in rule.params}, rng,
        rule.eps, rule.tol)


def test_reduce_max_ties(tmp_path):
    """Shifting every element by the same amount shifts each row's max by
    that amount, ties or not: along d = 1 the loss sum(w * max) changes at
    the rate sum(w), which <grad, 1> must match."""
    rule = next(r for r in RULES if isinstance(r, Rule)
                and r.name == "reduce_max")
    model = compile_train_step(tmp_path, rule_source(rule))
    p = np.array([[0.5, -0.1, 0.5, 0.2],   # a tie
                  [0.7, 0.7, 0.7, -0.3],   # three
                  [0.1, 0.9, -0.4, 0.3]])
    w = seeded("reduce_max_ties").standard_normal((3, 1))
    grad = model(p=p, w=w)["p.grad"]
    assert abs(float(grad.sum()) - float(w.sum())) <= TOL * max(
        1.0, abs(float(w.sum())))


# --- lora.linear ----------------------------------------------------------------

K, HIDDEN, N, R1, R2 = 8, 6, 4, 2, 3
LINEAR_PARAMS = {
    "base_model.model.fc1.lora_A.weight": (K, R1),
    "base_model.model.fc1.lora_B.weight": (R1, HIDDEN),
    "base_model.model.fc2.lora_A.weight": (HIDDEN, R2),
    "base_model.model.fc2.lora_B.weight": (R2, N),
}
LINEAR_INPUTS = {"x": (2, 3, K), "w1": (K, HIDDEN), "w2": (HIDDEN, N),
                 "bias": (N,), "w": (2, 3, N)}


def linear_source() -> str:
    """Two LoRA layers with a tanh between them: the input of fc2 depends
    on fc1's parameters, so their gradients go through fc2's dx. Starting
    values (lora.init) are zeros: the test sets every parameter."""
    a1, b1, a2, b2 = (f"%{k}: {t(s)} {{lora.param = \"{n}\", onnx.name = "
                      f"\"{n}\", lora.init = dense<0.0> : {t(s)}}}"
                      for k, (n, s) in zip(("a1", "b1", "a2", "b2"),
                                           LINEAR_PARAMS.items()))
    x, w1, w2, bias, w = (t(s) for s in LINEAR_INPUTS.values())
    h, y = t((2, 3, HIDDEN)), t((2, 3, N))
    ta1, tb1, ta2, tb2 = (t(s) for s in LINEAR_PARAMS.values())
    return f"""
func.func @main(%x: {x} {{onnx.name = "x"}}, %w1: {w1} {{onnx.name = "w1"}},
                %w2: {w2} {{onnx.name = "w2"}}, %bias: {bias} {{onnx.name = "bias"}},
                {a1}, {b1}, {a2}, {b2}, %w: {w} {{onnx.name = "w"}})
    -> (tensor<1xf64> {{onnx.name = "y"}}) {{
  %shift = "tosa.const"() <{{values = dense<0> : tensor<1xi8>}}> : () -> tensor<1xi8>
  %h = lora.linear %x, %w1, %a1, %b1 {{rank = {R1} : i64, scale = 0.5 : f64}}
      : ({x}, {w1}, {ta1}, {tb1}) -> {h}
  %th = tosa.tanh %h : ({h}) -> {h}
  %y = lora.linear %th, %w2, %a2, %b2 bias(%bias) {{rank = {R2} : i64, scale = 2.0 : f64}}
      : ({h}, {w2}, {ta2}, {tb2}, {bias}) -> {y}
  %wy = tosa.mul %y, %w, %shift : ({y}, {y}, tensor<1xi8>) -> {y}
  %s0 = tosa.reduce_sum %wy {{axis = 0 : i32}} : ({y}) -> {t((1, 3, N))}
  %s1 = tosa.reduce_sum %s0 {{axis = 1 : i32}} : ({t((1, 3, N))}) -> {t((1, 1, N))}
  %s2 = tosa.reduce_sum %s1 {{axis = 2 : i32}} : ({t((1, 1, N))}) -> {t((1, 1, 1))}
  {const_shape("one", [1])}
  %loss = tosa.reshape %s2, %one : ({t((1, 1, 1))}, !tosa.shape<1>) -> tensor<1xf64>
  return %loss : tensor<1xf64>
}}
"""


def linear_forward(v, p):
    a1, b1, a2, b2 = (p[n] for n in LINEAR_PARAMS)
    x = v["x"]
    h = x @ v["w1"] + 0.5 * (x @ a1) @ b1
    th = np.tanh(h)
    y = th @ v["w2"] + 2.0 * (th @ a2) @ b2 + v["bias"]
    return float(np.sum(v["w"] * y))


def test_lora_linear_matches_finite_differences(tmp_path):
    """The parameters stay LoRA parameters of the artifact (set with
    set_parameter), as in a real train step."""
    model = compile_train_step(tmp_path, linear_source(), keep_params=True)
    rng = seeded("lora.linear")
    inputs = {n: rng.standard_normal(s) for n, s in LINEAR_INPUTS.items()}
    params = {n: 0.5 * rng.standard_normal(s) for n, s in LINEAR_PARAMS.items()}

    def run(p):
        for name, value in p.items():
            model.set_parameter(name, value)
        return model(**inputs)

    out = run(params)
    assert [o.name for o in model.outputs] == [
        "loss", *(f"{n}.grad" for n in LINEAR_PARAMS)]
    expected = linear_forward(inputs, params)
    assert abs(float(out["loss"]) - expected) <= 1e-12 * max(1.0, abs(expected))
    check_finite_differences(
        lambda p: float(run(p)["loss"]), params,
        {n: out[f"{n}.grad"] for n in LINEAR_PARAMS}, rng)


# --- losses -------------------------------------------------------------------

def log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def cross_entropy(logits, labels, ignore_index):
    """PyTorch's mean cross_entropy over the tokens whose label is not
    `ignore_index`."""
    logits = logits.reshape(-1, logits.shape[-1])
    labels = labels.reshape(-1)
    keep = labels != ignore_index
    picked = log_softmax(logits[keep])[np.arange(keep.sum()), labels[keep]]
    return float(-picked.mean())


def causal_lm(logits, labels, ignore_index):
    return cross_entropy(logits[..., :-1, :], labels[..., 1:], ignore_index)


def mse(output, targets):
    return float(np.mean((output - targets) ** 2))


@dataclass
class LossCase:
    name: str
    options: str
    shape: tuple  # of the output the loss reads
    extra: str  # the input the loss adds: labels or targets
    reference: Callable  # (output, extra) -> loss
    ignore_index: int = -100

    def __str__(self):
        return self.name


LOGITS = (2, 4, 5)
LOSSES = [
    LossCase("cross_entropy", "loss=cross-entropy", LOGITS, "labels",
             lambda y, labels: cross_entropy(y, labels, -100)),
    LossCase("cross_entropy_ignore_index", "loss=cross-entropy ignore-index=3",
             LOGITS, "labels", lambda y, labels: cross_entropy(y, labels, 3),
             ignore_index=3),
    LossCase("causal_lm", "loss=causal-lm", LOGITS, "labels",
             lambda y, labels: causal_lm(y, labels, -100)),
    LossCase("mse", "loss=mse", (3, 4), "targets", mse),
]


def loss_source(case: LossCase) -> str:
    """logits (or the output) = p * x with a frozen x; the function's second
    result, the one the loss reads (output=1), so that the first is not."""
    y = t(case.shape)
    return f"""
func.func @main(%p: {y} {{lora.param = "p", onnx.name = "p"}},
                %x: {y} {{onnx.name = "x"}})
    -> ({y} {{onnx.name = "other"}}, {y} {{onnx.name = "y"}}) {{
  %shift = "tosa.const"() <{{values = dense<0> : tensor<1xi8>}}> : () -> tensor<1xi8>
  %y = tosa.mul %p, %x, %shift : ({y}, {y}, tensor<1xi8>) -> {y}
  %other = tosa.exp %p : ({y}) -> {y}
  return %other, %y : {y}, {y}
}}
"""


def loss_extra(case: LossCase, rng):
    if case.extra == "targets":
        return rng.standard_normal(case.shape)
    labels = rng.integers(0, case.shape[-1], case.shape[:-1])
    labels[0, 1] = labels[1, 2] = case.ignore_index
    return labels.astype(np.int64)


@pytest.mark.parametrize("case", LOSSES, ids=str)
def test_loss_matches_numpy(tmp_path, case):
    model = compile_train_step(tmp_path, loss_source(case),
                               f"{case.options} output=1")
    rng = seeded(case.name)
    p = rng.standard_normal(case.shape)
    x = rng.uniform(0.5, 2.0, case.shape)
    extra = loss_extra(case, rng)
    values = {"p": p, "x": x, case.extra: extra}

    out = model(**values)
    assert [o.name for o in model.outputs] == ["loss", "p.grad"]
    expected = case.reference(p * x, extra)
    assert abs(float(out["loss"]) - expected) <= 1e-12 * max(1.0, abs(expected))

    # Every element of the gradient against the numpy loss ...
    grad = out["p.grad"]
    numeric = np.zeros(case.shape)
    for i in np.ndindex(case.shape):
        step = np.zeros(case.shape)
        step[i] = EPS
        numeric[i] = (case.reference((p + step) * x, extra) -
                      case.reference((p - step) * x, extra)) / (2 * EPS)
    assert np.abs(grad - numeric).max() <= TOL * max(1.0, np.abs(numeric).max())
    # ... and in random directions against the compiled loss.
    check_finite_differences(lambda v: float(model(**v)["loss"]), values,
                             {"p": grad}, rng)
