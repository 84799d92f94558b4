"""Every worked number in notes.md, recomputed from the code and found in the text as written.

If the code changes a number, or the notes are edited, the matching test fails: update both together.
The article's code excerpts and the notes' maths-to-code table are checked against the source too.
"""

import inspect
import math
import re

import pytest
import torch
import yaml
from attention_is_all_you_need import data, lightning, model
from attention_is_all_you_need.data import VOCAB, NumberTranslationData, number_to_words
from attention_is_all_you_need.lightning import TransformerTranslator, label_smoothed_loss, noam_lr
from attention_is_all_you_need.model import (
    MultiHeadAttention,
    PositionwiseFeedForward,
    Transformer,
    scaled_dot_product_attention,
    sinusoidal_positions,
)
from shared.testing import PaperText, n_params

TEXT = PaperText.of(__file__)  # line breaks in the prose do not matter to in_notes
NOTES = TEXT.notes
FOLDER = TEXT.folder
in_notes = TEXT.in_notes


# --- 4.1 and 4.2: one query, three keys ----------------------------------------------------------------

Q = torch.tensor([[[[1.0, 2.0]]]])  # [batch, heads, t_q, d_k]
K = torch.tensor([[[[2.0, 1.0], [0.0, 1.0], [1.0, -1.0]]]])  # [batch, heads, t_k, d_k]
V = torch.tensor([[[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]])


def test_attention_example_inputs_are_the_ones_in_the_notes():
    in_notes("$$q = [1, 2], \\quad k_1 = [2, 1], \\; k_2 = [0, 1], \\; k_3 = [1, -1], "
             "\\quad v_1 = [1, 0], \\; v_2 = [0, 1], \\; v_3 = [1, 1]$$")


def test_attention_example_scores_exponentials_weights_and_output():
    out, weights = scaled_dot_product_attention(Q, K, V)
    scores = (Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))).flatten()
    s = [f"{x:.4f}" for x in scores.tolist()]
    in_notes(f"The scores are {s[0]}, {s[1]} and {s[2]}.")
    e = scores.exp()
    in_notes(*(f"$e^{{{a}}} = {b:.4f}$" for a, b in zip(s, e.tolist())), f"Their sum is {e.sum().item():.4f} ")
    in_notes(f"adding the three rounded numbers gives {sum(round(x, 4) for x in e.tolist()):.4f}")
    # The softmax weights are what the code computes, and they match exp / sum.
    torch.testing.assert_close(weights.flatten(), e / e.sum())
    w = [f"{x:.4f}" for x in weights.flatten().tolist()]
    total = f"{e.sum().item():.4f}"
    in_notes(*(f"a_{i + 1} = \\frac{{{e[i].item():.4f}}}{{{total}}} = {w[i]}" for i in range(3)))
    o = [f"{x:.4f}" for x in out.flatten().tolist()]
    in_notes(f"{w[0]} \\cdot [1, 0] + {w[1]} \\cdot [0, 1] + {w[2]} \\cdot [1, 1] = [{o[0]}, \\; {o[1]}]")


def test_attention_example_without_scaling_is_sharper():
    # Multiplying q by sqrt(d_k) cancels the code's division: the softmax of the raw dot products.
    _, weights = scaled_dot_product_attention(Q * math.sqrt(2.0), K, V)
    w = [f"{x:.4f}" for x in weights.flatten().tolist()]
    in_notes(f"gives weights {w[0]}, {w[1]} and {w[2]}")
    _, scaled = scaled_dot_product_attention(Q, K, V)
    assert weights.max() > scaled.max() and weights.min() < scaled.min()


# --- 4.3: positional encoding ----------------------------------------------------------------------------


def test_positional_encoding_values():
    pe = sinusoidal_positions(4, 4)
    row = lambda pos: ", \\; ".join(f"{x:.4f}" for x in pe[pos].tolist())  # noqa: E731
    in_notes(f"[\\sin 2, \\; \\cos 2, \\; \\sin 0.02, \\; \\cos 0.02] = [{row(2)}]", f"$PE_3 = [{row(3)}]$")
    assert pe[0].tolist() == [0.0, 1.0, 0.0, 1.0]
    in_notes("Position 0 is always $[0, 1, 0, 1]$.")


