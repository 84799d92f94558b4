"""The default data: Shakespeare's plays (embedded, no download), read two ways.

Pre-training (unlabelled, Section 3.1): sentence pairs "[CLS] A [SEP] B [SEP]" where B is the
real next text half the time and a random line otherwise (next sentence prediction), with 15% of
the tokens chosen for the masked LM and replaced 80/10/10 by [MASK] / a random word / themselves.

Fine-tuning (labelled, Section 3.2): a task derived from held-out lines, in the spirit of GLUE's
CoLA (is this sentence acceptable English?). Half the lines keep their word order (label 1); in
the other half the words are shuffled (label 0). Word counts, vocabulary and length are identical
in both classes, so the only signal is word order, which the masked LM must learn to predict a
word from its neighbours. The labelled set is small on purpose, as in most downstream tasks.

The split is by position in the corpus: the first `1 - downstream_fraction` of the lines feed
pre-training; the fine-tuning, validation and test lines all come from the rest, never seen.
"""

from __future__ import annotations

import random
import re
from collections import Counter

import lightning as L
import torch
from shared.data import EpochSeededSampler, ResumableDataLoader
from shared.data.text import load_shakespeare, load_text_file
from torch.utils.data import ConcatDataset, DataLoader, Dataset

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(len(SPECIALS))
IGNORE = -100  # label of a position the masked LM is not asked about (F.cross_entropy's ignore_index)
WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")  # lower-case words, inner apostrophes kept: "o'er", "'tis" -> "tis"
SPEAKER = re.compile(r"[A-Z][A-Z .,'-]*:")  # "LORD POLONIUS:" lines name the speaker, they are not text


