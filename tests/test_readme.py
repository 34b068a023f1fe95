"""The README's example and commands stay true."""

import re
from pathlib import Path

import numpy as np

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_readme_example_runs_and_gives_gradients_shaped_like_the_parameters():
    example = re.findall(r"```python\n(.*?)```", README, flags=re.S)[0]  # the first one
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    W, b = namespace["W"], namespace["b"]
    assert W.grad.shape == W.shape and b.grad.shape == b.shape
    assert np.all(np.isfinite(W.grad)) and np.any(W.grad != 0)


def test_the_readme_names_the_two_commands_that_ci_runs():
    for marker in ("<!-- run-command -->", "<!-- test-command -->"):
        after = README.split(marker, 1)[1].lstrip()
        assert after.startswith("```sh\n"), marker
        command = after.split("\n")[1]
        assert command.startswith("python -m pip install "), command
    assert "python -m models reproduce" in README.split("<!-- run-command -->")[1][:200]
    assert "python -m pytest" in README.split("<!-- test-command -->")[1][:200]
