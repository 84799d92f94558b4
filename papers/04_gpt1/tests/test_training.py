"""The recipe (schedules, L_3, the two stages) and the data (corpus split, the derived task,
the input transformations)."""

import lightning as L
import pytest
import torch
from gpt1.data import (
    PairDataset,
    ShakespearePairs,
    make_tokenizer,
    next_line_pairs,
    pad_pairs,
    plain_words,
    reversed_words_pairs,
    special_ids,
    speeches,
    transform_classification,
    transform_entailment,
    transform_multiple_choice,
    transform_similarity,
)
from gpt1.lightning import GPT1, VARIANTS, VOCAB_SIZE, fine_tuning_loss, finetune_lr, pretrain_lr
from gpt1.model import GPTClassifier, GPTConfig, lm_loss

TEXT = """ROMEO:
But soft, what light through yonder window breaks?
It is the east, and Juliet is the sun.

JULIET:
O Romeo, Romeo! wherefore art thou Romeo?
Deny thy father and refuse thy name;
Or, if thou wilt not, be but sworn my love,
And I'll no longer be a Capulet.
"""


@pytest.fixture(scope="module")
def dm():
    data = ShakespearePairs(n_train_pairs=200, n_val_pairs=50, n_test_pairs=50)
    data.setup()
    return data


def test_pretraining_schedule_warms_up_then_anneals_to_zero():
    lrs = [pretrain_lr(s, warmup_steps=10, total_steps=110) for s in range(110)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)  # linear warmup
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10]))
    assert lrs[60] == pytest.approx(0.5)  # halfway through the cosine
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert pretrain_lr(110, 10, 110) == pytest.approx(0.0)


def test_finetuning_schedule_warms_up_over_0_2_percent_then_decays_linearly():
    total = 2000  # 0.2% of 2000 steps = 4 warmup steps
    lrs = [finetune_lr(s, total) for s in range(total)]
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4 + (total - 4) // 2] == pytest.approx(0.5)
    assert finetune_lr(total, total) == 0.0
    assert finetune_lr(0, 100) == 1.0  # short runs still get one warmup step


def test_l3_is_l2_plus_lambda_l1():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=30, n_positions=16, d_model=16, n_heads=2, d_ff=32, n_layers=1, dropout=0.0)
    clf = GPTClassifier(cfg, 2, clf_dropout=0.0)
    ids = torch.randint(0, 29, (4, 12))
    pos, labels = torch.tensor([11, 11, 8, 5]), torch.tensor([0, 1, 1, 0])
    ids[2, 9:], ids[3, 6:] = 29, 29  # padding after the extract token
    l3, l2, l1, logits = fine_tuning_loss(clf, ids, pos, labels, 0.5, pad_id=29)
    torch.testing.assert_close(l2, torch.nn.functional.cross_entropy(logits, labels))
    torch.testing.assert_close(l1, lm_loss(clf.gpt, ids, ignore_id=29))
    torch.testing.assert_close(l3, l2 + 0.5 * l1)
    l3_no_aux, l2_again, _, _ = fine_tuning_loss(clf, ids, pos, labels, 0.0, pad_id=29)
    torch.testing.assert_close(l3_no_aux, l2_again)


def test_input_transformations_place_the_special_tokens():
    tok = make_tokenizer(TEXT)
    start, delim, extract, pad = special_ids(tok)
    assert [start, delim, extract, pad] == list(range(tok.vocab_size - 4, tok.vocab_size))
    assert transform_classification(tok, "O") == [start, tok.stoi["O"], extract]
    seq = transform_entailment(tok, "sun", "O")
    assert seq == [start, *tok.encode("sun").tolist(), delim, tok.stoi["O"], extract]
    ab, ba = transform_similarity(tok, "sun", "O")
    assert ab == seq and ba == transform_entailment(tok, "O", "sun")
    choices = transform_multiple_choice(tok, "sun", ["O", "east"])
    assert len(choices) == 2 and choices[1] == transform_entailment(tok, "sun", "east")


def test_speeches_drop_speaker_tags_and_keep_line_order():
    blocks = speeches(TEXT)
    assert [len(b) for b in blocks] == [2, 4]
    assert blocks[0][0].startswith("But soft") and blocks[1][-1] == "And I'll no longer be a Capulet."


def test_next_line_pairs_are_balanced_and_true_pairs_are_consecutive():
    text = "\n\n".join(f"KING:\nline {i} a\nline {i} b\nline {i} c" for i in range(200))
    pairs = next_line_pairs(text, 300, seed=0)
    assert sum(label for _, _, label in pairs) == pytest.approx(150, abs=25)
    lines = text.split("\n")
    for a, b, label in pairs:
        follows = lines[lines.index(a) + 1] == b
        assert follows == bool(label)
    with pytest.raises(ValueError, match="only 400 consecutive line pairs"):
        next_line_pairs(text, 401, seed=0)


