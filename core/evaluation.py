"""Metrics and reports: classification (scikit-learn), entity spans, calibration, confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = [
    "classification_metrics",
    "expected_calibration_error",
    "extract_spans",
    "span_metrics",
    "confusion_text",
    "confusion_png",
    "format_report",
    "evaluate_predictor",
    "retrieval_metrics",
]


def classification_metrics(y_true: list[str], y_pred: list[str], labels: list[str],
                           probabilities: np.ndarray | None = None, summary_only: bool = False) -> dict:
    """Accuracy, macro and weighted P/R/F1, per-class report, confusion matrix and ECE."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    out: dict = {"accuracy": float(accuracy_score(y_true, y_pred)), "support": len(y_true)}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average,
                                                     zero_division=0)
        out[f"{average}_precision"], out[f"{average}_recall"], out[f"{average}_f1"] = float(p), float(r), float(f)
    if summary_only:
        return out
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    out["per_class"] = {
        label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, label in enumerate(labels)
    }
    out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    out["labels"] = list(labels)
    if probabilities is not None:
        gold = np.array([labels.index(y) for y in y_true])
        out["ece"] = expected_calibration_error(np.asarray(probabilities), gold)
    return out


def expected_calibration_error(probabilities: np.ndarray, gold: np.ndarray, bins: int = 15) -> float:
    """ECE with equal-width confidence bins: sum over bins of |accuracy - confidence| x share."""
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == gold).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            ece += abs(correct[in_bin].mean() - confidence[in_bin].mean()) * in_bin.mean()
    return float(ece)


def extract_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """Entity spans ``(type, start, end)`` (end exclusive) from IOB1, IOB2/BIO or IOBES tags.

    An ``I-X`` that does not continue an ``X`` span starts a new one (IOB1 and lenient BIO).
    """
    spans = []
    kind, start = None, 0
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, label = tag.partition("-") if "-" in tag else (tag, "", "")
        starts_new = prefix in ("B", "S") or (prefix in ("I", "E") and label != kind)
        if kind is not None and (prefix == "O" or starts_new):
            spans.append((kind, start, i))
            kind = None
        if prefix in ("B", "S", "I", "E") and (kind is None):
            kind, start = label, i
        if prefix in ("S", "E") and kind is not None:
            spans.append((kind, start, i + 1))
            kind = None
    return spans


def span_metrics(gold: list[list[str]], pred: list[list[str]], summary_only: bool = False) -> dict:
    """Entity-level precision / recall / F1: a span counts only with exact boundaries and type."""
    gold_spans = {(i, *s) for i, seq in enumerate(gold) for s in extract_spans(seq)}
    pred_spans = {(i, *s) for i, seq in enumerate(pred) for s in extract_spans(seq)}
    out = _prf(len(gold_spans & pred_spans), len(pred_spans), len(gold_spans))
    out["support"] = len(gold_spans)
    if summary_only:
        return out
    kinds = sorted({s[1] for s in gold_spans | pred_spans})
    out["per_type"] = {}
    for kind in kinds:
        g = {s for s in gold_spans if s[1] == kind}
        p = {s for s in pred_spans if s[1] == kind}
        out["per_type"][kind] = {**_prf(len(g & p), len(p), len(g)), "support": len(g)}
    tokens = sum(len(seq) for seq in gold)
    out["token_accuracy"] = (
        sum(a == b for gs, ps in zip(gold, pred) for a, b in zip(gs, ps)) / tokens if tokens else 0.0
    )
    return out


def _prf(true_pos: int, predicted: int, actual: int) -> dict:
    precision = true_pos / predicted if predicted else 0.0
    recall = true_pos / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def confusion_text(matrix: list[list[int]], labels: list[str]) -> str:
    width = max(8, *(len(l) for l in labels)) + 1
    lines = ["gold \\ predicted".ljust(width) + "".join(l[:width - 1].rjust(width) for l in labels)]
    for label, row in zip(labels, matrix):
        lines.append(label.ljust(width) + "".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)


def confusion_png(matrix: list[list[int]], labels: list[str], path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = min(24, 2 + 0.35 * len(labels))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    data = np.asarray(matrix)
    image = ax.imshow(data, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90 if len(labels) > 6 else 0,
                  fontsize=8 if len(labels) > 20 else 10)
    ax.set_yticks(range(len(labels)), labels, fontsize=8 if len(labels) > 20 else 10)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    if len(labels) <= 12:
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                ax.text(j, i, str(data[i, j]), ha="center", va="center",
                        color="white" if data[i, j] > data.max() / 2 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def format_report(metrics: dict, title: str) -> str:
    """A plain-text report of one split's metrics (per class or per entity type)."""
    lines = [title, "=" * len(title)]
    if "per_type" in metrics:
        lines.append(f"{'entity':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
        for kind, m in metrics["per_type"].items():
            lines.append(f"{kind:<16}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}{m['support']:>10}")
        lines.append(f"{'all (micro)':<16}{metrics['precision']:>10.4f}{metrics['recall']:>10.4f}"
                     f"{metrics['f1']:>10.4f}{metrics['support']:>10}")
        return "\n".join(lines)
    if "per_class" in metrics:
        width = max(16, *(len(l) + 2 for l in metrics["per_class"]))
        lines.append(f"{'label':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
        for label, m in metrics["per_class"].items():
            lines.append(f"{label:<{width}}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}{m['support']:>10}")
        lines.append("")
        for key in ("accuracy", "macro_f1", "weighted_f1", "ece"):
            if key in metrics:
                lines.append(f"{key:<{width}}{metrics[key]:>10.4f}")
        lines.append("")
        if len(metrics["labels"]) <= 20:
            lines.append(confusion_text(metrics["confusion_matrix"], metrics["labels"]))
        else:  # a 77 x 77 table of text helps nobody: the picture and the manifest hold it
            lines.append(f"confusion matrix: {len(metrics['labels'])} labels, see confusion.png and manifest.json")
        return "\n".join(lines)
    for key, value in metrics.items():
        if isinstance(value, (int, float)):
            lines.append(f"{key:<24}{value:>10.4f}")
    return "\n".join(lines)


def evaluate_predictor(predictor, examples) -> dict:
    """Score a loaded predictor (any backend) on labelled examples with the task's metrics."""
    task = predictor.task
    if task == "token_classification":
        predictions = predictor.predict(examples.texts)
        return span_metrics(examples.labels, [p["tags"] for p in predictions])
    if task == "sentence_embedding":
        return retrieval_metrics(predictor.embed(examples.texts), predictor.embed(examples.pairs))
    predictions = predictor.predict(examples.texts, examples.pairs)
    labels = predictor.labels
    probabilities = np.array([[p["scores"][l] for l in labels] for p in predictions])
    return classification_metrics(list(examples.labels), [p["label"] for p in predictions], labels, probabilities)


def retrieval_metrics(queries: np.ndarray, documents: np.ndarray) -> dict:
    """Each query's own pair is the one right document among all of them: accuracy@1 and MRR."""
    scores = queries @ documents.T  # (N, N) cosine similarities of normalised vectors
    own = np.diag(scores)
    ranks = (scores > own[:, None]).sum(axis=1) + 1
    return {"accuracy_at_1": float((ranks == 1).mean()), "mrr": float((1.0 / ranks).mean()),
            "support": int(len(ranks))}
