"""Every worked number in notes.md, recomputed from the code and found in the text as written.

If the code changes a number, or the notes are edited, the matching test fails: update both together.
The notes' maths-to-code table and the article's code excerpts are checked against the source too.
"""

import math
from collections import Counter

import pytest
import torch
import yaml
from dalle import data, judge, lightning, model, rerank
from dalle.data import TEXT_LEN, TEXT_VOCAB, TRAIN_COMBINATIONS
from dalle.judge import AttributeClassifier
from dalle.lightning import kl_weight_at, temperature
from dalle.model import (
    DalleTransformer,
    DVAEConfig,
    TransformerConfig,
    gumbel_softmax,
    kl_to_uniform,
)
from dalle.rerank import ContrastiveModel
from shared.testing import PaperText, n_params

TEXT = PaperText.of(__file__)  # line breaks in the prose do not matter to in_notes
FOLDER = TEXT.folder
in_notes = TEXT.in_notes
DEFAULT = yaml.safe_load((FOLDER / "configs" / "default.yaml").read_text())


def _sci(x: float) -> str:
    """7.217e-07 -> '7.2 \\cdot 10^{-7}', the way the notes write a tiny number."""
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa} \\cdot 10^{{{int(exponent)}}}"


# --- 4.1: counting tokens ------------------------------------------------------------------------------------


def test_token_counts_of_the_default_model():
    m = DEFAULT["model"]
    dcfg = DVAEConfig(n_codes=m["n_codes"], d_hidden=m["d_hidden"])
    tcfg = TransformerConfig(text_vocab=TEXT_VOCAB, text_len=TEXT_LEN, n_codes=m["n_codes"], grid=dcfg.grid)
    n_image, values = dcfg.grid**2, 3 * dcfg.image_size**2
    bits = int(math.log2(m["n_codes"]))
    in_notes(f"a 16x16 image becomes a $4 \\times 4$ grid, that is {n_image}",
             f"each one of $K = {m['n_codes']}$ codes", f"$3 \\cdot 16 \\cdot 16 = {values}$ values",
             f"is {values // n_image} times shorter than the pixels", f"$\\log_2 {m['n_codes']} = {bits}$ bits",
             f"$16 \\cdot {bits} = {n_image * bits}$ bits")
    in_notes(f"$4 + 16 = {tcfg.seq_len}$ positions", f"$16 + 64 = {TEXT_VOCAB + m['n_codes']}$ token ids")
    # The paper's own count (Section 2): 256x256x3 values against 32x32 codes.
    in_notes(f"$256 \\cdot 256 \\cdot 3 = {256 * 256 * 3:,}$".replace(",", "{,}"),
             f"$196{{,}}608 / 1024 = {256 * 256 * 3 // 1024}$", f"$256 + 1024 = {256 + 1024}$")
    # The transformer's logits really have that many positions and ids.
    t = DalleTransformer(tcfg)
    logits = t(torch.zeros(1, TEXT_LEN, dtype=torch.long), torch.zeros(1, n_image, dtype=torch.long))
    assert logits.shape == (1, 20, 80)


# --- 4.2: one Gumbel-softmax draw ----------------------------------------------------------------------------

LOGITS = torch.tensor([[1.0, 0.0, -1.0]])  # [1 cell, K = 3]
U = torch.tensor([[0.5, 0.9, 0.1]])


@pytest.fixture
def fixed_uniforms(monkeypatch):
    """gumbel_softmax draws its uniforms with torch.rand: hand it the notes' u instead."""
    monkeypatch.setattr(torch, "rand", lambda shape, **kwargs: U.clone().view(shape))


def fmt(values) -> list[str]:
    return [f"{v:.4f}" for v in torch.as_tensor(values).flatten().tolist()]


