"""The runtime over exported graphs: broken files, provider selection, bad input."""

from __future__ import annotations

import pytest

from .conftest import copy_artifact


@pytest.fixture
def exported_copy(exported, tmp_path):
    return copy_artifact(exported("text_classification")[0], tmp_path / "artifact")


def test_corrupt_graph_names_the_file_and_the_rebuild_command(exported_copy):
    from core.errors import ModelNotFoundError
    from core.inference import load_predictor

    graph = exported_copy / "onnx" / "model.onnx"
    graph.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelNotFoundError) as caught:
        load_predictor(exported_copy, backend="onnx", device="cpu", precision="fp32")
    assert str(graph) in str(caught.value) and f"ftsuite export {exported_copy}" in str(caught.value)


def test_missing_graph_names_the_file_and_the_flag(exported_copy):
    from core.errors import ModelNotFoundError
    from core.inference import load_predictor

    graph = exported_copy / "onnx" / "model.int8.onnx"
    graph.unlink()
    with pytest.raises(ModelNotFoundError) as caught:
        load_predictor(exported_copy, backend="onnx", device="cpu", precision="int8")
    assert str(graph) in str(caught.value) and f"ftsuite export {exported_copy} --int8" in str(caught.value)
    # auto precision on the CPU takes what is there
    assert load_predictor(exported_copy, backend="onnx", device="cpu").precision == "fp32"


def _cuda_works() -> bool:
    from exports.onnx_export import cuda_works

    return cuda_works()[0]


def test_cuda_that_does_not_work_is_an_error_not_a_fallback(exported):
    from core.errors import SuiteError
    from core.inference import load_predictor

    if _cuda_works():
        pytest.skip("CUDA works here: the no-fallback rule is about machines without it")
    artifact, _ = exported("text_classification")
    with pytest.raises(SuiteError, match="CUDA"):
        load_predictor(artifact, backend="onnx", device="cuda", precision="fp32")
    with pytest.raises(SuiteError, match="CUDA"):
        load_predictor(artifact, backend="torch", device="cuda")


def test_auto_reports_the_provider_it_chose(exported):
    from core.inference import load_predictor

    artifact, _ = exported("text_classification")
    predictor = load_predictor(artifact)  # auto backend, device and precision
    described = predictor.describe()
    assert described["backend"] == "onnx"
    if not _cuda_works():
        assert described["provider"] == "CPUExecutionProvider" and described["device"] == "cpu"
        assert described["precision"] == "int8"  # the CPU graph when one was exported


def test_bad_inputs(exported):
    from core.errors import DataError
    from core.inference import load_predictor

    predictor = load_predictor(exported("text_classification")[0], backend="onnx", device="cpu")
    assert predictor.predict([]) == []
    with pytest.raises(DataError, match=r"texts\[1\] is an empty string"):
        predictor.predict(["fine", "  "])
    with pytest.raises(DataError, match=r"texts\[0\] is int"):
        predictor.predict([3])
    with pytest.raises(DataError, match="is NoneType"):
        predictor.predict([None])
    long, short = predictor.predict(["profit rose " * 100, "profit rose"])
    assert long["truncated"] is True and "truncated" not in short
    assert set(long["scores"]) == set(predictor.labels)
    pair = load_predictor(exported("pair_scoring")[0], backend="onnx", device="cpu")
    with pytest.raises(DataError, match="pairs="):
        pair.predict(["a question"])
    with pytest.raises(DataError, match="1 texts but 2 pairs"):
        pair.predict(["a question"], ["one", "two"])


def test_cascade_hands_unsure_texts_to_the_second_model(exported):
    from core.errors import ConfigError
    from core.inference import CascadePredictor, load_predictor

    artifact = exported("text_classification")[0]
    first = load_predictor(artifact, backend="onnx", device="cpu", precision="int8")
    second = load_predictor(artifact, backend="torch", device="cpu")
    texts = ["profit rose", "profit fell", "sales grew in the north region", "the order was lost",
             "dividend raised", "outlook cut", "shares jumped", "costs went up"]
    alone, strong = first.predict(texts), second.predict(texts)
    tops = [max(r["scores"].values()) for r in alone]
    middle = sorted(tops)[len(tops) // 2]

    cascade = CascadePredictor(first, second, defer_below=middle)
    got = cascade.predict(texts)
    for result, own, better, top in zip(got, alone, strong, tops):
        if top < middle:  # unsure: the second model's answer, marked
            assert result["deferred"] is True and result["scores"] == better["scores"]
        else:
            assert "deferred" not in result and result["scores"] == own["scores"]
    assert cascade.deferred == sum(top < middle for top in tops) > 0 and cascade.seen == len(texts)
    assert CascadePredictor(first, second, 0.0).predict(texts) == alone
    assert [r["label"] for r in CascadePredictor(first, second, 1.0).predict(texts)] == [r["label"] for r in strong]
    assert cascade.describe()["then"]["backend"] == "torch" and cascade.backend == "onnx+torch"

    # a weight under 1 blends the two models' probabilities for the deferred texts only
    blended = CascadePredictor(first, second, defer_below=middle, second_weight=0.25).predict(texts)
    for result, plain, own, better in zip(blended, got, alone, strong):
        if plain.get("deferred"):
            expected = {l: 0.25 * better["scores"][l] + 0.75 * own["scores"][l] for l in first.labels}
            assert result["scores"] == pytest.approx(expected) and result["deferred"] is True
            assert result["label"] == max(expected, key=expected.get)
        else:
            assert result == plain

    with pytest.raises(ConfigError, match="two text-classification models"):
        CascadePredictor(first, load_predictor(exported("pair_scoring")[0], backend="onnx", device="cpu"), 0.5)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        CascadePredictor(first, second, 1.5)
    with pytest.raises(ConfigError, match="second_weight = 0"):
        CascadePredictor(first, second, 0.5, second_weight=0.0)
    second.labels = ["up", "down"]
    with pytest.raises(ConfigError, match="the same labels"):
        CascadePredictor(first, second, 0.5)
