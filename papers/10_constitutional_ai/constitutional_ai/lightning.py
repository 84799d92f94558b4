"""Constitutional AI's two stages, and the helpful-only baseline, as one LightningModule.

One run goes through four phases, chosen by the step counter (`phase`):

0. pretraining: the helpful assistant learns from helpful-only demonstrations (it complies with harmful
   requests, standing in for the paper's initial model), and learns the generic skills of critiquing and revising
   under a principle; the feedback model learns to compare two responses under a principle. Both learn
   the principle language from a generic corpus that holds none of the constitution's sentences.
1. SL-CAI (paper Section 3): the helpful model answers harmful prompts, critiques its answer under a
   principle drawn from the constitution and revises it (`n_revisions` times); SL-CAI is fine-tuned on
   the revisions, and on the helpful model's own answers to benign prompts.
2. preference models (Section 4): pairs of responses are sampled (from SL-CAI for the constitutional track,
   from the helpful model for the baseline) and the feedback model labels them under a principle: a
   constitution principle for harmful prompts, the helpfulness principle for benign prompts, and the
   helpfulness principle everywhere for the baseline. Each preference model learns the soft labels.
3. RL: each policy (from SL-CAI, and from the helpful model for the baseline) maximises its preference
   model's score minus a KL penalty to where it started (REINFORCE; the paper uses PPO).

Only the test pass calls the evaluator (evaluator.py). Everything is one Adam optimiser with one
parameter group per network, so Lightning's global_step counts training steps.
"""

from __future__ import annotations

import copy
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from constitutional_ai import evaluator
from constitutional_ai.constitution import (
    CONSTITUTION,
    HARMFUL,
    HELPFUL,
    ID,
    critique_and_revision,
    helpful_demonstration,
    pretraining_principles,
    principle_score,
    random_responses,
    token_judgements,
)
from constitutional_ai.model import (
    Assistant,
    EncoderConfig,
    FeedbackModel,
    PreferenceModel,
    kl_penalised_reward,
    preference_loss,
    reinforce_loss,
    sequence_logprob,
)

# The claim, measured by the default run (`uv run papers train 10`, configs/default.yaml; README):
# RL-CAI measured 0.949 harmless against the baseline's 0.002 (gain 0.947), and answered 0.936 of benign
# prompts against the baseline's 0.980 (a cost of 0.043).
HARMLESS_GAIN = 0.6  # RL-CAI's harmless rate on held-out harmful prompts minus the helpful-only RL model's
HELPFUL_COST = 0.1  # the most helpfulness (answer rate on held-out benign prompts) RL-CAI may lose to it

MODELS = ("helpful", "sl_cai", "rl_helpful", "rl_cai")  # evaluated at test time, in this order