def test_gumbel_example_inputs_and_noise():
    p = fmt(torch.softmax(LOGITS, -1))
    in_notes(f"$$\\mathrm{{softmax}}(\\ell) = [{p[0]}, \\; {p[1]}, \\; {p[2]}].$$")
    neg_log_u = fmt(-U.log())
    in_notes(f"Then $-\\ln u = [{', '.join(neg_log_u)}]$")
    g = -torch.log(-torch.log(U))
    gs, scores = fmt(g), fmt(LOGITS + g)
    in_notes(f"g = [{gs[0]}, \\; {gs[1]}, \\; {gs[2]}], \\qquad \\ell + g = [{scores[0]}, \\; {scores[1]}, \\; "
             f"{scores[2]}].")
    assert (LOGITS + g).argmax().item() == 1 and LOGITS.argmax().item() == 0  # the noise picks code 2
    in_notes(f"over many draws code 2 wins {100 * torch.softmax(LOGITS, -1)[0, 1].item():.2f}% of the time")
    gap = (LOGITS + g)[0, 1] - (LOGITS + g)[0, 0]
    in_notes(f"$2.2504 - 1.3665 = {gap.item():.4f}$", f"multiplies it by 16, to {16 * gap.item():.2f}")


@pytest.mark.parametrize("tau, label", [(1.0, "1"), (0.25, "1/4"), (1 / 16, "1/16")])
def test_gumbel_softmax_at_three_temperatures(fixed_uniforms, tau, label):
    w = gumbel_softmax(LOGITS, tau, dim=-1)[0]
    torch.testing.assert_close(w.sum(), torch.tensor(1.0))
    assert w.argmax().item() == 1  # same winner at every temperature
    if tau < 0.1:
        cells = [f"${_sci(w[0].item())}$", f"{w[1].item():.4f}", f"${_sci(w[2].item())}$"]
        in_notes(f"$e^{{-14.14}} \\approx {_sci(w[0].item())}$")
    else:
        cells = fmt(w)
    in_notes(f"| {label} | {' | '.join(cells)} |")


# --- 4.3: the temperature schedule ---------------------------------------------------------------------------


def test_temperature_schedule_table():
    m = DEFAULT["model"]
    steps = m["dvae_steps"]
    for s, frac in ((0, "0"), (192, "1/4"), (384, "1/2"), (576, "3/4"), (768, "1")):
        tau = temperature(s, m["tau_start"], m["tau_end"], steps)
        in_notes(f"| {s} | {frac} | {tau:.4f} |")
    last = temperature(steps - 1, m["tau_start"], m["tau_end"], steps)
    in_notes(f"The last stage-one step is {steps - 1}, where $\\tau = {last:.4f}$.")
    # Section 3.5: with no ramp, beta is 0 at step 0 and the full weight from step 1.
    assert kl_weight_at(0, m["kl_weight"], m["kl_warmup_steps"]) == 0.0
    assert kl_weight_at(1, m["kl_weight"], m["kl_warmup_steps"]) == pytest.approx(6.6)
    in_notes("gives 0 at step 0 and 6.6 from step 1 on")


# --- 4.4: a KL term ----------------------------------------------------------------------------------------------


def test_kl_example_by_hand():
    q = torch.tensor([0.7, 0.1, 0.1, 0.1])
    kl = kl_to_uniform(q.log().view(1, 4, 1, 1)).item()
    a, b = 0.7 * math.log(0.7), 3 * 0.1 * math.log(0.1)
    in_notes(f"= {a:.5f} - {-b:.5f} = {a + b:.5f},$$", f"$\\ln 4 = {math.log(4):.4f}$",
             f"$D_{{\\mathrm{{KL}}}}(q, u) = {kl:.4f}$ nats")
    assert kl == pytest.approx(a + b + math.log(4), abs=1e-6)