def text_to_lines(text: str) -> list[list[str]]:
    """Text -> one list of lower-case words per non-empty line (speaker names dropped)."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if line and not SPEAKER.fullmatch(line):
            words = WORD.findall(line.lower())
            if words:
                lines.append(words)
    return lines


class WordTokenizer:
    """Whole words <-> ids: the special tokens, then the most frequent words; anything else is [UNK].

    BERT uses a 30,000-piece WordPiece vocabulary that splits rare words into pieces; a few
    thousand whole words cover about 90% of Shakespeare's running text and keep the model tiny.
    """

    def __init__(self, words: list[str]) -> None:
        self.tokens = SPECIALS + [w for w in words if w not in SPECIALS]
        self.ids = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def fit(cls, lines: list[list[str]], vocab_size: int) -> WordTokenizer:
        if vocab_size <= len(SPECIALS):
            raise ValueError(f"vocab_size must be > {len(SPECIALS)} (the special tokens), got {vocab_size}")
        counts = Counter(w for line in lines for w in line)
        ranked = sorted(counts, key=lambda w: (-counts[w], w))  # ties broken alphabetically: reproducible
        return cls(ranked[: vocab_size - len(SPECIALS)])

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, words: list[str]) -> list[int]:
        return [self.ids.get(w, UNK) for w in words]

    def decode(self, ids) -> list[str]:
        return [self.tokens[i] for i in (ids.tolist() if torch.is_tensor(ids) else ids)]


# --- Masked LM: choose 15%, then 80% [MASK], 10% random word, 10% unchanged ------------------------------------


def mask_tokens(ids: list[int], rng: random.Random, vocab_size: int, mask_prob: float = 0.15,
                n_special: int = len(SPECIALS)) -> tuple[list[int], list[int]]:
    """Returns (input ids, labels). Labels hold the original id at chosen positions, IGNORE elsewhere.

    round(15%) of the positions that are not special tokens are chosen (at least one). The released
    create_pretraining_data.py takes round(15%) of all the tokens, [CLS] and [SEP] included (and at
    most max_predictions_per_seq), but likewise never chooses [CLS] or [SEP]. Each chosen token
    becomes [MASK] with probability 0.8, a random word with 0.1, and stays itself with 0.1: the
    model cannot know which tokens it will be asked about, so it must keep a good representation
    of every token, and [MASK] (never seen at fine-tuning) is not the only input it learns from.
    """
    candidates = [i for i, t in enumerate(ids) if t >= n_special]
    n_pred = max(1, round(len(candidates) * mask_prob)) if candidates else 0
    inputs, labels = list(ids), [IGNORE] * len(ids)
    for i in rng.sample(candidates, n_pred):
        labels[i] = ids[i]
        r = rng.random()
        if r < 0.8:
            inputs[i] = MASK
        elif r < 0.9:
            inputs[i] = rng.randrange(n_special, vocab_size)
        # else: keep the original token
    return inputs, labels


def sentence_pair(lines: list[list[int]], rng: random.Random, max_len: int) -> tuple[list[int], list[int], int]:
    """One NSP example: ("[CLS] A [SEP] B [SEP]" ids, segment ids 0/1, is_next 1/0).

    A is one or more consecutive lines from a random start; B continues the text (is_next = 1)
    with probability 0.5, or is taken from a random place in the corpus (is_next = 0).
    """
    budget = max_len - 3  # room for [CLS] and two [SEP]
    target_a = rng.randint(1, budget - 1)  # a random split point gives varied A/B lengths
    start = rng.randrange(len(lines) - 1)
    a, j = [], start
    while j < len(lines) - 1 and len(a) < target_a:
        a += lines[j]
        j += 1
    a = a[:target_a]
    is_next = 1 if rng.random() < 0.5 else 0
    if not is_next:
        j = rng.randrange(len(lines))
        while abs(j - start) < 50 and len(lines) > 200:  # "random" must not be the true continuation
            j = rng.randrange(len(lines))
    b = []
    while len(b) < budget - len(a):
        b += lines[j % len(lines)]
        j += 1
    b = b[: budget - len(a)]
    ids = [CLS, *a, SEP, *b, SEP]
    segments = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    return ids, segments, is_next


class PretrainingPairs(Dataset):
    """`size` fixed masked sentence pairs. Item i is drawn from Random(seed * 1_000_003 + i): the same
    every epoch and after a resume. Static masking, like the released create_pretraining_data.py,
    which fixes the masks when it writes the data (dupe_factor = 10 differently masked copies)."""

    def __init__(self, lines: list[list[int]], size: int, max_len: int, vocab_size: int, seed: int) -> None:
        self.items = []
        for i in range(size):
            rng = random.Random(seed * 1_000_003 + i)
            ids, segments, is_next = sentence_pair(lines, rng, max_len)
            inputs, labels = mask_tokens(ids, rng, vocab_size)
            self.items.append((inputs, segments, labels, is_next))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


# --- The derived downstream task: original word order (1) or shuffled (0) -----------------------------------------


def word_order_examples(lines: list[list[int]], size: int, seed: int, min_words: int = 6,
                        max_words: int = 14) -> list[tuple[list[int], int]]:
    """`size` (ids, label) pairs, half original lines and half shuffled. Lines shorter than min_words
    are joined with the next; longer than max_words are cut. A shuffle that leaves the order
    unchanged is shuffled again."""
    rng, out = random.Random(seed), []
    spans, cur = [], []
    for line in lines:
        cur += line
        if len(cur) >= min_words:
            spans.append(cur[:max_words])
            cur = []
    if len(spans) < size:
        raise ValueError(f"only {len(spans)} held-out lines of >= {min_words} words; asked for {size} examples")
    for k, words in enumerate(rng.sample(spans, size)):
        label = k % 2
        if label == 0:
            shuffled = list(words)
            while shuffled == words:
                rng.shuffle(shuffled)
            words = shuffled
        out.append(([CLS, *words, SEP], label))
    rng.shuffle(out)
    return out


class WordOrder(Dataset):
    def __init__(self, examples: list[tuple[list[int], int]]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int):
        return self.examples[i]


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows])


def collate_pretraining(batch) -> dict[str, torch.Tensor]:
    inputs, segments, labels, is_next = zip(*batch)
    ids = _pad(list(inputs), PAD)  # [batch, seq]
    return {"ids": ids, "segment_ids": _pad(list(segments), 0), "padding_mask": ids != PAD,
            "mlm_labels": _pad(list(labels), IGNORE), "is_next": torch.tensor(is_next)}


def collate_classification(batch) -> dict[str, torch.Tensor]:
    rows, labels = zip(*batch)
    ids = _pad(list(rows), PAD)  # [batch, seq]
    return {"ids": ids, "segment_ids": torch.zeros_like(ids), "padding_mask": ids != PAD,
            "label": torch.tensor(labels)}


class BertData(L.LightningDataModule):
    """Pre-training pairs and the word-order task, from Shakespeare (default) or any text file.

    Args:
        text_file: a UTF-8 text file to use instead of the embedded plays (the real-data path).
        vocab_size: words in the vocabulary, the 5 special tokens included (model.vocab_size must match).
        max_len: longest pre-training sequence, "[CLS] A [SEP] B [SEP]" included (BERT: 512; 128 for 90% of its steps).
        pretrain_size: masked sentence pairs per pre-training epoch.
        finetune_size: labelled word-order examples to fine-tune on (small, like most downstream tasks).
        val_size, test_size: held-out examples of each kind for validation and for the final claim.
        downstream_fraction: the last fraction of the lines, kept out of pre-training for the downstream task.
        batch_size, finetune_batch_size: batch sizes of pre-training and fine-tuning (paper: 256; 32).
        seed: fixes the masks, the sentence pairs, the task's shuffles and the batch order.
    """

    def __init__(self, text_file: str | None = None, vocab_size: int = 3000, max_len: int = 48,
                 pretrain_size: int = 12_800, finetune_size: int = 1000, val_size: int = 500, test_size: int = 2000,
                 downstream_fraction: float = 0.1, batch_size: int = 64, finetune_batch_size: int = 32,
                 seed: int = 0) -> None:
        super().__init__()
        for name, value in (("pretrain_size", pretrain_size), ("finetune_size", finetune_size),
                            ("val_size", val_size), ("test_size", test_size), ("batch_size", batch_size),
                            ("finetune_batch_size", finetune_batch_size)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        if vocab_size <= len(SPECIALS):
            raise ValueError(f"data.vocab_size must be > {len(SPECIALS)} (the special tokens), got {vocab_size}")
        if max_len < 8:
            raise ValueError(f"data.max_len must be >= 8 to hold [CLS] A [SEP] B [SEP], got {max_len}")
        if not 0.0 < downstream_fraction < 1.0:
            raise ValueError(f"data.downstream_fraction must be in (0, 1), got {downstream_fraction}")
        if text_file is not None:
            load_text_file(text_file)  # a missing or tiny file fails now, with the path in the message
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "pretrain_set"):
            return
        hp = self.hparams
        text = load_shakespeare() if hp.text_file is None else load_text_file(hp.text_file)
        lines = text_to_lines(text)
        cut = int(len(lines) * (1 - hp.downstream_fraction))
        if cut < 2 or len(lines) - cut < 2:
            raise ValueError(f"the text has only {len(lines)} non-empty lines; need far more to pre-train")
        self.tokenizer = WordTokenizer.fit(lines[:cut], hp.vocab_size)  # fitted on pre-training text only
        pretrain_lines = [self.tokenizer.encode(w) for w in lines[:cut]]
        held_out = [self.tokenizer.encode(w) for w in lines[cut:]]
        self.pretrain_set = PretrainingPairs(pretrain_lines, hp.pretrain_size, hp.max_len, hp.vocab_size, hp.seed)
        # Held-out pairs measure the masked LM on text it never trained on.
        self.pretrain_val = PretrainingPairs(held_out, hp.val_size, hp.max_len, hp.vocab_size, hp.seed + 1)
        self.pretrain_test = PretrainingPairs(held_out, hp.test_size, hp.max_len, hp.vocab_size, hp.seed + 2)
        n = hp.finetune_size + hp.val_size + hp.test_size
        examples = word_order_examples(held_out, n, seed=hp.seed + 3)
        self.finetune_set = WordOrder(examples[: hp.finetune_size])
        self.finetune_val = WordOrder(examples[hp.finetune_size : hp.finetune_size + hp.val_size])
        self.finetune_test = WordOrder(examples[hp.finetune_size + hp.val_size :])

    def _loader(self, data: Dataset, batch_size: int, shuffle: bool) -> DataLoader:
        collate = collate_pretraining if isinstance(data, PretrainingPairs) else collate_classification
        # An explicit generator: DataLoader would otherwise draw its base seed from the global RNG,
        # and a resumed run (which iterates the sanity-check loader first) would see other dropout masks.
        return ResumableDataLoader(data, batch_size=batch_size, collate_fn=collate,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle),
                                   generator=torch.Generator().manual_seed(self.hparams.seed))

    def steps_per_epoch(self, stage: str) -> int:
        self.setup()
        if stage == "pretrain":
            return len(self._loader(self.pretrain_set, self.hparams.batch_size, True))
        return len(self._loader(self.finetune_set, self.hparams.finetune_batch_size, True))

    def train_dataloader(self) -> DataLoader:
        # The LightningModule decides which stage an epoch belongs to; with
        # `trainer.reload_dataloaders_every_n_epochs: 1` this is asked again at every epoch.
        module = self.trainer.lightning_module if self.trainer is not None else None
        if module is None or module.stage == "pretrain":
            return self._loader(self.pretrain_set, self.hparams.batch_size, shuffle=True)
        return self._loader(self.finetune_set, self.hparams.finetune_batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return _evaluation_loader(self.pretrain_val, self.finetune_val)

    def test_dataloader(self) -> DataLoader:
        return _evaluation_loader(self.pretrain_test, self.finetune_test)


def _evaluation_loader(pairs: PretrainingPairs, labelled: WordOrder, batch_size: int = 256) -> DataLoader:
    """One loader over both evaluation sets, each batch from one of them: the masked LM batches
    first, then the word-order batches. (One loader, so every metric lands in one results dict.)"""
    data = ConcatDataset([pairs, labelled])
    batches = [list(range(i, min(i + batch_size, len(pairs)))) for i in range(0, len(pairs), batch_size)]
    batches += [list(range(len(pairs) + i, len(pairs) + min(i + batch_size, len(labelled))))
                for i in range(0, len(labelled), batch_size)]

    def collate(items):
        return collate_pretraining(items) if len(items[0]) == 4 else collate_classification(items)

    return DataLoader(data, batch_sampler=batches, collate_fn=collate, generator=torch.Generator().manual_seed(0))
