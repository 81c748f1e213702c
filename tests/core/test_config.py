from pathlib import Path

import pytest

from core.config import DataConfig, ExperimentConfig, TrainConfig, expand_path, first_artifact, load_config
from core.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_unknown_key_names_the_known_ones(tmp_path):
    path = write(tmp_path, 'name = "x"\n[train]\nepoch = 3\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "'epoch'" in str(err.value) and "epochs" in str(err.value)


def test_ranges_and_choices_are_checked():
    with pytest.raises(ConfigError, match="learning_rate"):
        TrainConfig(learning_rate=0)
    with pytest.raises(ConfigError, match="strategy"):
        TrainConfig(strategy="half")
    with pytest.raises(ConfigError, match="test_size"):
        DataConfig(test_size=0.6, validation_size=0.5)
    with pytest.raises(ConfigError, match="task"):
        ExperimentConfig(task="summarise")
    with pytest.raises(ConfigError, match="class_weights"):
        TrainConfig(class_weights="heavy")
    with pytest.raises(ConfigError, match="train.distill.alpha"):
        TrainConfig(distill={"teacher": "t", "alpha": 1.5})
    with pytest.raises(ConfigError, match=r"tempo.*\[train.distill\]"):
        TrainConfig(distill={"teacher": "t", "tempo": 2})
    with pytest.raises(ConfigError, match="non-empty list"):
        TrainConfig(distill={"teacher": ["a", 3]})
    with pytest.raises(ConfigError, match="transfer must be a file or a non-empty list"):
        TrainConfig(distill={"teacher": "t", "transfer": ["a.txt", ""]})
    assert TrainConfig(distill={"teacher": "t", "transfer": ["a.txt", "b.conll"]}).distill.transfers == [
        "a.txt", "b.conll"]
    assert TrainConfig(distill={"teacher": "t"}).distill.transfers == []
    with pytest.raises(ConfigError, match="transfer needs a teacher"):
        TrainConfig(distill={"transfer": "texts.txt"})
    with pytest.raises(ConfigError, match="augment needs a teacher"):
        TrainConfig(distill={"augment": 2})
    with pytest.raises(ConfigError, match="train.distill.augment = 21"):
        TrainConfig(distill={"teacher": "t", "augment": 21})
    assert TrainConfig(distill={"teacher": ["a", "b"]}).distill.teachers == ["a", "b"]


def test_overrides_are_typed_and_nested(tmp_path):
    path = write(tmp_path, 'name = "x"\n[data]\ntrain = "t.csv"\n')
    config = load_config(path, ["train.epochs=5", "train.strategy=lora", "train.lora.r=4",
                                "data.labels=['a', 'b']", "model.dropout=0.2"])
    assert config.train.epochs == 5 and config.train.strategy == "lora" and config.train.lora.r == 4
    assert config.data.labels == ["a", "b"] and config.model.dropout == 0.2
    with pytest.raises(ConfigError, match="key=value"):
        load_config(path, ["train.epochs"])


def test_relative_paths_start_at_the_config_folder(tmp_path):
    path = write(tmp_path, 'name = "x"\n[data]\ntrain = "data/t.csv"\n')
    config = load_config(path)
    assert config.path(config.data.train) == tmp_path / "data" / "t.csv"


def test_missing_variable_says_how_to_set_it(monkeypatch):
    monkeypatch.delenv("FTSUITE_DATA", raising=False)
    with pytest.raises(ConfigError, match="export FTSUITE_DATA"):
        expand_path("${FTSUITE_DATA}/fpb.txt")
    monkeypatch.setenv("FTSUITE_DATA", "/data")
    assert str(expand_path("${FTSUITE_DATA}/fpb.txt")) == "/data/fpb.txt"
    monkeypatch.setenv("FTSUITE_DATA", "rel/data")  # relative to the working directory, not the config
    assert expand_path("${FTSUITE_DATA}/f.txt", Path("/configs")) == Path.cwd() / "rel" / "data" / "f.txt"


def test_portable_path_survives_another_working_directory(tmp_path, monkeypatch):
    from core.config import portable_path

    home = tmp_path / "home"
    (home / "artifacts" / "m").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FTSUITE_HOME", "home")  # relative, as the Makefile sets it
    stored = portable_path("home/artifacts/m")
    assert stored == "${FTSUITE_HOME}/artifacts/m"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("FTSUITE_HOME", str(home))
    assert expand_path(stored) == home / "artifacts" / "m"
    assert portable_path(tmp_path / "outside") == str(tmp_path / "outside")  # outside the home: absolute


def test_first_artifact_prefers_the_first_one_built(tmp_path):
    (tmp_path / "better").mkdir()
    (tmp_path / "basic").mkdir()
    (tmp_path / "basic" / "manifest.json").write_text("{}")
    assert first_artifact("better|basic", tmp_path) == tmp_path / "basic"
    (tmp_path / "better" / "manifest.json").write_text("{}")
    assert first_artifact("better | basic", tmp_path) == tmp_path / "better"
    assert first_artifact("missing|also-missing", tmp_path) == tmp_path / "also-missing"  # named in the error
    assert first_artifact("", tmp_path) is None


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_shipped_configs_parse(monkeypatch):
    from pathlib import Path

    monkeypatch.setenv("FTSUITE_DATA", "/data")
    configs = sorted((Path(__file__).parents[2] / "configs").glob("*.toml"))
    assert configs
    for path in configs:
        if path.name.startswith("monitor-"):
            from apps.sentiment.config import load_monitor_config

            assert load_monitor_config(path).rule_list
        else:
            assert load_config(path).name


def test_news_teacher_and_student_share_the_news_models_data(monkeypatch):
    """The distilled news model checks its teacher's data fingerprint: the three recipes must not drift."""
    monkeypatch.setenv("FTSUITE_DATA", "/data")
    configs = Path(__file__).parents[2] / "configs"
    news, teacher, student = (load_config(configs / f"{name}.toml")
                              for name in ("sentiment-news", "sentiment-news-mpnet", "sentiment-news-distilled"))
    assert news.data == teacher.data == student.data
    assert student.train.distill.teachers and student.model.base == news.model.base
    assert teacher.model.base == "mpnet"


def test_extends_overrides_the_parent_section_by_section(tmp_path):
    (tmp_path / "base.toml").write_text(
        'name = "base"\ntask = "text_classification"\n'
        '[data]\ntrain = "a.csv"\nlabel_map = { "0" = "negative", "1" = "positive" }\nseed = 7\n'
        '[train]\nepochs = 4\nlearning_rate = 6e-5\n')
    (tmp_path / "child.toml").write_text(
        'extends = "base.toml"\nname = "child"\n[data]\nlabel_map = { "1" = "good" }\n'
        '[train]\nepochs = 2\n[train.lora]\nr = 4\n')
    child = load_config(tmp_path / "child.toml", ["train.learning_rate=1e-4"])
    assert child.name == "child" and child.task == "text_classification"
    assert child.data.train == "a.csv" and child.data.seed == 7
    assert child.data.label_map == {"1": "good"}  # a value, not a section: replaced whole
    assert (child.train.epochs, child.train.learning_rate, child.train.lora.r) == (2, 1e-4, 4)


def test_extends_refuses_loops_a_missing_parent_and_a_borrowed_name(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\nname = "a"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\nname = "b"\n')
    with pytest.raises(ConfigError, match="comes back"):
        load_config(tmp_path / "a.toml")
    (tmp_path / "c.toml").write_text('extends = "nope.toml"\nname = "c"\n')
    with pytest.raises(ConfigError, match="nope.toml not found"):
        load_config(tmp_path / "c.toml")
    (tmp_path / "d.toml").write_text('extends = "c.toml"\n')
    with pytest.raises(ConfigError, match="needs its own name"):
        load_config(tmp_path / "d.toml")
