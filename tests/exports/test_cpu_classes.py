"""int8 on every x86 CPU class: the recipe is chosen for the class the graph will serve on, the class
is recorded, and a graph that lands on another class is checked there before it serves.

These tests hold on any machine: the AVX2 path is forced through ``cpu=`` (the recipes) and the
recorded session options (ONNX Runtime's U8U8 kernel), and "another class" is always one that is
not this machine's.
"""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from core.cpu import INT8_CLASSES, PRECISE_KERNEL_OPTION, cpu_info_for, detect_cpu

from .conftest import copy_artifact, loose_tolerances


def _other_class() -> str:
    here = detect_cpu().int8_class
    return next(c for c in ("avx512-vnni", "amx", "avx2") if c != here)


def _set_recorded_class(artifact, int8_class: str | None) -> None:
    path = artifact / "manifest.json"
    manifest = json.loads(path.read_text())
    entry = manifest["onnx"]["graphs"]["int8"]
    if int8_class is None:
        entry.pop("cpu", None)
    else:
        entry["cpu"] = {"class": int8_class}
    path.write_text(json.dumps(manifest))


def _agreement_with_fp32(artifact, predictor) -> float:
    from core.inference import load_predictor

    texts = json.loads((artifact / "onnx" / "parity.json").read_text())["texts"]
    fp32 = load_predictor(artifact, backend="onnx", device="cpu", precision="fp32")
    return float(np.mean([a["label"] == b["label"] for a, b in zip(fp32.predict(texts), predictor.predict(texts))]))


def test_cpu_detection_names_a_class_and_can_be_overridden(monkeypatch):
    cpu = detect_cpu()
    assert cpu.int8_class in (*INT8_CLASSES, "x86", "unknown")
    assert cpu.describe()["class"] == cpu.int8_class
    assert cpu_info_for("avx2").u8s8_saturates and cpu_info_for("avx512").u8s8_saturates
    assert not cpu_info_for("avx512-vnni").u8s8_saturates and not cpu_info_for("arm-dotprod").u8s8_saturates
    with pytest.raises(ValueError, match="unknown CPU class 'avx3'.*avx2"):
        cpu_info_for("avx3")
    monkeypatch.setenv("FTSUITE_CPU_CLASS", "avx-vnni")
    detect_cpu.cache_clear()
    try:
        assert detect_cpu().int8_class == "avx-vnni" and not detect_cpu().u8s8_saturates
    finally:
        monkeypatch.delenv("FTSUITE_CPU_CLASS")
        detect_cpu.cache_clear()


def test_recipes_per_class():
    from exports.quantize import INT8_RECIPES, STATIC_INT8_RECIPES, int8_recipe_tiers

    assert int8_recipe_tiers("dynamic", cpu_info_for("avx512-vnni")) == [list(INT8_RECIPES)]
    fast, exact = int8_recipe_tiers("static", cpu_info_for("avx2"))
    assert [r.reduce_range for r in fast] == [True] * len(STATIC_INT8_RECIPES)
    assert all(r.precise_kernel and r.session_options == {PRECISE_KERNEL_OPTION: "1"} for r in exact)
    assert all(not r.session_options for r in fast)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dynamic", "static"])
