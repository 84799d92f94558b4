"""The numbers of notes.md's worked example, recomputed from the code."""

from diffusion_models import diffusion
from diffusion_models.diffusion import Diffusion
from shared.testing import PaperText

TEXT = PaperText.of(__file__)


def test_pinned_alpha_bar_values():
    lin, cos = Diffusion(1000, "linear"), Diffusion(1000, "cosine")
    assert f"{lin.alpha_bar[499].item():.4f}" == "0.0786" and f"{cos.alpha_bar[499].item():.4f}" == "0.4938"
    assert f"{lin.alpha_bar[999].item():.4g}" == "4.036e-05" and f"{cos.alpha_bar[999].item():.4g}" == "2.429e-09"
    assert f"{cos.alpha_bar[0].item():.6f}" == "0.999959"
    TEXT.in_notes("linear 0.0786, cosine 0.4938", "linear 4.036e-05, cosine 2.429e-09", "cosine ᾱ_0 = 0.999959",
                  f"{lin.sqrt_alpha_bar[499].item():.4f} + {lin.sqrt_one_minus_alpha_bar[499].item():.4f}",
                  f"keeps {cos.sqrt_alpha_bar[499].item():.4f} of it")


def test_maths_to_code_table_quotes_real_code():
    TEXT.check_maths_to_code("6. From maths to code", [diffusion, diffusion.Diffusion], min_rows=6)
