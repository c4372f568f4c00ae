"""exercises/ is exactly what tools/make_exercises.py generates from solutions/."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "make_exercises.py"


def _tool():
    spec = importlib.util.spec_from_file_location("make_exercises", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exercises_are_in_sync_with_solutions():
    result = subprocess.run([sys.executable, str(TOOL), "--check"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, (
        "exercises/ differs from what solutions/ generates; run `make exercises` and commit exercises/:\n" + result.stdout
    )


def test_every_solution_region_becomes_a_todo_and_a_raise():
    tool = _tool()
    source = '''"""Module docstring."""


def f(x):
    """Docstring kept."""
    ### BEGIN SOLUTION
    return x + 1
    ### END SOLUTION


class C:
    def g(self):
        """Kept too."""
        y = 1  # provided code stays
        ### BEGIN SOLUTION
        # TODO: add y to 41
        return y + 41
        ### END SOLUTION
'''
    out = tool.strip_solutions(source, "exnn_demo")
    assert "return x + 1" not in out and "return y + 41" not in out
    assert '    """Docstring kept."""\n    # TODO: write this part' in out
    assert '    raise NotImplementedError("write f() in exercises/exnn_demo.py")\n' in out
    assert '        y = 1  # provided code stays\n        # TODO: add y to 41\n' in out
    assert '        raise NotImplementedError("write g() in exercises/exnn_demo.py")\n' in out
    assert "SOLUTION" not in out
    compile(out, "exnn_demo.py", "exec")  # still valid Python
    assert tool.strip_solutions(source, "exnn_demo") == out  # deterministic


@pytest.mark.parametrize("bad", [
    "def f():\n    ### BEGIN SOLUTION\n    pass\n",
    "def f():\n    pass\n    ### END SOLUTION\n",
    "def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n",
])
def test_malformed_regions_are_refused(bad):
    tool = _tool()
    with pytest.raises(tool.RegionError):
        tool.strip_solutions(bad, "broken")


def test_check_mode_reports_a_difference(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "ex.py").write_text("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n")
    args = ["--solutions", str(tmp_path / "solutions"), "--exercises", str(tmp_path / "exercises")]
    check = [sys.executable, str(TOOL), "--check", *args]
    assert subprocess.run(check, capture_output=True, timeout=60).returncode == 1  # nothing generated yet
    assert subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, timeout=60).returncode == 0
    assert subprocess.run(check, capture_output=True, timeout=60).returncode == 0
    (tmp_path / "exercises" / "stale.py").write_text("x = 1\n")
    result = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "stale" in result.stdout


def test_every_exercise_module_has_regions_and_graded_tests():
    from lab.grading import EXERCISES, tests_of

    for exercise in EXERCISES:
        solution = (ROOT / "solutions" / f"{exercise.module}.py").read_text()
        assert "### BEGIN SOLUTION" in solution, exercise.module
        assert (ROOT / tests_of(exercise)).is_file(), exercise.module
        assert (ROOT / "exercises" / f"{exercise.module}.py").is_file(), exercise.module
