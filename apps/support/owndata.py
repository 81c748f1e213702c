"""The bot learns from the company's own questions: history files, the base's FAQ entries, and
the evaluation of every retrieval stage on them.

A history file (CSV or JSONL) has one past question a row, ``question`` (or ``text``), and what
answered it: ``document`` (a document's key, file name or title, optionally with ``section``) or
``answer`` (the answer's text, found in the base's chunks); optionally its ``category`` (or
``intent``). A row that names nothing the base has is reported with its file and line and skipped.

The models a base trains on its own pairs (history rows, answers customers marked helpful, hand-off
tickets a person resolved with a document, and the base's FAQ entries), each through the core's
engine and stored with the base (``<kb>/models/``; ``own.json`` says what was trained on what):

- ``embedder``: the MiniLM bi-encoder with in-batch negatives (one hard negative per pair mined from
  the base, the best-ranked chunk of another answer, when ``HARD_NEGATIVES``: off, see below);
- ``categories``: a classifier of the pairs' categories, when the base's chunks carry the same labels
  (FAQ rows with a category column, documents with ``category:`` / ``intent:`` front matter); the
  bot then uses it for the prior in place of the configured intent model;
- ``reranker`` (asked for with ``reranker=True``): a cross-encoder on the positive and three hard
  negatives per pair.

The bot's retrieval tuning then decides on the base's own questions whether each one helps.

- :func:`read_history`: the rows as ``(question, answer key, category)`` with the problems found.
- :func:`evaluate_stages`: Recall@1/5/10 and MRR@10 of each stage on those questions, side by side
  (BM25, dense, fused, + intent prior, the served mode); with ``folds`` K also the models trained on
  the other K-1 folds (and the base's FAQ entries), scored on the held-out fold only.
- :func:`train_on_history`: the models trained on every history question and FAQ entry, stored with
  the base and used by it from then on.
"""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import time
from pathlib import Path

import numpy as np

from core.config import load_config
from core.data import normalise_text
from core.errors import DataError

from .kb import Chunk, passage_text
from .tuning import answer_key

__all__ = ["read_history", "evaluate_stages", "train_on_history", "train_embedder_on_history", "kb_embedder_dir",
           "kb_model_dir", "own_models", "last_evaluation", "MIN_PAIRS", "format_stages", "store_pairs",
           "find_document"]

MIN_PAIRS = 20
MIN_HELD = 10  # held-out questions below which training keeps every model it built (nothing to judge them on)
NEGATIVES = 3  # hard negatives per pair for the reranker (the embedder takes the first when HARD_NEGATIVES)
# The embedder's mined hard negative is off by default: on the ISP sample (3 folds) the fine-tuned embedder
# ranked 0.917 first with in-batch negatives alone and 0.792 with the mined one (benchmarks/support_own_data.py
# --no-hard-negatives; BENCHMARKS.md section 5). The reranker always trains on the mined negatives.
HARD_NEGATIVES = False


def kb_model_dir(kb_folder: Path, kind: str) -> Path:
    """Where a base keeps a model trained on its own data: ``embedder``, ``categories`` or ``reranker``."""
    return Path(kb_folder) / "models" / kind


def kb_embedder_dir(kb_folder: Path) -> Path:
    """Where a base keeps the embedder trained on its own data."""
    return kb_model_dir(kb_folder, "embedder")


