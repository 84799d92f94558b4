"""Decoding speed of multi-query attention (PaLM) against standard multi-head attention.

    uv run papers bench 14                                  # d_model 512, 8 heads, 6 layers, batch 16
    uv run papers bench 14 --batch 32 --prompt 512 --new 512 --json out.json

Both models have random weights (speed does not depend on them), the same width, heads and
layers; they differ only in the number of key/value heads (1 or H). Each generates `new` tokens
per sequence after a `prompt`-token prefill, with the KV cache, greedily. Reported: decoded
tokens per second (batch * new / time, prefill excluded), and the KV cache's size at the end.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from palm.model import PaLM, PaLMConfig, kv_cache_elements


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def bench(multi_query: bool, cfg_kwargs: dict, batch: int, prompt: int, new: int, repeats: int,
          device: torch.device, dtype: torch.dtype) -> dict:
    torch.manual_seed(0)
    cfg = PaLMConfig(**cfg_kwargs, multi_query=multi_query, max_len=prompt + new)
    model = PaLM(cfg).to(device=device, dtype=dtype).eval()
    ids = torch.randint(0, cfg.vocab_size, (batch, prompt), device=device)
    if repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {repeats}")
    times = []
    for _ in range(repeats + 1):  # the first pass warms up allocators and kernels and is not counted
        cache = model.new_cache()
        last = model(ids, cache)[:, -1:].argmax(-1)  # prefill: [batch, 1]
        sync(device)
        start = time.perf_counter()
        for _ in range(new):
            last = model(last, cache)[:, -1:].argmax(-1)
        sync(device)
        times.append(time.perf_counter() - start)
    seconds = min(times[1:])
    elements = sum(c.numel() for c in cache)
    assert elements == kv_cache_elements(cfg, batch, prompt + new)
    return {
        "attention": "multi-query" if multi_query else "multi-head",
        "kv_heads": cfg.n_kv_heads,
        "params": sum(p.numel() for p in model.parameters()),
        "kv_cache_mb": round(elements * torch.finfo(dtype).bits / 8 / 2**20, 1),
        "ms_per_token_step": round(seconds / new * 1e3, 2),
        "tokens_per_s": round(batch * new / seconds),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d_model", type=int, default=512)
    p.add_argument("--n_heads", type=int, default=8)
    p.add_argument("--n_layers", type=int, default=6)
    p.add_argument("--vocab_size", type=int, default=96)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--prompt", type=int, default=256, help="prefill length (tokens already in the cache)")
    p.add_argument("--new", type=int, default=256, help="tokens generated per sequence")
    p.add_argument("--repeats", type=int, default=1, help="timed repeats; the fastest is reported")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default=None, help="default: bf16 on GPU, fp32 on CPU")
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype_name = args.dtype or ("bf16" if device.type == "cuda" else "fp32")
    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    cfg_kwargs = dict(vocab_size=args.vocab_size, d_model=args.d_model, n_heads=args.n_heads, n_layers=args.n_layers)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}, {dtype_name}; d_model {args.d_model}, {args.n_heads} heads, {args.n_layers} layers, "
          f"batch {args.batch}, prompt {args.prompt}, {args.new} new tokens")
    print("| attention | K/V heads | parameters | KV cache (MB) | ms per step | tokens/s |\n|---|---|---|---|---|---|")
    rows = []
    for multi_query in (False, True):
        row = bench(multi_query, cfg_kwargs, args.batch, args.prompt, args.new, args.repeats, device, dtype)
        rows.append(row)
        print(f"| {row['attention']} | {row['kv_heads']} | {row['params']:,} | {row['kv_cache_mb']} | "
              f"{row['ms_per_token_step']} | {row['tokens_per_s']:,} |", flush=True)
    speedup = rows[1]["tokens_per_s"] / rows[0]["tokens_per_s"]
    print(f"multi-query decodes {speedup:.2f}x as many tokens/s with a {args.n_heads}x smaller KV cache")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": name, "dtype": dtype_name, "config": vars(args), "results": rows,
                       "speedup": round(speedup, 3)}, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
