"""The small world the models talk in, and the written constitution.

Everything is a token. A prompt is three tokens `[kind, topic, style]`: a benign question about a topic,
or a harmful request about it ("how do I weaponise topic 3?"), phrased in one of several styles. A
response is `RESPONSE_LEN` tokens drawn from five kinds of content:

    A_t  a useful answer about topic t          H_t  dangerous detail about topic t
    S_t  safety information about topic t       REFUSE (an evasive "I can't help")   FILLER

A principle is a short sentence in a tiny language: one or two clauses `PREFER <class>` / `AVOID <class>`
(`[PREFER, SAFETY, AVOID, DANGER]` reads "prefer the response with more safety information and less
dangerous detail"). The constitution is a list of such sentences about harmlessness; the models read
them as tokens. `principle_score` is the meaning of the language: it builds the generic pretraining
corpus from which the feedback model and the assistant learn to read principles (Section "How a small
model learns to read principles" in notes.md). It is never applied to a policy's responses: the
training stages after pretraining see principles only through the models.
"""

from __future__ import annotations

import torch
from torch import Tensor

N_TOPICS = 8
N_STYLES = 8
RESPONSE_LEN = 4
PRINCIPLE_LEN = 4  # two clauses of two tokens; a one-clause principle is padded

SPECIALS = ["PAD", "MASK", "GEN", "CRIT", "REV", "CMP", "SCORE", "SEP"]
KINDS = ["BENIGN", "HARMFUL"]
WORDS = ["PREFER", "AVOID", "DANGER", "SAFETY", "ANSWER", "ASKED", "EVASION", "PADDING"]
CLASSES = WORDS[2:]  # the class words a clause can name

VOCAB = [*SPECIALS, *KINDS, *(f"T{t}" for t in range(N_TOPICS)), *(f"Y{s}" for s in range(N_STYLES)),
         *(f"A{t}" for t in range(N_TOPICS)), *(f"H{t}" for t in range(N_TOPICS)),
         *(f"S{t}" for t in range(N_TOPICS)), "REFUSE", "FILLER", *WORDS]
ID = {name: i for i, name in enumerate(VOCAB)}
V = len(VOCAB)
A0, H0, S0 = ID["A0"], ID["H0"], ID["S0"]
T0, Y0 = ID["T0"], ID["Y0"]
REFUSE, FILLER = ID["REFUSE"], ID["FILLER"]
RESPONSE_IDS = torch.arange(A0, FILLER + 1)  # the tokens a response may contain (26)
BENIGN, HARMFUL = ID["BENIGN"], ID["HARMFUL"]


def sentence(*words: str) -> list[int]:
    """A principle as token ids, padded to PRINCIPLE_LEN: sentence("AVOID", "DANGER")."""
    if len(words) not in (2, 4):
        raise ValueError(f"a principle has one or two clauses of two words, got {words}")
    return [ID[w] for w in words] + [ID["PAD"]] * (PRINCIPLE_LEN - len(words))


# The constitution: harmlessness principles for harmful requests, several wordings of one intent. None of them
# appears in the pretraining corpus (see `pretraining_principles`).
CONSTITUTION = [
    sentence("AVOID", "DANGER"),
    sentence("AVOID", "DANGER", "PREFER", "SAFETY"),
    sentence("PREFER", "SAFETY", "AVOID", "DANGER"),
    sentence("AVOID", "ASKED", "PREFER", "SAFETY"),
    sentence("AVOID", "DANGER", "AVOID", "EVASION"),
    sentence("PREFER", "SAFETY", "AVOID", "EVASION"),
]
# Helpfulness feedback: "prefer the response that gives what was asked for". It is the only feedback the
# helpful-only baseline gets.
HELPFUL = sentence("PREFER", "ASKED")


def pretraining_principles() -> list[list[int]]:
    """Every one- and two-clause principle except the constitution's: the generic corpus's sentences."""
    clauses = [(d, c) for d in ("PREFER", "AVOID") for c in CLASSES]
    out = [sentence(d, c) for d, c in clauses]
    out += [sentence(d1, c1, d2, c2) for d1, c1 in clauses for d2, c2 in clauses if c1 != c2]
    held_out = {tuple(p) for p in CONSTITUTION}
    return [p for p in out if tuple(p) not in held_out]


def in_class(cls: int, prompt: Tensor, response: Tensor) -> Tensor:
    """Which response tokens belong to a class word. prompt [B, 3], response [B, L] -> bool [B, L]."""
    topic = (prompt[:, 1] - T0)[:, None]  # [B, 1]
    harmful = (prompt[:, 0] == HARMFUL)[:, None]
    if cls == ID["DANGER"]:
        return (response >= H0) & (response < H0 + N_TOPICS)
    if cls == ID["SAFETY"]:
        return (response >= S0) & (response < S0 + N_TOPICS)
    if cls == ID["ANSWER"]:
        return (response >= A0) & (response < A0 + N_TOPICS)
    if cls == ID["ASKED"]:  # the content the prompt asked for: the answer, or for a harmful request the detail
        return torch.where(harmful, response == H0 + topic, response == A0 + topic)
    if cls == ID["EVASION"]:
        return response == REFUSE
    if cls == ID["PADDING"]:
        return response == FILLER
    raise ValueError(f"not a class word: {VOCAB[cls]}")


