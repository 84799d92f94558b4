"""The worked numbers in notes.md, recomputed from the code and found in the text."""

import math

import torch
from constitutional_ai.constitution import (
    CONSTITUTION,
    ID,
    critique_and_revision,
    pretraining_principles,
    principle_score,
    sentence,
)
from constitutional_ai.lightning import HARMLESS_GAIN, HELPFUL_COST
from constitutional_ai.model import kl_penalised_reward, preference_loss, reinforce_loss
from shared.testing import PaperText

TEXT = PaperText.of(__file__)
X = torch.tensor([[ID["HARMFUL"], ID["T2"], ID["Y1"]]])


def resp(*names):
    return torch.tensor([[ID[n] for n in names]])


def test_worked_example_scores_and_revision():
    _, revised = critique_and_revision(torch.tensor([sentence("AVOID", "DANGER", "PREFER", "SAFETY")]), X,
                                       resp("H2", "H2", "A5", "FILLER"))
    assert revised.tolist() == resp("S2", "S2", "A5", "FILLER").tolist()
    TEXT.in_notes("the revision is `S2 S2 A5 FILLER`")
    y = resp("H2", "S2", "REFUSE", "FILLER")
    s = principle_score(torch.tensor([sentence("AVOID", "DANGER", "PREFER", "SAFETY")]), X, y).item()
    TEXT.in_notes(f"+ 1 (one `SAFETY`) = **{s:.0f}**")
    s = principle_score(torch.tensor([sentence("AVOID", "DANGER", "AVOID", "EVASION")]), X, y).item()
    TEXT.in_notes(f"−1 − 1 = **−{-s:.0f}**")


def test_worked_example_losses():
    hard = preference_loss(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([1.0])).item()
    soft = preference_loss(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([0.5])).item()
    assert abs(hard - math.log(1 + math.exp(-1))) < 1e-6
    TEXT.in_notes(f"log(1 + e⁻¹) = **{hard:.4f}**")
    TEXT.in_notes(f"= **{soft:.4f}**")
    r = kl_penalised_reward(torch.tensor(2.0), torch.tensor(-1.0), torch.tensor(-1.5), 0.1).item()
    TEXT.in_notes(f"R = 2.0 − 0.1 × 0.5 = **{r:.2f}**")
    loss = reinforce_loss(torch.tensor([-1.0, -2.0]), torch.tensor([1.0, 3.0])).item()
    TEXT.in_notes(f"−mean([1, −2]) = **{loss:.1f}**")


def test_corpus_size_and_claim_thresholds():
    TEXT.in_notes(f"The corpus holds {len(pretraining_principles())} sentences")
    TEXT.in_notes(f"The constitution is {['one', 'two', 'three', 'four', 'five', 'six'][len(CONSTITUTION) - 1]}")
    TEXT.in_readme(f"by at least {HARMLESS_GAIN}")
    TEXT.in_readme(f"at most {HELPFUL_COST} of the baseline's answer rate")
