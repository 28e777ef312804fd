#!/usr/bin/env python3
"""Regenerates the PEFT adapter fixtures of the LoraAdapter unit tests.

    ~/.cache/lora-opt/venv/bin/python test/unit/make_adapter_fixtures.py

Writes, under test/unit/Inputs/ (next to this script):
  peft_llama/   a PEFT LoRA adapter of a tiny random LlamaForCausalLM
                (q_proj r=4 alpha=8; v_proj r=2 alpha=6 through rank_pattern /
                alpha_pattern)
  peft_gpt2/    a PEFT LoRA adapter of a tiny random GPT2LMHeadModel (c_attn is a
                Conv1D, so fan_in_fan_out=True)
  f16.safetensors, bf16.safetensors
                    one F16 / BF16 tensor of known values (f16 with metadata)
  expected.json     what the gtest checks: per adapter and module, the rank,
                    alpha, scale, lora_A / lora_B shapes in torch orientation and
                    their first elements; the values of the half files; and
                    "selector_cases": PEFT's own answers (target matching,
                    rank / alpha patterns, scale) for some configs and names

Nothing is downloaded: the models are built from configs with fixed seeds, so
the output is the same on every run (same torch/peft versions).
"""

import json
import math
import os
import sys

import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.tuners_utils import check_target_module_exists
from peft.utils.other import get_pattern_key
from safetensors.numpy import save_file
from safetensors.torch import save_file as save_torch_file
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

INPUTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Inputs")
PREFIX = "base_model.model."
FIRST = 6  # elements of each lora_A / lora_B recorded in expected.json


