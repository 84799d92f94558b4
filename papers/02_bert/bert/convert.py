"""Load Hugging Face `transformers` BERT weights into this package's modules.

With internet access, the released BERT-base weights load like this (tests never download):

    from transformers import BertForPreTraining as HFBert
    from bert.convert import from_hf
    ours = from_hf(HFBert.from_pretrained("bert-base-uncased"))   # -> bert.model.BertForPreTraining
    # or BertModel.from_pretrained("bert-base-uncased") for the encoder and pooler alone -> bert.model.BertModel

Their vocabulary is a 30,522-entry WordPiece vocabulary: feed ids from the matching Hugging Face
tokenizer, not from this package's small word tokenizer (`bert.data.WordTokenizer`).

`transformers` is not a dependency of this package: `from_hf` only reads `.config` and
`.state_dict()` from the object it is given.
"""

from __future__ import annotations

from torch import Tensor

from bert.model import BertConfig, BertForPreTraining, BertModel

# Our name -> Hugging Face name, for one encoder layer (prefix "encoder.layer.{i}.").
LAYER_KEYS = {
    "attn.W_q": "attention.self.query",
    "attn.W_k": "attention.self.key",
    "attn.W_v": "attention.self.value",
    "attn.W_o": "attention.output.dense",
    "norm1": "attention.output.LayerNorm",
    "ffn.W_1": "intermediate.dense",
    "ffn.W_2": "output.dense",
    "norm2": "output.LayerNorm",
}
EMBEDDING_KEYS = {
    "embeddings.token": "embeddings.word_embeddings",
    "embeddings.segment": "embeddings.token_type_embeddings",
    "embeddings.position": "embeddings.position_embeddings",
    "embeddings.norm": "embeddings.LayerNorm",
    "W_pool": "pooler.dense",
}
HEAD_KEYS = {
    "mlm.transform": "cls.predictions.transform.dense",
    "mlm.norm": "cls.predictions.transform.LayerNorm",
    "W_nsp": "cls.seq_relationship",
}


def config_from_hf(hf_config) -> BertConfig:
    """A transformers `BertConfig` -> ours. Only the exact-GELU, absolute-position BERT is supported."""
    if getattr(hf_config, "hidden_act", "gelu") != "gelu":
        raise ValueError(f"hidden_act {hf_config.hidden_act!r} is not supported; BERT uses 'gelu' (exact erf GELU)")
    position = getattr(hf_config, "position_embedding_type", "absolute")
    if position != "absolute":
        raise ValueError(f"position_embedding_type {position!r} is not supported; BERT uses 'absolute'")
    return BertConfig(
        vocab_size=hf_config.vocab_size, d_model=hf_config.hidden_size, n_heads=hf_config.num_attention_heads,
        d_ff=hf_config.intermediate_size, n_layers=hf_config.num_hidden_layers,
        max_len=hf_config.max_position_embeddings, n_segments=hf_config.type_vocab_size,
        dropout=hf_config.hidden_dropout_prob, attention_dropout=hf_config.attention_probs_dropout_prob,
        layer_norm_eps=hf_config.layer_norm_eps, init_std=hf_config.initializer_range,
    )


def _key_map(n_layers: int, heads: bool) -> dict[str, str]:
    """Every parameter of ours (without the "bert." prefix for the encoder) -> its Hugging Face name."""
    pairs = dict(EMBEDDING_KEYS)
    for i in range(n_layers):
        pairs.update({f"layers.{i}.{ours}": f"encoder.layer.{i}.{theirs}" for ours, theirs in LAYER_KEYS.items()})
    if heads:
        pairs = {f"bert.{ours}": f"bert.{theirs}" for ours, theirs in pairs.items()}
        pairs.update(HEAD_KEYS)
    out = {}
    for ours, theirs in pairs.items():
        out[f"{ours}.weight"] = f"{theirs}.weight"
        if not ours.endswith(("embeddings.token", "embeddings.segment", "embeddings.position")):
            out[f"{ours}.bias"] = f"{theirs}.bias"
    if heads:
        out["mlm.bias"] = "cls.predictions.bias"
    return out


def from_hf(hf_model) -> BertModel | BertForPreTraining:
    """A transformers `BertModel` -> our `BertModel`; a `BertForPreTraining` -> our `BertForPreTraining`.

    Copies every tensor by name (no transposes are needed: both store nn.Linear weights as
    [out, in]) and fails loudly if a tensor is missing or has the wrong shape.
    """
    state: dict[str, Tensor] = hf_model.state_dict()
    heads = any(k.startswith("cls.") for k in state)
    if heads:
        prefixed = [k for k in state if k.startswith("bert.")]
        if not prefixed:
            raise ValueError("a pre-training checkpoint must hold the encoder under 'bert.'")
    elif "pooler.dense.weight" not in state:
        raise ValueError("from_hf needs a transformers BertModel with its pooler (add_pooling_layer=True) "
                         "or a BertForPreTraining")
    cfg = config_from_hf(hf_model.config)
    ours = BertForPreTraining(cfg) if heads else BertModel(cfg)
    mapping = _key_map(cfg.n_layers, heads)
    target = ours.state_dict()
    new_state = {}
    for our_key, tensor in target.items():
        if our_key == "mlm.token_embedding.weight":
            continue  # the tied decoder: the same tensor as the token embedding
        their_key = mapping.get(our_key)
        if their_key not in state:
            raise ValueError(f"Hugging Face state dict lacks {their_key!r} (for our {our_key!r})")
        if state[their_key].shape != tensor.shape:
            raise ValueError(f"{their_key}: shape {list(state[their_key].shape)} != ours {list(tensor.shape)}")
        new_state[our_key] = state[their_key].detach().float()
    if heads:
        new_state["mlm.token_embedding.weight"] = new_state["bert.embeddings.token.weight"]
    ours.load_state_dict(new_state, strict=True)
    return ours
