"""The README's commands stay true: CI runs the test command verbatim, and the main
job's script exists with the options the README gives it."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    return re.findall(r"```bash\n(python3 -m venv .*?)\n```", (ROOT / "README.md").read_text())


def test_ci_runs_the_readme_test_command_verbatim():
    _, tests = readme_commands()
    assert tests.endswith("&& pytest")
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci_lines


def test_main_job_runs_the_quickstart_with_its_output_folder():
    main_job, _ = readme_commands()
    script, out = re.search(r"python (examples/\S+\.py) --out (\S+)$", main_job).groups()
    assert (ROOT / script).is_file() and script == "examples/quickstart.py"
    assert out == "out/quickstart"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.mark.filterwarnings("error::sklearn.exceptions.ConvergenceWarning")  # none expected
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # a Dask cluster's shutdown chatter
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.parametrize("number", range(len(python_blocks())))
def test_every_python_block_runs_as_written(number, tmp_path, monkeypatch):
    # each block runs alone, as a script would: its own imports, its own data
    monkeypatch.chdir(tmp_path)
    code = compile(python_blocks()[number], f"README.md, Python block {number + 1}", "exec")
    exec(code, {"__name__": "__main__"})
