"""Every worked number in notes.md, recomputed from the code and found in the text as written."""

import torch
import yaml
from rag.data import PASSAGE_LEN, QUESTION_LEN, VOCAB, Data, decode, knowledge_base
from rag.lightning import RAG
from rag.model import rag_sequence_log_prob, rag_token_log_prob
from shared.testing import PaperText, n_params

TEXT = PaperText.of(__file__)
CONFIG = yaml.safe_load((TEXT.folder / "configs" / "default.yaml").read_text())


def test_worked_example_marginals():
    p_z, p_tok = torch.tensor([[0.75, 0.25]]), torch.tensor([[[0.9, 0.2], [0.1, 0.8]]])
    seq = rag_sequence_log_prob(p_z.log(), p_tok.log()).exp().item()
    tok = rag_token_log_prob(p_z.log(), p_tok.log()).exp().item()
    TEXT.in_notes(f"= 0.135 + 0.02 = {seq:.3f}$", f"= 0.7 \\cdot 0.35 = {tok:.3f}$")
    TEXT.in_notes(f"RAG-Token's likelihood ({tok:.3f}) higher than RAG-Sequence's ({seq:.3f})")


def test_task_sizes():
    TEXT.in_notes(f"The vocabulary has {len(VOCAB)}\ntokens")
    TEXT.in_notes(f"A question x (token ids, length {QUESTION_LEN}) and a passage z (length {PASSAGE_LEN})")
    TEXT.in_notes(f"`passage <sep> question` (length {PASSAGE_LEN + 1 + QUESTION_LEN})")
    d = CONFIG["data"]
    kb = knowledge_base(d["n_train_entities"], d["n_test_entities"], seed=0)
    n_train = int(kb["n_train_facts"])
    TEXT.in_notes(f"{d['n_train_entities']} training people ({n_train} facts) and {d['n_test_entities']} "
                  f"held-out people ({len(kb['passages']) - n_train} facts)")
    TEXT.in_readme(f"{len(kb['passages']):,} passages)")
    i = n_train  # the first held-out fact is the notes' example
    TEXT.in_notes(f'"{decode(kb["passages"][i])}"', f'"{decode(kb["questions"][i])}"', f'"{decode(kb["answers"][i])}"',
                  f'"{decode(kb["swapped_passages"][i])}"')


def test_model_size_and_steps():
    m = RAG(**{k: v for k, v in CONFIG["model"].items()})
    TEXT.in_readme(f"({n_params(m.generator):,} parameters; the closed-book model is the same class)")
    assert n_params(m.generator) == n_params(m.closed_book)
    dm = Data(**CONFIG["data"])
    dm.setup()
    steps = CONFIG["trainer"]["max_epochs"] * len(dm.train_dataloader())
    TEXT.in_notes(f"--run.threads 1`: {steps} steps")
    TEXT.in_readme(f"({steps} steps)")
