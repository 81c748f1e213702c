"""``ftsuite export`` / ``predict --backend onnx`` / ``bench`` through the command line."""

from __future__ import annotations

import json

from .conftest import data_file


def test_round_trip_train_export_predict(export_tiny_base, tmp_path, capsys, monkeypatch):
    from core.cli import main

    data = data_file(tmp_path, "text_classification")
    config = tmp_path / "tiny.toml"
    config.write_text(
        f'name = "tiny-cli"\ntask = "text_classification"\n[data]\ntrain = "{data.name}"\n'
        f'test_size = 0.2\nvalidation_size = 0.2\n[model]\nbase = "{export_tiny_base}"\nmax_length = 32\n'
        "[train]\nepochs = 1\nmax_steps = 4\nbatch_size = 8\nlearning_rate = 1e-3\nwarmup_ratio = 0.0\n",
        encoding="utf-8")
    artifact = tmp_path / "artifact"
    assert main(["train", str(config), "--output", str(artifact), "--quiet"]) == 0
    capsys.readouterr()

    # the relative data path in the config is found again through the manifest
    assert main(["export", str(artifact), "--int8", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "| fp32 | onnx/model.onnx |" in out and "| int8 | onnx/model.int8.onnx |" in out
    assert "training data" in out and "int8 recipe: per-" in out and "dynamic" in out
    # the static recipe through the command line, with the artifact named relative to the cwd
    monkeypatch.chdir(tmp_path)
    assert main(["export", "artifact", "--int8", "static", "--quiet"]) == 0
    assert "calibrated on" in capsys.readouterr().out

    assert main(["predict", str(artifact), "profit rose sharply", "the dividend was cut",
                 "--backend", "onnx", "--device", "cpu", "--precision", "fp32"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [line["line"] for line in lines] == [1, 2]
    assert all(line["label"] in ("negative", "positive") for line in lines)
    described = json.loads(captured.err.strip().splitlines()[-1])["predictor"]
    assert described["backend"] == "onnx" and described["provider"] == "CPUExecutionProvider"


def test_export_of_a_missing_artifact_is_a_clean_error(tmp_path, capsys):
    from core.cli import main

    assert main(["export", str(tmp_path / "nothing")]) == 2
    assert "not an ftsuite artifact" in capsys.readouterr().err


def test_bench_rows_side_by_side(exported, capsys):
    from core.cli import main
    from exports import benchmark_artifact, format_markdown

    artifact, _ = exported("text_classification")
    result = benchmark_artifact(artifact, batch_sizes=(1, 4), lengths=(16,), repeats=2, gpu=False)
    backends = {r["backend"] for r in result["rows"]}
    assert backends == {"torch eager fp32 (CPU)", "ORT fp32 (CPU)", "ORT int8 (CPU)"}
    assert len(result["rows"]) == 6 and all(r["texts_per_s"] > 0 and r["tokens"] == 16 for r in result["rows"])
    int8 = next(r for r in result["rows"] if r["backend"] == "ORT int8 (CPU)")
    assert int8["accuracy"] is not None and int8["size_mb"] < 2
    table = format_markdown(result)
    assert "| backend | batch | tokens | texts/s |" in table and "ORT int8 (CPU)" in table

    assert main(["bench", str(artifact), "--batch-sizes", "2", "--lengths", "8", "--repeats", "1",
                 "--no-gpu", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed["rows"]) == 3 and printed["speedups"]


def test_bench_rejects_bad_sizes(exported, capsys):
    from core.cli import main

    assert main(["bench", str(exported("text_classification")[0]), "--batch-sizes", "0"]) == 2
    assert "--batch-sizes" in capsys.readouterr().err


def test_benchmark_script_uses_the_same_function():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_inference.py"
    spec = importlib.util.spec_from_file_location("bench_inference", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from exports.bench import benchmark_artifact

    assert module.benchmark_artifact is benchmark_artifact