def tiny_llama():
    config = LlamaConfig(
        vocab_size=32,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    return LlamaForCausalLM(config)


def tiny_gpt2():
    config = GPT2Config(vocab_size=32, n_embd=8, n_layer=1, n_head=2, n_positions=16)
    return GPT2LMHeadModel(config)


def save_adapter(name, model, lora_config, seed):
    peft_model = get_peft_model(model, lora_config)
    # B starts at zero; give it values so that orientation mistakes show.
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param_name, param in peft_model.named_parameters():
            if "lora_B" in param_name:
                param.copy_(torch.randn(param.shape, generator=gen))
    out = os.path.join(INPUTS, name)
    peft_model.save_pretrained(out, save_embedding_layers=False)
    # save_pretrained writes a README.md model card; the tests do not need it.
    readme = os.path.join(out, "README.md")
    if os.path.exists(readme):
        os.remove(readme)

    modules = {}
    cfg = peft_model.peft_config["default"]
    for module_name, module in peft_model.named_modules():
        if not hasattr(module, "lora_A") or "default" not in module.lora_A:
            continue
        short = module_name[len(PREFIX):]
        a = module.lora_A["default"].weight.detach().numpy()
        b = module.lora_B["default"].weight.detach().numpy()
        modules[short] = {
            "rank": int(module.r["default"]),
            "alpha": float(module.lora_alpha["default"]),
            "scale": float(module.scaling["default"]),
            "lora_A_shape": list(a.shape),
            "lora_B_shape": list(b.shape),
            "lora_A_first": [float(v) for v in a.reshape(-1)[:FIRST]],
            "lora_B_first": [float(v) for v in b.reshape(-1)[:FIRST]],
        }
    return {"use_rslora": bool(cfg.use_rslora), "modules": modules}


# Configs (as adapter_config.json text: pattern order matters) and module
# names; PEFT decides which names are targeted and with which rank / alpha.
SELECTOR_NAMES = [
    "model.layers.0.self_attn.q_proj",
    "model.layers.0.self_attn.k_proj",
    "model.layers.0.self_attn.v_proj",
    "model.layers.1.self_attn.q_proj",
    "model.layers.1.self_attn.k_proj",
    "model.layers.1.self_attn.v_proj",
    "model.layers.1.mlp.down_proj",
    "model.layers.0.self_attn.xq_proj",
    "model.layers.0.self_attn.q_proj.base_layer",
    "q_proj",
    "lm_head",
    "transformer.h.0.attn.c_attn",
    "transformer.h.1.attn.c_attn",
    "transformer.h.1.attn.c_proj",
    "transformer.h.1.mlp.c_proj",
]
SELECTOR_CONFIGS = [
    {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"],
     "rank_pattern": {"v_proj": 2, "layers\\.1\\..*": 6},
     "alpha_pattern": {"layers.1.self_attn.q_proj": 3, "q_proj": 5}},
    # File order differs from sorted order: the first key in the file wins.
    {"r": 8, "lora_alpha": 16, "use_rslora": True,
     "target_modules": ".*\\.layers\\.\\d+\\.self_attn\\.(q|k)_proj",
     "exclude_modules": ["layers.1.self_attn.k_proj"],
     "rank_pattern": {"q_proj": 3, "layers\\.1\\.self_attn\\.q_proj": 12},
     "alpha_pattern": {"ayers.0.self_attn.q_proj": 7, "0.self_attn.k_proj": 9.5}},
    {"r": 2, "lora_alpha": 4, "fan_in_fan_out": True,
     "target_modules": "(?:.*\\.)?(?:c_attn|c_proj)",
     "exclude_modules": ".*\\.h\\.1\\.mlp\\..*",
     "rank_pattern": {"h\\.[0-9]\\.attn\\.c_attn": 1}},
    {"r": 16, "lora_alpha": 32,
     "target_modules": ["self_attn.q_proj", "mlp.down_proj", "lm_head"],
     "exclude_modules": "model\\.layers\\.1\\..*"},
]


def selector_cases():
    cases = []
    for cfg in SELECTOR_CONFIGS:
        config = LoraConfig(**cfg)
        rows = []
        for name in SELECTOR_NAMES:
            r = config.rank_pattern.get(get_pattern_key(config.rank_pattern.keys(), name), config.r)
            alpha = config.alpha_pattern.get(
                get_pattern_key(config.alpha_pattern.keys(), name), config.lora_alpha)
            scale = alpha / math.sqrt(r) if config.use_rslora else alpha / r
            rows.append({"name": name,
                         "targeted": bool(check_target_module_exists(config, name)),
                         "rank": int(r), "alpha": float(alpha), "scale": float(scale)})
        cases.append({"config_json": json.dumps(dict(cfg, peft_type="LORA")),
                      "modules": rows})
    return cases


def main():
    os.makedirs(INPUTS, exist_ok=True)
    expected = {}

    torch.manual_seed(0)
    llama = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "v_proj"],
        rank_pattern={"v_proj": 2},
        alpha_pattern={"v_proj": 6},
        lora_dropout=0.0,
    )
    expected["peft_llama"] = save_adapter("peft_llama", tiny_llama(), llama, seed=1)

    torch.manual_seed(2)
    gpt2 = LoraConfig(
        r=2,
        lora_alpha=4,
        target_modules=["c_attn"],
        fan_in_fan_out=True,
        lora_dropout=0.0,
    )
    expected["peft_gpt2"] = save_adapter("peft_gpt2", tiny_gpt2(), gpt2, seed=3)

    # Values exact in both half formats, plus ones that round (the gtest
    # compares with whatever each format holds): 2**-24 and 3 * 2**-20 are f16
    # subnormals, 65504 is the largest f16 (and rounds up to 2**16 in bf16).
    values = np.array([0.0, -0.0, 1.0, -2.5,
                       65504.0 / 256, 2.0**-14, 3.140625, 1.0 / 3.0,
                       2.0**-24, 3 * 2.0**-20, 65504.0, -1e-3], dtype=np.float32).reshape(3, 4)
    f16 = values.astype(np.float16)
    save_file({"half": f16}, os.path.join(INPUTS, "f16.safetensors"),
              metadata={"made_by": "make_adapter_fixtures.py"})
    # numpy has no bfloat16: this one goes through torch (round to nearest even).
    bf16 = torch.from_numpy(values).to(torch.bfloat16)
    save_torch_file({"brain": bf16}, os.path.join(INPUTS, "bf16.safetensors"))
    expected["f16"] = {"name": "half", "shape": list(f16.shape),
                       "values": [float(v) for v in f16.astype(np.float32).reshape(-1)]}
    expected["bf16"] = {"name": "brain", "shape": list(bf16.shape),
                        "values": [float(v) for v in bf16.float().reshape(-1)]}

    expected["selector_cases"] = selector_cases()

    with open(os.path.join(INPUTS, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    # PEFT keeps target_modules as a set and saves it as a list in set order;
    # a fixed hash seed makes that order (and adapter_config.json) reproducible.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable] + sys.argv,
                  dict(os.environ, PYTHONHASHSEED="0"))
    main()
