import pytest

from apps.sentiment.rules import Rule, aggregate, parse_duration, rules_from_config
from core.errors import ConfigError

DAY = 86400.0


def events(spec):
    """spec: list of (day, label) -> (published, label, score)"""
    score = {"negative": -0.9, "neutral": 0.0, "positive": 0.8}
    return [(d * DAY, label, score[label]) for d, label in spec]


def test_durations():
    assert parse_duration("3d") == 3 * DAY and parse_duration("90s") == 90 and parse_duration(60) == 60
    with pytest.raises(ConfigError, match="unit"):
        parse_duration("3 days")


def test_share_negative_needs_volume_and_share():
    rule = Rule("r", "share_negative", window="3d", baseline="21d", threshold=0.6, min_volume=4)
    calm = events([(20, "negative"), (20.5, "positive"), (21, "neutral"), (21.5, "positive")])
    assert rule.check(aggregate(calm, 22 * DAY, rule.window_s, rule.baseline_s))[0] is False
    burst = events([(20, "negative"), (20.5, "negative"), (21, "negative"), (21.5, "positive")])
    holds, value = rule.check(aggregate(burst, 22 * DAY, rule.window_s, rule.baseline_s))
    assert holds and value == pytest.approx(0.75)
    few = events([(21, "negative"), (21.5, "negative")])
    assert rule.check(aggregate(few, 22 * DAY, rule.window_s, rule.baseline_s))[0] is False


def test_negative_zscore_against_the_baseline():
    rule = Rule("z", "negative_zscore", window="1d", baseline="8d", threshold=3.0, min_volume=3)
    # baseline: one negative a day for 7 days (mean 1, sd 0 -> floor 1); window: 5 negatives -> z = 4
    base = [(d + 0.5, "negative") for d in range(2, 9)]
    agg = aggregate(events(base + [(9.1, "negative")] * 5), 10 * DAY, rule.window_s, rule.baseline_s)
    assert agg.negative == 5 and agg.negative_zscore == pytest.approx(4.0)
    assert rule.check(agg)[0]
    agg = aggregate(events(base + [(9.1, "negative")] * 3), 10 * DAY, rule.window_s, rule.baseline_s)
    assert not rule.check(agg)[0]  # z = 2


def test_mean_drop():
    rule = Rule("m", "mean_drop", window="1d", baseline="5d", threshold=0.5, min_volume=2)
    seq = events([(5.2, "positive"), (6.2, "positive"), (7.2, "neutral"), (9.2, "negative"), (9.4, "negative")])
    holds, value = rule.check(aggregate(seq, 10 * DAY, rule.window_s, rule.baseline_s))
    assert holds and value == pytest.approx((0.8 + 0.8 + 0.0) / 3 + 0.9)


def test_rule_config_errors():
    with pytest.raises(ConfigError, match="kind"):
        Rule("x", "spike")
    with pytest.raises(ConfigError, match="twice the window"):
        Rule("x", "share_negative", window="3d", baseline="4d")
    with pytest.raises(ConfigError, match="unknown key"):
        rules_from_config([{"name": "x", "kind": "mean_drop", "treshold": 1}])
    with pytest.raises(ConfigError, match="unique"):
        rules_from_config([{"name": "x", "kind": "mean_drop"}, {"name": "x", "kind": "mean_drop"}])
