"""Loaders on the real datasets in ../shared/data (fail under CI=true when missing, else skip)."""

import pytest

from core.config import DataConfig
from core.data import load_examples, load_file
from tests.conftest import shared_data

pytestmark = pytest.mark.shared_data


def test_financial_phrasebank_protocol():
    path = shared_data("financial_phrasebank", "Sentences_AllAgree.txt")
    raw = load_file(path, DataConfig())
    assert len(raw) == 2264 and set(raw.labels) == {"positive", "neutral", "negative"}
    splits, summary = load_examples(DataConfig(train=str(path), test_size=0.2, validation_size=0.1),
                                    "text_classification")
    assert summary["duplicates_dropped"] == 5
    assert summary["sizes"]["test"] == 452  # 20% of the 2,259 unique sentences


def test_conll_testb_sentences():
    ex = load_file(shared_data("conll2003", "eng.testb"), DataConfig(), task="token_classification")
    assert len(ex) == 3453
    assert {t[2:] for seq in ex.labels for t in seq if t != "O"} == {"PER", "ORG", "LOC", "MISC"}


def test_tfns_with_label_map():
    cfg = DataConfig(label_map={"0": "negative", "1": "positive", "2": "neutral"})
    ex = load_file(shared_data("tfns", "train.csv"), cfg)
    assert len(ex) == 9543 and set(ex.labels) == {"negative", "positive", "neutral"}


def test_sentiment_news_keeps_every_fpb_test_sentence_out_of_training(monkeypatch):
    from pathlib import Path

    from core.config import load_config
    from core.data import PROTOCOL_TEST_SIZE, split_examples, _dedupe

    monkeypatch.setenv("FTSUITE_DATA", str(shared_data()))
    config = load_config(Path(__file__).parents[2] / "configs" / "sentiment-news.toml")
    splits, summary = load_examples(config.data, config.task, resolve=config.path)
    pool = set(splits["train"].keys()) | set(splits["validation"].keys())
    for name in ("50Agree", "AllAgree"):
        whole, _ = _dedupe(load_file(shared_data("financial_phrasebank", f"Sentences_{name}.txt"), config.data), "drop")
        test = split_examples(whole, PROTOCOL_TEST_SIZE, 0.0, 42)["test"]
        assert not pool & set(test.keys())
    assert summary["excluded"] > 900 and summary["sizes"]["train"] > 9000
