"""`chatlab release`: the student copy has exercises/, no solutions/, and grades exercises/ by default."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lab.commands.release import INSTRUCTOR_ONLY, is_instructor_only, leaks

ROOT = Path(__file__).resolve().parent.parent


def test_leak_detection():
    assert leaks("tests/test_x.py", "import os\nfrom solutions.ex01_echo import echo_once\n")
    assert leaks("tests/test_x.py", "    import solutions.ex01_echo as ex\n")
    assert leaks("tests/test_x.py", "m = importlib.import_module('solutions.ex03_broadcast')\n")
    assert not leaks("tests/graded/conftest.py", 'return "solutions" if (root / "solutions").is_dir() else "exercises"\n')
    assert not leaks("docs/EXERCISES.md", "from solutions import x\n")  # not code
    notebook = {"cells": [{"cell_type": "markdown", "source": ["from solutions import x"]},
                          {"cell_type": "code", "source": ["import lab\n", "from solutions import ex09_wire\n"]}]}
    assert leaks("notebooks/n.ipynb", json.dumps(notebook))
    notebook["cells"].pop()
    assert not leaks("notebooks/n.ipynb", json.dumps(notebook))
    assert is_instructor_only("solutions/ex01_echo.py") and is_instructor_only("tools/make_exercises.py")
    assert not is_instructor_only("exercises/ex01_echo.py") and not is_instructor_only("solutionsX.py")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    output = tmp_path_factory.mktemp("release") / "kit"
    done = subprocess.run([sys.executable, "-m", "lab", "release", "--output", str(output)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return output


def test_release_contents(release):
    assert not (release / "solutions").exists()
    for item in INSTRUCTOR_ONLY:
        assert not (release / item.rstrip("/")).exists(), item
    assert (release / "exercises" / "ex01_echo.py").is_file() and (release / "exercises" / "__init__.py").is_file()
    assert (release / "tests" / "graded" / "conftest.py").is_file()
    assert (release / "lab" / "grading.py").is_file()
    pattern = re.compile(r"^\s*(from|import)\s+solutions\b", re.MULTILINE)
    for path in release.rglob("*.py"):
        assert not pattern.search(path.read_text(errors="replace")), f"{path} imports solutions"
    tracked = subprocess.run(["git", "ls-files", "exercises"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    for rel in tracked:
        assert (release / rel).read_bytes() == (ROOT / rel).read_bytes(), rel


def test_release_grades_exercises_by_default(release):
    done = subprocess.run([sys.executable, "-m", "pytest", "tests/graded/test_ex07_extensions.py", "-q",
                           "-p", "no:cacheprovider"], cwd=release, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout
    assert "6 failed" in done.stdout
    assert "write timestamp() in exercises/ex07_extensions.py" in done.stdout  # only the skeleton says this
    graded = subprocess.run([sys.executable, "-m", "lab", "grade", "ex07", "--json"], cwd=release,
                            capture_output=True, text=True, timeout=120)
    assert json.loads(graded.stdout)["total"] == 0


def test_release_refuses_to_overwrite(release):
    again = subprocess.run([sys.executable, "-m", "lab", "release", "--output", str(release)], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "--force" in again.stderr and "Traceback" not in again.stderr
    forced = subprocess.run([sys.executable, "-m", "lab", "release", "--output", str(release), "--force"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert forced.returncode == 0, forced.stderr
    assert (release / "exercises").is_dir()
