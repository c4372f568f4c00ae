"""lab/chat/ is sans-I/O: no module there opens a socket, starts a thread or waits on a selector."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CHAT = Path(__file__).resolve().parents[2] / "lab" / "chat"
FORBIDDEN = {"socket", "threading", "select", "selectors", "asyncio", "subprocess", "ssl"}
PURE_ELSEWHERE = {"lab.tls.detect"}  # sans-I/O modules outside lab/chat that the core may use


def io_imports(source: str) -> list[str]:
    """Imports in ``source`` of an I/O module, or of a lab module outside lab.chat that is not known pure."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            top = name.split(".")[0]
            if top in FORBIDDEN:
                found.append(name)
            elif top == "lab" and not name.startswith("lab.chat") and not any(
                    name == pure or name.startswith(pure + ".") for pure in PURE_ELSEWHERE):
                found.append(name)
    return found


def test_no_chat_module_imports_io():
    modules = sorted(CHAT.glob("*.py"))
    assert len(modules) >= 7
    offenders = {path.name: io_imports(path.read_text()) for path in modules}
    assert not any(offenders.values()), {name: found for name, found in offenders.items() if found}


def test_the_check_can_fail():
    assert io_imports("import socket") == ["socket"]
    assert io_imports("from threading import Lock") == ["threading", "threading.Lock"]
    assert io_imports("from lab.net import sockopts") == ["lab.net", "lab.net.sockopts"]
    assert io_imports("from lab.tls.detect import looks_like_tls_record") == []


def test_importing_the_core_loads_no_io_module():
    # a fresh interpreter: what importing the chat core drags in; client_core uses lab.tls.detect,
    # whose package imports its other modules (ssl, socket) only when one of their names is used
    modules = ["lab.chat.wire", "lab.chat.room", "lab.chat.replies", "lab.chat.limits", "lab.chat.ratelimit",
               "lab.chat.client_core"]
    code = (f"import sys; import {', '.join(modules)}; "
            f"print(' '.join(sorted(m for m in {sorted(FORBIDDEN)!r} if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [], f"importing the chat core loads {done.stdout.strip()}"


def test_every_chat_module_is_imported_in_the_fresh_interpreter():
    """A new module in lab/chat/ joins the fresh-interpreter check above (or that check proves nothing for it)."""
    import inspect

    source = inspect.getsource(test_importing_the_core_loads_no_io_module)
    missing = [path.stem for path in sorted(CHAT.glob("*.py"))
               if path.stem != "__init__" and f'"lab.chat.{path.stem}"' not in source]
    assert not missing, f"add these to test_importing_the_core_loads_no_io_module: {missing}"


def test_lab_tls_names_load_their_module_on_first_use():
    code = ("import sys; import lab.tls.detect; before = 'ssl' in sys.modules; "
            "from lab.tls import TlsTransport, client_context, looks_like_tls_client_hello; "
            "print(before, 'ssl' in sys.modules, TlsTransport.__module__, client_context.__module__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "lab.tls.transport", "lab.tls.contexts"], done.stdout