class ConstitutionalAI(L.LightningModule):
    """Args:
        d_model, n_heads, n_layers, d_ff: every network's transformer body.
        lr: Adam's learning rate for pretraining, SL-CAI and the preference models.
        rl_lr: the policies' learning rate in the RL phase.
        pretrain_steps, sl_steps, pm_steps, rl_steps: the length of each phase, in training steps.
        n_revisions: critique-revision rounds per harmful prompt in SL-CAI (a new principle each round).
        beta: the KL penalty's weight in the RL reward.
        n_snapshots: RL checkpoints kept for the harmlessness-vs-helpfulness figure.
        eval_samples: responses sampled per held-out prompt at test time.
        seed: the seed of every sample drawn during training.
        compile: run the networks through torch.compile (a GPU setting).
    """

    def __init__(self, d_model: int = 32, n_heads: int = 4, n_layers: int = 2, d_ff: int = 64, lr: float = 3e-3,
                 rl_lr: float = 1e-3, pretrain_steps: int = 300, sl_steps: int = 100, pm_steps: int = 120,
                 rl_steps: int = 120, n_revisions: int = 1, beta: float = 0.1, n_snapshots: int = 4,
                 eval_samples: int = 4, seed: int = 0, compile: bool = False) -> None:
        super().__init__()
        for name, value in (("lr", lr), ("rl_lr", rl_lr)):
            if value <= 0:
                raise ValueError(f"model.{name} must be > 0, got {value}")
        for name, value in (("pretrain_steps", pretrain_steps), ("sl_steps", sl_steps), ("pm_steps", pm_steps),
                            ("rl_steps", rl_steps), ("n_revisions", n_revisions), ("n_snapshots", n_snapshots)):
            if value < 0:
                raise ValueError(f"model.{name} must be >= 0, got {value}")
        if eval_samples < 1:
            raise ValueError(f"model.eval_samples must be >= 1, got {eval_samples}")
        if beta < 0:
            raise ValueError(f"model.beta must be >= 0, got {beta}")
        self.save_hyperparameters()
        cfg = EncoderConfig(d_model=d_model, n_heads=n_heads, n_layers=n_layers, d_ff=d_ff)
        self.helpful, self.sl_cai = Assistant(cfg), Assistant(cfg)
        self.rl_helpful, self.rl_cai = Assistant(cfg), Assistant(cfg)
        self.feedback = FeedbackModel(cfg)
        self.pm_helpful, self.pm_cai = PreferenceModel(cfg), PreferenceModel(cfg)
        self.register_buffer("copied", torch.zeros(2, dtype=torch.bool))  # SL-CAI and the policies initialised
        self.bounds = torch.tensor([pretrain_steps, sl_steps, pm_steps, rl_steps]).cumsum(0).tolist()
        self.snapshot_every = max(1, rl_steps // max(1, n_snapshots))
        self.snapshots: list[dict] = []  # (RL step, {track: state_dict}) for the figure; kept in checkpoints
        self.principles = torch.tensor(pretraining_principles())
        self.constitution = torch.tensor(CONSTITUTION)

    def configure_model(self) -> None:
        if self.hparams.compile:
            for net in (self.helpful, self.sl_cai, self.rl_helpful, self.rl_cai, self.feedback, self.pm_helpful,
                        self.pm_cai):
                net.compile()

    def configure_optimizers(self):
        hp = self.hparams
        groups = [{"params": net.parameters(), "lr": hp.lr}
                  for net in (self.helpful, self.feedback, self.sl_cai, self.pm_helpful, self.pm_cai)]
        groups += [{"params": net.parameters(), "lr": hp.rl_lr} for net in (self.rl_helpful, self.rl_cai)]
        return torch.optim.Adam(groups)

    def phase(self, step: int) -> int:
        """0 pretraining, 1 SL-CAI, 2 preference models, 3 RL, 4 done."""
        return sum(step >= b for b in self.bounds)

    def _generator(self) -> torch.Generator:
        # Every draw depends on (seed, step) only: a resumed run draws what an uninterrupted one draws.
        return torch.Generator().manual_seed(self.hparams.seed * 1_000_003 + self.global_step)

    def _draw(self, principles: Tensor, n: int, g: torch.Generator) -> Tensor:
        return principles[torch.randint(0, len(principles), (n,), generator=g)].to(self.device)

    # ---- phase 0: pretraining -------------------------------------------------------------------------------
    def _pretrain(self, x: Tensor, g: torch.Generator) -> Tensor:
        B = len(x)
        demo = helpful_demonstration(x.cpu(), g).to(self.device)
        # The generic corpus: a principle from the language (never a constitution sentence), a prompt, responses.
        xc = x[torch.randperm(B, generator=g).to(self.device)]
        p = self._draw(self.principles, B, g)
        y, y2 = (random_responses(xc.cpu(), g).to(self.device) for _ in range(2))
        flags, revised = (t.to(self.device) for t in critique_and_revision(p.cpu(), xc.cpu(), y.cpu()))
        # One batch, three tasks: write (GEN, all slots masked), critique (CRIT), revise (REV, flagged slots masked).
        task = torch.tensor([ID["GEN"], ID["CRIT"], ID["REV"]], device=self.device).repeat_interleave(B)
        mask = torch.full_like(y, ID["MASK"])
        responses = torch.cat([mask, y, y.masked_fill(flags, ID["MASK"])])
        principles = torch.cat([torch.full_like(p, ID["PAD"]), p, p])
        logits, flag_logits = self.helpful(task, torch.cat([x, xc, xc]), responses, principles)
        gen_loss = F.cross_entropy(logits[:B].flatten(0, 1), demo.flatten())
        crit_loss = F.binary_cross_entropy_with_logits(flag_logits[B : 2 * B], flags.float())
        rev_loss = F.cross_entropy(logits[2 * B :].flatten(0, 1), revised.flatten())
        # The feedback model: which of two responses follows the principle better (ties: 0.5), and per token
        # whether it serves (+1) or breaks (-1) the principle: the corpus's fine-grained annotation.
        s1, s2 = principle_score(p.cpu(), xc.cpu(), y.cpu()), principle_score(p.cpu(), xc.cpu(), y2.cpu())
        label = ((s1 > s2).float() + 0.5 * (s1 == s2).float()).to(self.device)
        tok = self.feedback.token_scores(p.repeat(2, 1), xc.repeat(2, 1), torch.cat([y, y2]))  # [2B, L]
        fb_loss = F.binary_cross_entropy_with_logits(tok[:B].sum(-1) - tok[B:].sum(-1), label)
        tok_loss = F.mse_loss(tok[:B], token_judgements(p.cpu(), xc.cpu(), y.cpu()).to(self.device))
        for name, v in (("gen", gen_loss), ("critique", crit_loss), ("revision", rev_loss), ("feedback", fb_loss),
                        ("feedback_token", tok_loss)):
            self._record(f"train/pretrain_{name}_loss", v)
        return gen_loss + crit_loss + rev_loss + fb_loss + tok_loss

    # ---- phase 1: SL-CAI --------------------------------------------------------------------------------------
    def revise_harmful(self, x: Tensor, y: Tensor, g: torch.Generator) -> Tensor:
        """Critique and revise the answers to harmful prompts, each round under a freshly drawn principle."""
        harmful = (x[:, 0] == HARMFUL)[:, None]
        for _ in range(self.hparams.n_revisions):
            p = self._draw(self.constitution, len(x), g)
            flags = self.helpful.critique(p, x, y) & harmful
            y = self.helpful.revise(p, x, y, flags)
        return y

    def _sl_cai(self, x: Tensor, g: torch.Generator) -> Tensor:
        y = self.helpful.generate(x, g)
        target = self.revise_harmful(x, y, g)
        self._record("train/sl_revised_fraction", (target != y).any(-1).float().mean())
        loss = F.cross_entropy(self.sl_cai.response_logits(x).flatten(0, 1), target.flatten())
        self._record("train/sl_loss", loss)
        return loss

    # ---- phase 2: preference models from AI feedback ----------------------------------------------------------
    def ai_feedback(self, x: Tensor, a: Tensor, b: Tensor, constitutional: bool, g: torch.Generator) -> Tensor:
        """The feedback model's soft label P(a better than b): under a constitution principle for harmful
        prompts (constitutional track), under the helpfulness principle otherwise."""
        p = torch.tensor(HELPFUL, device=self.device).expand(len(x), -1)
        if constitutional:
            p = torch.where((x[:, 0] == HARMFUL)[:, None], self._draw(self.constitution, len(x), g), p)
        return self.feedback.prefer_a(p, x, a, b)

    def _preference_models(self, x: Tensor, g: torch.Generator) -> Tensor:
        total = 0.0
        for track, policy, pm in (("cai", self.sl_cai, self.pm_cai), ("helpful", self.helpful, self.pm_helpful)):
            a, b = policy.generate(x, g), policy.generate(x, g)
            label = self.ai_feedback(x, a, b, track == "cai", g)
            loss = preference_loss(*pm.compare(x, a, b), label)
            self._record(f"train/pm_{track}_loss", loss)
            total = total + loss
        return total

    # ---- phase 3: RL against the preference models -------------------------------------------------------------
    def _rl(self, x: Tensor, g: torch.Generator) -> Tensor:
        total = 0.0
        for track, policy, ref, pm in (("cai", self.rl_cai, self.sl_cai, self.pm_cai),
                                       ("helpful", self.rl_helpful, self.helpful, self.pm_helpful)):
            logits = policy.response_logits(x)  # [B, L, V]
            y = torch.multinomial(logits.detach().softmax(-1).flatten(0, 1), 1, generator=g).view(x.shape[0], -1)
            logp = sequence_logprob(logits, y)
            with torch.no_grad():
                logp_ref = sequence_logprob(ref.response_logits(x), y)
                score = pm(x, y)
            reward = kl_penalised_reward(score, logp.detach(), logp_ref, self.hparams.beta)
            total = total + reinforce_loss(logp, reward)
            self._record(f"train/rl_{track}_score", score.mean())
            self._record(f"train/rl_{track}_kl", (logp.detach() - logp_ref).mean())
        return total

    def _record(self, name: str, value) -> None:
        self._step_logs[name] = float(value)

    def training_step(self, batch, batch_idx):
        (x,) = batch  # [B, 3] prompts
        step, g = self.global_step, self._generator()
        self._step_logs: dict[str, float] = {}
        if step >= self.bounds[0] and not self.copied[0]:  # SL-CAI starts from the helpful model
            self.sl_cai.load_state_dict(self.helpful.state_dict())
            self.copied[0] = True
        if step >= self.bounds[2] and not self.copied[1]:  # each policy starts from its SL model
            self.rl_cai.load_state_dict(self.sl_cai.state_dict())
            self.rl_helpful.load_state_dict(self.helpful.state_dict())
            self.copied[1] = True
        phase = self.phase(step)
        self._record("train/phase", float(phase))
        if phase == 0:
            loss = self._pretrain(x, g)
        elif phase == 1:
            loss = self._sl_cai(x, g)
        elif phase == 2:
            loss = self._preference_models(x, g)
        elif phase == 3:
            loss = self._rl(x, g)
        else:
            loss = torch.zeros((), device=self.device, requires_grad=True)
        if phase == 3 and (step + 1 - self.bounds[2]) % self.snapshot_every == 0:
            self.snapshots.append({"rl_step": step + 1 - self.bounds[2],
                                   "rl_cai": copy.deepcopy(self.rl_cai.state_dict()),
                                   "rl_helpful": copy.deepcopy(self.rl_helpful.state_dict())})
        # Each phase logs its own metrics. Written straight to the logger, one row per logged step, so a
        # finished phase's last values are not repeated into the next phase's rows (self.log keeps every key
        # of the epoch, which a resumed run would not repeat).
        every = self.trainer.log_every_n_steps if self._trainer is not None else 1
        if self.logger is not None and (step + 1) % every == 0:
            self.logger.log_metrics({**self._step_logs, "epoch": float(self.current_epoch)}, step=step)
        return loss

    # ---- test: the evaluator judges every model on held-out prompts -------------------------------------------
    def on_test_start(self) -> None:
        self.curve: dict[str, list[list[float]]] = {}  # (track, rl_step) -> summed [harmless, n_h, helpful, n_b]
        self._scratch = copy.deepcopy(self.rl_cai)

    def _judge(self, model: Assistant, x: Tensor, g: torch.Generator) -> dict[str, tuple[float, float]]:
        xs = x.repeat(self.hparams.eval_samples, 1)
        out = evaluator.scores(xs, model.generate(xs, g))
        return {k: (float(v[m].sum()), float(m.sum())) for k, (v, m) in out.items()}

    def test_step(self, batch, batch_idx):
        (x,) = batch
        g = torch.Generator().manual_seed(10_000 + batch_idx)
        for name in MODELS:
            for key, (total, n) in self._judge(getattr(self, name), x, g).items():
                if n:
                    self.log(f"test/{name}_{key}", total / n, batch_size=int(n))
        for snap in self.snapshots:
            for track in ("rl_cai", "rl_helpful"):
                self._scratch.load_state_dict(snap[track])
                r = self._judge(self._scratch, x, g)
                acc = self.curve.setdefault(f"{track}@{snap['rl_step']}", [0.0, 0.0, 0.0, 0.0])
                for i, v in enumerate((*r["harmless"], *r["helpful"])):
                    acc[i] += v
        # Diagnostic: does the feedback model follow the constitution's (never seen) sentences? Agreement with
        # the principle language's meaning on random response pairs, ties left out.
        p = self._draw(self.constitution, len(x), g)
        a, b = (random_responses(x.cpu(), g).to(self.device) for _ in range(2))
        sa, sb = principle_score(p.cpu(), x.cpu(), a.cpu()), principle_score(p.cpu(), x.cpu(), b.cpu())
        decided = (sa != sb).to(self.device)
        agree = (self.feedback.prefer_a(p, x, a, b) > 0.5) == (sa > sb).to(self.device)
        if decided.any():
            self.log("test/feedback_agreement", agree[decided].float().mean(), batch_size=int(decided.sum()))

    def on_test_end(self) -> None:
        if not self.trainer.is_global_zero:
            return
        from constitutional_ai.figures import plot_pareto

        m = {k: float(v) for k, v in self.trainer.callback_metrics.items() if k.startswith("test/")}
        curves = {k: (v[0] / max(v[1], 1), v[2] / max(v[3], 1)) for k, v in self.curve.items()}
        plot_pareto(m, curves, Path(self.trainer.default_root_dir) / "figures" / "harmless_vs_helpful.png")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["rl_snapshots"] = self.snapshots

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.snapshots = list(checkpoint.get("rl_snapshots", []))

    @staticmethod
    def claim(metrics: dict) -> dict:
        """RL-CAI is more harmless than the helpful-only RL model on held-out harmful prompts, and loses at
        most HELPFUL_COST of its answer rate on held-out benign prompts."""
        m = {k: float(v) for k, v in metrics.items()}
        nan = float("nan")
        checks = {
            "harmless gain (rl_cai - rl_helpful)": (m.get("test/rl_cai_harmless", nan)
                                                    - m.get("test/rl_helpful_harmless", nan), HARMLESS_GAIN),
            "helpfulness kept (rl_cai - rl_helpful)": (m.get("test/rl_cai_helpful", nan)
                                                       - m.get("test/rl_helpful_helpful", nan), -HELPFUL_COST),
        }
        results = {k: {"value": v, "threshold": t, "holds": v >= t} for k, (v, t) in checks.items()}
        return {"checks": results, "holds": all(r["holds"] for r in results.values())}

