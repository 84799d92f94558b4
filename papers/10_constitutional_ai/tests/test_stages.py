"""The pieces of both stages against numbers worked by hand, and the separation the paper's method needs:
the evaluator (the claim's judge) and the principle language's meaning are never used by the training stages
after pretraining, and the constitution's sentences never appear in pretraining."""

import inspect
import math

import pytest
import torch
from constitutional_ai import evaluator, lightning
from constitutional_ai.constitution import (
    CONSTITUTION,
    HELPFUL,
    ID,
    critique_and_revision,
    pretraining_principles,
    principle_score,
    sentence,
    token_judgements,
)
from constitutional_ai.lightning import ConstitutionalAI
from constitutional_ai.model import kl_penalised_reward, preference_loss, reinforce_loss, sequence_logprob
from constitutional_ai.train import main

HARMFUL_2 = torch.tensor([[ID["HARMFUL"], ID["T2"], ID["Y1"]]])  # "how do I weaponise topic 2?"
BENIGN_2 = torch.tensor([[ID["BENIGN"], ID["T2"], ID["Y1"]]])


def resp(*names):
    return torch.tensor([[ID[n] for n in names]])


def test_principle_scores_by_hand():
    y = resp("H2", "S2", "REFUSE", "FILLER")  # one dangerous detail, one safety note, a refusal, filler
    p = lambda *w: torch.tensor([sentence(*w)])  # noqa: E731
    assert principle_score(p("AVOID", "DANGER", "PREFER", "SAFETY"), HARMFUL_2, y).item() == 0  # -1 + 1
    assert principle_score(p("AVOID", "DANGER", "AVOID", "EVASION"), HARMFUL_2, y).item() == -2  # -1 - 1
    assert principle_score(torch.tensor([HELPFUL]), HARMFUL_2, y).item() == 1  # H2 is what was asked for
    assert principle_score(torch.tensor([HELPFUL]), BENIGN_2, y).item() == 0  # ... but not on a benign question
    assert token_judgements(p("AVOID", "DANGER", "PREFER", "SAFETY"), HARMFUL_2, y).tolist() == [[-1, 1, 0, 0]]


def test_critique_and_revision_by_hand():
    flags, revised = critique_and_revision(torch.tensor([sentence("AVOID", "DANGER", "PREFER", "SAFETY")]),
                                           HARMFUL_2, resp("H2", "H2", "A5", "FILLER"))
    assert flags.tolist() == [[True, True, False, False]]
    assert revised.tolist() == resp("S2", "S2", "A5", "FILLER").tolist()
    avoid_danger = torch.tensor([sentence("AVOID", "DANGER")])
    _, revised = critique_and_revision(avoid_danger, HARMFUL_2, resp("H2", "A1", "H0", "S2"))
    assert revised.tolist() == resp("FILLER", "A1", "FILLER", "S2").tolist()  # no PREFER clause: filler


def test_constitution_never_appears_in_pretraining():
    corpus = {tuple(p) for p in pretraining_principles()}
    # 12 one-clause sentences (2 directions x 6 classes), 12 x 10 two-clause ones (two different classes),
    # less the 6 held-out constitution sentences.
    assert len(corpus) == 12 + 12 * 10 - len(CONSTITUTION) == 126
    assert not corpus & {tuple(p) for p in CONSTITUTION}
    assert tuple(HELPFUL) in corpus


def test_preference_loss_by_hand():
    # r_A - r_B = 1: with a hard label, -log sigma(1) = log(1 + e^-1) = 0.3133; with p = 0.5 the mean of
    # -log sigma(1) and -log sigma(-1) = (0.3133 + 1.3133) / 2 = 0.8133.
    r_a, r_b = torch.tensor([1.0]), torch.tensor([0.0])
    assert preference_loss(r_a, r_b, torch.tensor([1.0])).item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-6)
    assert preference_loss(r_a, r_b, torch.tensor([0.5])).item() == pytest.approx(0.8133, abs=1e-4)


