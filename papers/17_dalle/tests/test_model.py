"""Unit tests: shapes, the causal mask, the relaxation and KL term, gradients, the data's held-out split,
the reranker, the judge's separation, and bad input."""

import math

import pytest
import torch
from dalle.data import COMBINATIONS, HELD_OUT_IDS, TRAIN_COMBINATIONS, CaptionFolder, Data, render, shapes_dataset
from dalle.lightning import DalleModule, kl_weight_at, temperature
from dalle.model import DalleTransformer, DiscreteVAE, DVAEConfig, TransformerConfig, gumbel_softmax, kl_to_uniform
from dalle.rerank import ContrastiveModel, rerank

TINY = TransformerConfig(text_vocab=16, text_len=4, n_codes=8, grid=2, d_model=16, n_heads=2, n_layers=1)


def test_dvae_shapes_and_codes_roundtrip():
    v = DiscreteVAE(DVAEConfig(n_codes=8, d_hidden=8))
    x = torch.rand(3, 3, 16, 16)
    recon, logits = v(x, tau=1.0)
    assert recon.shape == x.shape and logits.shape == (3, 8, 4, 4)
    codes = v.codes(x)
    assert codes.shape == (3, 16) and codes.max() < 8
    assert v.decode_codes(codes).shape == x.shape


