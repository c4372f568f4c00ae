"""Every module of lab/ has a test file: tests/ mirrors lab/, and the few other places are listed here.

Where to find the tests of ``lab/PKG/NAME.py``, in this order:

1. ``tests/PKG/test_NAME.py`` (the mirror);
2. ``tests/PARENT/test_PKG_NAME.py`` (one folder up, e.g. tests/experiments/test_load_render.py);
3. ``tests/PARENT/test_PKG.py`` (one file for a small package, e.g. tests/experiments/test_compare.py);
4. ``ELSEWHERE`` below: a module whose tests run it through another one.

A file found by rules 1-3 counts only if it uses the module: it imports it,
or imports its package and uses a name the module defines, or, for a
`chatlab` subcommand, runs that command.  An ``ELSEWHERE`` entry names the
test file and the word that shows it is used there (a function, a class, a
command line; for the executed notebooks, a helper the lessons call).  Most
entries are the end-to-end suites (tests/e2e, tests/hostile, tests/udp's
end-to-end file, the executed lessons), which test a module through the
program or the notebook that uses it; a unit test file at the mirror path
makes its entry unnecessary.  A module
with no test at all must be in ``UNTESTED``, with the reason.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "lab"
RUNS_THE_LESSONS = "tests/notebooks/test_notebooks.py"
TEST_FOLDERS = {"notebook": "notebooks"}  # lab/notebook's tests live beside the executed notebooks

# module -> (test file, the word in it that shows the module is exercised there)
ELSEWHERE: dict[str, tuple[str, str]] = {
    "lab/capture/analysis.py": ("tests/capture/test_annotate_vs_tshark.py", "tcp.analysis.ack_rtt"),
    "lab/capture/annotate.py": ("tests/capture/test_annotate_vs_tshark.py", "annotate"),
    "lab/capture/decode.py": ("tests/capture/test_formats.py", "lab.capture.decode"),
    "lab/capture/files.py": ("tests/capture/test_formats.py", "read_pcap"),
    "lab/capture/recovery.py": ("tests/capture/test_recovery.py", "annotate"),  # its labels, through the annotator
    "lab/capture/sniffer.py": ("tests/capture/test_live.py", "Sniffer"),
    "lab/chat/replies.py": ("tests/chat/test_room.py", "replies.REASON_RESET"),
    "lab/cli.py": ("tests/commands/test_options.py", "lab.cli"),
    "lab/commands/client.py": ("tests/e2e/test_server_process.py", 'run_chatlab("client"'),
    "lab/commands/compare.py": ("tests/experiments/test_compare.py", '"-m", "lab", "compare"'),
    "lab/commands/demo.py": ("tests/capture/test_commands.py", '_run(["demo"'),
    "lab/commands/grade.py": ("tests/test_grading.py", '"-m", "lab", "grade"'),
    "lab/commands/load.py": ("tests/experiments/test_load_e2e.py", "chatlab_load"),
    "lab/commands/netlab.py": ("tests/net/test_netlab.py", '"-m", "lab", "netlab"'),
    "lab/commands/relay.py": ("tests/experiments/test_lossy_relay.py", '"-m", "lab", "relay"'),
    "lab/commands/release.py": ("tests/test_release.py", "lab.commands.release"),
    "lab/commands/server.py": ("tests/e2e/test_server_process.py", 'run_chatlab("server"'),
    "lab/commands/sniff.py": ("tests/capture/test_commands.py", '_run(["sniff"'),
    "lab/commands/tls.py": ("tests/commands/test_tls_command.py", '_run(["tls"'),
    "lab/experiments/compare/lossy_relay.py": ("tests/experiments/test_lossy_relay.py", "LossyUdpRelay"),
    "lab/experiments/compare/reliable_half.py": ("tests/experiments/test_compare.py", "run_compare"),
    "lab/experiments/compare/router_capture.py": ("tests/experiments/test_compare.py", "count_retransmissions"),
    "lab/experiments/compare/tcp_half.py": ("tests/experiments/test_compare.py", "run_compare"),
    "lab/experiments/compare/udp_half.py": ("tests/experiments/test_compare.py", "run_compare"),
    "lab/experiments/demo.py": ("tests/capture/test_commands.py", '_run(["demo"'),
    "lab/experiments/load/runner.py": ("tests/experiments/test_load_e2e.py", "chatlab_load"),
    "lab/experiments/load/worker.py": ("tests/experiments/test_load_e2e.py", "chatlab_load"),
    "lab/lifecycle.py": ("tests/e2e/test_server_process.py", "events"),
    "lab/net/delay_stage.py": ("tests/net/test_netlab.py", 'stage="tun"'),
    "lab/net/measure.py": ("tests/net/test_netlab.py", '"netlab", "measure"'),
    "lab/net/tcpinfo.py": ("tests/e2e/test_server_process.py", "tcp_info"),
    "lab/notebook/bytestream.py": (RUNS_THE_LESSONS, "nb.show_chunks"),
    "lab/notebook/capture.py": ("tests/notebooks/test_helpers.py", "nb.Capture"),
    "lab/notebook/claims.py": ("tests/notebooks/test_claims.py", "claims"),
    "lab/notebook/datagrams.py": (RUNS_THE_LESSONS, "nb.datagrams"),
    "lab/notebook/display.py": ("tests/notebooks/test_html.py", "nb.show"),
    "lab/notebook/html.py": ("tests/notebooks/test_html.py", "html.noted_table"),
    "lab/notebook/handcraft.py": ("tests/notebooks/test_handcraft.py", "handcraft"),
    "lab/notebook/lesson.py": (RUNS_THE_LESSONS, "nb.Lesson"),
    "lab/notebook/microscope.py": ("tests/notebooks/test_microscope.py", "mic.load"),
    "lab/notebook/nagle.py": ("tests/notebooks/test_claims.py", "nagle.stall_claims"),
    "lab/notebook/repair.py": ("tests/notebooks/test_claims.py", "repair."),
    "lab/notebook/settings.py": ("tests/notebooks/test_helpers.py", "nb.FORCE_RECORDED_ENV"),
    "lab/notebook/slowreader.py": (RUNS_THE_LESSONS, "nb.slow_reader"),
    "lab/notebook/sockets.py": ("tests/notebooks/test_helpers.py", "nb.sockets"),
    "lab/notebook/tcp_vs_udp.py": (RUNS_THE_LESSONS, "nb.compare"),
    "lab/notebook/tls.py": ("tests/notebooks/test_helpers.py", "nb.tls_records"),
    "lab/notebook/wire_claims.py": ("tests/notebooks/test_claims.py", "wire_claims."),
    "lab/tcp/client.py": ("tests/e2e/test_chat.py", "spawn_client"),
    "lab/tcp/naive_server.py": ("tests/experiments/test_load_e2e.py", "naive=True"),
    "lab/tcp/server.py": ("tests/hostile/test_hostile.py", "start_server"),
    "lab/tls/detect.py": ("tests/tls/test_transport.py", "looks_like_tls_client_hello"),
    "lab/udp/client.py": ("tests/udp/test_end_to_end.py", "UdpChatClient"),
    "lab/udp/client_core.py": ("tests/udp/test_core.py", "UdpClientCore"),
    "lab/udp/datagrams.py": ("tests/udp/test_core.py", "decode_server"),
    "lab/udp/server.py": ("tests/udp/test_end_to_end.py", "UdpChatServer"),
    "lab/udp/server_core.py": ("tests/udp/test_core.py", "UdpChatCore"),
}

# module -> why it has no test file of its own (keep this short)
UNTESTED: dict[str, str] = {}


def modules() -> list[str]:
    """Every module of lab/ (package __init__ and __main__ files aside), as a path from the kit's root."""
    found = [p.relative_to(ROOT).as_posix() for p in LAB.rglob("*.py")]
    return sorted(m for m in found if not m.endswith(("/__init__.py", "/__main__.py")))


