"""A CLIP-style BPE tokenizer learned from the caption vocabulary.

The tokenizers library learns the merges; the result is saved as a normal CLIPTokenizer folder
(vocab.json + merges.txt + tokenizer.json), so diffusers loads it like any Stable Diffusion
tokenizer. Unknown words fall back to single letters, unknown characters to <|endoftext|>: a
prompt never crashes the encoder.
"""

from __future__ import annotations

import string
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import CLIPTokenizer

START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
# Every letter and digit is in the vocabulary, so any ASCII word can still be spelled out.
BASE_ALPHABET = list(string.ascii_lowercase + string.digits + ",.-'!?&")


def build_caption_tokenizer(
    captions: Iterable[str], max_length: int = 32, vocab_size: int = 1000
) -> CLIPTokenizer:
    """Learn BPE merges from `captions`; with a vocabulary this large every caption word becomes one token."""
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.normalizer = normalizers.Lowercase()
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[START_TOKEN, END_TOKEN],
        end_of_word_suffix="</w>",
        initial_alphabet=BASE_ALPHABET,
        show_progress=False,
    )
    bpe.train_from_iterator(captions, trainer)
    with tempfile.TemporaryDirectory() as folder:
        bpe.model.save(folder)  # vocab.json + merges.txt, the files CLIPTokenizer reads
        return CLIPTokenizer.from_pretrained(folder, model_max_length=max_length)


def save_caption_tokenizer(tokenizer: CLIPTokenizer, folder: Path) -> None:
    """Save in both the fast format and the classic vocab.json/merges.txt, for older transformers."""
    folder = Path(folder)
    tokenizer.save_pretrained(folder)
    tokenizer.backend_tokenizer.model.save(str(folder))
