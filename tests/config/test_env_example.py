""".env.example lists every FAULTLINE knob of resilience/conf.py with its default."""

import re
from pathlib import Path

from resilience import conf

ROOT = Path(__file__).resolve().parents[2]
# `# FAULTLINE_<KEY>=<default>`, then optionally spaces and a `# comment`.
LINE = re.compile(r"^# FAULTLINE_(?P<key>[A-Z0-9_]+)=(?P<value>.*?)(?:\s+#.*)?$")
# Read by config/settings/base.py itself, before the knobs: where local state lives.
SETTINGS_LEVEL = {"VAR_DIR"}


def _listed() -> list[tuple[str, str]]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return [(m["key"], m["value"]) for m in map(LINE.match, lines) if m]


def test_env_example_lists_exactly_the_knobs_once_each():
    keys = [key for key, _ in _listed() if key not in SETTINGS_LEVEL]
    assert len(keys) == len(set(keys)), "listed twice"
    assert set(keys) == set(conf.DEFAULTS)


def test_env_example_shows_each_knobs_default():
    for key, value in _listed():
        if key in SETTINGS_LEVEL:
            continue
        default = conf.DEFAULTS[key]
        read = conf.env_cast(variable=f"FAULTLINE_{key}", raw=value, default=default)
        assert (type(read), read) == (type(default), default), key