def test_kl_maximum_of_the_default_dvae():
    m = DEFAULT["model"]
    grid = DVAEConfig(n_codes=m["n_codes"], d_hidden=m["d_hidden"]).grid
    one_hot = torch.full((1, m["n_codes"], grid, grid), -1e4)
    one_hot[:, 0] = 0
    top = kl_to_uniform(one_hot).item()
    in_notes(f"$16 \\ln 64 = {top:.4f}$ nats", f"a loss of {m['kl_weight'] * top:.2f}",
             f"$200 \\cdot 768 \\cdot 0.01 = {200 * 768 * 0.01:.0f}$", f"$\\ln 64 = {math.log(64):.4f}$ nats")
    assert 1 / (2 * 0.05**2) == pytest.approx(200)  # the Gaussian's weight, as written in training_step
    assert "/ (2 * 0.05**2)" in TEXT.source("lightning")


# --- 4.5: the text-loss floor -----------------------------------------------------------------------------------------


def conditional_entropy(combos, given: int) -> float:
    """H(attribute `given` | attributes before it) under the uniform distribution over `combos`."""
    joint = Counter(c[: given + 1] for c in combos)
    prefix = Counter(c[:given] for c in combos)
    n = len(combos)
    return -sum(k / n * math.log(k / prefix[key[:given]]) for key, k in joint.items())


def test_text_loss_floor_from_the_training_combinations():
    h = [conditional_entropy(TRAIN_COMBINATIONS, i) for i in (1, 2, 3)]
    floor = sum(h) / 3
    in_notes(f"\\tfrac{{1}}{{3}}({h[0]:.4f} + {h[1]:.4f} + {h[2]:.4f}) = {floor:.4f} \\text{{ nats}}",
             f"near the floor of {floor:.4f}")
    in_notes(f"$(2 \\ln 3 + \\ln 4)/3 = {(2 * math.log(3) + math.log(4)) / 3:.4f}$",
             f"$\\ln 80 = {math.log(80):.4f}$", f"$\\ln 9 / 16 = {math.log(9) / 16:.4f}$")
    # The first word is never a target: 3 text targets and 16 image targets per caption.
    t = DalleTransformer(TransformerConfig(n_codes=8, grid=4, d_model=16, n_heads=2, n_layers=1))
    text, codes = torch.randint(0, 12, (2, TEXT_LEN)), torch.randint(0, 8, (2, 16))
    assert t(text, codes[:, :-1]).shape[1] == 19
    in_notes("19 predictions per caption")


# --- 4.6: an InfoNCE loss -------------------------------------------------------------------------------------------


def contrastive_loss_with(points: torch.Tensor, log_scale: float | None = None) -> tuple[float, list[float]]:
    """ContrastiveModel.loss with its encoders replaced by fixed unit vectors (images = captions)."""
    m = ContrastiveModel(TEXT_VOCAB, TEXT_LEN)
    m.embed_images = lambda images: points
    m.embed_text = lambda text: points
    if log_scale is not None:
        with torch.no_grad():
            m.log_scale.fill_(log_scale)
    text = torch.arange(3 * TEXT_LEN).view(3, TEXT_LEN) % TEXT_VOCAB  # three different captions
    loss, acc = m.loss(torch.zeros(3, 3, 16, 16), text)
    scale = m.log_scale.exp().item()
    rows = [-torch.log_softmax(scale * points @ points.T, 1)[i, i].item() for i in range(3)]
    assert acc.item() == 1.0
    return loss.item(), rows


def test_infonce_example_by_hand():
    points = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    loss, rows = contrastive_loss_with(points)
    scale = math.exp(ContrastiveModel(TEXT_VOCAB, TEXT_LEN).log_scale.item())
    in_notes(f"$e^a = {scale:.4f}$", f"$[{scale:.4f}, 0, {0.6 * scale:.4f}]$",
             f"$\\ln(1 + e^{{-{scale:.4f}}} + e^{{-{0.4 * scale:.4f}}}) = {rows[0]:.4f}$",
             f"Rows 2 and 3 give {rows[1]:.4f} and {rows[2]:.4f}", f"their mean, **{loss:.4f}**")
    assert loss == pytest.approx(sum(rows) / 3, abs=1e-6)  # symmetric: the columns repeat the rows
    flat, flat_rows = contrastive_loss_with(points, log_scale=0.0)
    first = math.exp(-flat_rows[0])
    in_notes(f"cost **{flat:.4f}**", f"the loss {flat:.4f} without the scale", f"row 1 ({first:.4f})")
    assert flat > 10 * loss


