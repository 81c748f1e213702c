"""The bot learns from the company's own questions: history files, the base's FAQ entries, and
the evaluation of every retrieval stage on them.

A history file (CSV or JSONL) has one past question a row, ``question`` (or ``text``), and what
answered it: ``document`` (a document's key, file name or title, optionally with ``section``) or
``answer`` (the answer's text, found in the base's chunks). A row that names nothing the base has
is reported with its file and line and skipped.

- :func:`read_history`: the rows as ``(question, answer key)`` with the problems found.
- :func:`evaluate_stages`: Recall@1/5/10 and MRR@10 of each stage on those questions, side by side
  (BM25, dense, fused, + intent prior, the served mode); with ``folds`` K also the embedder
  fine-tuned on the other K-1 folds (and the base's FAQ entries), scored on the held-out fold only.
- :func:`train_embedder_on_history`: the embedder fine-tuned through the core on every history
  question and FAQ entry, stored with the base (``<kb>/models/embedder``) and used by it from then on.
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

__all__ = ["read_history", "evaluate_stages", "train_embedder_on_history", "kb_embedder_dir", "MIN_PAIRS",
           "format_stages"]

MIN_PAIRS = 20


def kb_embedder_dir(kb_folder: Path) -> Path:
    """Where a base keeps the embedder trained on its own data."""
    return Path(kb_folder) / "models" / "embedder"


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


def read_history(paths, chunks: dict[int, Chunk]) -> tuple[list[tuple[str, tuple]], list[str]]:
    """``([(question, answer key)], problems)`` from history files (see the module). Keys are
    :func:`apps.support.tuning.answer_key` values at document level (or FAQ level for FAQ entries)."""
    by_path: dict[str, list[Chunk]] = {}
    for c in chunks.values():
        by_path.setdefault(c.path, []).append(c)
    names: dict[str, set[str]] = {}
    for key, members in by_path.items():
        for alias in {key, Path(key).name, Path(key).stem, members[0].title}:
            names.setdefault(normalise_text(alias), set()).add(key)
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
                found = names.get(normalise_text(document), set())
                if len(found) != 1:
                    problems.append(f"{where}: document {document!r} is " + ("not in the knowledge base" if not found
                                                                            else "ambiguous (several documents)"))
                    continue
                target = ("document", next(iter(found)))
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
            pairs.append((question, target))
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


def _faq_pairs(chunks: dict[int, Chunk]) -> list[tuple[str, tuple]]:
    return [(c.section, answer_key(c, "faq")) for c in chunks.values() if c.kind == "faq" and c.section]


def _target_passage(chunks: dict[int, Chunk], target: tuple) -> str | None:
    for c in sorted(chunks.values(), key=lambda c: (c.path, c.position)):
        if _key(c, target) == target:
            return passage_text(c.title, c.section, c.text)
    return None


def _train(pairs, chunks, folder: Path, steps: int | None = None):
    """The core's sentence-embedding recipe (configs/support-embedder.toml) on question -> passage pairs."""
    from core.training import train_model

    from .config import REPO

    folder.mkdir(parents=True, exist_ok=True)
    rows = [(q, _target_passage(chunks, t)) for q, t in pairs]
    rows = [(q, p) for q, p in rows if p]
    data = folder / "pairs.csv"
    with open(data, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "pair"])
        writer.writerows(rows)
    config = load_config(REPO / "configs" / "support-embedder.toml")
    config.name = "support-embedder-own-data"
    config.data.train, config.data.validation = str(data), ""
    config.data.test_size, config.data.validation_size, config.data.duplicates = 0.0, 0.1, "keep"
    # about two passes over the pairs, in batches of 32 (the recipe's in-batch negatives)
    config.train.max_steps = steps or max(10, min(400, 2 * len(rows) // 32))
    config.train.progress = False
    return train_model(config, output=folder / "artifact", progress=False).path


def evaluate_stages(bot, history, folds: int = 0, seed: int = 0, steps: int | None = None) -> dict:
    """Each stage's Recall@1/5/10 and MRR@10 on the history questions; ``folds`` K adds the embedder
    fine-tuned per fold (trained on the other folds and the base's FAQ entries, never on the scored fold)."""
    from .retrieval import EQUAL

    bot.warm_up()
    pairs, problems = read_history(history, bot.kb.chunks)
    if len(pairs) < MIN_PAIRS:
        raise DataError(f"{len(pairs)} usable question(s) in the history; an evaluation needs at least {MIN_PAIRS}"
                        + (f". Problems: {'; '.join(problems[:5])}" if problems else ""),
                        fix="give a history file with a 'question' column and a 'document' or 'answer' column")
    r = bot.retriever
    questions = [q for q, _ in pairs]
    targets = [t for _, t in pairs]
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
        result["stages"]["dense, embedder fine-tuned per fold"], result["stages"]["fused, embedder fine-tuned per fold"] = \
            _cross_validated(bot, pairs, folds, seed, steps)
    return result


def _hit(bot, i, score):
    from .retrieval import Hit

    return Hit(bot.kb.chunks[i], score, {})


def _cross_validated(bot, pairs, folds: int, seed: int, steps: int | None):
    """Dense and fused ranks with an embedder fine-tuned on the other folds, over every fold."""
    import tempfile

    from core.embedding import Embedder

    from .retrieval import Hit, rrf

    if folds < 2 or folds > len(pairs):
        raise DataError(f"--folds {folds}: give between 2 and {len(pairs)} folds")
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    fold_of = {i: n % folds for n, i in enumerate(order)}
    chunk_ids = sorted(bot.kb.chunks)
    passages = [passage_text(bot.kb.chunks[i].title, bot.kb.chunks[i].section, bot.kb.chunks[i].text)
                for i in chunk_ids]
    dense_ranked, fused_ranked, targets = [], [], []
    faq = _faq_pairs(bot.kb.chunks)
    with tempfile.TemporaryDirectory(prefix="support-folds-") as scratch:
        for fold in range(folds):
            held = [pairs[i] for i in order if fold_of[i] == fold]
            train = [pairs[i] for i in order if fold_of[i] != fold]
            held_questions = {normalise_text(q) for q, _ in held}
            train = [p for p in train + faq if normalise_text(p[0]) not in held_questions]  # never a scored question
            artifact = _train(train, bot.kb.chunks, Path(scratch) / f"fold{fold}", steps)
            embedder = Embedder(artifact, backend="torch")
            matrix = embedder.encode(passages)  # (N, H) unit vectors
            for q, t in held:
                scores = matrix @ embedder.encode([q])[0]
                top = np.argsort(-scores)[: bot.config.dense_k]
                dense = [(chunk_ids[j], float(scores[j])) for j in top]
                lexical = bot.retriever.lexical(q)
                fused = rrf([[i for i, _ in dense], [i for i, _ in lexical]], bot.config.rrf_k)
                fused_hits = [Hit(bot.kb.chunks[i], s, {}) for i, s in sorted(fused.items(), key=lambda kv: -kv[1])]
                dense_ranked.append(_ranked_keys([Hit(bot.kb.chunks[i], s, {}) for i, s in dense], t))
                fused_ranked.append(_ranked_keys(fused_hits, t))
                targets.append(t)
            shutil.rmtree(Path(scratch) / f"fold{fold}", ignore_errors=True)
    return _metrics(dense_ranked, targets), _metrics(fused_ranked, targets)


def train_embedder_on_history(bot, history, steps: int | None = None, export: bool = True) -> dict:
    """Fine-tune the embedder on the history and the base's FAQ entries; the base uses it from then on
    (its chunks are re-embedded once). ``export``: ONNX (int8 when it passes its check), else torch serves."""
    bot.warm_up()
    pairs, problems = read_history(history, bot.kb.chunks) if history else ([], [])
    pairs += _faq_pairs(bot.kb.chunks)
    if len(pairs) < MIN_PAIRS:
        raise DataError(f"{len(pairs)} question -> answer pair(s) from the history and the base's FAQ entries; "
                        f"training needs at least {MIN_PAIRS}"
                        + (f". Problems: {'; '.join(problems[:5])}" if problems else ""),
                        fix="give a history file (--history) with a 'question' and a 'document' or 'answer' column")
    started = time.time()
    target = kb_embedder_dir(bot.kb.folder)
    staging = target.with_name(target.name + ".training")
    shutil.rmtree(staging, ignore_errors=True)
    artifact = _train(pairs, bot.kb.chunks, staging, steps)
    exported = _export(artifact) if export else "not exported (torch serves)"
    if target.exists():
        shutil.rmtree(target)
    artifact.rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    return {"pairs": len(pairs), "problems": problems, "artifact": str(target), "export": exported,
            "seconds": round(time.time() - started, 1)}


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
    for problem in result["problems"][:20]:
        lines.append(f"skipped {problem}")
    return "\n".join(lines)
