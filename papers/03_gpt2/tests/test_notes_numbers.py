"""Every worked number in notes.md, recomputed from the code and found in the text as written.

If the code changes a number, or the notes are edited, the matching test fails: update both together.
The notes' maths-to-code table and the article's code excerpts are checked against the source too.
"""

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from gpt2 import convert, data, lightning, model
from gpt2.lightning import GPT2LanguageModel
from gpt2.model import GPT2, Block, GPT2Config, gelu, top_k_filter, top_p_filter
from shared.testing import PaperText

TEXT = PaperText.of(__file__)
FOLDER = TEXT.folder
in_notes = TEXT.in_notes
LOGITS = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, 3.0]])
VOCAB, N_CTX = 81, 64  # the default run: characters of the embedded plays, data.block_size


def fmt(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}f}"


def test_layer_norm_example():
    x = torch.tensor([1.0, 2.0, 3.0, 6.0])
    out = torch.nn.LayerNorm(4)(x).detach()
    var = x.var(unbiased=False).item()
    in_notes(f"$\\mu = {x.mean().item():g}$", f"$\\sigma^2 = (4 + 1 + 0 + 9)/4 = {var:g}$",
             f"$\\sqrt{{3.5 + 10^{{-5}}}} = {fmt(math.sqrt(var + 1e-5))}$",
             "$\\text{LN}(x) = [" + ", ".join(fmt(v) for v in out.tolist()) + "]$")


def test_gelu_example():
    tanh_form, exact = gelu(torch.tensor(1.0)).item(), F.gelu(torch.tensor(1.0)).item()
    in_notes(f"the tanh form gives ${tanh_form:.6f}$", f"the exact $x \\Phi(x)$ gives ${exact:.6f}$",
             f"$x = -1$ it gives ${gelu(torch.tensor(-1.0)).item():.6f}$",
             f"GELU(-1) is about {gelu(torch.tensor(-1.0)).item():.3f}")


def test_scaled_init_example():
    for n_layers in (4, 12):
        torch.manual_seed(0)
        cfg = GPT2Config(vocab_size=10, n_ctx=4, d_model=512, n_heads=4, n_layers=n_layers)
        std = 0.02 / math.sqrt(2 * n_layers)
        assert "residual_std = 0.02 / math.sqrt(2 * self.cfg.n_layers)" in inspect.getsource(GPT2.reset_parameters)
        assert GPT2(cfg).blocks[0].mlp.W_2.weight.std().item() == pytest.approx(std, rel=0.02)
        in_notes(f"0.02 / \\sqrt{{{2 * n_layers}}} = {std:.6f}")


def test_sampling_example():
    probs = LOGITS.softmax(-1)[0]
    in_notes("probabilities $[" + ", ".join(fmt(p) for p in probs.tolist()) + "]$")
    assert LOGITS.argmax().item() == 5
    kept = top_k_filter(LOGITS, 2).softmax(-1)[0]
    in_notes(f"they get ${fmt(kept[5].item())}$ and ${fmt(kept[0].item())}$")
    sorted_p = probs.sort(descending=True).values
    running = sorted_p.cumsum(0)
    in_notes("the probabilities are $" + ", ".join(fmt(p) for p in sorted_p[:3].tolist()) + ", \\dots$",
             "running sums $" + ", ".join(fmt(p) for p in running[:3].tolist()) + "$")
    assert torch.isfinite(top_p_filter(LOGITS, 0.9))[0].nonzero().flatten().tolist() == [0, 1, 5]
    assert torch.isfinite(top_p_filter(LOGITS, 0.8))[0].sum().item() == 2
    in_notes(f"two tokens (sum {fmt(running[1].item())})")
    in_notes(f"token 5 rises to probability ${fmt((LOGITS / 0.5).softmax(-1)[0, 5].item())}$",
             f"token 5 falls to ${fmt((LOGITS / 2).softmax(-1)[0, 5].item())}$")


def test_uniform_loss_and_bits():
    in_notes(f"$V = {VOCAB}$ characters that is $\\log {VOCAB} = {fmt(math.log(VOCAB))}$ nats")
    in_notes("**1.9887 nats per character** (2.87 bits)", "**2.2159** (3.20 bits)")
    assert f"{1.9887 / math.log(2):.2f}" == "2.87" and f"{2.2159 / math.log(2):.2f}" == "3.20"


def test_parameter_table_of_the_default_models():
    module = GPT2LanguageModel(vocab_size=VOCAB, n_ctx=N_CTX)  # the default run's sizes
    main, small = module.models["main"], module.models["small"]
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    block = main.blocks[0]
    rows = {"$W_{qkv}$ and $b_{qkv}$": block.attn.W_qkv, "$W_o$ and $b_o$": block.attn.W_o,
            "$W_1$ and $b_1$": block.mlp.W_1, "$W_2$ and $b_2$": block.mlp.W_2,
            "one block (with its two LayerNorms)": block, "token embedding $W_e$ (also the output layer)": main.wte,
            "position embedding $W_p$": main.wpe}
    for name, part in rows.items():
        in_notes(f"| {name} | {count(part):,} |")
    in_notes(f"| **larger model** | **{main.num_params():,}** |",
             f"| **smaller model** ($d_{{model}} = {small.cfg.d_model}$, $N = {small.cfg.n_layers}$) "
             f"| **{small.num_params():,}** |")
    ln_f = count(main.ln_f)
    assert main.num_params() == main.cfg.n_layers * count(block) + count(main.wte) + count(main.wpe) + ln_f
    in_notes(f"$4 \\cdot {count(block):,} + {count(main.wte):,} + {count(main.wpe):,} + {ln_f} = "
             f"{main.num_params():,}$".replace(",", "{,}"))
    in_notes("larger (811,904 params)", "smaller (109,376 params)")
    assert (main.num_params(), small.num_params()) == (811_904, 109_376)
    assert isinstance(block, Block)


def test_kv_cache_memory_of_gpt2_small():
    numbers = 2 * 12 * 1024 * 768
    in_notes(f"= {numbers:,}$".replace(",", "{,}"), f"{numbers * 2 / 1e6:.1f} MB in bf16")


def test_training_budget_of_the_default_run():
    import yaml

    cfg = yaml.safe_load((FOLDER / "configs" / "default.yaml").read_text())
    steps = cfg["trainer"]["max_epochs"] * cfg["data"]["train_batches_per_epoch"]
    chars = steps * cfg["data"]["batch_size"] * cfg["data"]["block_size"]
    train_chars = int(0.9 * 4_830_831)  # the embedded plays' length, split 90 / 5 / 5 in data.py
    in_notes(f"for {steps} steps of {cfg['data']['batch_size']} windows of {cfg['data']['block_size']} characters",
             f"that is {chars:,} characters, {round(100 * chars / train_chars)}% of the {train_chars:,}-character")


# --- the maths-to-code table and the article's code excerpts ------------------------------------------


def test_maths_to_code_table_names_real_functions_and_real_lines():
    TEXT.check_maths_to_code("5. From maths to code", (model, lightning, convert), min_rows=15)


def test_article_code_excerpts_match_the_code():
    TEXT.check_article_excerpts((model, lightning, data, convert), min_blocks=3)
