import json

import pytest

from core.config import DataConfig
from core.data import (Examples, check_leakage, fingerprint, load_examples, load_file, read_texts,
                       split_examples)
from core.errors import DataError
from tests.conftest import write_csv


def test_csv_tsv_jsonl_load_with_column_mapping(tmp_path):
    write_csv(tmp_path / "a.csv", [("good", "pos"), ("bad", "neg")], header=("sentence", "y"))
    (tmp_path / "a.tsv").write_text("sentence\ty\ngood\tpos\nbad\tneg\n")
    (tmp_path / "a.jsonl").write_text('{"sentence": "good", "y": "pos"}\n\n{"sentence": "bad", "y": "neg"}\n')
    cfg = DataConfig(text_column="sentence", label_column="y", label_map={"pos": "positive"})
    for name in ("a.csv", "a.tsv", "a.jsonl"):
        ex = load_file(tmp_path / name, cfg)
        assert ex.texts == ["good", "bad"] and ex.labels == ["positive", "neg"]
        assert ex.origins[1][1] in (3, 4)  # the line an editor shows


def test_empty_text_names_file_line_and_column(tmp_path):
    path = write_csv(tmp_path / "d.csv", [("fine", "a"), ("  ", "b")])
    with pytest.raises(DataError) as err:
        load_file(path, DataConfig())
    assert f"{path}:3 column 'text': empty text" in str(err.value)


def test_non_text_json_value(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": 12, "label": "a"}) + "\n")
    with pytest.raises(DataError, match=r"d.jsonl:1 column 'text': expected text, got int"):
        load_file(path, DataConfig())


def test_missing_column_lists_the_columns_present(tmp_path):
    path = write_csv(tmp_path / "d.csv", [("x", "a")], header=("body", "label"))
    with pytest.raises(DataError) as err:
        load_file(path, DataConfig())
    assert "column 'text': column is missing" in str(err.value) and "['body', 'label']" in str(err.value)


def test_undecodable_bytes_give_the_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"text,label\nok,a\ncaf\xe9,b\n")
    with pytest.raises(DataError, match=r"d.csv:3: bytes that are not utf-8"):
        load_file(path, DataConfig())


def test_ragged_csv_row(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\nok,a\nnot,ok,at all\n")
    with pytest.raises(DataError, match=r"d.csv:3: 3 fields where the header has 2"):
        load_file(path, DataConfig())


def test_fpb_and_conll_formats(tmp_path):
    fpb = tmp_path / "Sentences_50Agree.txt"
    fpb.write_bytes("Caf\xe9 sales rose .@positive\nThe firm is in Oslo .@neutral\n".encode("iso-8859-1"))
    ex = load_file(fpb, DataConfig())
    assert ex.texts[0] == "Café sales rose ." and ex.labels == ["positive", "neutral"]
    conll = tmp_path / "eng.train"
    conll.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP I-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP I-PER\n")
    ex = load_file(conll, DataConfig(), task="token_classification")
    assert ex.texts == [["EU", "rejects"], ["Peter"]] and ex.labels == [["I-ORG", "O"], ["I-PER"]]
    assert ex.origins == [(str(conll), 3), (str(conll), 6)]
    # unlabelled (a distillation transfer file, `ftsuite predict --input`): a sentence per text
    assert read_texts(conll) == [(3, "EU rejects", None, None), (6, "Peter", None, None)]


def test_unknown_label_and_duplicates(tmp_path):
    rows = [("a b", "x"), ("c d", "y"), ("A  B", "x")] + [(f"t{i}", "x" if i % 2 else "y") for i in range(20)]
    path = write_csv(tmp_path / "d.csv", rows + [("odd one", "z")])
    with pytest.raises(DataError, match=r"d.csv:25 column 'label': unknown label 'z'"):
        load_examples(DataConfig(train=str(path), labels=["x", "y"]), "text_classification")
    path = write_csv(tmp_path / "d.csv", rows)
    with pytest.raises(DataError, match=r"d.csv:4 column 'text': duplicate of line 2"):
        load_examples(DataConfig(train=str(path), duplicates="error"), "text_classification")
    splits, summary = load_examples(DataConfig(train=str(path)), "text_classification")
    assert summary["duplicates_dropped"] == 1 and sum(summary["sizes"].values()) == 22


def test_leakage_between_explicit_files(tmp_path):
    train = write_csv(tmp_path / "train.csv", [(f"text {i}", "a" if i % 2 else "b") for i in range(10)])
    test = write_csv(tmp_path / "test.csv", [("text 3", "a"), ("new", "b")])
    with pytest.raises(DataError) as err:
        load_examples(DataConfig(train=str(train), test=str(test)), "text_classification")
    assert "test.csv:2 column 'text': the same text is in train" in str(err.value)


def test_exclude_drops_test_sentences_from_training(tmp_path):
    train = write_csv(tmp_path / "train.csv", [(f"text {i}", "a" if i % 2 else "b") for i in range(30)])
    other = write_csv(tmp_path / "other.csv", [("text 3", "a"), ("text 4", "b")])
    splits, summary = load_examples(DataConfig(train=str(train), exclude=[str(other)]), "text_classification")
    assert summary["excluded"] == 2
    assert "text 3" not in splits["train"].texts + splits["test"].texts + splits["validation"].texts


def test_split_is_deterministic_stratified_and_follows_the_protocol():
    from sklearn.model_selection import train_test_split

    ex = Examples([f"t{i}" for i in range(100)], ["a"] * 70 + ["b"] * 30)
    splits = split_examples(ex, 0.2, 0.1, seed=42)
    again = split_examples(ex, 0.2, 0.1, seed=42)
    assert splits["test"].texts == again["test"].texts
    assert [len(splits[k]) for k in ("train", "validation", "test")] == [70, 10, 20]
    assert splits["test"].labels.count("b") == 6  # stratified
    _, expected_test = train_test_split(list(range(100)), test_size=0.2, random_state=42, stratify=ex.labels)
    assert splits["test"].texts == [f"t{i}" for i in expected_test]
    check_leakage(splits)


def test_fingerprint_changes_with_any_label():
    a = {"train": Examples(["x", "y"], ["p", "n"])}
    b = {"train": Examples(["x", "y"], ["p", "p"])}
    assert fingerprint(a) != fingerprint(b) and fingerprint(a) == fingerprint(a)


def test_leakage_drop_keeps_the_test_split_whole(tmp_path):
    train = write_csv(tmp_path / "train.csv", [(f"text {i}", "a" if i % 2 else "b") for i in range(10)])
    test = write_csv(tmp_path / "test.csv", [("text 3", "a"), ("new", "b")])
    splits, summary = load_examples(DataConfig(train=str(train), test=str(test), leakage="drop"),
                                    "text_classification")
    assert len(splits["test"]) == 2 and summary["excluded"] == 1
    assert "text 3" not in splits["train"].texts + splits["validation"].texts