def last_evaluation(kb_folder: Path) -> dict:
    """The last :func:`evaluate_stages` result on this base (``{}`` when there is none)."""
    try:
        return json.loads((Path(kb_folder) / "models" / "last_eval.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def own_models(kb_folder: Path) -> dict:
    """``own.json``: what the base's own models were trained on (``{}`` when none)."""
    path = Path(kb_folder) / "models" / "own.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _rows(path: Path) -> list[tuple[int, dict]]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        out = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                out.append((number, {"__error__": f"not valid JSON ({exc.msg})"}))
                continue
            out.append((number, record if isinstance(record, dict) else {"__error__": "expected a JSON object"}))
        return out
    reader = csv.DictReader(io.StringIO(text))
    return [(reader.line_num, dict(row)) for row in reader]


def _document_names(chunks: dict[int, Chunk]) -> dict[str, set[str]]:
    """Each document's key, file name, stem and title (normalised) -> the keys it may name."""
    by_path: dict[str, list[Chunk]] = {}
    for c in chunks.values():
        by_path.setdefault(c.path, []).append(c)
    names: dict[str, set[str]] = {}
    for key, members in by_path.items():
        for alias in {key, Path(key).name, Path(key).stem, members[0].title}:
            names.setdefault(normalise_text(alias), set()).add(key)
    return names


def find_document(chunks: dict[int, Chunk], document: str, names: dict | None = None) -> tuple[str | None, str]:
    """The key of the one document ``document`` names (key, file name or title), else ``(None, why)``."""
    found = (names or _document_names(chunks)).get(normalise_text(document), set())
    if len(found) == 1:
        return next(iter(found)), ""
    return None, "is not in the knowledge base" if not found else "is ambiguous (several documents)"


def store_pairs(bot) -> tuple[list[tuple[str, tuple, None]], dict]:
    """Pairs from what the bot has seen: answers a customer marked helpful (the question and the first source's
    document) and hand-off tickets a person resolved with a document (the customer's first question and it).
    Documents no longer in the base are left out. ``(pairs, counts)``."""
    paths = {c.path for c in bot.kb.chunks.values()}
    pairs, counts = [], {"feedback": 0, "tickets": 0}
    for f in bot.store.feedback():
        sources = json.loads(f["sources"] or "[]")
        if f["helpful"] and f["query"] and sources and f["kind"] == "answer" and sources[0].get("path") in paths:
            pairs.append((f["query"], ("document", sources[0]["path"]), None))
            counts["feedback"] += 1
    for t in bot.store.tickets():
        question = next((x["text"] for x in t["transcript"] if x["role"] == "user" and x["text"].strip()), "")
        if t.get("status") == "resolved" and t.get("resolution") in paths and question:
            pairs.append((question, ("document", t["resolution"]), None))
            counts["tickets"] += 1
    return pairs, counts


def read_history(paths, chunks: dict[int, Chunk]) -> tuple[list[tuple[str, tuple, str | None]], list[str]]:
    """``([(question, answer key, category or None)], problems)`` from history files (see the module).
    Keys are :func:`apps.support.tuning.answer_key` values at document level (or FAQ level for FAQ entries)."""
    names = _document_names(chunks)
    texts = [(normalise_text(c.text), c) for c in chunks.values()]
    pairs, problems, seen = [], [], set()
    for path in [Path(p) for p in paths]:
        if not path.is_file():
            problems.append(f"{path}: no such file")
            continue
        for line, row in _rows(path):
            where = f"{path}:{line}"
            if "__error__" in row:
                problems.append(f"{where}: {row['__error__']}")
                continue
            question = str(row.get("question") or row.get("text") or "").strip()
            if not question:
                problems.append(f"{where}: no question (give a 'question' column)")
                continue
            target = None
            document = str(row.get("document") or "").strip()
            answer = str(row.get("answer") or "").strip()
            if document:
                key, why = find_document(chunks, document, names)
                if key is None:
                    problems.append(f"{where}: document {document!r} {why}")
                    continue
                target = ("document", key)
            elif answer:
                wanted = normalise_text(answer)[:200]
                match = [c for t, c in texts if wanted and (wanted in t or (len(t) > 40 and t in wanted))]
                if not match:
                    problems.append(f"{where}: its answer is in no chunk of the knowledge base")
                    continue
                c = match[0]
                target = answer_key(c, "faq") if c.kind == "faq" else ("document", c.path)
            else:
                problems.append(f"{where}: no 'document' or 'answer' column to say what answered it")
                continue
            if (normalise_text(question), target) in seen:
                continue  # a duplicate pair counts once
            seen.add((normalise_text(question), target))
            category = str(row.get("category") or row.get("intent") or "").strip() or None
            pairs.append((question, target, category))
    return pairs, problems


def _key(chunk: Chunk, target: tuple) -> tuple:
    return answer_key(chunk, "faq") if target[0] == "faq" else ("document", chunk.path)


def _metrics(ranked: list[list[tuple]], targets: list[tuple]) -> dict:
    out = {}
    for k in (1, 5, 10):
        out[f"recall@{k}"] = round(float(np.mean([t in keys[:k] for keys, t in zip(ranked, targets)])), 4)
    out["mrr@10"] = round(float(np.mean([next((1 / n for n, key in enumerate(keys[:10], 1) if key == t), 0.0)
                                         for keys, t in zip(ranked, targets)])), 4)
    return out


def _ranked_keys(hits, target) -> list[tuple]:
    keys = []
    for h in hits:
        key = _key(h.chunk, target)
        if key not in keys:
            keys.append(key)
    return keys[:10]


def _faq_pairs(chunks: dict[int, Chunk]) -> list[tuple[str, tuple, str | None]]:
    return [(c.section, answer_key(c, "faq"), c.category or c.intent)
            for c in chunks.values() if c.kind == "faq" and c.section]


def _target_passage(chunks: dict[int, Chunk], target: tuple) -> str | None:
    for c in sorted(chunks.values(), key=lambda c: (c.path, c.position)):
        if _key(c, target) == target:
            return passage_text(c.title, c.section, c.text)
    return None


def _write_csv(path: Path, header: list[str], rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _negatives(retriever, pairs, chunks: dict[int, Chunk], k: int = NEGATIVES) -> list[list[str]]:
    """Per pair, the passages of the ``k`` best-ranked chunks (the base's equal-weight fusion, with the
    embedder it has now) that belong to another answer, and not to the answer's intent: the hard negatives."""
    from .retrieval import EQUAL

    vectors = retriever.embed([q for q, _, _ in pairs])
    intent_of = {}
    for c in chunks.values():
        if c.intent:
            intent_of.setdefault(("faq", c.path, c.section), c.intent)
            intent_of.setdefault(("document", c.path), c.intent)
    out = []
    for (question, target, _), vector in zip(pairs, vectors):
        positive = _target_passage(chunks, target)
        found = []
        for hit in retriever.fused(question, vector=vector, weights=EQUAL):
            passage = passage_text(hit.chunk.title, hit.chunk.section, hit.chunk.text)
            # a chunk labelled with the answer's intent answers the same need (its FAQ rows, its article): no negative
            same_need = hit.chunk.intent is not None and hit.chunk.intent == intent_of.get(target)
            if _key(hit.chunk, target) != target and not same_need and passage != positive and passage not in found:
                found.append(passage)
            if len(found) == k:
                break
        out.append(found)
    return out


def _config(name: str, kind: str, data: Path, rows: int, batch: int, passes: float, cap: int, steps: int | None):
    from .config import REPO

    config = load_config(REPO / "configs" / f"support-{kind}.toml")
    config.name = name
    config.data.train, config.data.validation = str(data), ""
    config.data.test_size, config.data.validation_size = 0.0, 0.1
    config.train.max_steps = steps or max(10, min(cap, int(passes * rows) // batch))
    config.train.progress = False
    return config


def _train(pairs, chunks, folder: Path, steps: int | None = None, negatives: list[list[str]] | None = None):
    """The core's sentence-embedding recipe (configs/support-embedder.toml) on question -> passage pairs,
    with the first mined negative of each pair as its hard negative when ``negatives`` are given."""
    from core.training import train_model

    rows = []
    for n, (q, t, _) in enumerate(pairs):
        passage = _target_passage(chunks, t)
        if not passage:
            continue
        if not negatives:
            rows.append((q, passage))
        elif negatives[n]:  # a pair whose base offers no other answer is left out of the hard-negative set
            rows.append((q, passage, negatives[n][0]))
    data = _write_csv(folder / "pairs.csv", ["text", "pair"] + (["negative"] if negatives else []), rows)
    config = _config("support-embedder-own-data", "embedder", data, len(rows), 32, 2, 400, steps)
    config.data.duplicates = "keep"
    config.data.negative_column = "negative" if negatives else ""
    return train_model(config, output=folder / "artifact", progress=False).path


def _label_field(pairs, chunks: dict[int, Chunk]) -> tuple[str | None, str]:
    """Which chunk field the pairs' categories name (``intent`` or ``category``), or None with the reason."""
    wanted = {c for _, _, c in pairs if c}
    if len({c for _, _, c in pairs if c}) < 2:
        return None, "the pairs carry fewer than two categories"
    overlap = {field: len(wanted & {getattr(c, field) for c in chunks.values()}) for field in ("category", "intent")}
    field = max(overlap, key=overlap.get)
    if not overlap[field]:
        return None, ("the base's chunks carry none of the pairs' categories (give FAQ rows a category column, "
                      "or documents category: front matter)")
    return field, ""


def _train_categories(pairs, folder: Path, steps: int | None = None):
    """A text classifier of the pairs' categories (configs/support-categories.toml)."""
    from core.training import train_model

    rows = [(q, c) for q, _, c in pairs if c]
    data = _write_csv(folder / "categories.csv", ["text", "label"], rows)
    config = _config("support-categories-own-data", "categories", data, len(rows), 32, 4, 400, steps)
    # every category named, so that one whose few questions all fall in the validation part still is one
    config.data.labels = sorted({c for _, c in rows})
    return train_model(config, output=folder / "artifact", progress=False).path


def _train_reranker(pairs, chunks, negatives: list[list[str]], folder: Path, steps: int | None = None):
    """A cross-encoder (configs/support-reranker.toml) on each pair's positive and its hard negatives."""
    from core.training import train_model

    from .pipeline import pairs_label

    rows = []
    for (q, t, _), found in zip(pairs, negatives):
        passage = _target_passage(chunks, t)
        if passage:
            rows.append((q, passage, pairs_label[1]))
            rows.extend((q, n, pairs_label[0]) for n in found)
    data = _write_csv(folder / "reranker.csv", ["text", "pair", "label"], rows)
    config = _config("support-reranker-own-data", "reranker", data, len(rows), 16, 2, 400, steps)
    config.data.duplicates = "keep"
    return train_model(config, output=folder / "artifact", progress=False).path


def evaluate_stages(bot, history, folds: int = 0, seed: int = 0, steps: int | None = None,
                    reranker: bool = False, hard_negatives: bool = HARD_NEGATIVES) -> dict:
    """Each stage's Recall@1/5/10 and MRR@10 on the history questions; ``folds`` K adds the models
    trained per fold (on the other folds and the base's FAQ entries, never on the scored fold): the
    embedder, the category model when the pairs and the base carry categories, the reranker when asked."""
    from .retrieval import EQUAL

    bot.warm_up()
    pairs, problems = read_history(history, bot.kb.chunks)
    if len(pairs) < MIN_PAIRS:
        raise DataError(f"{len(pairs)} usable question(s) in the history; an evaluation needs at least {MIN_PAIRS}"
                        + (f". Problems: {'; '.join(problems[:5])}" if problems else ""),
                        fix="give a history file with a 'question' column and a 'document' or 'answer' column")
    r = bot.retriever
    questions = [q for q, _, _ in pairs]
    targets = [t for _, t, _ in pairs]
    vectors = r.embed(questions)
    probs = bot.intents.probabilities(questions) if bot.intents is not None else [None] * len(questions)
    stages = {"bm25": [], "dense": [], "fused": [], "fused + intent prior": [], "served": []}
    for q, v, p, t in zip(questions, vectors, probs, targets):
        dense, lexical = r.dense(q, vector=v), r.lexical(q)
        stages["bm25"].append(_ranked_keys([_hit(bot, i, s) for i, s in lexical], t))
        stages["dense"].append(_ranked_keys([_hit(bot, i, s) for i, s in dense], t))
        fused = r.fused(q, dense=dense, lexical=lexical, weights=EQUAL)
        stages["fused"].append(_ranked_keys(fused, t))
        saved = r.intent_prior
        r.intent_prior = bot.config.intent_prior
        stages["fused + intent prior"].append(_ranked_keys(r.with_prior(q, list(fused), p, v), t) if p else
                                              stages["fused"][-1])
        r.intent_prior = saved
        stages["served"].append(_ranked_keys(r.search(q, p, vector=v), t))
    table = {name: _metrics(ranked, targets) for name, ranked in stages.items()}
    result = {"questions": len(pairs), "problems": problems, "served_mode": bot.tuning.get("name"), "stages": table}
    if folds:
        result["folds"] = folds
        per_fold, notes = _cross_validated(bot, pairs, folds, seed, steps, reranker, hard_negatives)
        result["stages"].update(per_fold)
        result["notes"] = notes
    result.update({"history": [str(p) for p in history], "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    folder = Path(bot.kb.folder) / "models"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "last_eval.json.tmp"
    tmp.write_text(json.dumps(result, indent=2), encoding="utf-8")
    tmp.replace(folder / "last_eval.json")  # the demo shows the last table
    return result


def _hit(bot, i, score):
    from .retrieval import Hit

    return Hit(bot.kb.chunks[i], score, {})


STAGES = {"served": "served, before training", "dense": "dense, embedder fine-tuned per fold",
          "fused": "fused, embedder fine-tuned per fold", "prior": "fused + category prior, models trained per fold",
          "rerank": "fused + reranker, models trained per fold"}


def _train_and_score(bot, train, held, work: Path, steps: int | None, reranker: bool, field: str | None,
                     negatives: list[list[str]], hard_negatives: bool = HARD_NEGATIVES) -> tuple[dict, dict]:
    """Train a set of the base's own models on ``train`` (embedder; category model when ``field``; reranker
    when asked) under ``work``, and rank the ``held`` questions with each stage they add:
    ``({stage: [ranked answer keys per question]}, {kind: artifact})``."""
    from core.embedding import Embedder
    from core.inference import load_predictor

    from .retrieval import Hit, rrf
    from .scope import IntentClassifier

    chunks, r = bot.kb.chunks, bot.retriever
    artifacts = {"embedder": _train(train, chunks, work / "embedder", steps, negatives if hard_negatives else None)}
    if field:
        artifacts["categories"] = _train_categories(train, work / "categories", steps)
    if reranker:
        artifacts["reranker"] = _train_reranker(train, chunks, negatives, work / "reranker", steps)
    if not held:
        return {}, artifacts
    embedder = Embedder(artifacts["embedder"], backend="torch")
    categories = (IntentClassifier(load_predictor(artifacts["categories"], backend="torch"))
                  if "categories" in artifacts else None)
    chunk_ids = sorted(chunks)
    matrix = embedder.encode([passage_text(chunks[i].title, chunks[i].section, chunks[i].text) for i in chunk_ids])
    questions = [q for q, _, _ in held]
    vectors = embedder.encode(questions)
    probs = categories.probabilities(questions) if categories else [None] * len(held)
    before = bot.intents.probabilities(questions) if bot.intents is not None else [None] * len(held)
    before_vectors = r.embed(questions)
    ranked = {k: [] for k in STAGES}
    saved = (r.reranker, r.label_field, r.intent_prior)
    try:
        for (q, t, _), v, p, p0, v0 in zip(held, vectors, probs, before, before_vectors):
            ranked["served"].append(_ranked_keys(r.search(q, p0, vector=v0), t))
            scores = matrix @ v
            top = np.argsort(-scores)[: bot.config.dense_k]
            dense = [(chunk_ids[j], float(scores[j])) for j in top]
            fused = rrf([[i for i, _ in dense], [i for i, _ in r.lexical(q)]], bot.config.rrf_k)
            hits = [Hit(chunks[i], s, {"rrf": s}) for i, s in sorted(fused.items(), key=lambda kv: -kv[1])]
            ranked["dense"].append(_ranked_keys([Hit(chunks[i], s, {}) for i, s in dense], t))
            ranked["fused"].append(_ranked_keys(hits, t))
            if categories:
                r.label_field, r.intent_prior = field, bot.config.intent_prior
                ranked["prior"].append(_ranked_keys(r.with_prior(q, [Hit(h.chunk, h.score, dict(h.scores))
                                                                     for h in hits], p, v), t))
            if "reranker" in artifacts:
                if r.reranker is saved[0]:
                    r.reranker = load_predictor(artifacts["reranker"], backend="torch")
                head = r.rerank(q, [Hit(h.chunk, h.score, dict(h.scores)) for h in hits[: r.rerank_k]])
                ranked["rerank"].append(_ranked_keys(head + hits[r.rerank_k:], t))
    finally:
        r.reranker, r.label_field, r.intent_prior = saved
    return {k: v for k, v in ranked.items() if v}, artifacts


def _split_by_question(pairs, held_questions: set[str]):
    return [p for p in pairs if normalise_text(p[0]) not in held_questions]


def _cross_validated(bot, pairs, folds: int, seed: int, steps: int | None, reranker: bool,
                     hard_negatives: bool = HARD_NEGATIVES):
    """The stages with the models trained on the other folds, over every fold: ``({stage: metrics}, notes)``."""
    import tempfile

    if folds < 2 or folds > len(pairs):
        raise DataError(f"--folds {folds}: give between 2 and {len(pairs)} folds")
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    fold_of = {i: n % folds for n, i in enumerate(order)}
    chunks = bot.kb.chunks
    faq = _faq_pairs(chunks)
    field, why = _label_field(pairs + faq, chunks)
    notes = [] if field else [f"category prior: not trained ({why})"]
    negatives_of = {(q, t): n for (q, t, _), n in zip(pairs + faq, _negatives(bot.retriever, pairs + faq, chunks))}
    ranked: dict[str, list] = {}
    targets = []
    with tempfile.TemporaryDirectory(prefix="support-folds-") as scratch:
        for fold in range(folds):
            held = [pairs[i] for i in order if fold_of[i] == fold]
            # never a scored question in training, not even as an FAQ entry
            train = _split_by_question([pairs[i] for i in order if fold_of[i] != fold] + faq,
                                       {normalise_text(q) for q, _, _ in held})
            stages, _ = _train_and_score(bot, train, held, Path(scratch) / f"fold{fold}", steps, reranker, field,
                                         [negatives_of[(q, t)] for q, t, _ in train], hard_negatives)
            for k, v in stages.items():
                ranked.setdefault(k, []).extend(v)
            targets += [t for _, t, _ in held]
            shutil.rmtree(Path(scratch) / f"fold{fold}", ignore_errors=True)
    return {STAGES[k]: _metrics(v, targets) for k, v in ranked.items() if k != "served"}, notes


def _better(a: dict, b: dict) -> bool:
    """``a`` ranks strictly better than ``b`` (Recall@1, then MRR@10)."""
    return (a["recall@1"], a["mrr@10"]) > (b["recall@1"], b["mrr@10"])


def _gate(stages: dict) -> tuple[list[str], dict]:
    """Which trained models the base keeps, judged on held-out questions: the embedder when its best stage
    ranks at least as well as the pipeline before training, the category model and the reranker only when
    they rank strictly better than the fused stage without them. ``(kept, {kind: reason})``."""
    tuned = max((stages["dense"], stages["fused"]), key=lambda m: (m["recall@1"], m["mrr@10"]))
    kept, reasons = [], {}
    if _better(stages["served"], tuned):
        reasons["embedder"] = (f"not kept: Recall@1 {tuned['recall@1']:.3f} on held-out questions against "
                               f"{stages['served']['recall@1']:.3f} before training")
    else:
        kept.append("embedder")
    for kind, stage in (("categories", "prior"), ("reranker", "rerank")):
        if stage in stages:
            if _better(stages[stage], stages["fused"]):
                kept.append(kind)
            else:
                reasons[kind] = (f"not kept: Recall@1 {stages[stage]['recall@1']:.3f} on held-out questions, "
                                 f"{stages['fused']['recall@1']:.3f} without it")
    return kept, reasons


def train_on_history(bot, history, steps: int | None = None, export: bool | None = None, reranker: bool = False,
                     progress=None, validation: float = 0.2, seed: int = 0) -> dict:
    """Train the base's own models (see the module) on the history and its FAQ entries, and keep those that
    help: ``validation`` of the history questions (at least ``MIN_HELD``) are held out, the models trained
    on the rest, and a model is kept only when it ranks the held-out questions better (:func:`_gate`). The
    base uses the kept ones from then on (its chunks are re-embedded once). ``export``: ONNX (int8 when it
    passes its check), else torch serves (default: unless the bot's backend is torch).
    ``progress(fraction, stage)`` is told where the training is."""
    tell = progress or (lambda fraction, stage: None)
    bot.warm_up()
    if export is None:
        export = bot.config.backend != "torch"
    history_pairs, problems = read_history(history, bot.kb.chunks) if history else ([], [])
    seen, sources = store_pairs(bot)
    known = {(normalise_text(q), t) for q, t, _ in history_pairs}
    seen = [p for p in seen if (normalise_text(p[0]), p[1]) not in known]
    history_pairs += seen  # customers' own words too: held out and judged like the history's
    faq = _faq_pairs(bot.kb.chunks)
    pairs = history_pairs + faq
    sources.update(history=len(history_pairs) - len(seen), faq=len(faq))
    if len(pairs) < MIN_PAIRS:
        raise DataError(f"{len(pairs)} question -> answer pair(s) from the history and the base's FAQ entries; "
                        f"training needs at least {MIN_PAIRS}"
                        + (f". Problems: {'; '.join(problems[:5])}" if problems else ""),
                        fix="give a history file (--history) with a 'question' and a 'document' or 'answer' column")
    started = time.time()
    folder = Path(bot.kb.folder) / "models"
    staging = folder.with_name("models.training")
    shutil.rmtree(staging, ignore_errors=True)
    field, why = _label_field(pairs, bot.kb.chunks)
    tell(0.05, "mining hard negatives")
    negatives_of = {(q, t): n for (q, t, _), n in zip(pairs, _negatives(bot.retriever, pairs, bot.kb.chunks))}
    # held out: history questions (customers' words) when there are enough, else any pairs
    pool = history_pairs if round(validation * len(history_pairs)) >= MIN_HELD else pairs
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    n_held = int(round(validation * len(pool)))
    held = [pool[i] for i in order[:n_held]] if n_held >= MIN_HELD else []
    train = _split_by_question(pairs, {normalise_text(q) for q, _, _ in held})
    tell(0.1, "training " + ", ".join(["the embedder"] + (["the category model"] if field else [])
                                      + (["the reranker"] if reranker else []))
         + (f" on {len(train)} pairs, {len(held)} history questions held out to judge them" if held else ""))
    stages, built = _train_and_score(bot, train, held, staging, steps, reranker, field,
                                     [negatives_of[(q, t)] for q, t, _ in train], HARD_NEGATIVES)
    targets = [t for _, t, _ in held]
    validation_table = {STAGES[k]: _metrics(v, targets) for k, v in stages.items()} if held else {}
    if held:
        kept, reasons = _gate({k: _metrics(v, targets) for k, v in stages.items()})
    else:
        kept, reasons = list(built), {}
    not_trained = ({"categories": why} if not field else {}) | ({} if reranker else {"reranker": "not asked for"})
    models = {}
    for n, kind in enumerate(kept):
        tell(0.75 + 0.2 * n / max(len(kept), 1), f"exporting the {kind}")
        models[kind] = {"export": _export(built[kind]) if export else "not exported (torch serves)"}
    if "categories" in models:
        models["categories"]["label_field"] = field
    # the new set replaces the old one whole: a model not kept this time is not served either
    for kind in ("embedder", "categories", "reranker"):
        target = kb_model_dir(bot.kb.folder, kind)
        if target.exists():
            shutil.rmtree(target)
        if kind in models:
            target.parent.mkdir(parents=True, exist_ok=True)
            built[kind].rename(target)
    record = {"pairs": len(pairs), "pairs_from": sources, "trained_on": len(train), "held_out": len(held),
              "history": [str(p) for p in history or []], "problems": problems, "models": models,
              "validation": validation_table, "not_trained": not_trained | reasons,
              "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(time.time() - started, 1)}
    (folder / "own.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    shutil.rmtree(staging, ignore_errors=True)
    tell(1.0, "done")
    return {**record, "artifacts": {k: str(kb_model_dir(bot.kb.folder, k)) for k in models}}


def train_embedder_on_history(bot, history, steps: int | None = None, export: bool = True) -> dict:
    """The base's own models without the reranker (kept for callers of the first version)."""
    return train_on_history(bot, history, steps=steps, export=export)


def _export(artifact: Path) -> str:
    """ONNX fp32, and int8 when it passes its check (the bot serves whichever the export kept)."""
    from core.errors import SuiteError
    from core.inference import export_with_cli

    try:
        int8 = export_with_cli(artifact)
    except SuiteError as exc:
        return f"not exported (torch serves): {str(exc).splitlines()[1][:200] if len(str(exc).splitlines()) > 1 else exc}"
    return "onnx fp32 (int8 refused by its check)" if int8.get("refused") else "onnx int8"


def format_stages(result: dict) -> str:
    lines = [f"{result['questions']} questions; served mode: {result.get('served_mode') or 'configured'}", "",
             "| stage | Recall@1 | Recall@5 | Recall@10 | MRR@10 |", "|---|---:|---:|---:|---:|"]
    for name, m in result["stages"].items():
        lines.append(f"| {name} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['recall@10']:.3f} | {m['mrr@10']:.3f} |")
    for note in result.get("notes", []):
        lines.append(note)
    for problem in result["problems"][:20]:
        lines.append(f"skipped {problem}")
    return "\n".join(lines)