def candidates(module: str) -> list[str]:
    """The test files rules 1-3 of the module docstring look at for ``module``."""
    parts = module.removeprefix("lab/").removesuffix(".py").split("/")
    folders, name = [TEST_FOLDERS.get(f, f) for f in parts[:-1]], parts[-1]
    found = ["/".join(["tests", *folders, f"test_{name}.py"])]
    if folders:
        found.append("/".join(["tests", *folders[:-1], f"test_{folders[-1]}_{name}.py"]))
        found.append("/".join(["tests", *folders[:-1], f"test_{folders[-1]}.py"]))
    return found


def public_names(module: str) -> set[str]:
    """The names ``module`` defines at its top level for others: functions, classes, constants."""
    names = set()
    for node in ast.parse((ROOT / module).read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


def subcommands() -> set[str]:
    from lab.cli import COMMANDS

    return set(COMMANDS)


def uses(test_file: Path, module: str) -> bool:
    """Does ``test_file`` use ``module``: import it, use a name it defines from its package, or run its command?"""
    text = test_file.read_text()
    dotted = module.removesuffix(".py").replace("/", ".")
    package, _, name = dotted.rpartition(".")
    if re.search(rf"\b{re.escape(dotted)}\b", text):
        return True
    if package == "lab.commands" and name in subcommands():
        return bool(re.search(rf'(\[|\(|"lab",)\s*"{name}"\s*[,\]]', text))
    parent, _, last = package.rpartition(".")
    imports_package = re.search(rf"\b{re.escape(package)}\b|from {re.escape(parent)} import [^\n]*\b{last}\b", text)
    return bool(imports_package) and any(re.search(rf"\b{n}\b", text) for n in public_names(module))


def shows_use(test_file: str, word: str) -> bool:
    """The ELSEWHERE evidence: ``word`` in the test file (for the executed lessons: in a lesson's source)."""
    if test_file == RUNS_THE_LESSONS:
        texts = [p.read_text() for p in (ROOT / "tools" / "lessons").glob("*.py")]
    else:
        texts = [(ROOT / test_file).read_text()]
    if not word.isidentifier():  # a call or a piece of an argv: as written
        return any(word in text for text in texts)
    return any(re.search(rf"(?<![\w.]){re.escape(word)}\b", text) for text in texts)


def test_every_module_has_a_test_file():
    missing = []
    for module in modules():
        if module in UNTESTED or module in ELSEWHERE:
            continue
        if not any((ROOT / c).is_file() and uses(ROOT / c, module) for c in candidates(module)):
            missing.append(f"{module}: add {candidates(module)[0]} (or say in tests/test_layout.py where its tests are)")
    assert not missing, "modules without a test file:\n" + "\n".join(missing)


def test_the_lists_name_real_modules_and_real_test_files():
    every = set(modules())
    assert not (set(ELSEWHERE) | set(UNTESTED)) - every, "an entry for a module that no longer exists"
    for module, (test_file, word) in ELSEWHERE.items():
        assert (ROOT / test_file).is_file(), f"{module}: {test_file} does not exist"
        assert shows_use(test_file, word), f"{module}: {test_file} has no {word!r}"
    assert all(reason.strip() for reason in UNTESTED.values())


def test_the_rules_find_real_uses_and_nothing_else():
    # the checker itself: a test file that only mentions a module in passing does not count
    assert uses(ROOT / "tests/test_peer.py", "lab/peer.py")
    assert uses(ROOT / "tests/experiments/test_load_render.py", "lab/experiments/load/render.py")
    assert uses(ROOT / "tests/capture/test_commands.py", "lab/commands/sniff.py")
    assert not uses(ROOT / "tests/test_peer.py", "lab/capture/annotate.py")
    assert not uses(ROOT / "tests/net/test_sockopts.py", "lab/net/addresses.py")
