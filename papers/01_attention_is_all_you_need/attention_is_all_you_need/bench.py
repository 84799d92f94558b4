"""Training-step throughput of the Transformer: tokens/s and model FLOPs utilisation (MFU).

    uv run papers bench 01                                # the GPU config's model on whatever device is here
    uv run papers bench 01 --variants fp32 bf16 bf16+compile --steps 30 --json out.json

Synthetic token batches (no data loading) isolate the model's own speed. FLOPs follow the usual
estimate for a training step, 6 * parameters * tokens for the matrix multiplies (forward 2,
backward 4) plus the attention score and value products, 12 * layers * d_model * context per token
for each attention block; MFU divides the achieved FLOP/s by the device's peak.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from attention_is_all_you_need.lightning import label_smoothed_loss
from attention_is_all_you_need.model import Transformer, TransformerConfig

PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12}  # dense, no sparsity


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def flops_per_step(cfg: TransformerConfig, n_params: int, batch: int, src_len: int, tgt_len: int) -> float:
    tokens = batch * (src_len + tgt_len)
    dense = 6 * n_params * tokens
    # QK^T and AV: 2 matmuls x 2 FLOPs x d_model per (query, key) pair, x3 for forward + backward.
    pairs = src_len * src_len + tgt_len * tgt_len + tgt_len * src_len  # encoder self, decoder self, cross
    attention = 3 * 2 * 2 * cfg.d_model * pairs * cfg.n_layers * batch
    return dense + attention


def bench(variant: str, cfg: TransformerConfig, batch: int, src_len: int, tgt_len: int, steps: int,
          device: torch.device) -> dict:
    torch.manual_seed(0)
    model = Transformer(cfg).to(device)
    if "compile" in variant:
        model.compile()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9, fused=device.type == "cuda")
    dtype = torch.bfloat16 if "bf16" in variant else torch.float32
    src = torch.randint(3, cfg.vocab_size, (batch, src_len), device=device)
    tgt = torch.randint(3, cfg.vocab_size, (batch, tgt_len + 1), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            logits = model(src, tgt[:, :-1])
        loss = label_smoothed_loss(logits, tgt[:, 1:], 0.1, cfg.pad_id)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3 if "compile" not in variant else 5):  # warm-up (and compilation)
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    n_params = sum(p.numel() for p in model.parameters())
    flops = flops_per_step(cfg, n_params, batch, src_len, tgt_len)
    peak = peak_flops(device)
    return {
        "variant": variant,
        "step_ms": round(seconds * 1e3, 2),
        "tokens_per_s": round(batch * (src_len + tgt_len) / seconds),
        "tflops": round(flops / seconds / 1e12, 1),
        "mfu": round(flops / seconds / peak, 3) if peak else None,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d_model", type=int, default=512)
    p.add_argument("--n_heads", type=int, default=8)
    p.add_argument("--d_ff", type=int, default=2048)
    p.add_argument("--n_layers", type=int, default=6)
    p.add_argument("--vocab_size", type=int, default=37000, help="the paper's shared BPE vocabulary size")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--src_len", type=int, default=128)
    p.add_argument("--tgt_len", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--variants", nargs="+", default=["fp32", "bf16", "bf16+compile"],
                   choices=["fp32", "bf16", "bf16+compile", "fp32+compile"])
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 baseline on TF32 tensor cores, as PyTorch users run it
    cfg = TransformerConfig(vocab_size=args.vocab_size, d_model=args.d_model, n_heads=args.n_heads, d_ff=args.d_ff,
                            n_layers=args.n_layers, dropout=0.1, max_len=max(args.src_len, args.tgt_len))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name}; d_model {cfg.d_model}, N {cfg.n_layers}, batch {args.batch}, "
          f"src {args.src_len} + tgt {args.tgt_len} tokens")
    print("| variant | step (ms) | tokens/s | TFLOP/s | MFU |\n|---|---|---|---|---|")
    rows = []
    for variant in args.variants:
        row = bench(variant, cfg, args.batch, args.src_len, args.tgt_len, args.steps, device)
        rows.append(row)
        mfu = f"{row['mfu']:.1%}" if row["mfu"] is not None else "n/a"
        print(f"| {variant} | {row['step_ms']} | {row['tokens_per_s']:,} | {row['tflops']} | {mfu} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": name, "config": vars(args), "results": rows}, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
