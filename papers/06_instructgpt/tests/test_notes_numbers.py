"""Every worked number in notes.md, recomputed from the code and found in the text."""

import math

import torch
from instructgpt.data import VOCAB
from instructgpt.lightning import Module
from instructgpt.model import GPTConfig, Policy
from instructgpt.rlhf import gae, kl_per_token, ppo_clip_loss, reward_model_loss, token_rewards
from shared.testing import PaperText, n_params

TEXT = PaperText.of(__file__)


def test_reward_model_example():
    loss, acc = reward_model_loss(torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([[3.0, 1.0, 2.0]]))
    terms = [math.log1p(math.exp(-m)) for m in (1, 2, -1)]
    TEXT.in_notes(f"$0.3133 + 0.1269 + 1.3133 = {sum(terms):.4f}$")
    assert [round(t, 4) for t in terms] == [0.3133, 0.1269, 1.3133]
    TEXT.in_notes(f"**loss {loss.item():.4f}**")
    assert abs(acc.item() - 2 / 3) < 1e-6
    TEXT.in_notes("accuracy 2/3")


def test_gae_example():
    adv, ret = gae(torch.tensor([[0.0, 0, 0, 1]]), torch.tensor([[0.5, 0.4, 0.6, 0.8]]), torch.ones(1, 4), 0.9, 0.5)
    a = [round(x, 6) for x in adv[0].tolist()]
    TEXT.in_notes(f"| 0 | $0 + 0.36 - 0.5 = -0.14$ | $-0.14 + 0.105525 = {a[0]:g}$ |")
    TEXT.in_notes(f"| 1 | $0 + 0.54 - 0.4 = 0.14$ | $0.14 + 0.0945 = {a[1]:g}$ |")
    TEXT.in_notes(f"| 2 | $0 + 0.72 - 0.6 = 0.12$ | $0.12 + 0.09 = {a[2]:g}$ |")
    r = [round(x, 6) for x in ret[0].tolist()]
    TEXT.in_notes(f"$({r[0]:g}, {r[1]:g}, {r[2]:g}, {r[3]:.1f})$")


def test_clipped_loss_table():
    for ratio, adv, loss in ((1.1, 2, "-2.2"), (1.5, 2, "-2.4"), (0.5, -1, "0.8"), (0.5, 1, "-0.5")):
        out = ppo_clip_loss(torch.tensor([[math.log(ratio)]]), torch.zeros(1, 1), torch.tensor([[float(adv)]]),
                            torch.ones(1, 1), 0.2)
        assert f"{out.item():.1f}" == loss
        TEXT.in_notes(f"| {ratio} | {adv} |")
        TEXT.in_notes(f"**{loss}**")


def test_kl_example():
    p, q = torch.tensor([0.5, 0.25, 0.25]), torch.tensor([0.25, 0.25, 0.5])
    est = kl_per_token(p.log(), q.log())
    TEXT.in_notes(f"$(\\ln 2, 0, -\\ln 2) = ({est[0]:.4f}, 0, {est[2]:.4f})$")
    TEXT.in_notes(f"**{(p * est).sum().item():.4f}**")
    r = token_rewards(torch.tensor([1.0]), p.log()[None], q.log()[None], torch.ones(1, 3), beta=0.1)[0]
    TEXT.in_notes(f"$({r[0]:.4f}, {abs(r[1]):.0f}, {r[2]:.4f})$")


def test_default_model_size():
    hp = Module().hparams
    policy = Policy(GPTConfig(len(VOCAB), hp.n_ctx, hp.d_model, hp.n_heads, hp.n_layers))
    TEXT.in_notes(f"d_model {hp.d_model} ({n_params(policy):,} parameters)")
    TEXT.in_notes(f"{hp.sft_steps} SFT steps, {hp.rm_steps} RM steps")
