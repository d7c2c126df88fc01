"""Tiny tokenizers for the neural tests (runtime and trainer): a byte-level BPE trained here on a
few sentences, with a chat template, saved in the Hugging Face folder layout. No downloads."""

from __future__ import annotations

import json

VOCAB = 320

TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('unknown role ' + message['role']) }}{% endif %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] | trim }}</s>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def write_tokenizer(folder, pad_token: str = "<pad>", template: str | None = TEMPLATE) -> None:
    """tokenizer.json + tokenizer_config.json in `folder` (vocabulary of at most VOCAB ids)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    corpus = [
        "the quick brown fox jumps over the lazy dog",
        "hello world, how are you today?",
        "<|user|> <|assistant|> <|system|> stop here please",
        "numbers 123 456 and more text",
    ] * 20
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    assert tok.get_vocab_size() <= VOCAB
    tok.save(str(folder / "tokenizer.json"))
    cfg = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": pad_token,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 128,
    }
    if template:
        cfg["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))


def tiny_causal_lm(
    folder,
    kind: str = "llama",
    seed: int = 0,
    weight_scale: float = 0.25,
    norm_scale: float = 0.2,
    **overrides,
):
    """A tiny random Llama / Mistral / Qwen2 / Gemma / Gemma 2 / Gemma 3 (text) / Phi-3
    (transformers) saved to `folder` as safetensors. The Gemma and Phi-3 configurations are cut
    down so that their particular parts matter at this size (head_dim 8, sliding windows of 6
    tokens, softcapping, partial rotary).

    Weights are N(0, weight_scale), norms 1 + N(0, norm_scale), drawn from a generator seeded with
    `seed`, so a seed always gives the same model. Returns the model (eval mode).
    """
    import torch
    import transformers

    common = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    family = {
        "gemma": dict(head_dim=8),
        "gemma2": dict(
            head_dim=8,
            query_pre_attn_scalar=16,
            sliding_window=6,
            attn_logit_softcapping=5.0,
            final_logit_softcapping=3.0,
        ),
        "gemma3_text": dict(head_dim=8, query_pre_attn_scalar=16, sliding_window=6, sliding_window_pattern=2),
        "phi3": dict(partial_rotary_factor=0.5),
    }
    common.update(family.get(kind, {}))
    common.update(overrides)
    cls = {
        "llama": transformers.LlamaConfig,
        "mistral": transformers.MistralConfig,
        "qwen2": transformers.Qwen2Config,
        "gemma": transformers.GemmaConfig,
        "gemma2": transformers.Gemma2Config,
        "gemma3_text": transformers.Gemma3TextConfig,
        "phi3": transformers.Phi3Config,
    }[kind]
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(cls(**common)).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + norm_scale * torch.randn(p.shape, generator=g))
            else:
                p.copy_(weight_scale * torch.randn(p.shape, generator=g))
    model.save_pretrained(folder, safe_serialization=True)
    return model
