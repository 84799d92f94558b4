"""The document index: maximum inner-product search over passage embeddings, with faiss.

The paper keeps its 21M Wikipedia passage vectors in a FAISS index with the HNSW approximation (Section 3);
here the default is the exact `IndexFlatIP` (every passage scored: a few thousand passages take well under
a millisecond), and approximate indexes (IVF, HNSW) are settings, benchmarked in `rag/bench.py`.
Swapping the index (building it from other passages) needs no training: that is the paper's hot-swap.
"""

from __future__ import annotations

import faiss
import numpy as np
import torch
from torch import Tensor

INDEX_KINDS = ("flat", "ivf", "hnsw")


def set_threads(n: int) -> None:
    """faiss runs its own OpenMP threads; make it use as many as torch (`--run.threads`)."""
    faiss.omp_set_num_threads(max(1, int(n)))


class DocumentIndex:
    """Args:
        embeddings: [n_docs, d] passage vectors d(z).
        kind: "flat" (exact), "ivf" (inverted lists: search only the `nprobe` of `nlist` clusters nearest
            the query), or "hnsw" (a navigable small-world graph with `hnsw_m` links per node).
    """

    def __init__(self, embeddings: Tensor, kind: str = "flat", nlist: int = 16, nprobe: int = 4,
                 hnsw_m: int = 32, ef_search: int = 64) -> None:
        if kind not in INDEX_KINDS:
            raise ValueError(f"model.index must be one of {INDEX_KINDS}, got {kind!r}")
        if embeddings.dim() != 2:
            raise ValueError(f"embeddings must be [n_docs, d], got {list(embeddings.shape)}")
        x = np.ascontiguousarray(embeddings.detach().float().cpu().numpy())
        n, d = x.shape
        if kind == "flat":
            self.index = faiss.IndexFlatIP(d)
        elif kind == "ivf":
            if not 1 <= nprobe <= nlist <= n:
                raise ValueError(f"model.nprobe ({nprobe}) <= model.nlist ({nlist}) <= documents ({n}) must hold")
            self.quantizer = faiss.IndexFlatIP(d)  # kept alive: the IVF index points to it
            self.index = faiss.IndexIVFFlat(self.quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            self.index.train(x)
            self.index.nprobe = nprobe
        else:
            if hnsw_m < 2 or ef_search < 1:
                raise ValueError(f"model.hnsw_m must be >= 2 and model.ef_search >= 1, got {hnsw_m}, {ef_search}")
            self.index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efSearch = ef_search
        self.index.add(x)

    def __len__(self) -> int:
        return self.index.ntotal

    def search(self, queries: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Top-k passages per query: scores [n, k] (inner products, best first) and ids [n, k]."""
        if k > len(self):
            raise ValueError(f"k ({k}) must be <= the number of documents ({len(self)})")
        q = np.ascontiguousarray(queries.detach().float().cpu().numpy())
        scores, ids = self.index.search(q, k)
        return torch.from_numpy(scores).to(queries.device), torch.from_numpy(ids).long().to(queries.device)
