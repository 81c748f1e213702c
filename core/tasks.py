"""The task kinds: what model each builds, how it encodes examples, and how outputs are read.

A :class:`TaskKind` is used on both sides: by :mod:`core.training` to build and fit a model, and
by :mod:`core.inference` (and the export stage) to turn raw outputs into predictions. Outputs of
every kind are one array per example batch: logits ``(B, C)`` for sequence tasks, ``(B, T, C)``
for token classification, normalised embeddings ``(B, H)`` for sentence embedding.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import Examples

__all__ = ["TaskKind", "TASK_KINDS", "get_task", "EmbeddingModel", "softmax", "CASE_MARKS",
           "add_case_markers", "uses_case_markers", "mark_case"]

# Case markers give an uncased base (MiniLM lowercases everything) the capitalisation cue that
# names carry. A marker token follows each capitalised word, so the word's first piece, which
# carries its label in token classification, stays first and word indices do not move.
# Whether a model uses them travels with its tokenizer (the markers are added tokens saved with
# it), so every path that loads the artifact's tokenizer marks its inputs the same way.
CASE_MARKS = {"title": "\u21e7", "upper": "\u21ea"}  # ⇧ Title-case, ⇪ ALL-CAPS (two letters or more)
_WORD = re.compile(r"[^\W\d_]\w*")


def _mark_word(word: str) -> str:
    letters = [c for c in word if c.isalpha()]
    if not letters or not letters[0].isupper():
        return word
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return word + CASE_MARKS["upper"]
    return word + CASE_MARKS["title"]


def mark_case(text):
    """``text`` with a case marker after each capitalised word (a list of words stays a list)."""
    if isinstance(text, list):
        return [_mark_word(w) for w in text]
    return _WORD.sub(lambda m: _mark_word(m.group(0)), str(text))


def uses_case_markers(tokenizer) -> bool:
    cached = getattr(tokenizer, "_ftsuite_case_markers", None)
    if cached is None:
        added = tokenizer.get_added_vocab()
        cached = all(mark in added for mark in CASE_MARKS.values())
        tokenizer._ftsuite_case_markers = cached
    return cached


def add_case_markers(tokenizer, model) -> None:
    """Add the marker tokens to ``tokenizer`` and rows for them to ``model``'s embeddings."""
    from tokenizers import AddedToken

    if uses_case_markers(tokenizer):
        return
    # normalized=False: matched on the raw text, before the tokenizer's lowercasing and accent strip
    tokenizer.add_tokens([AddedToken(m, normalized=False) for m in CASE_MARKS.values()])
    tokenizer._ftsuite_case_markers = True
    model.resize_token_embeddings(len(tokenizer))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class TaskKind:
    """Behaviour shared by every task kind; subclasses override what differs."""

    name: str
    uses_pairs: bool = False
    onnx_outputs: tuple[str, ...] = ("logits",)

    # ----------------------------------------------------------------- building
    def build_model(self, base: str, labels: list[str], dropout: float | None = None):
        from transformers import AutoConfig, AutoModelForSequenceClassification

        config = AutoConfig.from_pretrained(
            base, num_labels=len(labels),
            id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
        )
        _set_dropout(config, dropout)
        return AutoModelForSequenceClassification.from_pretrained(base, config=config)

    def load_model(self, path: str):
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(path)

    # ----------------------------------------------------------------- encoding
    def tokenize(self, tokenizer, texts, pairs=None, max_length: int = 128):
        """Tokenise raw inputs without padding (padding happens per batch)."""
        texts, pairs = list(texts), list(pairs) if pairs is not None else None
        if uses_case_markers(tokenizer):
            texts = [mark_case(t) for t in texts]
            pairs = [mark_case(t) for t in pairs] if pairs is not None else None
        return tokenizer(texts, pairs, truncation=True, max_length=max_length)

    def encode(self, tokenizer, examples: Examples, labels: list[str], max_length: int) -> list[dict]:
        enc = self.tokenize(tokenizer, examples.texts, examples.pairs, max_length)
        index = {l: i for i, l in enumerate(labels)}
        rows = []
        for i in range(len(examples)):
            row = {k: enc[k][i] for k in enc.keys()}
            row["labels"] = index[examples.labels[i]]
            rows.append(row)
        return rows

    def collator(self, tokenizer):
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    # ----------------------------------------------------------------- reading outputs
    def decode(self, outputs: np.ndarray, labels: list[str], encoding=None, index: int = 0) -> dict:
        """One prediction from the raw output row of one example."""
        probs = softmax(outputs.astype(np.float64))
        best = int(probs.argmax())
        return {"label": labels[best], "scores": {l: float(p) for l, p in zip(labels, probs)}}

    def trainer_metrics(self, labels: list[str]):
        """A ``compute_metrics`` function for ``transformers.Trainer`` (used for early stopping)."""
        from .evaluation import classification_metrics

        def compute(eval_pred):
            logits, gold = eval_pred.predictions, eval_pred.label_ids
            if isinstance(logits, tuple):
                logits = logits[0]
            pred = logits.argmax(-1)
            return classification_metrics([labels[i] for i in gold], [labels[i] for i in pred], labels,
                                          summary_only=True)

        return compute


def _set_dropout(config, dropout):
    if dropout is None:
        return
    for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout", "dropout"):
        if hasattr(config, key):
            setattr(config, key, dropout)


@dataclass(frozen=True)
class PairScoring(TaskKind):
    """Two texts to a class; the score of a pair is the probability of the last label
    (``1``, ``relevant``, ...: labels sort so that the positive class comes last)."""

    uses_pairs: bool = True

    def decode(self, outputs, labels, encoding=None, index=0):
        out = super().decode(outputs, labels)
        out["score"] = out["scores"][labels[-1]]
        return out


