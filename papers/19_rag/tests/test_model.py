"""The paper's pieces one at a time: marginalisations (by hand, against transformers, k = 1), the retriever's
loss, the faiss index against exact torch search, the hot-swap, decoders, shapes, gradients, bad input."""

import math

import pytest
import torch
from rag.data import ANSWER_LEN, PASSAGE_LEN, QUESTION_LEN, VOCAB, Data, decode, knowledge_base
from rag.index import DocumentIndex
from rag.model import (
    Generator,
    ModelConfig,
    Retriever,
    exact_search,
    generator_input,
    greedy_rag_token,
    rag_sequence_log_prob,
    rag_token_log_prob,
    rag_token_log_probs,
    thorough_rag_sequence,
)

# --- the two marginalisations -------------------------------------------------------------------------------

# Two passages with p(z | x) = 0.75 and 0.25, a two-token answer: p(y_i | x, z, y_<i) per passage and token.
P_Z = torch.tensor([[0.75, 0.25]])
P_TOKENS = torch.tensor([[[0.9, 0.2], [0.1, 0.8]]])  # [batch, k, T]


def test_marginalisations_match_numbers_worked_by_hand():
    seq = rag_sequence_log_prob(P_Z.log(), P_TOKENS.log()).exp()
    tok = rag_token_log_prob(P_Z.log(), P_TOKENS.log()).exp()
    # RAG-Sequence: 0.75 * 0.9 * 0.2 + 0.25 * 0.1 * 0.8 = 0.135 + 0.02 = 0.155
    assert seq.item() == pytest.approx(0.155, abs=1e-6)
    # RAG-Token: (0.75 * 0.9 + 0.25 * 0.1) * (0.75 * 0.2 + 0.25 * 0.8) = 0.7 * 0.35 = 0.245
    assert tok.item() == pytest.approx(0.245, abs=1e-6)


def test_marginalisations_coincide_with_one_document():
    lp = torch.randn(3, 1, 4).log_softmax(-1)  # any per-token log-probs, k = 1 (p(z | x) = 1)
    zero = torch.zeros(3, 1)
    torch.testing.assert_close(rag_sequence_log_prob(zero, lp), rag_token_log_prob(zero, lp))
    torch.testing.assert_close(rag_token_log_prob(zero, lp), lp.sum((1, 2)))


def test_marginalisations_differ_with_two_documents():
    assert not torch.allclose(rag_sequence_log_prob(P_Z.log(), P_TOKENS.log()),
                              rag_token_log_prob(P_Z.log(), P_TOKENS.log()))


def test_rag_token_matches_transformers_marginalize():
    from transformers import RagTokenForGeneration

    torch.manual_seed(0)
    b, k, t, v = 2, 3, 4, 7
    seq_logits, doc_scores = torch.randn(b * k, t, v), torch.randn(b, k)
    # transformers takes raw scores and logits and normalises them itself; `self` is only read for n_docs.
    ref = RagTokenForGeneration.marginalize(None, seq_logits, doc_scores, n_docs=k)  # [batch, T, vocab]
    ours = rag_token_log_probs(doc_scores.log_softmax(-1), seq_logits.log_softmax(-1).view(b, k, t, v))
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    # The per-answer RAG-Token log-likelihood is that distribution read at the answer's tokens.
    y = torch.randint(v, (b, t))
    picked = ref.gather(-1, y.unsqueeze(-1)).squeeze(-1).sum(-1)
    token_lp = seq_logits.log_softmax(-1).view(b, k, t, v).gather(-1, y[:, None, :, None].expand(b, k, t, 1))
    torch.testing.assert_close(rag_token_log_prob(doc_scores.log_softmax(-1), token_lp.squeeze(-1)), picked)


# --- the retriever and the index -----------------------------------------------------------------------------


def test_dpr_loss_is_in_batch_cross_entropy():
    torch.manual_seed(0)
    r = Retriever(len(VOCAB), 8)
    q, d = torch.randint(4, len(VOCAB), (5, 6)), torch.randint(4, len(VOCAB), (5, 7))
    scores = r.query_encoder(q) @ r.doc_encoder(d).T
    expected = -(scores.diag() - scores.logsumexp(-1)).mean()
    torch.testing.assert_close(r.in_batch_loss(q, d), expected)
    assert r.in_batch_loss(q, d, hard_negatives=d.flip(0)) > r.in_batch_loss(q, d)  # more negatives, more loss


def test_encoders_start_identical_so_shared_tokens_score_high():
    kb = knowledge_base(20, 1, seed=0)

    def recall_at_4(r: Retriever) -> float:
        q, d = r.query_encoder(kb["questions"]), r.doc_encoder(kb["passages"])
        return (exact_search(q, d, 4)[1] == torch.arange(len(q)).unsqueeze(1)).any(1).float().mean().item()

    torch.manual_seed(0)
    tied = Retriever(len(VOCAB), 16)
    untied = Retriever(len(VOCAB), 16)
    untied.doc_encoder = type(untied.doc_encoder)(len(VOCAB), 16)  # a fresh, independent document encoder
    chance = 4 / len(kb["passages"])
    assert recall_at_4(tied) > 2 * chance and recall_at_4(tied) > 2 * recall_at_4(untied)


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_faiss_index_agrees_with_exact_torch_search(kind):
    torch.manual_seed(0)
    docs, queries = torch.randn(500, 16), torch.randn(20, 16)
    ref_scores, ref_ids = exact_search(queries, docs, 5)
    scores, ids = DocumentIndex(docs, kind, nlist=8, nprobe=8).search(queries, 5)  # nprobe = nlist: exhaustive
    if kind == "hnsw":  # approximate: nearly all of the true top 5 are found
        assert (ids.unsqueeze(-1) == ref_ids.unsqueeze(1)).any(-1).float().mean() > 0.9
    else:
        assert torch.equal(ids, ref_ids)
        torch.testing.assert_close(scores, ref_scores, atol=1e-4, rtol=1e-5)