# --- 4.7: best of N --------------------------------------------------------------------------------------------

MEASURED = {"match": 0.5078125, "heldout": 0.4765625, "reranked": 0.7638888955116272,
            "reranked_heldout": 0.6875, "recon": 0.6319444179534912}  # results.json of the default run


def test_best_of_n_ceiling_and_run_numbers_agree_with_the_readme():
    n = DEFAULT["model"]["n_samples"]
    p = MEASURED["match"]
    in_notes(f"$1 - (1 - p)^{n} = {1 - (1 - p) ** n:.3f}$", f"Ours reaches {MEASURED['reranked']:.3f}")
    counts = {"match": 144 * n, "heldout": 16 * n, "reranked": 144, "reranked_heldout": 16, "recon": 144}
    for key, total in counts.items():
        hits = MEASURED[key] * total
        assert hits == pytest.approx(round(hits), abs=1e-3)
        in_notes(f"{MEASURED[key]:.3f} ({round(hits)} of {total})")
    for key in ("match", "heldout", "reranked"):
        TEXT.in_readme(f"{MEASURED[key]:.3f}")
    in_notes(f"adds {MEASURED['reranked'] - MEASURED['match']:.3f}",
             "about four fifths of it", f"{1 / 72:.3f}")
    assert round(MEASURED["match"] / MEASURED["recon"], 1) == 0.8


# --- 4.8 and 4.9: parameters and steps --------------------------------------------------------------------------------


def test_parameter_counts():
    module = lightning.DalleModule(**DEFAULT["model"])  # the default config's model, as the notes count it
    parts = {
        "dVAE (encoder and decoder)": n_params(module.dvae),
        "transformer": n_params(module.transformer),
        "contrastive reranker": n_params(module.reranker),
        "judge (built at test time)": n_params(AttributeClassifier(width=16)),
    }
    for name, count in parts.items():
        in_notes(f"| {name} | {count:,} |")
    total = n_params(module)
    in_notes(f"| **trained module (dVAE + transformer + reranker)** | **{total:,}** |")
    assert total == sum(list(parts.values())[:3])
    in_notes(f"about {12e9 / parts['transformer']:,.0f} times ours")
    block = n_params(module.transformer.blocks[0])
    in_notes(f"One transformer block has {block:,} parameters")
    assert block == 4 * 64 * 64 + 4 * 64 + 2 * 64 * 256 + 256 + 64 + 2 * 2 * 64
    judge_width = 16
    assert f"AttributeClassifier(width={judge_width})" in TEXT.source("judge")


def test_default_run_steps():
    d, m = DEFAULT["data"], DEFAULT["model"]
    per_epoch = d["n_train"] // d["batch_size"]
    total = per_epoch * DEFAULT["trainer"]["max_epochs"]
    in_notes(f"that is {per_epoch} steps per epoch and {total:,} steps",
             f"The first {m['dvae_steps']} ({m['dvae_steps'] // per_epoch} epochs)",
             f"the last {total - m['dvae_steps']} ({(total - m['dvae_steps']) // per_epoch} epochs)")


def test_data_counts():
    assert len(data.COMBINATIONS) == 72 and len(data.HELD_OUT) == 8
    in_notes("$2 \\cdot 3 \\cdot 3 \\cdot 4 = 72$", "**Eight combinations are held out**",
             f"all 72 combinations twice ({DEFAULT['data']['n_test']} images)")
    assert DEFAULT["data"]["n_test"] == 2 * 72


# --- the maths-to-code table and the article's code excerpts --------------------------------------------------------


def test_maths_to_code_table_names_real_functions_and_real_lines():
    TEXT.check_maths_to_code("6. From maths to code", (model, lightning, rerank, judge), min_rows=20)


def test_article_code_excerpts_match_the_code():
    TEXT.check_article_excerpts((model, lightning, rerank, data), min_blocks=3)
