import numpy as np
import pytest

from core.evaluation import (classification_metrics, expected_calibration_error, extract_spans,
                             format_report, retrieval_metrics, span_metrics)


def test_classification_metrics_match_hand_computation():
    gold = ["a", "a", "b", "b", "c"]
    pred = ["a", "b", "b", "b", "a"]
    m = classification_metrics(gold, pred, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(3 / 5)
    # per class: a P=1/2 R=1/2 F=1/2; b P=2/3 R=1 F=0.8; c P=0 R=0 F=0
    assert m["per_class"]["b"]["f1"] == pytest.approx(0.8)
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0) / 3)
    assert m["weighted_f1"] == pytest.approx((2 * 0.5 + 2 * 0.8 + 0) / 5)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert "a" in format_report(m, "t")


def test_ece_by_hand():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    gold = np.array([0, 1, 1])
    # bins (0.8,0.867]: conf .9 correct -> |1-.9|=.1 ; (0.6]: conf .6 wrong -> .6 ; (.667,.733]: .7 right -> .3
    assert expected_calibration_error(probs, gold) == pytest.approx((0.1 + 0.6 + 0.3) / 3)


@pytest.mark.parametrize("tags, spans", [
    (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
    (["I-ORG", "I-ORG", "B-ORG"], [("ORG", 0, 2), ("ORG", 2, 3)]),  # IOB1
    (["B-PER", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 2)]),
    (["S-MISC", "B-PER", "E-PER", "O"], [("MISC", 0, 1), ("PER", 1, 3)]),  # IOBES
    (["O", "O"], []),
])
def test_extract_spans(tags, spans):
    assert extract_spans(tags) == spans


def test_span_metrics_need_exact_boundaries_and_type():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O"]]
    m = span_metrics(gold, pred)
    # gold spans 3, predicted 3, correct 2 (LOC, ORG); PER boundary wrong
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["per_type"]["PER"]["f1"] == 0.0 and m["per_type"]["LOC"]["f1"] == 1.0


def test_retrieval_metrics():
    q = np.eye(3, dtype=np.float32)
    d = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=np.float32)
    m = retrieval_metrics(q, d)
    assert m["accuracy_at_1"] == pytest.approx(1 / 3)
