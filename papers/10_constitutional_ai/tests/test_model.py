"""Shapes, masks, bad input, and the gradient reaching every parameter of each network."""

import pytest
import torch
from constitutional_ai.constitution import CONSTITUTION, HELPFUL, RESPONSE_IDS, RESPONSE_LEN, V
from constitutional_ai.data import draw_prompts
from constitutional_ai.model import (
    Assistant,
    EncoderConfig,
    FeedbackModel,
    PreferenceModel,
    reinforce_loss,
    sequence_logprob,
)

CFG = EncoderConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32)


def test_shapes_of_every_head():
    torch.manual_seed(0)
    x = draw_prompts(5, False, 0)
    a = Assistant(CFG)
    y = a.generate(x)
    assert y.shape == (5, RESPONSE_LEN)
    logits, flags = a("CRIT", x, y, torch.tensor(CONSTITUTION[:1] * 5))
    assert logits.shape == (5, RESPONSE_LEN, V) and flags.shape == (5, RESPONSE_LEN)
    assert FeedbackModel(CFG)(torch.tensor([HELPFUL] * 5), x, y, y.flip(0)).shape == (5,)
    assert PreferenceModel(CFG)(x, y).shape == (5,)


def test_generated_responses_hold_only_response_tokens():
    torch.manual_seed(0)
    y = Assistant(CFG).generate(draw_prompts(200, False, 0))
    assert torch.isin(y, RESPONSE_IDS).all()


def test_feedback_model_has_no_order_bias_by_construction():
    # logit(A over B) = f(A) - f(B): swapping the two responses flips the sign exactly.
    torch.manual_seed(0)
    fb, x = FeedbackModel(CFG), draw_prompts(6, False, 1)
    p, a, b = torch.tensor([CONSTITUTION[1]] * 6), Assistant(CFG).generate(x), Assistant(CFG).generate(x)
    torch.testing.assert_close(fb(p, x, a, b), -fb(p, x, b, a))


def test_feedback_model_reads_the_principle():
    # The same pair under two principles gets two different judgements: the principle is an input.
    torch.manual_seed(0)
    fb, x = FeedbackModel(CFG), draw_prompts(6, False, 2)
    a, b = Assistant(CFG).generate(x), Assistant(CFG).generate(x)
    one, other = torch.tensor([CONSTITUTION[0]] * 6), torch.tensor([HELPFUL] * 6)
    assert not torch.allclose(fb(one, x, a, b), fb(other, x, a, b))


def test_policy_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    policy, x = Assistant(CFG), draw_prompts(8, False, 3)
    logits = policy.response_logits(x)
    y = torch.multinomial(logits.detach().softmax(-1).flatten(0, 1), 1).view(8, -1)
    reinforce_loss(sequence_logprob(logits, y), torch.arange(8.0)).backward()
    used = [n for n, p in policy.named_parameters() if not n.startswith("flag_head")]  # GEN does not use flags
    assert all(policy.get_parameter(n).grad is not None and policy.get_parameter(n).grad.abs().sum() > 0 for n in used)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="divisible by model.n_heads"):
        EncoderConfig(d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="model.d_model must be >= 1"):
        EncoderConfig(d_model=0)
    with pytest.raises(ValueError, match="tokens must be"):
        Assistant(CFG).body(torch.zeros(2, 40, dtype=torch.long))
