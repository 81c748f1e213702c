import json

import pytest

from core.cli import build_parser, main
from tests.conftest import write_csv


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("train", "evaluate", "predict", "doctor", "models", "data", "up", "export"):
        assert command in out


def test_parser_reads_train_options():
    args = build_parser().parse_args(["train", "c.toml", "--set", "train.epochs=1", "--set", "a=b",
                                      "--from", "art", "--output", "out"])
    assert args.set == ["train.epochs=1", "a=b"] and args.from_artifact == "art" and args.output == "out"


def test_errors_are_one_clear_line_and_exit_code_2(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.toml")]) == 2
    assert "config file" in capsys.readouterr().err
    assert main(["predict", str(tmp_path), "hello"]) == 2
    assert "ftsuite train" in capsys.readouterr().err


@pytest.mark.slow
def test_train_predict_evaluate_round_trip(tiny_base, sentiment_csv, tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text(f'name = "cli"\n[data]\ntrain = "{sentiment_csv}"\n[model]\nbase = "{tiny_base}"\n'
                      '[train]\nmax_steps = 2\nbatch_size = 8\n')
    art = tmp_path / "art"
    assert main(["train", str(config), "--output", str(art), "--quiet", "--set", "train.seed=1"]) == 0
    assert "test" in capsys.readouterr().out

    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"text": "profit rose"}\n{"text": ""}\nnot json\n{"text": "shares slumped"}\n')
    assert main(["predict", str(art), "--input", str(inputs)]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [l["line"] for l in lines] == [1, 2, 3, 4]
    assert lines[0]["label"] in ("positive", "negative") and "scores" in lines[0]
    assert lines[1]["error"] == "empty text" and "JSON" in lines[2]["error"]
    assert lines[3]["text"] == "shares slumped"

    plain = tmp_path / "in.txt"
    plain.write_text("profit rose\nshares slumped\n")
    assert main(["predict", str(art), "--input", str(plain)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2

    assert main(["evaluate", str(art), "--data", str(sentiment_csv)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["metrics"]["support"] == 40 and 0 <= report["metrics"]["accuracy"] <= 1

    bad = write_csv(tmp_path / "bad.csv", [("x", "neutral")])
    assert main(["evaluate", str(art), "--data", str(bad)]) == 2
    assert "unknown label 'neutral'" in capsys.readouterr().err


def test_predict_texts_may_follow_options(monkeypatch):
    import core.cli as cli

    seen = {}
    monkeypatch.setattr(cli, "cmd_predict", lambda args: seen.setdefault("texts", args.texts) and 0)
    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _rebind(parser(), cli.cmd_predict))
    assert cli.main(["predict", "ART", "first", "--backend", "onnx", "second"]) == 0
    assert seen["texts"] == ["first", "second"]
    with pytest.raises(SystemExit):
        cli.main(["doctor", "--nope"])  # unknown options still stop with a usage error


def _rebind(parser, func):
    for action in parser._subparsers._group_actions:
        action.choices["predict"].set_defaults(func=func)
    return parser


@pytest.mark.slow
def test_up_reuses_a_model_and_says_when_its_recipe_changed(tiny_base, sentiment_csv, tmp_path, capsys):
    config = tmp_path / "c.toml"
    recipe = (f'name = "up"\noutput = "{tmp_path / "art"}"\n[data]\ntrain = "{sentiment_csv}"\n'
              f'[model]\nbase = "{tiny_base}"\n[train]\nmax_steps = 2\nbatch_size = 8\n')
    config.write_text(recipe)
    assert main(["up", "--quiet", str(config)]) == 0
    assert "building" in capsys.readouterr().out
    assert main(["up", "--quiet", str(config)]) == 0
    out = capsys.readouterr().out
    assert "reusing" in out and "recipe changed" not in out
    config.write_text(recipe.replace("[model]\n", "[model]\ncase_markers = true\n"))
    assert main(["up", "--quiet", str(config)]) == 0
    out = capsys.readouterr().out
    assert "reusing" in out and "model.case_markers: False -> True" in out and "--rebuild" in out