def test_hot_swap_changes_retrieved_passage_without_training():
    torch.manual_seed(0)
    r = Retriever(len(VOCAB), 32)
    kb = knowledge_base(30, 10, seed=0)
    n = int(kb["n_train_facts"])
    with torch.no_grad():
        before = DocumentIndex(r.doc_encoder(kb["passages"])).search(r.query_encoder(kb["questions"][n:]), 1)[1]
        after = DocumentIndex(r.doc_encoder(kb["swapped_passages"])).search(r.query_encoder(kb["questions"][n:]), 1)[1]
    old = [decode(p) for p in kb["passages"][before[:, 0]]]
    new = [decode(p) for p in kb["swapped_passages"][after[:, 0]]]
    changed = [o != w for o, w in zip(old, new)]
    assert sum(changed) > 0  # the same questions now read other passages, and nothing was trained
    assert all(decode(kb["swapped_passages"][i]) != decode(kb["passages"][i]) for i in range(n, len(kb["passages"])))
    assert torch.equal(kb["swapped_passages"][:n], kb["passages"][:n])  # only held-out facts change


def test_index_rejects_bad_settings():
    with pytest.raises(ValueError, match="model.index"):
        DocumentIndex(torch.randn(10, 4), "lsh")
    with pytest.raises(ValueError, match="model.nprobe"):
        DocumentIndex(torch.randn(10, 4), "ivf", nlist=16)
    with pytest.raises(ValueError, match=r"k \(11\)"):
        DocumentIndex(torch.randn(10, 4)).search(torch.randn(1, 4), 11)


# --- the generator and the decoders -------------------------------------------------------------------------


def _generator():
    torch.manual_seed(0)
    return Generator(ModelConfig(len(VOCAB), d_model=16, n_heads=2, n_layers=1, d_ff=32,
                                 max_len=PASSAGE_LEN + 1 + QUESTION_LEN))


def test_shapes_and_gradient_reaches_every_parameter():
    gen, kb = _generator(), knowledge_base(4, 1, seed=0)
    src = generator_input(kb["passages"][:6].view(2, 3, -1), kb["questions"][:2])
    assert src.shape == (6, PASSAGE_LEN + 1 + QUESTION_LEN)
    logits = gen(src, kb["answers"][:6])
    assert logits.shape == (6, ANSWER_LEN, len(VOCAB))
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gen.parameters())
    r = Retriever(len(VOCAB), 8)
    r.in_batch_loss(kb["questions"][:4], kb["passages"][:4]).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in r.parameters())


def test_decoders_with_one_document_agree():
    gen, kb = _generator(), knowledge_base(4, 1, seed=0)
    src = generator_input(kb["passages"][:5].unsqueeze(1), kb["questions"][:5])  # k = 1
    zero = torch.zeros(5, 1)
    assert torch.equal(greedy_rag_token(gen, src, zero), thorough_rag_sequence(gen, src, zero))


def test_rag_token_decoder_ignores_a_passage_with_zero_weight():
    gen, kb = _generator(), knowledge_base(4, 1, seed=0)
    one = generator_input(kb["passages"][:3].unsqueeze(1), kb["questions"][:3])
    two = generator_input(torch.stack([kb["passages"][:3], kb["passages"][5:8]], 1), kb["questions"][:3])
    weights = torch.tensor([[0.0, -math.inf]] * 3)  # all the weight on the first passage
    assert torch.equal(greedy_rag_token(gen, two, weights), greedy_rag_token(gen, one, torch.zeros(3, 1)))


# --- the data and bad input ----------------------------------------------------------------------------------


def test_held_out_facts_never_appear_in_training_batches():
    dm = Data(n_train_entities=10, n_test_entities=5)
    dm.setup()
    n = int(dm.kb["n_train_facts"])
    train_q = {tuple(q.tolist()) for q in dm.train_set.tensors[0]}
    test_q = {tuple(q.tolist()) for q in dm.test_set.tensors[0]}
    assert not train_q & test_q and len(test_q) == 20 and (dm.train_set.tensors[2] < n).all()


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="model.d_model .* divisible by model.n_heads"):
        ModelConfig(len(VOCAB), d_model=10, n_heads=4)
    with pytest.raises(ValueError, match="model.d_retriever must be >= 1"):
        ModelConfig(len(VOCAB), d_retriever=0)
    with pytest.raises(ValueError, match=r"tokens must be \[n, len\]"):
        Retriever(len(VOCAB), 8).query_encoder(torch.zeros(2, 3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="data.n_train_entities"):
        knowledge_base(500, 100, seed=0)
    with pytest.raises(ValueError, match="data.batch_size must be >= 1"):
        Data(batch_size=0)