def test_dark_decoder_keeps_a_gradient_for_coloured_pixels():
    """Regression: with a sigmoid on the decoder, an output pushed to black (the shapes' background) left
    almost no gradient for a coloured pixel, and the default run's dVAE collapsed to all-black images."""
    v = DiscreteVAE(DVAEConfig(n_codes=8, d_hidden=8))
    last = v.decoder[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(-6.0)  # a decoder that draws black everywhere
    z = torch.nn.functional.one_hot(torch.zeros(1, 4, 4, dtype=torch.long), 8).permute(0, 3, 1, 2).float()
    ((v.decode(z) - 1.0) ** 2).mean((0, 2, 3)).sum().backward()  # target: a white image; per pixel
    assert last.bias.grad.abs().min() > 1.0, last.bias.grad
    images = v.decode_codes(torch.zeros(1, 16, dtype=torch.long))
    assert images.min() >= 0 and images.max() <= 1  # images drawn from codes stay in [0, 1]


def test_gumbel_softmax_is_a_distribution_and_hardens_as_tau_falls():
    logits = torch.randn(64, 8, 2, 2)
    soft = gumbel_softmax(logits, 1.0, torch.Generator().manual_seed(0))
    hard = gumbel_softmax(logits, 1 / 16, torch.Generator().manual_seed(0))
    torch.testing.assert_close(soft.sum(1), torch.ones(64, 2, 2))
    assert not soft.isnan().any()
    assert hard.max(1).values.mean() > soft.max(1).values.mean() + 0.2
    # Same noise: the hardened sample's winner is argmax(logits + g), whatever tau.
    assert torch.equal(hard.argmax(1), soft.argmax(1))


def test_gumbel_max_samples_follow_the_softmax():
    logits = torch.tensor([[1.0, 0.0, -1.0]]).expand(20000, 3).T[None]  # [1, 3, 20000]: one cell per draw
    picks = gumbel_softmax(logits, 1e-3, torch.Generator().manual_seed(1)).argmax(1).flatten()
    freq = torch.bincount(picks, minlength=3).float() / picks.numel()
    torch.testing.assert_close(freq, torch.softmax(torch.tensor([1.0, 0.0, -1.0]), 0), atol=0.015, rtol=0)


def test_kl_to_uniform_is_zero_for_uniform_and_log_k_for_one_hot():
    assert kl_to_uniform(torch.zeros(2, 8, 4, 4)).item() == pytest.approx(0.0, abs=1e-6)
    one_hot = torch.full((2, 8, 4, 4), -1e4)
    one_hot[:, 3] = 0
    assert kl_to_uniform(one_hot).item() == pytest.approx(16 * math.log(8), rel=1e-5)


def test_schedules_reach_the_paper_values():
    assert temperature(0, 1.0, 1 / 16, 100) == 1.0
    assert temperature(100, 1.0, 1 / 16, 100) == pytest.approx(1 / 16)
    assert temperature(50, 1.0, 1 / 16, 100) == pytest.approx(0.25)  # geometric: halfway in log space
    assert kl_weight_at(0, 6.6, 10) == 0.0 and kl_weight_at(20, 6.6, 10) == pytest.approx(6.6)


def test_transformer_logit_shapes_and_loss_weights():
    t = DalleTransformer(TINY)
    text, codes = torch.randint(0, 12, (5, 4)), torch.randint(0, 8, (5, 4))
    assert t(text, codes).shape == (5, 8, 24)
    loss, text_ce, image_ce = t.loss(text, codes, text_weight=1 / 8)
    torch.testing.assert_close(loss, text_ce / 8 + 7 * image_ce / 8)


def test_causal_mask_hides_later_tokens():
    torch.manual_seed(0)
    t = DalleTransformer(TINY).eval()
    text, codes = torch.randint(0, 12, (2, 4)), torch.randint(0, 8, (2, 4))
    changed = codes.clone()
    changed[:, 2:] = (changed[:, 2:] + 1) % 8
    a, b = t(text, codes), t(text, changed)
    torch.testing.assert_close(a[:, : 4 + 2], b[:, : 4 + 2])  # positions up to the first changed code
    assert not torch.allclose(a[:, 4 + 2:], b[:, 4 + 2:])


def test_image_tokens_see_the_caption():
    torch.manual_seed(0)
    t = DalleTransformer(TINY).eval()
    codes = torch.randint(0, 8, (1, 4))
    a = t(torch.tensor([[0, 2, 5, 8]]), codes)[:, 3:]
    b = t(torch.tensor([[1, 2, 5, 8]]), codes)[:, 3:]
    assert not torch.allclose(a, b)


def test_sample_draws_only_image_codes():
    t = DalleTransformer(TINY)
    codes = t.sample(torch.randint(0, 12, (6, 4)), generator=torch.Generator().manual_seed(0))
    assert codes.shape == (6, 4) and codes.min() >= 0 and codes.max() < 8


def test_gradient_reaches_every_parameter():
    m = DalleModule(n_codes=8, d_hidden=8, d_model=16, n_heads=2, n_layers=1, dvae_steps=1)
    x, text = torch.rand(4, 3, 16, 16), torch.randint(0, 12, (4, 4))
    recon, logits = m.dvae(x, 1.0)
    loss = ((recon - x) ** 2).sum() + kl_to_uniform(logits) + m.transformer.loss(text, m.dvae.codes(x))[0]
    loss = loss + m.reranker.loss(x, text)[0]
    loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_judge_is_not_part_of_the_trained_module():
    m = DalleModule(n_codes=8, d_hidden=8, d_model=16, n_heads=2, n_layers=1)
    assert m.judge is None
    assert not any(name.startswith("judge") for name, _ in m.named_parameters())


def test_reranker_picks_the_highest_score_and_learns_matching_pairs():
    assert rerank(torch.tensor([[0.1, 0.9, 0.3], [0.5, 0.2, 0.4]])).tolist() == [1, 0]
    torch.manual_seed(0)
    data = shapes_dataset(TRAIN_COMBINATIONS, 256, 0).tensors
    clip = ContrastiveModel(16, 4)
    opt = torch.optim.Adam(clip.parameters(), 3e-3)
    for i in range(60):
        idx = torch.arange(i * 32, i * 32 + 32) % 256
        loss, _ = clip.loss(data[0][idx], data[1][idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    matched = clip.score(data[0][:64], data[1][:64]).mean()
    shuffled = clip.score(data[0][:64], data[1][:64].roll(1, 0)).mean()
    assert matched > shuffled + 0.2


def test_small_square_and_small_circle_differ():
    # Regression: with shape centres between pixels both rendered as the same 4x4 block.
    for pos in range(4):
        assert not torch.equal(render((0, 0, 0, pos)), render((0, 0, 1, pos)))
        assert not torch.equal(render((0, 0, 1, pos)), render((0, 0, 2, pos)))


def test_held_out_combinations_never_reach_training():
    assert len(COMBINATIONS) == 72 and len(HELD_OUT_IDS) == 8 and len(TRAIN_COMBINATIONS) == 64
    train = shapes_dataset(TRAIN_COMBINATIONS, 2000, 0).tensors
    assert not any(tuple(a) in HELD_OUT_IDS for a in train[2].tolist())
    assert not train[3].any()
    test = shapes_dataset(COMBINATIONS, 144, 1, repeat=True).tensors
    assert int(test[3].sum()) == 16  # every held-out combination twice


def test_real_data_folder_is_read(tmp_path):
    from PIL import Image

    lines = []
    for i, (colour, cap) in enumerate([((255, 0, 0), "a red thing"), ((0, 0, 255), "a blue thing here now")]):
        Image.new("RGB", (32, 32), colour).save(tmp_path / f"{i}.png")
        lines.append(f"{i}.png\t{cap}")
    (tmp_path / "captions.txt").write_text("\n".join(lines) + "\n")
    ds = CaptionFolder(tmp_path, 16, text_len=4)
    assert ds.vocab == ["a", "blue", "here", "red", "thing"] and ds.text_vocab == 9
    image, tokens, attrs, held = ds[0]
    assert image.shape == (3, 16, 16) and image[0].min() == 1.0 and image[2].max() == 0.0
    assert tokens.tolist() == [0, 3, 4, 5 + 3]  # the padding token of position 3
    assert attrs.tolist() == [-1] * 4 and not held
    assert Data(data_dir=str(tmp_path), text_len=4).text_vocab == 9


def test_real_data_trains_end_to_end(tmp_path):
    from dalle.train import main
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    lines = []
    for i in range(8):
        Image.new("RGB", (16, 16), (30 * i, 0, 255 - 30 * i)).save(folder / f"{i}.png")
        lines.append(f"{i}.png\tcolour number {i}")
    (folder / "captions.txt").write_text("\n".join(lines))
    main(["fit", "--run.root", str(tmp_path / "runs"), "--run.name", "real", "--trainer.enable_progress_bar", "false",
          "--data.data_dir", str(folder), "--data.batch_size", "4", "--trainer.max_steps", "3",
          "--model.n_codes", "8", "--model.d_hidden", "8", "--model.d_model", "16", "--model.n_heads", "2",
          "--model.n_layers", "1", "--model.dvae_steps", "2", "--model.judge_steps", "1"])
    assert (tmp_path / "runs" / "17_dalle" / "real" / "results.json").is_file()


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="divisible by model.n_heads"):
        TransformerConfig(d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="image_size must be a multiple of 4"):
        DVAEConfig(image_size=10)
    with pytest.raises(ValueError, match=r"images must be \[batch, 3, 16, 16\]"):
        DiscreteVAE(DVAEConfig(n_codes=8, d_hidden=8)).encode(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="text token ids"):
        DalleTransformer(TINY)(torch.full((1, 4), 99), torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="model.tau_end"):
        DalleModule(tau_end=0)
    with pytest.raises(FileNotFoundError, match="captions.txt"):
        CaptionFolder("/", 16, 4)
