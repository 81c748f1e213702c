"""The training engine on a tiny BERT built in the session: every task kind and strategy."""

import json

import numpy as np
import pytest

from core.artifacts import read_manifest
from core.errors import ConfigError, DataError
from core.inference import load_predictor
from core.training import train_model
from tests.conftest import tiny_config, write_csv

pytestmark = pytest.mark.slow


def test_text_classification_writes_the_artifact_contract(tiny_base, sentiment_csv, tmp_path):
    result = train_model(tiny_config(sentiment_csv, tiny_base, class_weights="balanced",
                                     early_stopping_patience=2))
    art = result.path
    for name in ("manifest.json", "model/config.json", "model/model.safetensors", "model/tokenizer.json",
                 "report.txt", "README.md", "confusion.png"):
        assert (art / name).is_file(), name
    manifest = read_manifest(art)
    assert manifest["labels"] == ["negative", "positive"]
    for split in ("validation", "test"):
        assert {"accuracy", "macro_f1", "weighted_f1"} <= set(manifest["metrics"][split])
    assert manifest["data"]["fingerprint"] and manifest["data"]["sizes"]["test"] == 8
    assert manifest["training"]["trainable_parameters"] == manifest["training"]["total_parameters"]
    assert "torch" in manifest["versions"]
    assert not list(art.parent.glob(".*staging*")) and not list(art.parent.glob(".*.work"))
    # the reloaded artifact predicts what the manifest says it scored
    predictor = load_predictor(art, backend="torch")
    assert predictor.describe()["provider"] == "torch-cpu"
    out = predictor.predict(["profit rose sharply", "the dividend was cut"])
    assert set(out[0]["scores"]) == {"negative", "positive"}
    assert sum(out[0]["scores"].values()) == pytest.approx(1.0)


@pytest.mark.parametrize("strategy", ["lora", "top_layers"])
def test_parameter_efficient_strategies_train_fewer_weights(tiny_base, sentiment_csv, strategy):
    config = tiny_config(sentiment_csv, tiny_base, strategy=strategy, top_layers=1, max_steps=3)
    manifest = train_model(config)
    trained, total = manifest["training"]["trainable_parameters"], manifest["training"]["total_parameters"]
    assert 0 < trained < total / 2
    # LoRA is merged on save: the artifact loads as a plain transformers model, no peft needed
    weights = json.loads((manifest.path / "model" / "config.json").read_text())
    assert weights["num_labels"] == 2 if "num_labels" in weights else True
    assert not (manifest.path / "model" / "adapter_config.json").exists()
    load_predictor(manifest.path, backend="torch").predict(["profit rose"])


def test_continue_from_an_artifact_on_new_data(tiny_base, sentiment_csv, tmp_path):
    first = train_model(tiny_config(sentiment_csv, tiny_base, max_steps=2))
    new = write_csv(tmp_path / "new.csv", [("costs were cut and profit rose", "positive"),
                                           ("the lawsuit hurt profit", "negative")] * 1
                    + [(f"extra sentence {i}", "positive" if i % 2 else "negative") for i in range(18)])
    config = tiny_config(new, "unused-because-from", max_steps=2)
    second = train_model(config, output=tmp_path / "second", parent=first.path)
    assert second["parent"]["path"] == str(first.path)
    assert second["labels"] == first["labels"]
    bad = write_csv(tmp_path / "bad.csv", [(f"s {i}", "neutral") for i in range(10)])
    with pytest.raises(DataError, match="unknown label 'neutral'"):
        train_model(tiny_config(bad, "x", max_steps=1), output=tmp_path / "third", parent=first.path)


def test_token_classification(tiny_base, tmp_path):
    sentences = []
    for i in range(20):
        sentences.append(f"Anna{i} NNP B-NP B-PER\nvisited VBD B-VP O\nParis NNP B-NP B-LOC\n")
    path = tmp_path / "train.conll"
    path.write_text("\n".join(sentences))
    config = tiny_config(path, tiny_base, task="token_classification", max_steps=3)
    manifest = train_model(config)
    assert {"precision", "recall", "f1"} <= set(manifest["metrics"]["test"])
    assert manifest["labels"][0] == "O"
    pred = load_predictor(manifest.path, backend="torch").predict([["Anna3", "visited", "Paris"],
                                                                   "Bob went to Rome today"])
    assert len(pred[0]["tags"]) == 3 and len(pred[1]["tags"]) == 5


