"""Retrieval time and recall as the index grows: exact search (faiss IndexFlatIP) against the approximate
indexes (IVF, HNSW), with exact torch search as the reference top-k.

    uv run papers bench 19                                   # 1k to 100k passages, d = 64
    uv run papers bench 19 --sizes 10000 1000000 --dim 128 --threads 2 --json out.json

The passage vectors are clustered random vectors (a mixture of 256 Gaussians), as trained embeddings are;
uniform random vectors have no structure for IVF or HNSW to exploit. Recall@10 is the share of the exact
top 10 that an index returns. Building time is reported too: the approximate indexes pay it up front.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from rag.index import DocumentIndex, set_threads
from rag.model import exact_search


def vectors(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(256, d, generator=g)
    return centres[torch.randint(256, (n,), generator=g)] + 0.5 * torch.randn(n, d, generator=g)


def bench(n: int, kind: str, args) -> dict:
    docs, queries = vectors(n, args.dim, 0), vectors(args.queries, args.dim, 1)
    _, truth = exact_search(queries, docs, args.k)
    nlist = max(1, int(4 * n**0.5))  # faiss's rule of thumb: about 4 to 16 sqrt(n) lists
    start = time.perf_counter()
    index = DocumentIndex(docs, kind, nlist=nlist, nprobe=min(nlist, args.nprobe), ef_search=args.ef_search)
    built = time.perf_counter() - start
    start = time.perf_counter()
    _, ids = index.search(queries, args.k)
    per_query = (time.perf_counter() - start) / args.queries
    recall = (ids.unsqueeze(-1) == truth.unsqueeze(1)).any(-1).float().mean().item()
    return {"n_docs": n, "index": kind, "build_s": round(built, 3), "query_us": round(per_query * 1e6, 1),
            f"recall@{args.k}": round(recall, 3)}


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    p.add_argument("--indexes", nargs="+", default=["flat", "ivf", "hnsw"])
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--nprobe", type=int, default=8)
    p.add_argument("--ef_search", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="faiss and torch threads")
    p.add_argument("--json", default=None, help="also write the rows to this file")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    set_threads(args.threads)
    rows = []
    print(f"{'passages':>9} {'index':>5} {'build s':>8} {'us/query':>9} {'recall@' + str(args.k):>9}")
    for n in args.sizes:
        for kind in args.indexes:
            r = bench(n, kind, args)
            rows.append(r)
            print(f"{n:>9} {kind:>5} {r['build_s']:>8} {r['query_us']:>9} {r[f'recall@{args.k}']:>9}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