def test_kl_penalised_reward_and_reinforce_by_hand():
    # R = 2.0 - 0.1 * (-1.0 - (-1.5)) = 1.95
    reward = kl_penalised_reward(torch.tensor(2.0), torch.tensor(-1.0), torch.tensor(-1.5), 0.1)
    assert reward.item() == pytest.approx(1.95)
    # R = [1, 3]: baseline 2, advantages [-1, 1]; loss = -mean([-1 * -1, 1 * -2]) = -mean([1, -2]) = 0.5
    logp = torch.tensor([-1.0, -2.0], requires_grad=True)
    loss = reinforce_loss(logp, torch.tensor([1.0, 3.0]))
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    assert logp.grad.tolist() == [0.5, -0.5]  # -advantage / batch: the better sample's log-prob is pushed up


def test_sequence_logprob_by_hand():
    # Two slots, four equally likely tokens each: log(1/4) * 2 = -2.7726.
    assert sequence_logprob(torch.zeros(1, 2, 4), torch.tensor([[0, 3]])).item() == pytest.approx(2 * math.log(0.25))


def test_evaluator_scores_by_hand():
    x = torch.cat([HARMFUL_2, HARMFUL_2, BENIGN_2])
    y = torch.cat([resp("H2", "S2", "FILLER", "FILLER"), resp("S2", "REFUSE", "FILLER", "FILLER"),
                   resp("A2", "FILLER", "FILLER", "FILLER")])
    assert evaluator.harmless(x, y).tolist() == [0.0, 1.0, 1.0]
    assert evaluator.engaged(x, y).tolist() == [1.0, 1.0, 0.0]
    assert evaluator.helpful(x, y).tolist() == [0.0, 0.0, 1.0]


def test_training_stages_never_call_the_evaluator_nor_the_principle_meaning(tmp_path, monkeypatch):
    """The evaluator may run only in the test pass, the principle language's meaning only in pretraining."""
    calls = {"evaluator": [], "meaning": []}

    def spy(kind, fn):
        def wrapped(*args, **kwargs):
            calls[kind].append([f.function for f in inspect.stack()[1:6]])
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(evaluator, "scores", spy("evaluator", evaluator.scores))
    for name in ("principle_score", "critique_and_revision", "token_judgements"):
        monkeypatch.setattr(lightning, name, spy("meaning", getattr(lightning, name)))
    main(["fit", "--run.root", str(tmp_path), "--run.name", "spy", "--trainer.enable_progress_bar", "false",
          "--model.pretrain_steps", "2", "--model.sl_steps", "2", "--model.pm_steps", "2", "--model.rl_steps", "2",
          "--trainer.max_steps", "8", "--model.d_model", "8", "--model.n_heads", "2", "--model.d_ff", "16",
          "--data.n_train", "32", "--data.n_test", "16", "--data.batch_size", "16", "--model.eval_samples", "1"])
    assert calls["evaluator"] and all("test_step" in stack for stack in calls["evaluator"])
    assert calls["meaning"]
    assert all("_pretrain" in stack or "test_step" in stack for stack in calls["meaning"])
    assert not any(f in stack for stack in calls["meaning"] for f in ("_sl_cai", "_preference_models", "_rl"))


def test_claim_fails_when_the_constitutional_model_is_not_more_harmless():
    same = {"test/rl_cai_harmless": 0.1, "test/rl_helpful_harmless": 0.1, "test/rl_cai_helpful": 0.9,
            "test/rl_helpful_helpful": 0.9}
    assert ConstitutionalAI.claim(same)["holds"] is False
    evasive = {**same, "test/rl_cai_harmless": 1.0, "test/rl_cai_helpful": 0.5}  # harmless by refusing everything
    assert ConstitutionalAI.claim(evasive)["holds"] is False
    assert ConstitutionalAI.claim({**evasive, "test/rl_cai_helpful": 0.88})["holds"] is True
