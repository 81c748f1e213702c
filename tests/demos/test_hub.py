"""The hub: one tab per demo; an app that cannot start gets a tab that says why, never a crash."""

import gradio as gr

from demos.hub import DEMOS, build_hub, prepare_apps


def test_every_demo_module_is_listed_once():
    assert len({module for _, module in DEMOS}) == len(DEMOS) == 3


def test_a_broken_app_becomes_a_tab_that_names_the_fix():
    apps = prepare_apps([("Nowhere", "demos.no_such_demo")])
    assert list(apps) == ["Nowhere"]
    assert isinstance(apps["Nowhere"], gr.Blocks)
    text = " ".join(getattr(block, "value", "") or "" for block in apps["Nowhere"].blocks.values()
                    if isinstance(getattr(block, "value", None), str))
    assert "could not start" in text and "make models" in text
    assert isinstance(build_hub(apps), gr.Blocks)
