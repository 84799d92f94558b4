"""Training throughput of GPT-2 124M: tokens/s and model FLOPs utilisation (MFU), one JSON line per setting.

    uv run papers bench 03                                   # 124M, batch 32 x 1024 tokens, bf16 and bf16+compile
    uv run papers bench 03 --batch 16 --steps 30 --variants bf16+compile
    uv run papers bench 03 --config papers/03_gpt2/configs/gpt2_124m.yaml   # sizes from a config file

Random tokens (no data loading) isolate the model's own speed. Every setting uses TF32 matmuls,
bf16 autocast, fused attention (F.scaled_dot_product_attention picks flash attention on an H100)
and fused AdamW; "+compile" adds torch.compile. FLOPs per step follow the PaLM paper's appendix
(as nanoGPT does): 6 N per token for the matrix multiplies (N = parameters without the position
table; forward 2, backward 4) plus 6 * 2 * n_layers * d_model * T per token for the attention scores
and weighted values, against the device's dense bf16 peak (989 TFLOP/s on an H100 SXM).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

from gpt2.lightning import lm_loss
from gpt2.model import GPT2, GPT2Config

PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12}  # dense, no sparsity
VARIANTS = ["fp32", "bf16", "bf16+compile"]


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def flops_per_token(cfg: GPT2Config, n_params: int, seq: int) -> float:
    """6 N (matmuls with weights, forward + backward) + 12 L d T (Q K^T and A V over T keys, x3 for backward)."""
    return 6 * n_params + 12 * cfg.n_layers * cfg.d_model * seq


def bench(variant: str, cfg: GPT2Config, batch: int, seq: int, steps: int, warmup: int, device: torch.device) -> dict:
    torch.manual_seed(0)
    model = GPT2(cfg).to(device)
    if "compile" in variant:
        model.compile()
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1,
                            fused=device.type == "cuda")
    dtype = torch.bfloat16 if "bf16" in variant else torch.float32
    # Random tokens below the real vocabulary (50,257): the padded rows up to 50,304 are never targets.
    tokens = torch.randint(0, min(cfg.vocab_size, 50257), (steps + warmup, batch, seq + 1), device=device)

    def step(i: int) -> torch.Tensor:
        x, y = tokens[i, :, :-1], tokens[i, :, 1:]
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            loss = lm_loss(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    for i in range(warmup):  # compilation, autotuning and allocator warm-up: not timed
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    losses = [step(warmup + i) for i in range(steps)]  # no .item() in the loop: no host-device syncs
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    n_params = model.num_params(exclude_positions=True)
    flops = flops_per_token(cfg, n_params, seq) * batch * seq
    peak = peak_flops(device)
    return {
        "variant": variant, "batch": batch, "seq": seq, "params": model.num_params(),
        "step_ms": round(seconds * 1e3, 2), "tokens_per_s": round(batch * seq / seconds),
        "tflops": round(flops / seconds / 1e12, 1), "mfu": round(flops / seconds / peak, 4) if peak else None,
        "final_loss": round(float(losses[-1]), 3),
        "peak_memory_gb": round(torch.cuda.max_memory_allocated(device) / 1e9, 1) if device.type == "cuda" else None,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=None, help="a training config; its model sizes are used")
    p.add_argument("--d_model", type=int, default=768)
    p.add_argument("--n_heads", type=int, default=12)
    p.add_argument("--n_layers", type=int, default=12)
    p.add_argument("--vocab_size", type=int, default=50304, help="50,257 padded to a multiple of 64")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=1024)
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation happens here)")
    p.add_argument("--variants", nargs="+", default=["bf16", "bf16+compile"], choices=VARIANTS)
    p.add_argument("--json", default=None, help="also write all results to this file")
    args = p.parse_args(argv)
    if args.config is not None:
        model_cfg = yaml.safe_load(args.config.read_text())["model"]
        for key in ("d_model", "n_heads", "n_layers", "vocab_size"):
            if model_cfg.get(key) is not None:
                setattr(args, key, model_cfg[key])
    if min(args.batch, args.seq, args.steps, args.warmup + 1) < 1:
        raise SystemExit("error: --batch, --seq and --steps must be >= 1 and --warmup >= 0")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_float32_matmul_precision("high")  # any fp32 matmul left runs on TF32 tensor cores
    cfg = GPT2Config(vocab_size=args.vocab_size, n_ctx=args.seq, d_model=args.d_model, n_heads=args.n_heads,
                     n_layers=args.n_layers, dropout=0.0)
    rows = []
    for variant in args.variants:
        row = bench(variant, cfg, args.batch, args.seq, args.steps, args.warmup, device)
        row["device"] = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        rows.append(row)
        print(json.dumps(row), flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
    if args.json:
        Path(args.json).write_text(json.dumps({"config": {k: str(v) for k, v in vars(args).items()},
                                               "results": rows}, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