def test_positional_encoding_entry_of_the_default_model():
    d_model = TransformerTranslator().cfg.d_model
    pe = sinusoidal_positions(8, d_model)
    angle = math.atan2(pe[3, 2].item(), pe[3, 3].item())  # the angle the code used, read back from sin and cos
    in_notes(f"$d_{{model}} = {d_model}$", f"3 / 10000^{{2/{d_model}}} = {angle:.4f}$",
             f"$PE_{{3,2}} = \\sin({angle:.4f}) = {pe[3, 2].item():.4f}$")


# --- 4.4: the learning rate --------------------------------------------------------------------------------


@pytest.mark.parametrize("step, fmt", [(1, ".9f"), (100, ".7f"), (200, ".6f"), (400, ".5f"), (1600, ".6f"),
                                       (2504, ".6f")])
def test_noam_learning_rate_in_the_table(step, fmt):
    lr = noam_lr(step, d_model=64, warmup_steps=400)
    text = format(lr, fmt)
    assert float(text) == pytest.approx(lr, rel=1e-4)  # the printed digits are the whole value, not a truncation
    if step == 200:
        in_notes(f"at step {step} during the warmup")
        assert lr == pytest.approx(noam_lr(1600, 64, 400))
    else:
        in_notes(f"| {step} | ")
        assert re.search(rf"^\| {step} \|[^\n]*\| {re.escape(text)}( |$)", NOTES, flags=re.M), (step, text)


def test_noam_peak_and_paper_base_peak():
    peak = noam_lr(400, 64, 400)
    in_notes(f"$(64 \\cdot 400)^{{-0.5}} = {peak:.5f}$")
    base = noam_lr(4000, 512, 4000)
    in_notes(f"peaks at about {base:.4f}, nine times lower")
    assert round(peak / base) == 9


def test_default_run_step_count():
    cfg = yaml.safe_load((FOLDER / "configs" / "default.yaml").read_text())
    per_epoch = math.ceil(cfg["data"]["train_size"] / cfg["data"]["batch_size"])
    in_notes(f"that is {per_epoch} steps per epoch and {per_epoch * cfg['trainer']['max_epochs']:,} steps")


# --- 4.5: the label-smoothing floor ------------------------------------------------------------------------


def test_vocabulary_size():
    in_notes(f"so $V = {len(VOCAB)}$ tokens", f"With $V = {len(VOCAB)}$ and $\\epsilon = 0.1$")


def test_label_smoothing_floor_is_the_entropy_of_the_smoothed_target():
    vocab, eps, target = len(VOCAB), 0.1, 5
    ideal = torch.full((1, 1, vocab), eps / vocab)
    ideal[0, 0, target] += 1 - eps
    floor = label_smoothed_loss(ideal.log(), torch.tensor([[target]]), eps, pad_id=0).item()
    right, other = ideal[0, 0, target].item(), eps / vocab
    right_part, other_mass = right * -math.log(right), (vocab - 1) * other
    other_part = other_mass * -math.log(other)
    assert right_part + other_part == pytest.approx(floor, abs=1e-6)  # the code's loss is the entropy
    in_notes(f"$0.9 + 0.1/{vocab} = {right:.4f}$", f"$0.1/{vocab} = {other:.7f}$",
             f"$-\\log({right:.4f}) = {-math.log(right):.4f}$", f"weighted by ${right:.4f}$: ${right_part:.4f}$",
             f"$-\\log({other:.7f}) = {-math.log(other):.4f}$",
             f"${vocab - 1} \\cdot {other:.7f} = {other_mass:.4f}$: ${other_part:.4f}$",
             f"= {right_part:.4f} + {other_part:.4f} = {floor:.4f}$",
             f"has loss {floor:.4f}, not 0", f"floor of {floor:.4f}", f"entropy is {floor:.4f}")
    # Any other prediction scores worse: the floor is a minimum, not just a value.
    for shift in (0.05, -0.05):
        p = ideal.clone()
        p[0, 0, target] += shift
        p /= p.sum()
        assert label_smoothed_loss(p.log(), torch.tensor([[target]]), eps, pad_id=0).item() > floor


def test_uniform_prediction_loss_is_log_vocab():
    vocab = len(VOCAB)
    loss = label_smoothed_loss(torch.zeros(1, 1, vocab), torch.tensor([[5]]), 0.1, pad_id=0).item()
    assert loss == pytest.approx(math.log(vocab))
    in_notes(f"$\\log {vocab} = {loss:.4f}$")