def test_case_markers_travel_with_the_artifact(tiny_base, tmp_path):
    from transformers import AutoTokenizer

    from core.tasks import CASE_MARKS

    sentences = [f"Anna{i} B-PER\nvisited O\nParis B-LOC\nand O\nIBM B-ORG\n" for i in range(20)]
    path = tmp_path / "train.conll"
    path.write_text("\n".join(sentences))
    config = tiny_config(path, tiny_base, task="token_classification", max_steps=3)
    config.model.case_markers = True
    manifest = train_model(config)
    assert manifest["case_markers"] is True
    saved = AutoTokenizer.from_pretrained(str(manifest.path / "model"))
    assert set(CASE_MARKS.values()) <= set(saved.get_added_vocab())
    predictor = load_predictor(manifest.path, backend="torch")
    # inputs are marked at prediction time too: a marked word costs one more piece
    assert predictor.tokenizer.convert_ids_to_tokens(
        predictor.kind.tokenize(predictor.tokenizer, [["Paris", "IBM"]], None, 16)["input_ids"][0]
    ) == ["[CLS]", "paris", CASE_MARKS["title"], "ibm", CASE_MARKS["upper"], "[SEP]"]
    pred = predictor.predict([["Anna3", "visited", "Paris"], "Bob went to Rome today"])
    assert len(pred[0]["tags"]) == 3 and len(pred[1]["tags"]) == 5
    from core.config import ExperimentConfig

    with pytest.raises(ConfigError, match="case_markers"):
        ExperimentConfig(task="sentence_embedding", model={"base": tiny_base, "case_markers": True})


def test_pair_scoring_and_sentence_embedding(tiny_base, tmp_path):
    rows = [(f"question {i}", f"answer {i}", "1") for i in range(15)]
    rows += [(f"question {i}", f"answer {(i + 5) % 15}", "0") for i in range(15)]
    path = write_csv(tmp_path / "pairs.csv", rows, header=("text", "pair", "label"))
    pair = train_model(tiny_config(path, tiny_base, task="pair_scoring", max_steps=2), output=tmp_path / "p")
    out = load_predictor(pair.path, backend="torch").predict(["question 1"], ["answer 1"])
    assert 0.0 <= out[0]["score"] <= 1.0 and out[0]["score"] == out[0]["scores"]["1"]
    with pytest.raises(DataError, match="pairs"):
        load_predictor(pair.path, backend="torch").predict(["question 1"])

    path = write_csv(tmp_path / "emb.csv", rows[:15], header=("text", "pair", "label"))
    emb = train_model(tiny_config(path, tiny_base, task="sentence_embedding", max_steps=2), output=tmp_path / "e")
    assert {"accuracy_at_1", "mrr"} <= set(emb["metrics"]["test"])
    vectors = load_predictor(emb.path, backend="torch").embed(["question 1", "answer 2"])
    assert vectors.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_sentence_embedding_with_hard_negatives(tiny_base, tmp_path):
    from core.data import load_examples

    rows = [(f"question {i}", f"answer {i}", f"answer {(i + 1) % 15}") for i in range(15)]
    path = write_csv(tmp_path / "triples.csv", rows, header=("text", "pair", "negative"))
    config = tiny_config(path, tiny_base, task="sentence_embedding", max_steps=2)
    config.data.negative_column = "negative"
    examples = load_examples(config.data, "sentence_embedding")
    train = examples[0]["train"]
    assert train.negatives is not None and len(train.negatives) == len(train.texts)
    assert all(n.startswith("answer ") for n in train.negatives)
    emb = train_model(config, output=tmp_path / "e")
    assert load_predictor(emb.path, backend="torch").embed(["question 1"]).shape == (1, 32)

    rows[3] = ("question 3", "answer 3", "")
    bad = write_csv(tmp_path / "bad.csv", rows, header=("text", "pair", "negative"))
    config.data.train = str(bad)
    with pytest.raises(DataError, match="bad.csv") as info:
        load_examples(config.data, "sentence_embedding")
    assert "negative" in str(info.value)
    config = tiny_config(path, tiny_base)
    config.data.negative_column = "negative"
    with pytest.raises(ConfigError, match="negative_column"):
        train_model(config, output=tmp_path / "c")


