"""The default data: a generated knowledge base of fictional facts, and questions about them.

Every entity is an invented two-syllable name ("zorbak"), and every fact is one short passage
("zor bak lives in vel mora"). Nobody, and no pre-trained model, can know these facts. The entities
are split in two:

- training entities: their passages are in the index during training, and the generator is trained
  to answer questions about them *from retrieved passages*;
- held-out entities: their passages are added to the index only for the test. Their facts appear in
  no training text, so a closed-book model cannot know them; a RAG model can read them from the index.

The vocabulary is fixed (it does not depend on how many entities are drawn), so the model's size is
known before the data is generated. Names and values are built from syllables shared by both splits:
a held-out name is a new combination of syllables the encoders have seen, not an unseen token.
"""

from __future__ import annotations

import lightning as L
import torch
from shared.data import EpochSeededSampler, ResumableDataLoader
from torch.utils.data import TensorDataset

PAD, BOS, EOS, SEP = "<pad>", "<bos>", "<eos>", "<sep>"
FIRST = ["zor", "vek", "mal", "quin", "dra", "bel", "tor", "ska", "nim", "rul", "fen", "gar",
         "lio", "pex", "sor", "wyn", "kel", "bru", "osk", "tam", "hal", "jor", "cyn", "ulm"]
SECOND = ["bak", "dun", "eth", "ril", "mon", "vash", "tal", "kor", "nis", "pell", "rum", "yx",
          "zed", "oth", "cai", "lun", "fir", "gam", "hox", "jib", "kev", "lor", "mip", "nax"]
# Each relation: the words of its passage, the question around the name, and its own value syllables.
RELATIONS = {
    "home": (["lives", "in"], (["where", "does"], ["live", "?"]),
             ["vel", "mora", "ost", "grad", "pol", "une", "tir", "ath", "ixa", "bor"]),
    "job": (["works", "as", "a"], (["what", "job", "does"], ["do", "?"]),
            ["glim", "wright", "stav", "monger", "quill", "smith", "rove", "keeper", "drub", "hand"]),
    "pet": (["owns", "a"], (["what", "pet", "does"], ["own", "?"]),
            ["snar", "fox", "bleem", "cat", "wob", "newt", "frill", "owl", "gurp", "toad"]),
    "food": (["likes", "to", "eat"], (["what", "does"], ["like", "to", "eat", "?"]),
             ["pim", "bread", "sour", "plum", "zest", "pie", "crum", "bean", "morl", "soup"]),
}


def _vocab() -> list[str]:
    words = [PAD, BOS, EOS, SEP, *FIRST, *SECOND]
    for passage, (before, after), values in RELATIONS.values():
        for w in [*passage, *before, *after, *values]:
            if w not in words:
                words.append(w)
    return words


VOCAB = _vocab()
TOKEN = {w: i for i, w in enumerate(VOCAB)}
PASSAGE_LEN = 2 + max(len(p) for p, _, _ in RELATIONS.values()) + 2  # name, relation words, two-token value
QUESTION_LEN = 2 + max(len(b) + len(a) for _, (b, a), _ in RELATIONS.values())
ANSWER_LEN = 3  # two value tokens and <eos>


def encode(words: list[str], length: int) -> list[int]:
    return [TOKEN[w] for w in words] + [TOKEN[PAD]] * (length - len(words))


def decode(ids) -> str:
    return " ".join(VOCAB[i] for i in ids if VOCAB[i] not in (PAD, BOS, SEP))


def passage(name: tuple[str, str], relation: str, value: tuple[str, str]) -> list[int]:
    return encode([*name, *RELATIONS[relation][0], *value], PASSAGE_LEN)


def question(name: tuple[str, str], relation: str) -> list[int]:
    before, after = RELATIONS[relation][1]
    return encode([*before, *name, *after], QUESTION_LEN)


def answer(value: tuple[str, str]) -> list[int]:
    return encode([*value, EOS], ANSWER_LEN)


def knowledge_base(n_train_entities: int, n_test_entities: int, seed: int) -> dict[str, torch.Tensor]:
    """Passages, questions and answers for every (entity, relation) pair, and a swapped copy.

    Facts 0 .. n_train_entities * 4 - 1 are the training entities'; the rest are held out. The swapped
    copy gives every held-out fact a different value: the index hot-swap of the test.
    """
    n = n_train_entities + n_test_entities
    if n > len(FIRST) * len(SECOND):
        raise ValueError(f"data.n_train_entities + data.n_test_entities must be <= {len(FIRST) * len(SECOND)} "
                         f"(distinct names), got {n}")
    g = torch.Generator().manual_seed(seed)
    names = torch.randperm(len(FIRST) * len(SECOND), generator=g)[:n].tolist()
    rows = {k: [] for k in ("passages", "questions", "answers", "swapped_passages", "swapped_answers")}
    for e, code in enumerate(names):
        name = (FIRST[code // len(SECOND)], SECOND[code % len(SECOND)])
        for rel, (_, _, values) in RELATIONS.items():
            v = torch.randint(len(values), (2,), generator=g).tolist()
            new = v
            while new == v:  # a swapped value always differs from the original
                new = torch.randint(len(values), (2,), generator=g).tolist()
            value, new_value = (values[v[0]], values[v[1]]), (values[new[0]], values[new[1]])
            held_out = e >= n_train_entities
            rows["passages"].append(passage(name, rel, value))
            rows["questions"].append(question(name, rel))
            rows["answers"].append(answer(value))
            rows["swapped_passages"].append(passage(name, rel, new_value if held_out else value))
            rows["swapped_answers"].append(answer(new_value if held_out else value))
    kb = {k: torch.tensor(v) for k, v in rows.items()}
    kb["n_train_facts"] = torch.tensor(n_train_entities * len(RELATIONS))
    return kb


class Data(L.LightningDataModule):
    """Training batches: questions about the training entities, with the id of the passage that answers
    each (the retriever's positive). Test batches: every question about a held-out entity.

    Args:
        n_train_entities, n_test_entities: entities in each split (4 facts each).
        batch_size: questions per batch.
        seed: draws the names and values (and the training order).
    """

    def __init__(self, n_train_entities: int = 200, n_test_entities: int = 100, batch_size: int = 32,
                 seed: int = 0) -> None:
        super().__init__()
        for name, value in (("n_train_entities", n_train_entities), ("n_test_entities", n_test_entities),
                            ("batch_size", batch_size)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        self.save_hyperparameters()
        self.kb = knowledge_base(n_train_entities, n_test_entities, seed)

    def setup(self, stage: str | None = None) -> None:
        kb, n = self.kb, int(self.kb["n_train_facts"])
        ids = torch.arange(len(kb["questions"]))
        self.train_set = TensorDataset(kb["questions"][:n], kb["answers"][:n], ids[:n])
        self.test_set = TensorDataset(kb["questions"][n:], kb["answers"][n:], ids[n:], kb["swapped_answers"][n:])

    def _loader(self, data, shuffle: bool):
        # Epoch-seeded order + a resumable loader: `--ckpt_path last` continues at the very next batch.
        return ResumableDataLoader(data, batch_size=self.hparams.batch_size,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle))

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def test_dataloader(self):
        return self._loader(self.test_set, False)