# --- 4.6: beam scores with the length penalty --------------------------------------------------------------


def test_length_penalty_example():
    # The penalty is computed inline in beam_search; tie the notes' arithmetic to that exact line.
    line = "penalty = ((5.0 + lengths) / 6.0) ** alpha"
    assert line in inspect.getsource(Transformer.beam_search)
    alpha = TransformerTranslator().hparams.length_alpha
    lengths = torch.tensor([5.0, 4.0])
    penalty = ((5.0 + lengths) / 6.0) ** alpha
    in_notes(f"$\\alpha = {alpha}$:")
    for name, n, logp, lp in zip("AB", (5, 4), (-0.30, -0.29), penalty.tolist()):
        in_notes(f"$\\mathrm{{lp}}({name}) = ({5 + n}/6)^{{{alpha}}} = {lp:.4f}$, "
                 f"score ${logp:.2f} / {lp:.4f} = {logp / lp:.4f}$")
    assert -0.30 / penalty[0] > -0.29 / penalty[1] and -0.30 < -0.29  # the penalty flips the ranking


# --- 4.7: parameter counts -----------------------------------------------------------------------------------


def test_parameter_count_of_the_default_model():
    default = TransformerTranslator()
    cfg = default.cfg
    total = n_params(default)
    parts = {
        "one multi-head attention": n_params(MultiHeadAttention(cfg.d_model, cfg.n_heads)),
        "one feed-forward network": n_params(PositionwiseFeedForward(cfg.d_model, cfg.d_ff)),
        "one LayerNorm": n_params(torch.nn.LayerNorm(cfg.d_model)),
        "one encoder layer": n_params(default.model.encoder[0]),
        "one decoder layer": n_params(default.model.decoder[0]),
        "shared embedding": n_params(default.model.embed),
    }
    for name, count in parts.items():
        in_notes(f"| {name} | {count:,} |")
    in_notes(f"| **whole model** | **{total:,}** |", f"The model has {total:,} parameters")
    embed, enc, dec = parts["shared embedding"], parts["one encoder layer"], parts["one decoder layer"]
    assert total == embed + cfg.n_layers * (enc + dec)
    in_notes(f"${embed:,} + {cfg.n_layers} \\cdot {enc:,} + {cfg.n_layers} \\cdot {dec:,}$".replace(",", "{,}"))
    assert re.search(rf"^\| \$d_k\$ \|[^\n]*\| {cfg.d_k} \|$", NOTES, flags=re.M), "d_k row of the shapes table"


def test_parameter_count_at_the_papers_base_size():
    gpu = yaml.safe_load((FOLDER / "configs" / "gpu.yaml").read_text())["model"]
    base = TransformerTranslator(d_model=gpu["d_model"], n_heads=gpu["n_heads"], d_ff=gpu["d_ff"],
                                 n_layers=gpu["n_layers"])
    in_notes(f"has {n_params(base):,} parameters")
    in_notes(f"$4 \\cdot ({gpu['d_model']} \\cdot {gpu['d_model']} + {gpu['d_model']}) = "
             f"{n_params(MultiHeadAttention(gpu['d_model'], gpu['n_heads'])):,}$".replace(",", "{,}"))


# --- section 8: the data split ----------------------------------------------------------------------------------


def test_test_split_composition_and_distinct_training_numbers():
    dm = NumberTranslationData()
    dm.setup()
    per_length = [sum(len(str(n)) == d for n in dm.test_set.numbers) for d in range(1, 7)]
    in_notes(f"lengths: {per_length[0]} one-digit, {per_length[1]} two-digit, {per_length[2]} three-digit and "
             f"{per_length[3]} each of four, five and six digits")
    assert per_length[3] == per_length[4] == per_length[5]
    in_notes(f"they contain only {len(set(dm.train_set.numbers)):,} distinct numbers")


def test_example_sentences_are_real_outputs_of_the_data_code():
    in_notes(f'"{" ".join(number_to_words(342_007))}"  ->  "342007"')


# --- the maths-to-code table and the article's code excerpts ------------------------------------------------------


def test_maths_to_code_table_names_real_functions_and_real_lines():
    TEXT.check_maths_to_code("6. From maths to code", (model, lightning), min_rows=20)


def test_article_code_excerpts_match_the_code():
    TEXT.check_article_excerpts((model, lightning, data), min_blocks=3)