@dataclass(frozen=True)
class TokenClassification(TaskKind):
    """IOB/BIO tagging. Inputs are pre-split words; each word takes the label of its first piece."""

    def build_model(self, base, labels, dropout=None):
        from transformers import AutoConfig, AutoModelForTokenClassification

        config = AutoConfig.from_pretrained(
            base, num_labels=len(labels),
            id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
        )
        _set_dropout(config, dropout)
        return AutoModelForTokenClassification.from_pretrained(base, config=config)

    def load_model(self, path):
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification.from_pretrained(path)

    def tokenize(self, tokenizer, texts, pairs=None, max_length=128):
        words = [t if isinstance(t, list) else str(t).split() for t in texts]
        if uses_case_markers(tokenizer):
            words = [mark_case(w) for w in words]
        return tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)

    def encode(self, tokenizer, examples, labels, max_length):
        enc = self.tokenize(tokenizer, examples.texts, None, max_length)
        index = {l: i for i, l in enumerate(labels)}
        rows = []
        for i in range(len(examples)):
            previous = None
            aligned = []
            for word in enc.word_ids(i):
                if word is None or word == previous:
                    aligned.append(-100)  # special tokens and continuation pieces carry no loss
                else:
                    aligned.append(index[examples.labels[i][word]])
                previous = word
            row = {k: enc[k][i] for k in enc.keys()}
            row["labels"] = aligned
            rows.append(row)
        return rows

    def collator(self, tokenizer):
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(tokenizer)

    def decode(self, outputs, labels, encoding=None, index=0):
        """``outputs`` is ``(T, C)`` for one example; ``encoding`` the tokenizer output of its batch."""
        from .evaluation import extract_spans

        probs = softmax(outputs.astype(np.float64))  # (T, C)
        word_ids = encoding.word_ids(index)
        n_words = max((w for w in word_ids if w is not None), default=-1) + 1
        tags, confidences, previous = [], [], None
        for position, word in enumerate(word_ids):
            if word is None or word == previous or position >= len(probs):
                previous = word
                continue
            best = int(probs[position].argmax())
            tags.append(labels[best])
            confidences.append(float(probs[position, best]))
            previous = word
        tags += ["O"] * (n_words - len(tags))
        entities = [
            {"type": kind, "start": start, "end": end, "score": float(np.mean(confidences[start:end] or [0.0]))}
            for kind, start, end in extract_spans(tags)
        ]
        return {"tags": tags, "entities": entities}

    def trainer_metrics(self, labels):
        from .evaluation import span_metrics

        def compute(eval_pred):
            logits, gold = eval_pred.predictions, eval_pred.label_ids
            if isinstance(logits, tuple):
                logits = logits[0]
            pred = logits.argmax(-1)
            gold_tags, pred_tags = [], []
            for p_row, g_row in zip(pred, gold):
                keep = g_row != -100
                gold_tags.append([labels[i] for i in g_row[keep]])
                pred_tags.append([labels[i] for i in p_row[keep]])
            return span_metrics(gold_tags, pred_tags, summary_only=True)

        return compute


@dataclass(frozen=True)
class SentenceEmbedding(TaskKind):
    """A bi-encoder: mean pooling over the encoder's tokens, L2-normalised.

    Trained with sentence-transformers' trainer on (anchor, positive) pairs and
    MultipleNegativesRankingLoss; served by :class:`EmbeddingModel` (torch) or its ONNX export,
    which share one definition of pooling and normalisation.
    """

    uses_pairs: bool = True
    onnx_outputs: tuple[str, ...] = ("embeddings",)

    def build_model(self, base, labels, dropout=None):
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(base, device="cpu")

    def load_model(self, path):
        return EmbeddingModel.from_folder(path)

    def decode(self, outputs, labels, encoding=None, index=0):
        return {"embedding": outputs.astype(np.float32)}


def _embedding_module():
    import torch

    class _EmbeddingModel(torch.nn.Module):
        def __init__(self, encoder, pooling: str = "mean", normalize: bool = True):
            super().__init__()
            self.encoder = encoder
            self.pooling = pooling
            self.normalize = normalize

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                kwargs["token_type_ids"] = token_type_ids
            hidden = self.encoder(**kwargs).last_hidden_state  # (B, T, H)
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, H)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
            return pooled

    return _EmbeddingModel


class EmbeddingModel:
    """Factory for the torch module that turns token ids into sentence embeddings."""

    @staticmethod
    def from_folder(path: str):
        from transformers import AutoModel

        folder = Path(path)
        pooling = "mean"
        pooling_cfg = folder / "1_Pooling" / "config.json"
        if pooling_cfg.is_file():
            cfg = json.loads(pooling_cfg.read_text())
            pooling = "cls" if cfg.get("pooling_mode_cls_token") else "mean"
        # always normalised: the suite compares embeddings by cosine (inner product in faiss)
        module = _embedding_module()(AutoModel.from_pretrained(str(folder)), pooling, normalize=True)
        module.config = module.encoder.config
        return module.eval()


TASK_KINDS: dict[str, TaskKind] = {
    "text_classification": TaskKind("text_classification"),
    "pair_scoring": PairScoring("pair_scoring"),
    "token_classification": TokenClassification("token_classification"),
    "sentence_embedding": SentenceEmbedding("sentence_embedding"),
}


def get_task(name: str) -> TaskKind:
    from .errors import ConfigError

    if name not in TASK_KINDS:
        raise ConfigError(f"unknown task '{name}'; known: {', '.join(TASK_KINDS)}")
    return TASK_KINDS[name]
