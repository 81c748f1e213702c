"""The intent-prior stage (sharpening, the likely intents' articles as candidates, one chunk per source) and
the embedder recipe's pairs."""

from __future__ import annotations

import json
import shutil

import pytest

from apps.support.kb import Chunk, KnowledgeBase
from apps.support.retrieval import Hit, Retriever
from core.errors import ConfigError

from .conftest import write_kb


def chunk(i, path, intent=None, kind="markdown"):
    return Chunk(i, path, "t", "s", "text", intent, None, 0, kind)


def test_sharpen_is_a_renormalised_power_and_one_leaves_probabilities_alone():
    probs = {"a": 0.6, "b": 0.3, "c": 0.1}
    assert Retriever(None).sharpen(probs) is probs
    sharp = Retriever(None, prior_temperature=0.5).sharpen(probs)
    assert sum(sharp.values()) == pytest.approx(1.0)
    assert sharp["a"] == pytest.approx(0.36 / 0.46) and sharp["a"] > probs["a"] and sharp["c"] < probs["c"]
    flat = Retriever(None, prior_temperature=4.0).sharpen(probs)
    assert flat["a"] < probs["a"] and list(flat) == ["a", "b", "c"]


def test_one_per_source_lists_the_best_chunk_of_each_source_first():
    hits = [Hit(chunk(1, "articles/a.md", "a"), 3.0), Hit(chunk(2, "articles/a.md", "a"), 2.9),
            Hit(chunk(3, "faq.csv", "a", "faq"), 2.8), Hit(chunk(4, "faq.csv", "a", "faq"), 2.7),
            Hit(chunk(5, "faq.csv", "b", "faq"), 2.6), Hit(chunk(6, "articles/b.md", "b"), 2.5)]
    assert [h.chunk.id for h in Retriever(None).diversify(list(hits))] == [1, 2, 3, 4, 5, 6]  # off: unchanged
    ranked = Retriever(None, one_per_source=True).diversify(list(hits))
    assert [h.chunk.id for h in ranked] == [1, 3, 5, 6, 2, 4]  # FAQ rows of another intent are another source
    assert [h.score for h in ranked] == [3.0, 2.8, 2.6, 2.5, 2.5, 2.5]  # scores follow the ranking


def test_the_likely_intents_article_joins_the_candidates_and_wins(shared_bot):
    kb = shared_bot.kb
    question = "What is the fee for a SWIFT transfer?"
    probs = {"card_arrival": 0.9, "transfer_fee_charged": 0.1}
    narrow = Retriever(kb, dense_k=1, bm25_k=1, intent_prior=2.0)
    plain = narrow.search(question, probs, rerank=False)
    assert {h.chunk.title for h in plain} == {"Transfer fees"}  # fusion alone never saw the card article
    wide = Retriever(kb, dense_k=1, bm25_k=1, intent_prior=2.0, intent_articles=1, one_per_source=True)
    ranked = wide.search(question, probs, rerank=False)
    assert ranked[0].chunk.title == "Card delivery" and ranked[0].scores["added"]
    assert ranked[0].scores["dense"] == pytest.approx(float(kb.index.reconstruct(ranked[0].chunk.id)
                                                            @ kb.embedder.encode([question])[0]), abs=1e-5)
    assert ranked[1].chunk.title == "Transfer fees"  # one card chunk first, then the next source
    no_intents = Retriever(kb, dense_k=1, bm25_k=1, intent_articles=1).search(question, None, rerank=False)
    assert [h.chunk.id for h in no_intents] == [h.chunk.id for h in narrow.search(question, None, rerank=False)]


def test_new_prior_options_are_validated():
    from apps.support import SupportConfig

    with pytest.raises(ConfigError, match="prior_temperature"):
        SupportConfig(prior_temperature=0)
    with pytest.raises(ConfigError, match="intent_articles"):
        SupportConfig(intent_articles=-1)


def test_tuning_refuses_the_test_split():
    from apps.support.evaluate import tune_prior

    with pytest.raises(ValueError, match="test queries are the benchmark"):
        tune_prior(None, split="test")


def test_a_changed_embedder_re_embeds_the_base_and_says_why(tmp_path, embedder):
    from core.embedding import Embedder

    kb = KnowledgeBase(tmp_path / "kb", embedder).load()
    kb.ingest([write_kb(tmp_path / "docs")])
    assert kb.embedder_id() == kb._embedder_id() and "@" in kb.embedder_id()
    count = len(kb.index)
    kb.close()
    other = tmp_path / "retrained"  # the same weights, written at another time: another embedder
    other.mkdir()
    (other / "model").symlink_to(embedder.artifact / "model")
    manifest = json.loads((embedder.artifact / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps({**manifest, "created_at": "2030-01-01T00:00:00+00:00"}))
    again = KnowledgeBase(tmp_path / "kb", Embedder(other, backend="torch")).load()
    assert len(again.index) == count
    assert any("made by" in r and str(other) in r for r in again.repairs), again.repairs
    assert str(other) in again.embedder_id()
    again.close()
    reopened = KnowledgeBase(tmp_path / "kb", Embedder(other, backend="torch")).load()
    assert reopened.repairs == []  # rebuilt once, then reused
    shutil.rmtree(other)


def test_embedder_pairs_take_the_closest_chunk_of_the_querys_article(embedder):
    from apps.support.train import article_chunks, embedder_pairs

    passages = {"card_arrival": ["Card delivery - When it arrives. Standard delivery takes 3-5 working days.",
                                 "Card delivery - Lost in the post. Report a card lost in the post for a free "
                                 "replacement."],
                "exchange_rate": ["Exchange rates. We use the interbank rate plus 0.5% at weekends."]}
    rows = embedder_pairs([("my card got lost in the post", "card_arrival"), ("what rate do you use", "exchange_rate"),
                           ("how old must I be", "age_limit")], passages, embedder)
    assert rows == [{"text": "my card got lost in the post", "pair": passages["card_arrival"][1]},
                    {"text": "what rate do you use", "pair": passages["exchange_rate"][0]}]
    sample = article_chunks()
    assert len(sample) == 77 and all(sample.values())
    assert all(p.strip() for v in sample.values() for p in v)
