"""The twenty papers: fixed folder names (the project's public index), titles and reading-order groups.

A paper's own `[tool.paper]` table (in its pyproject.toml) is the source of truth once its folder
exists; this list fills in the papers that are still planned.
"""

from __future__ import annotations

GROUPS = [
    "Foundations",
    "Language models",
    "Adapting and aligning models",
    "Vision and generation",
]

# folder, title, authors, year, group, what the default run shows
PAPERS = [
    ("01_attention_is_all_you_need", "Attention Is All You Need", "Vaswani et al.", 2017, 0,
     "an encoder-decoder learns a generated translation task to >= 95% held-out exact match"),
    ("11_resnet", "Deep Residual Learning for Image Recognition", "He et al.", 2015, 0,
     "deeper plain nets train worse; deeper residual nets do not"),
    ("12_layer_norm", "Layer Normalization", "Ba et al.", 2016, 0,
     "LN trains faster than no normalisation and works at batch size 1"),
    ("04_gpt1", "Improving Language Understanding by Generative Pre-Training (GPT-1)", "Radford et al.", 2018, 1,
     "pre-training improves fine-tuned accuracy over training from scratch"),
    ("02_bert", "BERT: Pre-training of Deep Bidirectional Transformers", "Devlin et al.", 2018, 1,
     "pre-trained init beats random init with the same fine-tuning budget"),
    ("03_gpt2", "Language Models are Unsupervised Multitask Learners (GPT-2)", "Radford et al.", 2019, 1,
     "val loss below a stated target; the larger config reaches lower loss"),
    ("05_gpt3", "Language Models are Few-Shot Learners (GPT-3)", "Brown et al.", 2020, 1,
     "held-out accuracy rises with the number of in-context examples"),
    ("07_scaling_laws", "Scaling Laws for Neural Language Models", "Kaplan et al.", 2020, 1,
     "loss vs parameters follows a power law"),
    ("09_llama", "LLaMA: Open and Efficient Foundation Language Models", "Touvron et al.", 2023, 1,
     "the LLaMA block beats a GPT-2 block at equal parameters"),
    ("14_palm", "PaLM: Scaling Language Modeling with Pathways", "Chowdhery et al.", 2022, 1,
     "the parallel block matches serial quality; MQA shrinks the KV cache"),
    ("20_mixture_of_experts", "Outrageously Large Neural Networks: The Sparsely-Gated Mixture-of-Experts Layer",
     "Shazeer et al.", 2017, 1, "an MoE LM beats the dense LM at equal active parameters"),
    ("08_lora", "LoRA: Low-Rank Adaptation of Large Language Models", "Hu et al.", 2021, 2,
     "< 2% trainable parameters come close to full fine-tuning"),
    ("06_instructgpt", "Training Language Models to Follow Instructions with Human Feedback",
     "Ouyang et al.", 2022, 2,
     "PPO beats SFT for the labeler while KL stays bounded"),
    ("10_constitutional_ai", "Constitutional AI: Harmlessness from AI Feedback", "Bai et al.", 2022, 2,
     "harmlessness rises with a bounded helpfulness cost"),
    ("13_chain_of_thought", "Chain-of-Thought Prompting Elicits Reasoning in Large Language Models",
     "Wei et al.", 2022, 2,
     "intermediate steps lift accuracy on harder held-out problems"),
    ("19_rag", "Retrieval-Augmented Generation for Knowledge-Intensive NLP Tasks", "Lewis et al.", 2020, 2,
     "retrieval answers questions closed-book models cannot"),
    ("15_gpt4_analysis", "GPT-4 Technical Report (evaluation methodology)", "OpenAI", 2023, 2,
     "capability profiles with intervals; planted contamination is caught"),
    ("16_vision_transformer", "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
     "Dosovitskiy et al.", 2020, 3, "a small CNN wins with little data; the gap shrinks with more"),
    ("17_dalle", "Zero-Shot Text-to-Image Generation (DALL-E)", "Ramesh et al.", 2021, 3,
     "generated images match their captions; reranking raises the rate"),
    ("18_diffusion_models", "Denoising Diffusion Probabilistic Models; Diffusion Models Beat GANs",
     "Ho et al.; Dhariwal and Nichol", 2021, 3, "guidance trades diversity for class fidelity"),
]
