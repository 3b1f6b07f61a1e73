"""The README's commands stay true: CI runs the test command verbatim, the main
job's script exists with the options the README gives it, and the docs command
builds the site the way the test suite checks it (tests/test_docs.py)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    """The main job, the tests and the docs build, in the README's order."""
    main_job, tests, docs = re.findall(
        r"```bash\n(python3 -m venv .*?)\n```", (ROOT / "README.md").read_text()
    )
    return main_job, tests, docs


def test_ci_runs_the_readme_test_command_verbatim():
    _, tests, _ = readme_commands()
    assert tests.endswith("&& pytest")
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci_lines


def test_main_job_runs_the_quickstart_with_its_output_folder():
    main_job, _, _ = readme_commands()
    script, out = re.search(r"python (examples/\S+\.py) --out (\S+)$", main_job).groups()
    assert (ROOT / script).is_file() and script == "examples/quickstart.py"
    assert out == "out/quickstart"


def test_docs_command_builds_with_warnings_as_errors_and_every_reference_checked():
    _, _, docs = readme_commands()
    assert 'pip install -e ".[docs]"' in docs
    assert docs.endswith("&& sphinx-build -W -n -b html docs docs/_build/html")
    assert (ROOT / "docs" / "conf.py").is_file()
