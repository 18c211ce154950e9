"""contracts.plugins: no pydantic plugins, and no import of pydantic's search for them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from contracts import plugins

REPO = Path(__file__).parents[2]

PROBE = """
import sys
from contracts.plugins import disable
disable()
from contracts import DesiredState
state = DesiredState.model_validate({"resources": [{"kind": "file", "path": "/x", "content": ""}]})
loader = sys.modules["pydantic.plugin._loader"]
print(len(state.resources), "importlib.metadata" in sys.modules, hasattr(loader, "_plugins"))
"""


def probe(env_value: str | None) -> str:
    env = {key: value for key, value in os.environ.items() if key != plugins.VARIABLE}
    if env_value is not None:
        env[plugins.VARIABLE] = env_value
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=REPO, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_models_validate_without_pydantic_reading_package_metadata() -> None:
    """By default (and with plugins turned off) the stand-in loader answers."""
    assert probe(None) == "1 False False"
    assert probe(plugins.ALL) == "1 False False"


def test_an_environment_that_wants_plugins_keeps_pydantics_loader() -> None:
    assert probe("some-plugin") == "1 True True"


def test_pydantic_itself_finds_no_plugins_when_they_are_off() -> None:
    """The stand-in answers what pydantic's own loader answers under the same setting."""
    check = (
        "from pydantic.plugin._loader import get_plugins\n"
        "from contracts.plugins import _no_plugins\n"
        "print(list(get_plugins()) == list(_no_plugins()) == [])\n"
    )
    env = {**os.environ, plugins.VARIABLE: plugins.ALL}
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, env=env, cwd=REPO, timeout=60
    )
    assert done.stdout.strip() == "True", done.stderr
