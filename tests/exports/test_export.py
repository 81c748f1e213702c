"""The export stage: parity for every task kind, what the manifest records, failures that write nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.cpu import detect_cpu
from exports.quantize import int8_recipe_tiers

from .conftest import TASKS, copy_artifact

PROBES = ["Nokia opened an office in Helsinki", "profit fell sharply in the north region",
          "how do I reset my password", "a much longer text " * 20]


def _outputs(predictor, task, texts=PROBES):
    if task == "sentence_embedding":
        return predictor.embed(texts)
    pairs = texts[::-1] if task == "pair_scoring" else None
    results = predictor.predict(texts, pairs)
    if task == "token_classification":
        return [r["tags"] for r in results]
    return np.array([[r["scores"][label] for label in predictor.labels] for r in results])


@pytest.mark.parametrize("task", TASKS)
def test_parity_fp32_tight_int8_loose(exported, task):
    from core.inference import load_predictor

    artifact, info = exported(task)
    fp32, int8 = info["graphs"]["fp32"], info["graphs"]["int8"]
    (output, parity), = fp32["parity"].items()
    assert output == ("embeddings" if task == "sentence_embedding" else "logits")
    assert parity["max_abs_diff"] <= 1e-4 and fp32["agreement"] >= 0.999
    assert int8["agreement"] >= 0.75 and int8["validated"]

    # the runtime, on texts the export never saw (a long one is truncated)
    torch_out = _outputs(load_predictor(artifact, backend="torch", device="cpu"), task)
    onnx_fp32 = load_predictor(artifact, backend="onnx", device="cpu", precision="fp32")
    onnx_int8 = load_predictor(artifact, backend="onnx", device="cpu", precision="int8")
    assert onnx_fp32.provider == "CPUExecutionProvider" and onnx_int8.precision == "int8"
    assert onnx_fp32.batch_independent and not onnx_int8.batch_independent  # dynamic int8
    fp32_out, int8_out = _outputs(onnx_fp32, task), _outputs(onnx_int8, task)
    if task == "token_classification":
        assert fp32_out == torch_out
        same = sum(a == b for x, y in zip(int8_out, torch_out) for a, b in zip(x, y))
        assert same / sum(len(x) for x in torch_out) >= 0.75
    else:
        np.testing.assert_allclose(fp32_out, torch_out, atol=1e-4)
        assert np.abs(int8_out - torch_out).max() < 0.2


def test_manifest_and_metadata_record_the_export(exported):
    import onnx

    from core.artifacts import read_manifest

    artifact, info = exported("text_classification")
    manifest = read_manifest(artifact)
    assert manifest["onnx"] == json.loads(json.dumps(info))
    assert info["opset"] == 17 and info["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert info["optimizer"]["applied"] and info["optimizer"]["fused_operators"].get("Attention") == 2
    assert set(info["graphs"]) == {"fp32", "int8"}
    for precision, graph in info["graphs"].items():
        path = artifact / graph["file"]
        assert path.is_file() and graph["size_mb"] == round(path.stat().st_size / 2**20, 2)
        assert graph["test_metrics"]["support"] == manifest["data"]["sizes"]["test"]
        assert "accuracy" in graph["test_delta_vs_torch"]
        props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert json.loads(props["ftsuite.labels"]) == manifest["labels"]
        assert props["ftsuite.max_length"] == "32" and props["ftsuite.do_lower_case"] == "true"
        assert props["ftsuite.task"] == "text_classification" and props["ftsuite.precision"] == precision
    assert info["torch_test_metrics"]["accuracy"] == pytest.approx(manifest["metrics"]["test"]["accuracy"])
    assert info["graphs"]["int8"]["quantization"]["candidates"]
    assert sorted(p.name for p in (artifact / "onnx").iterdir()) == ["model.int8.onnx", "model.onnx", "parity.json"]
    assert "## ONNX" in (artifact / "README.md").read_text()


@pytest.mark.parametrize("task", TASKS)
def test_static_int8_is_calibrated_validated_and_independent_of_the_batch(trained, tmp_path, task):
    from core.inference import load_predictor
    from exports import export_artifact

    artifact = copy_artifact(trained(task), tmp_path / "artifact")
    info = export_artifact(artifact, int8="static")
    int8 = info["graphs"]["int8"]
    quantization = int8["quantization"]
    assert int8["validated"] and int8["agreement"] >= 0.75
    assert quantization["method"].startswith("static") and quantization["calibration_texts"] > 10
    # the recipes sound on this CPU are tried fastest first, up to the first that passes the int8 tolerance
    recipes = [r for tier in int8_recipe_tiers("static", detect_cpu()) for r in tier]
    candidates = quantization["candidates"]
    assert not [c for c in candidates if "error" in c]
    assert [c["recipe"] for c in candidates] == [r.name for r in recipes[:len(candidates)]]
    assert all(c["agreement"] < 0.95 for c in candidates[:-1])
    if candidates[-1]["agreement"] >= 0.95:
        assert quantization["recipe"] == candidates[-1]["recipe"] and int8["agreement"] >= 0.95
    else:
        assert len(candidates) == len(recipes)
        assert int8["agreement"] == max(c["agreement"] for c in candidates)
    assert sorted(p.name for p in (artifact / "onnx").iterdir()) == ["model.int8.onnx", "model.onnx", "parity.json"]

    # a text's answer is the same alone and beside a much longer text (dynamic int8 cannot promise that)
    predictor = load_predictor(artifact, backend="onnx", device="cpu", precision="int8")
    assert predictor.batch_independent
    # (a palindrome, so that a pair task pairs the first text with itself both times)
    alone, beside = (_outputs(predictor, task, PROBES[:1]), _outputs(predictor, task, PROBES[:1] + PROBES[3:] + PROBES[:1]))
    if task == "token_classification":
        assert alone[0] == beside[0]
    else:
        np.testing.assert_allclose(alone[0], beside[0], atol=1e-5)


def test_smoothing_moves_magnitude_into_the_weights_and_keeps_the_function(trained, tmp_path):
    import onnx
    import onnxruntime as ort
    from transformers import AutoTokenizer

    from core.artifacts import read_manifest
    from core.tasks import get_task
    from exports.onnx_export import _dummy_inputs, _graph_module, _input_names, export_graph, load_export_model
    from exports.quantize import _matmul_roles, prepare_static, smooth_ffn_inputs
    from exports.validate import reference_data, encode_batches

    artifact = trained("text_classification")
    manifest, kind = read_manifest(artifact), get_task("text_classification")
    tokenizer = AutoTokenizer.from_pretrained(str(artifact / "model"))
    model = load_export_model(artifact, "text_classification")
    names = _input_names(model, tokenizer, "text_classification")
    export_graph(_graph_module(model, names), _dummy_inputs(kind, tokenizer, "text_classification", 32, names), names,
                 "logits", "text_classification", tmp_path / "raw.onnx", 17)
    pre = prepare_static(tmp_path / "raw.onnx", tmp_path / "pre.onnx")
    data = reference_data(artifact, manifest)
    calibration = encode_batches(kind, tokenizer, data.calibration, 32, names, batch_size=1)
    smoothed = smooth_ffn_inputs(pre, tmp_path / "smoothed.onnx", calibration, 0.9)

    before, after = onnx.load(str(pre)).graph, onnx.load(str(smoothed)).graph
    projections = _matmul_roles(pre)["ffn_outputs"]
    assert len(projections) == 2 and len(after.node) == len(before.node) + 2  # a Mul before each projection
    scales = {t.name: onnx.numpy_helper.to_array(t) for t in after.initializer if t.name.endswith("/smooth")}
    assert sorted(scales) == sorted(p + "/smooth" for p in projections)
    assert all(v.shape == (64,) and not np.allclose(v, 1.0) for v in scales.values())  # per channel, moved
    run = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (pre, smoothed)]
    for batch in encode_batches(kind, tokenizer, data.parity, 32, names):
        np.testing.assert_allclose(run[0].run(None, batch)[0], run[1].run(None, batch)[0], atol=1e-4)


def test_static_int8_without_training_data_says_what_to_do(trained, tmp_path):
    from core.artifacts import read_manifest, write_manifest
    from core.errors import SuiteError
    from exports import export_artifact

    artifact = copy_artifact(trained("text_classification"), tmp_path / "artifact")
    manifest = read_manifest(artifact)
    manifest["data"]["files"]["train"] = manifest["config"]["data"]["train"] = str(tmp_path / "gone.csv")
    write_manifest(artifact, manifest)
    with pytest.raises(SuiteError, match="static int8 calibrates on the artifact's training texts.*FTSUITE_DATA"):
        export_artifact(artifact, int8="static")
    assert not (artifact / "onnx").exists()


def test_graph_over_tolerance_fails_and_writes_nothing(trained, tmp_path, monkeypatch):
    from core.artifacts import read_manifest
    from core.errors import ExportMismatchError
    from exports import export_artifact, onnx_export

    artifact = copy_artifact(trained("text_classification"), tmp_path / "artifact")
    before = read_manifest(artifact)
    real = onnx_export._run_torch
    monkeypatch.setattr(onnx_export, "_run_torch", lambda *a: [o + 0.5 for o in real(*a)])
    with pytest.raises(ExportMismatchError) as caught:
        export_artifact(artifact)
    message = str(caught.value)
    assert "logits: shape (" in message and "largest |difference| 0.5" in message and "tolerance 0.0001" in message
    assert not (artifact / "onnx").exists()
    assert read_manifest(artifact) == before
    assert not [p for p in artifact.iterdir() if p.name.startswith(".onnx")]  # no staging left behind


def test_missing_data_falls_back_to_probe_sentences_and_fp16_is_marked(trained, tmp_path):
    from core.artifacts import read_manifest, write_manifest
    from exports import export_artifact
    from exports.onnx_export import cuda_works

    artifact = copy_artifact(trained("pair_scoring"), tmp_path / "artifact")
    manifest = read_manifest(artifact)
    manifest["data"]["files"]["train"] = str(tmp_path / "gone.csv")
    manifest["config"]["data"]["train"] = str(tmp_path / "gone.csv")
    write_manifest(artifact, manifest)
    info = export_artifact(artifact, fp16=True)
    assert "probe sentences" in info["validation"]["source"] and "no test metrics" in info["validation"]["note"]
    assert info["graphs"]["fp32"]["test_metrics"] is None and info["graphs"]["fp32"]["agreement"] == 1.0
    fp16 = info["graphs"]["fp16"]
    assert (artifact / fp16["file"]).is_file()
    if not cuda_works()[0]:
        assert fp16["validated"] is False and fp16["note"].startswith("not validated: no GPU")
        assert fp16["loads_on_cpu"]


def test_bad_options_are_user_errors(exported):
    from core.errors import ModelNotFoundError, SuiteError
    from exports import export_artifact

    artifact, _ = exported("text_classification")
    with pytest.raises(SuiteError, match="opset"):
        export_artifact(artifact, opset=9)
    with pytest.raises(ModelNotFoundError, match="not an ftsuite artifact"):
        export_artifact(artifact / "model")


def test_reexport_replaces_the_graphs(exported, tmp_path):
    from exports import export_artifact

    artifact = copy_artifact(exported("sentence_embedding")[0], tmp_path / "artifact")
    info = export_artifact(artifact, opset=14, optimize=False)
    assert info["opset"] == 14 and info["optimizer"] == {"applied": False, "reason": "--no-optimize"}
    assert sorted(p.name for p in (artifact / "onnx").iterdir()) == ["model.onnx", "parity.json"]
    assert info["graphs"]["fp32"]["agreement_measure"].startswith("mean cosine")


def test_lora_adapter_is_merged_before_export(trained, tmp_path):
    """An artifact whose model/ is a LoRA adapter (ftsuite itself merges before saving)."""
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from exports import export_artifact

    artifact = copy_artifact(trained("text_classification"), tmp_path / "artifact")
    base = tmp_path / "classifier-base"
    AutoModelForSequenceClassification.from_pretrained(str(artifact / "model")).save_pretrained(base)
    tokenizer = AutoTokenizer.from_pretrained(str(artifact / "model"))
    lora = get_peft_model(AutoModelForSequenceClassification.from_pretrained(str(base)),
                          LoraConfig(task_type=TaskType.SEQ_CLS, r=4, lora_alpha=8, target_modules=["query", "value"],
                                     init_lora_weights=False))  # non-zero adapter weights: merging matters
    for path in (artifact / "model").iterdir():
        path.unlink()
    lora.save_pretrained(artifact / "model")
    tokenizer.save_pretrained(artifact / "model")
    info = export_artifact(artifact)  # torch reference: transformers loads base + adapter unmerged
    assert info["graphs"]["fp32"]["parity"]["logits"]["max_abs_diff"] <= 1e-4


def test_reference_data_rebuilds_splits_from_several_training_files(tmp_path):
    from exports.validate import reference_data

    rows = [f"{w} sentence number {n},{lab}" for n in range(30) for w, lab in (("good", "pos"), ("bad", "neg"))]
    (tmp_path / "a.csv").write_text("text,label\n" + "\n".join(rows[:30]) + "\n")
    (tmp_path / "b.csv").write_text("text,label\n" + "\n".join(rows[30:]) + "\n")
    data = {"train": ["a.csv", "b.csv"], "test_size": 0.2, "validation_size": 0.2, "seed": 1}
    manifest = {"task": "text_classification", "labels": ["neg", "pos"], "config": {"data": data},
                "data": {"files": {"train": f"{tmp_path / 'a.csv'}, {tmp_path / 'b.csv'}"}}}
    ref = reference_data(tmp_path, manifest)
    assert ref.note == "" and ref.test is not None and len(ref.test) == 12  # 20% of 60, not the probe texts


def test_a_case_marked_model_exports_with_parity(export_tiny_base, tmp_path):
    import onnx

    from core.inference import load_predictor
    from core.training import train_model
    from exports import export_artifact

    from .conftest import data_file, tiny_experiment

    config = tiny_experiment(data_file(tmp_path, "token_classification"), export_tiny_base,
                             "token_classification", name="tiny-marked")
    config.model.case_markers = True
    artifact = train_model(config, output=tmp_path / "artifact", progress=False).path
    info = export_artifact(artifact)
    assert info["graphs"]["fp32"]["agreement"] >= 0.999
    props = {p.key: p.value for p in onnx.load(str(artifact / "onnx" / "model.onnx")).metadata_props}
    assert props["ftsuite.case_markers"] == "true"
    torch_tags = _outputs(load_predictor(artifact, backend="torch", device="cpu"), "token_classification")
    onnx_tags = _outputs(load_predictor(artifact, backend="onnx", device="cpu", precision="fp32"),
                         "token_classification")
    assert onnx_tags == torch_tags
