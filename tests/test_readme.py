"""The README's commands stay true: CI runs the test command verbatim, and the main
job's script exists with the options the README gives it."""

import re
from pathlib import Path

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