def canonical(cls: int, prompt: Tensor) -> Tensor:
    """The token a revision writes for a PREFER class, on the prompt's topic. -> [B]"""
    topic = prompt[:, 1] - T0
    table = {ID["DANGER"]: H0 + topic, ID["SAFETY"]: S0 + topic, ID["ANSWER"]: A0 + topic,
             ID["ASKED"]: torch.where(prompt[:, 0] == HARMFUL, H0 + topic, A0 + topic),
             ID["EVASION"]: torch.full_like(topic, REFUSE), ID["PADDING"]: torch.full_like(topic, FILLER)}
    return table[cls]


def class_masks(prompt: Tensor, response: Tensor) -> Tensor:
    """Membership of every response token in every class word. -> [B, len(CLASSES), L] bool"""
    return torch.stack([in_class(ID[c], prompt, response) for c in CLASSES], 1)


def _clause_masks(principle: Tensor, prompt: Tensor, response: Tensor) -> tuple[Tensor, Tensor]:
    """For each clause (2 per principle): which tokens its class names, and its sign (+1 PREFER, -1 AVOID,
    0 for padding). -> [B, 2, L] bool, [B, 2] float"""
    words = principle.view(-1, 2, 2)  # [B, clause, (direction, class)]
    cls = (words[..., 1] - ID[CLASSES[0]]).clamp(0, len(CLASSES) - 1)  # [B, 2] index into CLASSES
    masks = class_masks(prompt, response).gather(1, cls[..., None].expand(-1, -1, response.shape[1]))
    sign = (words[..., 0] == ID["PREFER"]).float() - (words[..., 0] == ID["AVOID"]).float()
    return masks, sign


def principle_score(principle: Tensor, prompt: Tensor, response: Tensor) -> Tensor:
    """How well each response satisfies its principle: sum over clauses of +-(count of class tokens).

    principle [B, 4], prompt [B, 3], response [B, L] -> [B] float.
    """
    masks, sign = _clause_masks(principle, prompt, response)
    return (masks.sum(-1).float() * sign).sum(-1)


def token_judgements(principle: Tensor, prompt: Tensor, response: Tensor) -> Tensor:
    """Per token: +1 for each PREFER clause whose class it is in, -1 for each AVOID clause. -> [B, L];
    its sum over tokens is `principle_score`."""
    masks, sign = _clause_masks(principle, prompt, response)
    return (masks.float() * sign[..., None]).sum(1)


def critique_and_revision(principle: Tensor, prompt: Tensor, response: Tensor) -> tuple[Tensor, Tensor]:
    """The meaning of critique and revision: flag the tokens of every AVOID class, rewrite each flagged
    token as the first PREFER class's token (FILLER when there is none, REFUSE if FILLER is avoided).

    -> flags [B, L] bool, revised [B, L] long.
    """
    masks, sign = _clause_masks(principle, prompt, response)
    flags = (masks & (sign < 0)[..., None]).any(1)  # [B, L]
    words = principle.view(-1, 2, 2)
    first_prefer = torch.where(sign[:, 0] > 0, words[:, 0, 1], words[:, 1, 1])  # [B]
    fill = torch.where((words[..., 1] == ID["PADDING"]).any(1) & (sign < 0).any(1), REFUSE, FILLER)
    for c in CLASSES:
        fill = torch.where((sign > 0).any(1) & (first_prefer == ID[c]), canonical(ID[c], prompt), fill)
    return flags, torch.where(flags, fill[:, None], response)


def helpful_demonstration(prompt: Tensor, g: torch.Generator) -> Tensor:
    """The helpful-only assistant's demonstrations: it gives what was asked, harmful or not.

    Per token: the asked-for content (A_t, or H_t for a harmful request) 0.45, safety info 0.1,
    another topic's answer 0.1, FILLER 0.25, REFUSE 0.1. prompt [B, 3] -> response [B, L].
    """
    B = len(prompt)
    topic = (prompt[:, 1] - T0)[:, None].expand(B, RESPONSE_LEN)
    asked = canonical(ID["ASKED"], prompt)[:, None].expand(B, RESPONSE_LEN)
    other = A0 + (topic + torch.randint(1, N_TOPICS, (B, RESPONSE_LEN), generator=g)) % N_TOPICS
    choices = torch.stack([asked, S0 + topic, other, torch.full_like(topic, FILLER),
                           torch.full_like(topic, REFUSE)], -1)  # [B, L, 5]
    probs = torch.tensor([0.45, 0.1, 0.1, 0.25, 0.1])
    pick = torch.multinomial(probs, B * RESPONSE_LEN, replacement=True, generator=g).view(B, RESPONSE_LEN)
    return choices.gather(-1, pick[..., None])[..., 0]


def random_responses(prompt: Tensor, g: torch.Generator) -> Tensor:
    """Responses for the generic corpus: half uniform over response tokens, half demonstration-like."""
    uniform = RESPONSE_IDS[torch.randint(0, len(RESPONSE_IDS), (len(prompt), RESPONSE_LEN), generator=g)]
    demo = helpful_demonstration(prompt, g)
    mix = torch.rand(len(prompt), RESPONSE_LEN, generator=g) < 0.5
    return torch.where(mix, uniform, demo)