def test_an_export_for_avx2_uses_seven_bit_weights_and_serves_on_any_cpu(trained, tmp_path, method):
    from core.inference import load_predictor
    from exports import export_artifact

    artifact = copy_artifact(trained("text_classification"), tmp_path / "artifact")
    info = export_artifact(artifact, int8=method, cpu=cpu_info_for("avx2"), tolerances=loose_tolerances())
    int8 = info["graphs"]["int8"]
    assert info["cpu"]["class"] == "avx2" and int8["cpu"]["class"] == "avx2" and info["graphs"]["fp32"]["cpu"]
    assert int8["quantization"]["recipe"].endswith(("7-bit weights", "U8U8 kernel"))
    assert int8["quantization"]["candidates"][0]["recipe"].endswith("7-bit weights")
    assert int8["tolerance"]["min_agreement"] == 0.75
    stored = json.loads((artifact / "onnx" / "parity.json").read_text())
    assert 10 <= len(stored["texts"]) <= 64 and stored["pairs"] is None

    # served here: as exported on an AVX2 machine, after a passing check on any other class
    predictor = load_predictor(artifact, backend="onnx", device="cpu")
    assert predictor.precision == "int8"
    if detect_cpu().int8_class != "avx2":
        assert predictor.cpu_check["passed"] and predictor.cpu_check["exported_for"] == "avx2"
    assert _agreement_with_fp32(artifact, predictor) >= 0.75


@pytest.mark.slow
def test_the_u8u8_kernel_recipe_records_and_applies_its_session_option(trained, tmp_path, monkeypatch):
    """The second AVX2 tier (full-range weights on ONNX Runtime's U8U8 kernel), forced on any machine."""
    import exports.onnx_export as onnx_export
    from core.inference import load_predictor, serving_note
    from exports import export_artifact
    from exports.quantize import int8_recipe_tiers

    monkeypatch.setattr(onnx_export, "int8_recipe_tiers",
                        lambda method, cpu: int8_recipe_tiers(method, cpu_info_for("avx2"))[1:])
    artifact = copy_artifact(trained("pair_scoring"), tmp_path / "artifact")
    info = export_artifact(artifact, int8=True, cpu=cpu_info_for("avx2"), tolerances=loose_tolerances())
    int8 = info["graphs"]["int8"]
    assert int8["session_options"] == {PRECISE_KERNEL_OPTION: "1"}
    assert int8["quantization"]["recipe"].endswith("U8U8 kernel")
    predictor = load_predictor(artifact, backend="onnx", device="cpu", precision="int8")
    assert predictor.session_options[PRECISE_KERNEL_OPTION] == "1"
    assert predictor.describe()["session_options"][PRECISE_KERNEL_OPTION] == "1"
    assert serving_note(predictor).startswith("onnx int8 (for avx2 CPUs")


