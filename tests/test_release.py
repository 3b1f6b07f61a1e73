"""A release's number, its changelog and its files agree: the changelog's newest
section is this version, and every earlier release since 0.2.0 (file format "3")
has the files that tests/test_compatibility.py loads."""

import re
from pathlib import Path

import skae

ROOT = Path(__file__).resolve().parents[1]


def _sections():
    """``[(version, date or "Unreleased")]`` of CHANGELOG.md, newest first."""
    text = (ROOT / "CHANGELOG.md").read_text()
    return re.findall(r"^## (\d+\.\d+\.\d+) - (\d{4}-\d\d-\d\d|Unreleased)$", text, re.M)


def _number(version):
    return tuple(int(part) for part in version.split("."))


def test_the_changelog_starts_with_this_version():
    sections = _sections()
    assert sections[0][0] == skae.__version__
    versions = [_number(version) for version, _ in sections]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)
    # only the newest section may be unreleased
    assert all(date != "Unreleased" for _, date in sections[1:])


def test_every_release_since_0_2_0_has_its_files():
    released = {version for version, date in _sections() if date != "Unreleased"}
    expected = {v for v in released if _number(v) >= (0, 2, 0)}
    folders = {path.name for path in (ROOT / "tests" / "files").iterdir() if path.is_dir()}
    assert expected <= folders, f"write the files of {sorted(expected - folders)}"


def test_the_docs_include_the_changelog():
    assert "{include} ../CHANGELOG.md" in (ROOT / "docs" / "changelog.md").read_text()
    assert re.search(r"^   changelog$", (ROOT / "docs" / "index.rst").read_text(), re.M)