def test_bad_settings_fail_before_training(tiny_base, sentiment_csv, tmp_path):
    with pytest.raises(ConfigError, match="train.metric"):
        train_model(tiny_config(sentiment_csv, tiny_base, metric="bleu"))
    one = write_csv(tmp_path / "one.csv", [(f"s {i}", "a") for i in range(10)])
    with pytest.raises(ConfigError, match="two or more"):
        train_model(tiny_config(one, tiny_base))
    with pytest.raises(ConfigError, match="class_weights names unknown labels"):
        train_model(tiny_config(sentiment_csv, tiny_base, class_weights={"neutral": 2.0}))


def test_device_cuda_without_a_gpu_is_an_error(tiny_base, sentiment_csv):
    import torch

    from core.errors import SuiteError

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    manifest = train_model(tiny_config(sentiment_csv, tiny_base, max_steps=1))
    with pytest.raises(SuiteError, match="CUDA"):
        load_predictor(manifest.path, backend="torch", device="cuda")


def test_killed_run_leaves_no_artifact_and_resumes_from_its_checkpoint(tiny_base, sentiment_csv, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    config = tmp_path / "c.toml"
    config.write_text(f'name = "resume"\n[data]\ntrain = "{sentiment_csv}"\n[model]\nbase = "{tiny_base}"\n'
                      "[train]\nmax_steps = 400\nbatch_size = 4\neval_every = 5\nprogress = false\n")
    output = tmp_path / "art"
    work = tmp_path / ".art.work"
    cmd = [sys.executable, "-m", "core.cli", "train", str(config), "--output", str(output), "--quiet"]
    proc = subprocess.Popen(cmd, env={**os.environ, "FTSUITE_HOME": str(tmp_path / "home")})
    deadline = time.time() + 180
    while time.time() < deadline and not list(work.glob("checkpoint-*/trainer_state.json")):
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not output.exists(), "a killed run must not leave an artifact"
    done = list(work.glob("checkpoint-*"))
    assert done, "the run should have written a checkpoint before it was killed"

    result = subprocess.run(cmd + ["--resume", "--set", "train.max_steps=10"], capture_output=True, text=True,
                            env={**os.environ, "FTSUITE_HOME": str(tmp_path / "home")})
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = read_manifest(output)
    assert manifest["training"]["resumed_from"] in {p.name for p in done} | {
        f"checkpoint-{n}" for n in range(5, 401, 5)}
    assert int(manifest["training"]["resumed_from"].split("-")[1]) >= 5
    assert not work.exists()


def test_distillation_loss_matches_the_formula(tiny_base, tmp_path):
    import torch
    from transformers import AutoTokenizer, TrainingArguments

    from core.config import DistillConfig
    from core.tasks import get_task
    from core.training import FTTrainer

    model = get_task("text_classification").build_model(tiny_base, ["a", "b", "c"])
    model.eval()  # no dropout, so the two forward passes agree
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    trainer = FTTrainer(model=model, args=TrainingArguments(output_dir=str(tmp_path), report_to="none"),
                        distill=DistillConfig(teacher="t", alpha=0.3, temperature=2.0))
    batch = dict(tokenizer(["profit rose", "the dividend was cut"], padding=True, return_tensors="pt"))
    labels = torch.tensor([0, 2])
    teacher = torch.tensor([[2.0, 0.5, -1.0], [-0.5, 0.0, 1.5]])
    loss = trainer.compute_loss(model, {**batch, "labels": labels, "teacher_logits": teacher})
    with torch.no_grad():
        logits = model(**batch).logits.double()
    p = torch.softmax(teacher.double() / 2.0, -1)
    q = torch.softmax(logits / 2.0, -1)
    kl = (p * (p.log() - q.log())).sum(-1).mean()
    ce = -torch.log_softmax(logits, -1)[torch.arange(2), labels].mean()
    assert float(loss.detach()) == pytest.approx(float(0.3 * 4.0 * kl + 0.7 * ce), rel=1e-5)


def test_unlabelled_transfer_rows_carry_only_the_teacher_term(tiny_base, tmp_path):
    import torch
    from transformers import AutoTokenizer, TrainingArguments

    from core.config import DistillConfig
    from core.tasks import get_task
    from core.training import FTTrainer

    model = get_task("text_classification").build_model(tiny_base, ["a", "b", "c"])
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    trainer = FTTrainer(model=model, args=TrainingArguments(output_dir=str(tmp_path), report_to="none"),
                        distill=DistillConfig(teacher="t", alpha=0.3, temperature=2.0))
    batch = dict(tokenizer(["profit rose", "the dividend was cut"], padding=True, return_tensors="pt"))
    teacher = torch.tensor([[2.0, 0.5, -1.0], [-0.5, 0.0, 1.5]])
    with torch.no_grad():
        logits = model(**batch).logits.double()
    p = torch.softmax(teacher.double() / 2.0, -1)
    q = torch.softmax(logits / 2.0, -1)
    kl = (p * (p.log() - q.log())).sum(-1).mean()
    mixed = trainer.compute_loss(model, {**batch, "labels": torch.tensor([0, -100]), "teacher_logits": teacher})
    ce = -torch.log_softmax(logits, -1)[0, 0]  # the gold term averages over labelled rows only
    assert float(mixed.detach()) == pytest.approx(float(0.3 * 4.0 * kl + 0.7 * ce), rel=1e-5)
    unlabelled = trainer.compute_loss(model, {**batch, "labels": torch.tensor([-100, -100]),
                                              "teacher_logits": teacher})
    assert float(unlabelled.detach()) == pytest.approx(float(0.3 * 4.0 * kl), rel=1e-5)


def test_an_ensemble_of_teachers_labels_a_transfer_file(tiny_base, sentiment_csv, tmp_path):
    from core.data import Examples, load_examples
    from core.inference import load_predictor
    from core.training import _teacher_log_probs

    first = train_model(tiny_config(sentiment_csv, tiny_base, max_steps=2), output=tmp_path / "t1")
    second = train_model(tiny_config(sentiment_csv, tiny_base, max_steps=2, seed=7), output=tmp_path / "t2")
    config = tiny_config(sentiment_csv, tiny_base, max_steps=2)
    splits, _ = load_examples(config.data, config.task)
    test_text = splits["test"].texts[0]
    transfer = tmp_path / "transfer.txt"
    transfer.write_text(f"orders doubled at the plant\nthe lender wrote off its stake\n{test_text.upper()}\n"
                        "orders doubled at the plant\n", encoding="utf-8")
    # a second file, in CoNLL: its sentences are read as texts and its tags ignored
    conll = tmp_path / "news.conll"
    conll.write_text("-DOCSTART- -X- O\n\norders NNS O\ndoubled VBD O\nat IN O\nthe DT O\nplant NN O\n\n"
                     "Acme NNP B-ORG\ncut VBD O\nits PRP O\nforecast NN O\n", encoding="utf-8")
    config = tiny_config(sentiment_csv, tiny_base, max_steps=2,
                         distill={"teacher": [str(first.path), str(second.path)],
                                  "transfer": [str(transfer), str(conll)]})
    student = train_model(config, output=tmp_path / "student")
    # the test sentence (in other case) and the repeats, within and across files, are dropped
    assert student["training"]["distill"] == {"teachers": [str(first.path), str(second.path)], "transfer_rows": 3}
    assert "unlabelled transfer texts: 3" in (student.path / "README.md").read_text()
    # the ensemble's target is the mean of the teachers' probabilities
    texts = Examples(texts=["orders doubled at the plant"], labels=[None])
    labels = student["labels"]
    mean = np.mean([[load_predictor(a, backend="torch").predict(texts.texts)[0]["scores"][l] for l in labels]
                    for a in (first.path, second.path)], axis=0)
    got = np.exp(_teacher_log_probs([first.path, second.path], texts, labels)[0])
    assert got == pytest.approx(mean, rel=1e-5)
    empty = tmp_path / "empty.txt"
    empty.write_text("a fine line\n\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"empty.txt:2.*empty text"):
        train_model(tiny_config(sentiment_csv, tiny_base, max_steps=1,
                                distill={"teacher": str(first.path), "transfer": str(empty)}),
                    output=tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


def test_perturbed_copies_keep_the_words_and_never_repeat_a_text_of_the_data():
    import random

    from core.data import Examples
    from core.training import _augmented_examples, perturb

    vocabulary = ["fell", "rose", "steady"]
    text = "quarterly profit rose sharply at the mill"
    copies = [perturb(text, random.Random(seed), vocabulary) for seed in range(200)]
    assert copies == [perturb(text, random.Random(seed), vocabulary) for seed in range(200)]  # seeded
    assert all(c and set(c.split()) <= set(text.split()) | set(vocabulary) for c in copies)
    assert len(set(copies)) > 50 and any("fell" in c for c in copies)
    train = Examples(["profit rose sharply", "sales fell sharply", "profit fell sharply", "sales rose sharply"],
                     ["positive", "negative", "negative", "positive"])
    splits = {"train": train, "test": Examples(["PROFIT  rose"], ["positive"])}
    augmented = _augmented_examples(splits, 20, 0, Examples(["sales fell"], [None]))
    keys = augmented.keys()
    assert 0 < len(augmented) <= 80 and len(set(keys)) == len(keys)
    # a copy that drops 'sharply' may equal the test text or a transfer text: such copies are not kept
    assert not {"profit rose", "sales fell"} & set(keys) and set(train.keys()).isdisjoint(keys)
    assert augmented.labels == [None] * len(augmented)


def test_distillation_from_a_teacher_on_the_same_splits(tiny_base, sentiment_csv, tmp_path):
    teacher = train_model(tiny_config(sentiment_csv, tiny_base, max_steps=2), output=tmp_path / "teacher")
    config = tiny_config(sentiment_csv, tiny_base, max_steps=2, distill={"teacher": str(teacher.path)})
    student = train_model(config, output=tmp_path / "student")
    assert student["config"]["train"]["distill"]["teacher"] == str(teacher.path)
    augmented = train_model(tiny_config(sentiment_csv, tiny_base, max_steps=2,
                                        distill={"teacher": str(teacher.path), "augment": 2}),
                            output=tmp_path / "augmented")
    assert 0 < augmented["training"]["distill"]["augmented_rows"] <= 2 * augmented["data"]["sizes"]["train"]
    # the teacher's logits reach the loss (the Trainer drops batch keys the model does not take)
    plain = train_model(tiny_config(sentiment_csv, tiny_base, max_steps=2), output=tmp_path / "plain")
    losses = [[h["loss"] for h in run["training"]["history"] if "loss" in h] for run in (student, plain)]
    assert losses[0] and losses[0] != losses[1]
    assert student["data"]["fingerprint"] == teacher["data"]["fingerprint"]
    # a teacher trained on other data may have seen the student's test sentences: refused
    other = write_csv(tmp_path / "other.csv", [(f"{t} again", l) for t, l in
                                               [(f"s {i}", "positive" if i % 2 else "negative") for i in range(20)]])
    elsewhere = train_model(tiny_config(other, tiny_base, max_steps=1), output=tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match="other data or splits"):
        train_model(tiny_config(sentiment_csv, tiny_base, max_steps=1, distill={"teacher": str(elsewhere.path)}),
                    output=tmp_path / "refused")
    with pytest.raises(ConfigError, match="not an artifact folder"):
        train_model(tiny_config(sentiment_csv, tiny_base, max_steps=1, distill={"teacher": str(tmp_path / "none")}),
                    output=tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
