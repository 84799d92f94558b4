"""Every worked number in notes.md, recomputed from the code and found in the text as written.

If the code changes a number, or the notes are edited, the matching test fails: update both together.
The notes' maths-to-code table and the article's code excerpts are checked against the source too.
"""

import math

import gpt1
import torch
import torch.nn.functional as F
import yaml
from gpt1 import convert, data, lightning, model, train
from gpt1.data import make_tokenizer, special_ids, transform_entailment
from gpt1.lightning import GPT1, finetune_lr, pretrain_lr
from gpt1.model import GPT, Block, CausalSelfAttention, FeedForward, GPTConfig
from shared.data import load_shakespeare
from shared.testing import PaperText, n_params

TEXT = PaperText.of(__file__)
FOLDER = TEXT.folder
DEFAULT = yaml.safe_load((FOLDER / "configs" / "default.yaml").read_text())
GPU = yaml.safe_load((FOLDER / "configs" / "gpu.yaml").read_text())
in_notes = TEXT.in_notes


def test_vocabulary_and_uniform_loss():
    tok = make_tokenizer(load_shakespeare())
    in_notes(f"({tok.vocab_size} tokens: {tok.vocab_size - 4} characters and our 4 special tokens)",
             f"$\\log {tok.vocab_size} = {math.log(tok.vocab_size):.4f}$")


def test_input_transformation_example():
    tok = make_tokenizer(load_shakespeare())
    ids = transform_entailment(tok, "To be", "or not")
    start, delim, extract, _ = special_ids(tok)
    in_notes(str(ids), f"(`<start>` = {start}, `<delim>` = {delim}, `<extract>` = {extract}; "
             f"`T` = {tok.stoi['T']}, `o` = {tok.stoi['o']}, space = {tok.stoi[' ']})")
    in_notes(f"It has $m$ = {len(ids)} tokens; the classifier reads $h_N^m$ at index {len(ids) - 1}")


def test_causal_attention_example():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    k = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    out = F.scaled_dot_product_attention(q[None, None], k[None, None], v[None, None], is_causal=True)[0, 0]
    in_notes("$$q_1 = [1, 0], \\; q_2 = [0, 2], \\; q_3 = [1, 1], \\quad k_1 = [1, 0], \\; k_2 = [0, 1], \\; "
             "k_3 = [1, 1], \\quad v_1 = [1, 0], \\; v_2 = [0, 1], \\; v_3 = [1, 1]$$")
    scores = q @ k.T / math.sqrt(2)
    e2 = scores[1, :2].exp()
    w2 = e2 / e2.sum()
    in_notes(f"$e^{{0}} = {e2[0]:.0f}$ and $e^{{{scores[1, 1]:.4f}}} = {e2[1]:.4f}$",
             f"sum {e2.sum():.4f}, weights $1 / {e2.sum():.4f} = {w2[0]:.4f}$ and "
             f"${e2[1]:.4f} / {e2.sum():.4f} = {w2[1]:.4f}$",
             f"= [{out[1, 0]:.4f}, {out[1, 1]:.4f}]$")
    e3 = scores[2].exp()
    w3 = e3 / e3.sum()
    in_notes(f"Scores {scores[2, 0]:.4f}, {scores[2, 1]:.4f} and {scores[2, 2]:.4f}; exponentials {e3[0]:.4f}, "
             f"{e3[1]:.4f} and {e3[2]:.4f}, sum {e3.sum():.4f}; weights {w3[0]:.4f}, {w3[1]:.4f} and {w3[2]:.4f}. "
             f"Output $[{out[2, 0]:.4f}, {out[2, 1]:.4f}]$")
    assert out[0].tolist() == [1.0, 0.0]
    changed = v.clone()
    changed[2] = torch.tensor([5.0, -7.0])
    out2 = F.scaled_dot_product_attention(q[None, None], k[None, None], changed[None, None], is_causal=True)[0, 0]
    torch.testing.assert_close(out2[:2], out[:2])


def test_gelu_table():
    xs = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    ffn = FeedForward(GPTConfig(vocab_size=2, d_model=1, n_heads=1, d_ff=1))
    with torch.no_grad():  # W_1 = W_2 = 1, biases 0: the FFN is the activation itself
        for layer in (ffn.W_1, ffn.W_2):
            layer.weight.fill_(1.0)
            layer.bias.zero_()
    g = ffn(xs[:, None]).squeeze(1)
    cells = " | ".join("0" if abs(x) < 5e-5 else f"{x:.4f}" for x in g.tolist())
    in_notes(f"| GELU$(x)$ | {cells} |", f"GELU$(-1) = {g[1]:.4f}$")
    assert g.min() > -0.17 - 1e-3  # "its minimum is about -0.17"


def test_fine_tuning_loss_example():
    l2 = F.cross_entropy(torch.tensor([[math.log(0.8), math.log(0.2)]]), torch.tensor([0])).item()
    lam = DEFAULT["model"]["aux_weight"]
    in_notes(f"$L_2 = -\\log 0.8 = {l2:.4f}$", f"$L_3 = {l2:.4f} + {lam} \\cdot 1.5 = {l2 + lam * 1.5:.4f}$",
             f"With $\\lambda = 0$ the loss is just {l2:.4f}")


