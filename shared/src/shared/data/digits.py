"""scikit-learn's digits: 1,797 grey 8x8 images of handwritten digits, shipped inside scikit-learn."""

from __future__ import annotations

import torch


def load_digits_tensors(test_fraction: float = 0.2, seed: int = 0):
    """Return (x_train, y_train, x_test, y_test): images [n, 1, 8, 8] scaled to [0, 1], labels [n].

    The split is stratified by class and fixed by `seed`, so every paper using digits sees the
    same held-out images.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # pixel values are 0..16
    y = torch.tensor(digits.target, dtype=torch.long)
    idx_train, idx_test = train_test_split(
        range(len(y)), test_size=test_fraction, random_state=seed, stratify=y.numpy()
    )
    return x[idx_train], y[idx_train], x[idx_test], y[idx_test]
