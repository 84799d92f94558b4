"""Greedy generation (the only decoding this paper's code does): each new token is the argmax of the
logits over the last n_positions tokens, also after the window has slid; bad settings are one-line errors."""

import pytest
import torch


def prompt_ids(cfg, batch=2, t=4, seed=5):
    return torch.randint(0, cfg.vocab_size, (batch, t), generator=torch.Generator().manual_seed(seed))


def test_each_new_token_is_the_argmax_over_the_sliding_window(tiny_gpt, tiny_cfg):
    prompt = prompt_ids(tiny_cfg)
    out = tiny_gpt.generate(prompt, 20)  # 4 + 20 tokens: past the 16 positions, so the window slides
    assert out.shape == (2, 24) and torch.equal(out[:, :4], prompt)
    for t in range(4, 24):
        window = out[:, max(0, t - tiny_cfg.n_positions) : t]
        expected = tiny_gpt.lm_logits(tiny_gpt(window))[:, -1].argmax(-1)
        assert torch.equal(out[:, t], expected), f"token {t}"


def test_rows_are_decoded_independently(tiny_gpt, tiny_cfg):
    prompt = prompt_ids(tiny_cfg, batch=3)
    together = tiny_gpt.generate(prompt, 8)
    alone = torch.cat([tiny_gpt.generate(prompt[i : i + 1], 8) for i in range(3)])
    assert torch.equal(together, alone)


def test_zero_new_tokens_returns_the_prompt(tiny_gpt, tiny_cfg):
    prompt = prompt_ids(tiny_cfg)
    assert torch.equal(tiny_gpt.generate(prompt, 0), prompt)


def test_a_negative_length_is_a_one_line_error(tiny_gpt, tiny_cfg):
    with pytest.raises(ValueError, match="max_new_tokens must be >= 0, got -1") as info:
        tiny_gpt.generate(prompt_ids(tiny_cfg), -1)
    assert "\n" not in str(info.value)
