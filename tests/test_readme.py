"""The README's example and commands stay true."""

import re
from pathlib import Path

import numpy as np

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


EXAMPLES = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_the_readme_example_runs_and_gives_gradients_shaped_like_the_parameters():
    example = EXAMPLES[0]
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


def test_the_readme_hooks_and_anomaly_example_prints_what_it_says(capsys):
    (example,) = [e for e in EXAMPLES if "detect_anomaly" in e]
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert out.startswith("[ 2.  8. 18.] [4. 5. 5.] [array([ 2.,  8., 18.])]\n")
    assert 'label="h = Mul' in out and "digraph autograd_lite" in out
    assert "detect_anomaly: Sqrt.backward produced NaN" in out
    assert len(namespace["seen"]) == 1


def test_the_readme_graph_picture_and_its_command_exist():
    after = README.split("<!-- graph-command -->", 1)[1].lstrip()
    command = after.split("\n")[1]
    assert command == "python -m models graph --out docs/moon_graph.svg"
    assert "![The moon network's graph](docs/moon_graph.svg)" in README
    svg = (Path(__file__).resolve().parents[1] / "docs" / "moon_graph.svg").read_text()
    assert "loss = SoftmaxCrossEntropy" in svg and "fc1.weight" in svg


def test_the_readme_ensemble_example_gives_the_sequential_accuracies():
    (example,) = [e for e in EXAMPLES if "ensemble.train" in e]
    assert "range(100)" in example
    namespace: dict = {}
    exec(compile(example.replace("range(100)", "range(3)"), "README.md", "exec"), namespace)
    from models import experiments

    expected = experiments.repeat(runs=3, progress=False, workers=1, method="sequential")
    assert namespace["accuracies"] == expected.accuracies.tolist()


def test_the_readme_compile_example_trains_as_the_uncompiled_step(capsys):
    from autograd_lite.compile import Compiled

    (example,) = [e for e in EXAMPLES if "@al.compile" in e]
    compiled: dict = {}
    exec(compile(example, "README.md", "exec"), compiled)
    assert capsys.readouterr().out.endswith(" 1\n")  # one trace
    uncompiled = example.replace("@al.compile\n", "").replace("train_step.traces", "1")
    eager: dict = {}
    exec(compile(uncompiled, "README.md", "exec"), eager)
    for p, q in zip(compiled["params"], eager["params"]):
        assert np.array_equal(p.data, q.data)
    assert isinstance(compiled["train_step"], Compiled) and compiled["train_step"].traces == 1