def test_default_schedules():
    m, d = DEFAULT["model"], DEFAULT["data"]
    steps = math.ceil(d["n_train_pairs"] / d["batch_size"])
    last = d["n_train_pairs"] - (steps - 1) * d["batch_size"]
    in_notes(f"One epoch is {steps} steps: {d['n_train_pairs']:,} training pairs in batches of {d['batch_size']}, "
             f"the last batch holding {last}.")
    pre, fine = m["pretrain_epochs"] * steps, m["finetune_epochs"] * steps
    chars = pre * d["lm_batch_size"] * d["block_size"]
    in_notes(f"{m['pretrain_epochs']} epochs = {pre} steps of {d['lm_batch_size']} windows of {d['block_size']} "
             f"characters, {chars:,} characters in all")
    lr, warm = m["lr"], m["warmup_steps"]
    half = warm + (pre - warm) // 2
    assert pretrain_lr(half, warm, pre) == 0.5 and pretrain_lr(warm - 1, warm, pre) == 1.0
    in_notes(f"at step 0 the rate is {lr:.0e} / {warm} = {lr * pretrain_lr(0, warm, pre):.0e}",
             f"at step {warm - 1} it reaches {lr:.0e}", f"halves it to {lr * 0.5:.1e} at step {half}")
    ft = m["finetune_lr"]
    in_notes(f"{m['finetune_epochs']} epochs = {fine} steps at peak rate {ft:.0e}",
             f"0.2% of {fine} steps is {0.002 * fine:.3f}, rounded up to 1 warmup step")
    assert finetune_lr(0, fine) == 1.0
    in_notes(f"{ft:.0e} × ({fine} - 100) / ({fine} - 1) = {ft * finetune_lr(100, fine):.3e}")


def test_parameter_counts():
    default = GPT1(**{k: v for k, v in DEFAULT["model"].items()})
    gpt = default.gpt
    d = default.cfg.d_model
    parts = [
        (f"token embedding $W_e$ ({default.cfg.vocab_size} x {d}), also the output layer", n_params(gpt.W_e)),
        (f"position embedding $W_p$ ({default.cfg.n_positions} x {d})", n_params(gpt.W_p)),
        (f"one masked multi-head attention, $4 \\cdot ({d} \\cdot {d} + {d})$",
         n_params(CausalSelfAttention(default.cfg))),
        (f"one feed-forward network, ${d} \\cdot {default.cfg.d_ff} + {default.cfg.d_ff} + {default.cfg.d_ff} "
         f"\\cdot {d} + {d}$", n_params(FeedForward(default.cfg))),
        (f"one block (attention, FFN, two LayerNorms of {2 * d})", n_params(Block(default.cfg))),
    ]
    for name, count in parts:
        in_notes(f"| {name} | {count:,} |")
    total, block = n_params(gpt), n_params(Block(default.cfg))
    assert total == n_params(gpt.W_e) + n_params(gpt.W_p) + default.cfg.n_layers * block
    in_notes(f"| **language model** ($N$ = {default.cfg.n_layers} blocks) | **{total:,}** |",
             f"| classifier head $W_y$ and its bias | {n_params(default.classifiers['pretrained'].head):,} |")
    in_notes(f"${n_params(gpt.W_e):,} + {n_params(gpt.W_p):,} + {default.cfg.n_layers} \\cdot {block:,} = "
             f"{total:,}$".replace(",", "{,}"))
    clf = n_params(default.classifiers["pretrained"])
    in_notes(f"three classifiers of {clf:,} each, {n_params(default):,} in all")


def test_parameter_count_at_the_papers_size():
    g = GPU["model"]
    cfg = GPTConfig(vocab_size=40478, n_positions=g["n_positions"], d_model=g["d_model"], n_heads=g["n_heads"],
                    d_ff=g["d_ff"], n_layers=g["n_layers"])
    with torch.device("meta"):
        paper = GPT(cfg)
    in_notes(f"the same code counts {n_params(paper):,}, the paper's \"117M\"; its tied embedding alone is "
             f"{n_params(paper.W_e):,} of them")
    assert convert.config_from_hf.__doc__  # the converter documents the mapping these sizes come from
    in_notes("$40{,}478 \\cdot 768 = " + f"{40478 * 768:,}".replace(",", "{,}") + "$")
    in_notes("$512 \\cdot 768 = " + f"{512 * 768:,}".replace(",", "{,}") + "$")


# --- the maths-to-code table and the article's code excerpts ------------------------------------------------


def test_maths_to_code_table_names_real_functions_and_real_lines():
    TEXT.check_maths_to_code("7. From maths to code", (model, lightning, data), min_rows=20)


def test_article_code_excerpts_match_the_code():
    # every file of the package, as before: gpt1/__init__.py, convert, data, lightning, model, train
    TEXT.check_article_excerpts((gpt1, convert, data, lightning, model, train), min_blocks=3)