@pytest.mark.slow
def test_a_graph_from_another_cpu_class_is_checked_once_and_then_trusted(exported, tmp_path, caplog):
    from core.inference import load_predictor

    artifact = copy_artifact(exported("token_classification")[0], tmp_path / "artifact")
    _set_recorded_class(artifact, _other_class())
    with caplog.at_level(logging.INFO, logger="ftsuite.inference"):
        first = load_predictor(artifact, backend="onnx", device="cpu")
        assert first.precision == "int8" and first.cpu_check["passed"]
        assert first.cpu_check["texts"] >= 10 and "stored by the export" in first.cpu_check["source"]
        checks = json.loads((artifact / "onnx" / "cpu_checks.json").read_text())
        assert checks[detect_cpu().int8_class]["exported_for"] == _other_class()
        second = load_predictor(artifact, backend="onnx", device="cpu")
    assert second.precision == "int8" and second.cpu_check == first.cpu_check
    assert sum("checked on this" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.slow
def test_a_manifest_from_before_cpu_classes_loads_and_is_checked_on_probe_texts(exported, tmp_path):
    from core.inference import load_predictor

    artifact = copy_artifact(exported("sentence_embedding")[0], tmp_path / "artifact")
    _set_recorded_class(artifact, None)
    (artifact / "onnx" / "parity.json").unlink()
    predictor = load_predictor(artifact, backend="onnx", device="cpu")
    assert predictor.cpu_check["exported_for"].startswith("unknown")
    assert "probe sentences" in predictor.cpu_check["source"]
    assert predictor.cpu_check["passed"] == (predictor.precision == "int8")
    assert predictor.embed(["where is my card"]).shape[0] == 1


@pytest.mark.slow
def test_an_int8_graph_that_fails_on_this_cpu_serves_fp32_and_says_how_to_fix_it(exported, tmp_path, caplog):
    """A real wrong graph: the int8 graph's logits negated, so that every label flips."""
    import onnx
    from onnx import helper

    from core.inference import load_predictor, serving_note

    artifact = copy_artifact(exported("text_classification")[0], tmp_path / "artifact")
    path = artifact / "onnx" / "model.int8.onnx"
    model = onnx.load(str(path))
    output = model.graph.output[0].name
    for node in model.graph.node:
        node.output[:] = [o + "_raw" if o == output else o for o in node.output]
    model.graph.node.append(helper.make_node("Neg", [output + "_raw"], [output], name="flip"))
    onnx.save(model, str(path))
    _set_recorded_class(artifact, _other_class())

    with caplog.at_level(logging.WARNING, logger="ftsuite.inference"):
        predictor = load_predictor(artifact, backend="onnx", device="cpu")
    assert predictor.precision == "fp32" and not predictor.cpu_check["passed"]
    assert predictor.cpu_check["agreement"] < 0.5
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "serving the fp32 graph instead" in warning and f"ftsuite export {artifact} --int8" in warning
    assert "failed its check on this CPU" in serving_note(predictor)
    assert predictor.predict(["profit rose sharply"])[0]["label"] in ("positive", "negative")


@pytest.mark.slow
def test_int8_optional_keeps_the_fp32_graph_when_int8_is_refused(trained, tmp_path, capsys):
    from core.cli import main
    from core.inference import load_predictor, serving_note
    from exports import Tolerance, export_artifact

    artifact = copy_artifact(trained("text_classification"), tmp_path / "artifact")
    impossible = {"int8": Tolerance(min_agreement=1.01)}
    with pytest.raises(Exception, match="disagrees with the torch model"):
        export_artifact(artifact, int8=True, tolerances=impossible)
    assert not (artifact / "onnx").exists()
    info = export_artifact(artifact, int8=True, tolerances=impossible, int8_optional=True)
    assert info["graphs"]["int8"]["refused"] and not info["graphs"]["int8"]["validated"]
    assert sorted(p.name for p in (artifact / "onnx").iterdir()) == ["model.onnx", "parity.json"]
    predictor = load_predictor(artifact, backend="onnx", device="cpu")
    assert predictor.precision == "fp32" and "refused the int8 graph" in serving_note(predictor)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert f"class {detect_cpu().int8_class}" in out and "int8 kernel:" in out


def test_doctor_names_the_cpu_class_and_each_int8_graph(exported, tmp_path, monkeypatch, capsys):
    from core.cli import main

    home = tmp_path / "home"
    shutil.copytree(exported("text_classification")[0], home / "artifacts" / "tiny")
    monkeypatch.setenv("FTSUITE_HOME", str(home))
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cpu"]["class"] == detect_cpu().int8_class and report["cpu"]["int8_kernel"]
    assert report["int8_graphs"]["tiny"].endswith("runs as exported")
    _set_recorded_class(home / "artifacts" / "tiny", _other_class())
    assert main(["doctor", "--json"]) == 0
    assert "checked against fp32 when first loaded here" in json.loads(capsys.readouterr().out)["int8_graphs"]["tiny"]


@pytest.mark.slow
def test_apps_export_through_the_cli_in_a_child_process(trained, tmp_path):
    from core.errors import SuiteError
    from core.inference import export_with_cli

    artifact = copy_artifact(trained("text_classification"), tmp_path / "artifact")
    entry = export_with_cli(artifact)  # the recipe's own tolerance; int8 left out when it fails there
    assert (artifact / "onnx" / "model.onnx").is_file()
    assert entry.get("refused") or (entry["cpu"]["class"] == detect_cpu().int8_class
                                    and (artifact / "onnx" / "model.int8.onnx").is_file())
    with pytest.raises(SuiteError, match="exporting .* failed"):
        export_with_cli(tmp_path / "nothing")
