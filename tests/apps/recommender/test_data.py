"""Loaders: the documented CSV format, every bad-input case, the MovieLens recipes."""

import pytest

from apps.recommender.data import LoadReport, load_catalogue, load_dataset, load_interactions, load_ml_latest_small
from core.errors import DataError
from tests.conftest import shared_data

ITEMS = "item_id,title,year,genres,tags,description\na,Alpha,1999,Sci-Fi|Drama,space,A ship.\nb,Beta,,Comedy,,\n"


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_catalogue_text_and_lookup(tmp_path):
    catalogue = load_catalogue(_write(tmp_path / "items.csv", ITEMS))
    assert catalogue.text(0) == "Alpha (1999). Genres: Sci-Fi, Drama. Tags: space. A ship."
    assert catalogue.text(1) == "Beta. Genres: Comedy."
    assert catalogue.find("a") == 0 and catalogue.find("alpha") == 0 and catalogue.find("Alpha (1999)") == 0
    assert catalogue.find("Gamma") is None


def test_unknown_items_are_skipped_and_reported(tmp_path):
    catalogue = load_catalogue(_write(tmp_path / "items.csv", ITEMS))
    path = _write(tmp_path / "inter.csv", "user_id,item_id,rating,timestamp\nu1,a,5,10\nu1,zzz,4,11\nu2,b,,12\n")
    report = LoadReport()
    inter = load_interactions(path, catalogue, (1, 5), report=report)
    assert len(inter) == 2 and inter.ratings[1] == 5.0  # an empty rating is implicit: a positive
    assert report.skipped[0][1] == 3 and "'zzz' is not in the catalogue" in report.skipped[0][2]
    assert "1 row(s) skipped" in report.summary()


@pytest.mark.parametrize("rows, line, words", [
    ("u1,a,5,10\nu1,a,4,11\n", 3, "duplicate interaction"),
    ("u1,a,7,10\n", 2, "outside 1..5"),
    ("u1,a,0,10\n", 2, "outside 1..5"),
    ("u1,a,good,10\n", 2, "not a number"),
    ("u1,a,5,yesterday\n", 2, "timestamp"),
    (",a,5,10\n", 2, "empty id"),
])
def test_bad_interaction_rows_name_file_and_line(tmp_path, rows, line, words):
    catalogue = load_catalogue(_write(tmp_path / "items.csv", ITEMS))
    path = _write(tmp_path / "inter.csv", "user_id,item_id,rating,timestamp\n" + rows)
    with pytest.raises(DataError) as info:
        load_interactions(path, catalogue, (1, 5))
    assert f"inter.csv:{line}" in str(info.value) and words in str(info.value) and "Fix:" in str(info.value)


def test_empty_history_file_and_all_rows_skipped(tmp_path):
    catalogue = load_catalogue(_write(tmp_path / "items.csv", ITEMS))
    with pytest.raises(DataError, match="no usable interactions"):
        load_interactions(_write(tmp_path / "e.csv", "user_id,item_id,rating,timestamp\n"), catalogue)
    with pytest.raises(DataError, match="no usable interactions"):
        load_interactions(_write(tmp_path / "s.csv", "user_id,item_id,rating,timestamp\nu,x,5,1\n"), catalogue)


@pytest.mark.parametrize("text, words", [
    ("item_id,title\na,A\na,B\n", "duplicate item id"),
    ("item_id,title\na,\n", "empty title"),
    ("item_id,title,year\na,A,199x\n", "not an integer"),
    ("id,title\na,A\n", "missing column"),
    ("item_id,title\n", "no items"),
])
def test_bad_catalogues(tmp_path, text, words):
    with pytest.raises(DataError, match=words):
        load_catalogue(_write(tmp_path / "items.csv", text))


def test_missing_file_says_so(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_catalogue(tmp_path / "nope.csv")


def test_sample_dataset_loads_clean():
    catalogue, inter, report = load_dataset("sample")
    assert len(catalogue) == 40 and inter.n_users == 30 and not report.skipped


def test_ml100k_missing_names_the_fetch_command(tmp_path):
    with pytest.raises(DataError, match="ftsuite data fetch ml-100k"):
        load_dataset("ml-100k", tmp_path)


@pytest.mark.shared_data
def test_ml_latest_small_recipe_has_tags_and_years():
    catalogue, inter, report = load_ml_latest_small(shared_data("movielens-latest-small"))
    assert len(catalogue) == 9742 and len(inter) == 100836 and not report.skipped
    toy = catalogue.find("Toy Story (1995)")
    assert catalogue.years[toy] == 1995 and "Animation" in catalogue.genres[toy]
    assert any(catalogue.tags[i] for i in range(len(catalogue)))
