"""The service on the shipped sample catalogue (frozen MiniLM text vectors, no fine-tuning)."""

import numpy as np
import pytest

from apps.recommender.pipeline import Recommender
from core.errors import ModelNotFoundError, SuiteError


def _ids(rows):
    return [r["item_id"] for r in rows]


def test_constructor_is_cheap_and_missing_folder_names_the_fix(tmp_path):
    recommender = Recommender(tmp_path / "none")
    with pytest.raises(ModelNotFoundError, match="ftsuite recommend train"):
        recommender.warm_up()


def test_recommend_user_excludes_seen_and_explains(sample_recommender):
    rec = sample_recommender
    rows = rec.recommend_user("u01", 5)
    seen = {rec.catalogue.ids[i] for i in rec.seen[rec.interactions.user_index["u01"]][0]}
    assert len(rows) == 5 and not seen & set(_ids(rows))
    assert all(set(r) >= {"item_id", "title", "score", "explanation"} for r in rows)
    assert all(r["explanation"].startswith("because you liked ") for r in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)


def test_unknown_user_and_bad_k_are_clear(sample_recommender):
    with pytest.raises(SuiteError, match="unknown user 'nobody'.*recommend_from_items"):
        sample_recommender.recommend_user("nobody")
    with pytest.raises(SuiteError, match="from 1 to 100"):
        sample_recommender.recommend_user("u01", 0)
    with pytest.raises(SuiteError, match="whole number"):
        sample_recommender.recommend_user("u01", "ten")


def test_new_user_from_liked_titles(sample_recommender):
    rows = sample_recommender.recommend_from_items(["The Quiet Orbit", "m03"], 5)
    assert "m01" not in _ids(rows) and "m03" not in _ids(rows)
    assert any("Sci-Fi" in r["genres"] for r in rows[:3])
    assert "because you liked" in rows[0]["explanation"]


def test_unknown_title_suggests_and_empty_list_is_refused(sample_recommender):
    with pytest.raises(SuiteError, match="unknown item 'Quiet Orbit'.*Did you mean: The Quiet Orbit"):
        sample_recommender.recommend_from_items(["Quiet Orbit"])
    with pytest.raises(SuiteError, match="at least one liked item"):
        sample_recommender.recommend_from_items([" "])


def test_new_user_from_a_sentence(sample_recommender):
    rows = sample_recommender.recommend_text("a haunted house horror story", 3)
    assert any("Horror" in r["genres"] for r in rows)
    assert rows[0]["explanation"].startswith("matches your description")
    with pytest.raises(SuiteError, match="empty"):
        sample_recommender.recommend_text("   ")
    with pytest.raises(SuiteError, match="under 1000"):
        sample_recommender.recommend_text("x" * 1001)


def test_similar_items_share_genres(sample_recommender):
    rows = sample_recommender.similar("Whispers in Hollow Lane", 3)
    assert "m21" not in _ids(rows)
    assert any("Horror" in r["genres"] for r in rows)
    assert "similar to Whispers in Hollow Lane (2013)" in rows[0]["explanation"]
    with pytest.raises(SuiteError, match="unknown item"):
        sample_recommender.similar("no such film")


def test_new_item_audience_prefers_matching_users(sample_recommender):
    rows = sample_recommender.new_item_audience("Orbit of Shadows", ["Sci-Fi", "Thriller"],
                                                "A crew in deep space hides a secret.", 5)
    assert len(rows) == 5 and np.all(np.diff([r["score"] for r in rows]) <= 0)
    with pytest.raises(SuiteError, match="needs a title"):
        sample_recommender.new_item_audience(" ")


def test_new_item_audience_goes_through_the_cold_start_mapping(sample_recommender):
    space = sample_recommender.new_item_audience("Orbit of Shadows (2019)", ["Sci-Fi"], "Deep space.", 5)
    romance = sample_recommender.new_item_audience("Letters from Lisbon", ["Romance", "Comedy"],
                                                   "Two pen pals fall in love.", 5, year=2019)
    assert [r["user"] for r in space] != [r["user"] for r in romance]
    assert len({r["score"] for r in space}) > 1
    with pytest.raises(SuiteError, match="unknown genre"):
        sample_recommender.new_item_audience("Orbit", ["Space Opera"])
    with pytest.raises(SuiteError, match="characters"):
        sample_recommender.new_item_audience("Orbit", [], "x" * 2000)
