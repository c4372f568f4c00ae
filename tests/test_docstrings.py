"""Every public function, class and method in lab/ has a docstring (issue 16: written for the next person).

Public: the name does not start with ``_``, and it is defined at the top of a
module or in the body of a public class (methods and properties included,
at any depth of classes).  Functions defined inside functions are local
helpers and are not counted.  A docstring says what, why and the units; a
module's own docstring is checked too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "lab"
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def undocumented(source: str) -> list[str]:
    """The public definitions of SOURCE (a module's text) without a docstring, as "line name"."""
    tree = ast.parse(source)
    missing = [] if ast.get_docstring(tree) else ["1 (the module)"]

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if not isinstance(node, DEFINITIONS) or node.name.startswith("_"):
                continue
            if not (ast.get_docstring(node) or "").strip():
                missing.append(f"{node.lineno} {prefix}{node.name}")
            if isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    return missing


def test_every_public_definition_in_lab_has_a_docstring():
    missing = [f"{path.relative_to(ROOT)}:{where}" for path in sorted(LAB.rglob("*.py"))
               for where in undocumented(path.read_text(encoding="utf-8"))]
    assert not missing, (f"{len(missing)} public definitions in lab/ have no docstring (say what it is, why, "
                         "and the units):\n  " + "\n  ".join(missing))


def test_the_check_finds_what_it_is_for():
    source = '''"""A module."""
def shown(): pass
def _private(): pass
class Thing:
    """Documented."""
    def method(self): pass
    def _helper(self): pass
    @property
    def size(self):
        """Bytes."""
    class Inner:
        def deep(self): pass
class _Hidden:
    def method(self): pass
def outer():
    """Documented."""
    def local(): pass
'''
    assert undocumented(source) == ["2 shown", "6 Thing.method", "11 Thing.Inner", "12 Thing.Inner.deep"]
    assert undocumented("def f():\n    '''  '''\n") == ["1 (the module)", "1 f"]
