"""Throughput of one MoE layer: sparse dispatch (each expert computes only its own tokens) against computing
every expert on every token and zeroing the unchosen outputs, as the number of experts grows.

    uv run papers bench 20                                   # CPU (or the GPU if there is one)
    uv run papers bench 20 --device cuda --tokens 16384 --d_model 1024 --d_expert 4096
    uv run papers bench 20 --experts 4 8 16 32 --json out.json

Each measurement is a forward and backward pass of the layer on random tokens, gates computed and capacity
applied the same way in both paths (the outputs are equal: tests/test_model.py). Sparse work per token is
k experts whatever n_experts is; dense work grows with n_experts, so sparse dispatch should pull ahead as
n_experts / k grows, minus its gather/scatter overhead. FLOPs below count only the expert matmuls:
2 matmuls x 2 FLOPs x d_model x d_expert per token per expert computed, x3 for forward + backward.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from mixture_of_experts.model import MoE


def bench(n_experts: int, dense: bool, args, device: torch.device) -> dict:
    torch.manual_seed(0)
    layer = MoE(args.d_model, n_experts, args.top_k, args.d_expert, args.capacity_factor).to(device)
    torch.nn.init.normal_(layer.gate.W_g, std=0.02)  # a trained-looking router: the zero init ties every logit
    x = torch.randn(args.tokens, args.d_model, device=device, requires_grad=True)

    def step() -> None:
        layer(x, dense=dense).square().mean().backward()

    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / args.steps
    computed = n_experts if dense else args.top_k  # experts computed per token
    flops = 3 * 2 * 2 * args.d_model * args.d_expert * computed * args.tokens
    return {"n_experts": n_experts, "dispatch": "dense" if dense else "sparse", "step_ms": round(seconds * 1e3, 2),
            "tokens_per_s": round(args.tokens / seconds), "gflops": round(flops / seconds / 1e9, 1)}


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experts", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    p.add_argument("--top_k", type=int, default=2)
    p.add_argument("--d_model", type=int, default=256)
    p.add_argument("--d_expert", type=int, default=512)
    p.add_argument("--tokens", type=int, default=2048)
    p.add_argument("--capacity_factor", type=float, default=None, help="default: no limit (no token dropped)")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    for name in ("top_k", "d_model", "d_expert", "tokens", "steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if min(args.experts) < args.top_k:
        p.error(f"every --experts value must be >= --top_k ({args.top_k}), got {args.experts}")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name}; d_model {args.d_model}, d_expert {args.d_expert}, top-{args.top_k}, "
          f"{args.tokens} tokens, forward + backward")
    print("| experts | sparse tokens/s | dense tokens/s | sparse / dense |\n|---|---|---|---|")
    rows = []
    for n in args.experts:
        sparse, dense = bench(n, False, args, device), bench(n, True, args, device)
        rows += [sparse, dense]
        ratio = sparse["tokens_per_s"] / dense["tokens_per_s"]
        print(f"| {n} | {sparse['tokens_per_s']:,} | {dense['tokens_per_s']:,} | {ratio:.2f}x |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": name, "config": vars(args), "results": rows}, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
