"""The evaluation harness: graders, greedy decoding, option probabilities, bootstrap intervals, ECE."""

import numpy as np
import pytest
import torch
from gpt4_analysis.data import EOS, STOI, VOCAB, Item
from gpt4_analysis.harness import bootstrap_ci, expected_calibration_error, grade, greedy_answers, option_probabilities
from torch import nn


class Scripted(nn.Module):
    """A stand-in model that writes a fixed answer after any prompt, then <eos>: logits put all their
    mass on the next character of `answer` given how many tokens follow the prompt."""

    def __init__(self, answer: str, prompt_len: int):
        super().__init__()
        self.cfg = type("cfg", (), {"n_ctx": 18})()
        self.tokens = [STOI[ch] for ch in answer] + [EOS]
        self.start = prompt_len + 1  # <bos> + prompt

    def forward(self, x):
        logits = torch.zeros(x.shape[0], x.shape[1], len(VOCAB))
        k = min(x.shape[1] - self.start, len(self.tokens) - 1)
        logits[:, -1, self.tokens[k]] = 10.0
        return logits


def test_exact_match_needs_the_reference_and_the_rule_takes_any_even_digit_of_the_list():
    add = Item("add", "a 47+85=", "132")
    assert grade(add, "132") and not grade(add, "133") and not grade(add, "1320")
    even = Item("even", "e 38152=", "8")
    assert grade(even, "8") and grade(even, "2")  # both right; exact match would count only "8"
    assert not grade(even, "4") and not grade(even, "3") and not grade(even, "82")


def test_greedy_decoding_stops_at_eos():
    assert greedy_answers(Scripted("132", 8), ["a 47+85=", "a 01+02="]) == ["132", "132"]


def test_option_probabilities_sum_to_one_over_the_four_letters():
    torch.manual_seed(0)
    from gpt4_analysis.model import DecoderLM, ModelConfig
    model = DecoderLM(ModelConfig(len(VOCAB), 18, 8, 1, 2))
    probs = option_probabilities(model, ["m 4 8 1 6=", "m 0 0 9 9="])
    assert probs.shape == (2, 4)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2))


def test_ece_worked_example_by_hand():
    # Bin [0.6, 0.7): confidences 0.6, 0.6, one right -> |0.5 - 0.6| = 0.1, weight 2/4.
    # Bin [0.9, 1.0]: confidences 0.9, 1.0, both right -> |1.0 - 0.95| = 0.05, weight 2/4.
    ece, bins = expected_calibration_error([0.6, 0.6, 0.9, 1.0], [1, 0, 1, 1], n_bins=10)
    assert ece == pytest.approx(0.5 * 0.1 + 0.5 * 0.05)
    assert [(b["n"], b["accuracy"]) for b in bins] == [(2, 0.5), (2, 1.0)]


def test_a_perfectly_calibrated_set_has_zero_ece_and_an_overconfident_one_does_not():
    assert expected_calibration_error([0.75] * 4, [1, 1, 1, 0])[0] == pytest.approx(0.0)
    assert expected_calibration_error([0.95] * 4, [1, 0, 1, 0])[0] == pytest.approx(0.45)


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_items():
    rng = np.random.default_rng(0)
    small = (rng.random(50) < 0.6).astype(float)
    large = (rng.random(2000) < 0.6).astype(float)
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 4  # about sqrt(2000 / 50) = 6.3 times narrower
    assert bootstrap_ci(np.ones(10)) == (1.0, 1.0)


def test_bad_calibration_input_is_a_clear_error():
    with pytest.raises(ValueError, match="one shape"):
        expected_calibration_error([0.5, 0.6], [1])