def test_reversed_words_pairs_hold_the_next_line_spelt_forwards_or_backwards():
    text = "\n\n".join(f"KING:\nO day {i}, and night!\nBut this is wondrous strange now {i}" for i in range(300))
    pairs = reversed_words_pairs(text, 200, seed=0)
    assert sum(label for _, _, label in pairs) == pytest.approx(100, abs=20)
    for a, b, label in pairs:
        assert a.startswith("O day")
        real = " ".join(plain_words(text.split("\n")[text.split("\n").index(a) + 1]))
        assert b == (real if label else " ".join(w[::-1] for w in real.split()))
        assert label or b != real  # a negative is never identical to the real line
    with pytest.raises(ValueError, match="only 300 usable line pairs"):
        reversed_words_pairs(text, 301, seed=0)


def test_pairs_are_cut_at_the_join_and_padded_after_extract():
    tok = make_tokenizer(TEXT)
    start, delim, extract, pad = special_ids(tok)
    data = PairDataset([("But soft, what light", "It is the east", 1), ("O", "Deny", 0)], tok, max_line=5)
    ids0, label0 = data[0]
    assert tok.decode(ids0[1:6]) == "light" and tok.decode(ids0[7:12]) == "It is" and label0 == 1
    ids, pos, labels = pad_pairs([data[0], data[1]], pad)
    assert ids.shape == (2, 13) and pos.tolist() == [12, 7] and labels.tolist() == [1, 0]
    assert ids[0, 12] == extract and ids[1, 7] == extract and torch.all(ids[1, 8:] == pad)


def test_held_out_text_is_disjoint_and_vocabulary_is_fixed(dm):
    train, val, test = dm.split_text()
    assert train + val + test == dm.text
    assert len(val) / len(dm.text) == pytest.approx(0.05, abs=0.01)
    assert dm.vocab_size == VOCAB_SIZE == GPT1().hparams.vocab_size
    train_lines = {line for block in speeches(train) for line in block}
    test_lines = [tok for tok in dm.pair_sets["test"].items]
    assert len(test_lines) == 50
    # Test pairs come from the held-out plays: their first lines are almost never training lines
    # (short stock lines such as "My lord." recur across plays).
    firsts = [a for a, _, _ in next_line_pairs(test, 50, dm.hparams.seed + 2)]
    assert sum(a in train_lines for a in firsts) <= 10


class Snapshots(L.Callback):
    def __init__(self):
        self.states = []

    def on_train_start(self, trainer, module):
        self.states.append({k: v.detach().clone() for k, v in module.state_dict().items()})

    def on_train_epoch_end(self, trainer, module):
        self.states.append({k: v.detach().clone() for k, v in module.state_dict().items()})


def test_stage_one_trains_only_the_language_model_and_stage_two_only_the_classifiers(tmp_path):
    L.seed_everything(0, verbose=False)
    data = ShakespearePairs(block_size=32, n_train_pairs=64, n_val_pairs=8, n_test_pairs=8, max_line=10,
                            plays=["macbeth", "hamlet"])
    model = GPT1(n_positions=32, d_model=16, n_heads=2, d_ff=32, n_layers=1, pretrain_epochs=1, finetune_epochs=1)
    # The scratch classifier starts from exactly the weights the language model starts from.
    for a, b in zip(model.gpt.parameters(), model.classifiers["scratch"].gpt.parameters()):
        assert torch.equal(a, b)
    snaps = Snapshots()
    trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[snaps], default_root_dir=tmp_path,
                        limit_val_batches=1)
    trainer.fit(model, data)
    start, after_stage1, after_stage2 = snaps.states

    def changed(a, b):
        return {k.split(".")[0] if k.startswith("gpt.") else ".".join(k.split(".")[:2]) for k in a
                if not torch.equal(a[k], b[k])}

    assert changed(start, after_stage1) == {"gpt"}
    # Stage 2: the language model is frozen; the pre-trained classifiers received its weights,
    # and all three classifiers trained.
    assert changed(after_stage1, after_stage2) == {f"classifiers.{v}" for v in VARIANTS}
    for name in ("pretrained", "pretrained_no_aux"):
        lm_part = {k.removeprefix(f"classifiers.{name}.gpt."): v for k, v in after_stage2.items()
                   if k.startswith(f"classifiers.{name}.gpt.")}
        moved = max((lm_part[k.removeprefix("gpt.")] - v).abs().max().item()
                    for k, v in after_stage1.items() if k.startswith("gpt."))
        assert moved < 0.05  # started from the pre-trained weights, then took a few small steps
    assert len(model.history) == 1 and set(model.history[0]) == {"epoch", *VARIANTS}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pretrain_epochs": 0}, "model.pretrain_epochs must be >= 1"),
        ({"finetune_lr": 0.0}, "model.finetune_lr must be > 0"),
        ({"aux_weight": -0.5}, "model.aux_weight must be >= 0"),
        ({"d_model": 30, "n_heads": 4}, "divisible by n_heads"),
    ],
)
def test_impossible_model_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GPT1(**kwargs)


def test_impossible_data_settings_are_rejected():
    with pytest.raises(ValueError, match="data.n_train_pairs must be >= 1"):
        ShakespearePairs(n_train_pairs=0)
    with pytest.raises(ValueError, match="unknown play 'hamlet2'"):
        ShakespearePairs(plays=["hamlet2"])
