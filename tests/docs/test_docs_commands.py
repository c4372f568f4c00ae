"""The documentation's commands, run as written (issue 18: "README, docs/INSTRUCTOR.md and the
lessons' commands are run as written by an end-to-end test").

tests/docs/doc_commands.py finds every command in README.md, docs/*.md and the
lessons' markdown cells.  Each one has a decision in ``DECISIONS`` below:

* ``Run``: a one-shot command, run to its end; its exit status (and a line
  of its output) checked;
* ``Serve``: a long-running one (a server, a client, a capture): started in
  the background, checked for the line it prints first, then stopped with
  Ctrl-C;
* either may list ``needs``: the documented commands another terminal must
  have run first (`chatlab server` before a client), all of them, in order
  (a need's own needs are not added: `chatlab tls init --ip ...` may stand
  in for the `chatlab tls init` that `chatlab server --tls` needs alone), run
  in the same sandbox before it;
* ``Excuse``: not run, with the reason (`make test` would run this suite;
  `sudo setcap` changes the venv's real interpreter; a synopsis; a name in
  prose);
* ``Xfail``: a command that does not work as written, in a doc this branch
  does not own: run, expected to fail, with the doc and its owner named; when
  it starts working the entry is stale and the test says so.

A command found without a decision fails ``test_every_documented_command_has_a_decision``
with its file and line (that test needs no privileges).  The commands run in a
``Sandbox`` (tests/docs/sandbox.py): a copy of the kit, a temporary HOME, and
network and mount namespaces of their own, so nothing of the user's is
touched and the documented fixed ports never meet another test's server.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

import pytest

from tests.docs.doc_commands import kit_commands
from tests.docs.sandbox import ROOT, Sandbox


@dataclass(frozen=True)
class Run:
    """Run to the end: exit status in ``status``; ``expect`` (a regex) in its output."""

    status: tuple[int, ...] = (0,)
    expect: str | None = None
    needs: tuple[str, ...] = ()
    kit: str = "full"  # "student": in the copy `chatlab release` hands out
    timeout: float = 120
    slow: bool = False
    quotes_tracebacks: bool = False  # the graded tests quote the traceback of the student's code


@dataclass(frozen=True)
class Serve:
    """Start, wait for ``expect`` (a regex) in its output, stop with Ctrl-C.
    ``tty``: in a terminal, for the programs that read what a person types."""

    expect: str
    needs: tuple[str, ...] = ()
    tty: bool = False
    kit: str = "full"
    timeout: float = 60
    slow: bool = False


@dataclass(frozen=True)
class Excuse:
    """Not run, because ``reason``."""

    reason: str


@dataclass(frozen=True)
class Xfail:
    """Broken as written in ``doc`` (not this branch's to edit): ``owner`` is to fix it.
    ``decision`` is what the command should do; it is run and must fail."""

    doc: str
    owner: str
    reason: str
    decision: Run | Serve = field(default_factory=Run)


SERVER_UP = r"chat-lab server on port 5050"
SYNOPSIS = "a synopsis (brackets mark optional parts), not a command; the options are exercised by tests/capture"
PROSE = "a program named in prose, not a command to type"
# A graded test file run by a student on the skeleton: every test fails, and says what to write.
STUDENT_TESTS_FAIL = Run(status=(1,), expect=r"\d+ failed", kit="student", quotes_tracebacks=True)



def chat_client(shows: str) -> Serve:
    """A client typed in a terminal while `chatlab server` runs in another: it shows SHOWS (a regex)."""
    return Serve(shows, needs=("chatlab server",), tty=True)


def tls_client(shows: str, needs: tuple[str, ...]) -> Serve:
    """A --tls client: it verified the server's certificate, then shows SHOWS."""
    return Serve(rf"server certificate verified(.|\n)*{shows}", needs=needs, tty=True)


INSTRUCTOR_TLS = ("chatlab tls init --ip 192.168.1.20", "chatlab server --tls")

# Exercise 12's command line (docs/EXERCISES.md): on the skeleton the receiver waits, and the sender
# stops at the first method to write, with one line and exit 1.
EX12_RECEIVE = "python -m exercises.ex12_reliable receive --port 5001 --out copy.bin"
EX12_RELAY = "chatlab relay --to 127.0.0.1:5001 --port 5000 --loss 30 --duplicate 5 --reorder 10 --seed 7"
EX12_NETLAB_RECEIVE = ("sudo .venv/bin/chatlab netlab exec server -- .venv/bin/python -m exercises.ex12_reliable "
                       "receive --port 5001 --out copy.bin")
EX12_SEND_SKELETON = Run(status=(1,), expect=r"send: write fill_window\(\) in exercises/ex12_reliable\.py",
                         needs=(EX12_RECEIVE,), kit="student")

DECISIONS: dict[str, Run | Serve | Excuse | Xfail] = {
    # --- README.md
    "make demo": Run(expect=r"chat-lab demo: a TCP chat, packet by packet", timeout=300, slow=True),
    "make test": Excuse("runs the whole suite, this test included; CI runs it (.ci/run)"),
    "make test-under-load": Excuse("runs the whole suite 5 times, this test included; "
                                   "tests/test_under_load.py runs the script on a small selection"),
    "make test-under-load RUNS=2": Excuse("runs the whole suite twice, this test included; "
                                          "tests/test_under_load.py runs the script on a small selection"),
    "sudo setcap cap_net_raw,cap_net_admin=eip .venv/bin/python":
        Excuse("gives capabilities to the venv's interpreter, the user's real file (the copy's .venv links to it)"),
    "chatlab server": Serve(SERVER_UP),
    "chatlab client 127.0.0.1": chat_client(r"Your name: "),
    "chatlab client 192.168.1.20 -n bob": chat_client(r"bob> "),
    "nc 127.0.0.1 5050": chat_client(r"--- hello: "),
    "chatlab tls init": Run(expect=r"Start the server: +chatlab server --tls\n"),
    "chatlab server --tls --port 5443": Serve(r"chat-lab server \(TLS\) on port 5443", needs=("chatlab tls init",)),
    "chatlab client 127.0.0.1 --port 5443 --tls --cafile ca.pem":
        tls_client(r"Your name: ", needs=("chatlab tls init", "chatlab server --tls --port 5443")),
    # --- docs/CAPTURE.md
    "chatlab sniff [--port P] [--iface I] [--netns NAME] [--write FILE] [--read FILE] [--json] [--count N] "
    "[--duration S]": Excuse(SYNOPSIS),
    "chatlab sniff --read FILE --graph tcptrace|throughput|rtt [--out F.png] [--stream N]": Excuse(SYNOPSIS),
    "chatlab sniff --read tests/fixtures/pcaps/router_bulk.pcap --graph tcptrace --out trace.png":
        Run(expect=r"wrote trace\.png: tcptrace graph of TCP stream 0 \(client's data\)"),
    "chatlab sniff --read tests/fixtures/pcaps/router_bulk.pcap --graph throughput --out throughput.png":
        Run(expect=r"wrote throughput\.png: throughput graph"),
    "chatlab sniff --read tests/fixtures/pcaps/router_bulk.pcap --graph rtt --out rtt.png":
        Run(expect=r"wrote rtt\.png: rtt graph"),
    ".venv/bin/python -m pytest tests/capture -q": Excuse("runs the capture tests, which this suite runs itself"),
    "chatlab demo [--write FILE] [--recorded] [--width N]": Excuse(SYNOPSIS),
    "chatlab doctor [--json]": Excuse(SYNOPSIS),
    # --- docs/EXERCISES.md: the students' commands run in the student copy, where they grade the skeleton
    "python -m pytest tests/graded/test_ex03_broadcast.py":
        Run(status=(1,), expect=r"NotImplementedError: write \w+\(\) in exercises/ex03_broadcast.py", kit="student",
            quotes_tracebacks=True),
    "python -m pytest tests/graded/test_ex03_broadcast.py -x":
        Run(status=(1,), expect=r"\b1 failed\b", kit="student", quotes_tracebacks=True),
    "chatlab grade": Run(status=(1,), expect=r"total\b.*\b0 / \d+", kit="student", timeout=300, slow=True),
    "chatlab grade ex03": Run(status=(1,), expect=r"ex03", kit="student"),
    "chatlab grade ex03 --details": Run(status=(1,), expect=r"Expected", kit="student", quotes_tracebacks=True),
    "chatlab grade --json": Run(status=(1,), expect=r'"total": 0', kit="student", timeout=300, slow=True),
    "sudo .venv/bin/python -m pytest tests/graded/test_ex11_handcraft.py -k live":
        Run(expect=r"\b3 passed\b", timeout=240, slow=True),
    "make exercises": Run(expect=r"wrote exercises/ from solutions/ \(\d+ files, 0 changed\)"),
    "python tools/make_exercises.py --check": Run(),
    "chatlab release --output ../chat-lab-student": Run(expect=r"student release written to .*chat-lab-student"),
    **{f"python -m pytest tests/graded/test_ex12_reliable.py -k step{n}": STUDENT_TESTS_FAIL for n in range(1, 7)},
    EX12_RECEIVE: Serve(r"receive: waiting for a sender on UDP 0\.0\.0\.0:5001", kit="student"),
    "python -m exercises.ex12_reliable send 127.0.0.1 5001 lab/data/books/alice.txt": EX12_SEND_SKELETON,
    EX12_RELAY: Serve(r"relay on 127\.0\.0\.1:5000 -> 127\.0\.0\.1:5001", kit="student"),
    "python -m exercises.ex12_reliable send 127.0.0.1 5000 lab/data/books/alice.txt":
        Run(status=(1,), expect=EX12_SEND_SKELETON.expect, needs=(EX12_RECEIVE, EX12_RELAY), kit="student"),
    EX12_NETLAB_RECEIVE:
        Serve(r"receive: waiting for a sender on UDP 0\.0\.0\.0:5001", needs=("sudo .venv/bin/chatlab netlab up --loss 20",)),
    "sudo .venv/bin/chatlab netlab exec client1 -- .venv/bin/python -m exercises.ex12_reliable send 10.77.0.2 5001 "
    "lab/data/books/alice.txt":
        Run(status=(1,), expect=EX12_SEND_SKELETON.expect,
            needs=("sudo .venv/bin/chatlab netlab up --loss 20", EX12_NETLAB_RECEIVE)),
    # --- docs/INSTRUCTOR.md
    "make notebooks": Excuse("opens JupyterLab and waits for a browser (and installs it from PyPI); "
                             "tests/notebooks executes every notebook"),
    "chatlab doctor": Run(expect=r"Everything essential is in place"),
    ". .venv/bin/activate": Run(),
    "chatlab client 192.168.1.20 --name alice": chat_client(r"alice> "),
    "chatlab tls init --ip 192.168.1.20": Run(expect=r"chatlab client 192\.168\.1\.20 --tls --cafile ca\.pem"),
    "chatlab server --tls": Serve(r"chat-lab server \(TLS\) on port 5050", needs=("chatlab tls init",)),
    "chatlab client 192.168.1.20 --tls --cafile ca.pem --name alice":
        tls_client(r"alice> ", needs=INSTRUCTOR_TLS),
    "chatlab server --naive --port 5051": Serve(r"naive server listening on 0\.0\.0\.0 port 5051"),
    # Exit 1 is the exhibit working (reach < 1: the naive server froze); issue 18 section 1 has its own test
    # of the freeze. What this test checks: the documented command runs, reports, and ends.
    "chatlab load 127.0.0.1 --port 5051 --clients 200 --senders 20 --stalled 1":
        Run(status=(0, 1), expect=r"reach", needs=("chatlab server --naive --port 5051",), timeout=300, slow=True),
    "chatlab server --port 5050": Serve(SERVER_UP),
    "chatlab load 127.0.0.1 --port 5050 --clients 200 --senders 20 --stalled 1":
        Run(expect=r"reach\W+1\.0000", needs=("chatlab server --port 5050",), timeout=300, slow=True),
    # --- docs/NETLAB.md (the netlab helper's): root and namespaces, in the sandbox's own network namespace
    "sudo .venv/bin/chatlab netlab up --loss 20": Run(expect=r"lab 'chatlab' is up"),
    "sudo .venv/bin/chatlab netlab status": Run(expect=r"stage: ", needs=("sudo .venv/bin/chatlab netlab up --loss 20",)),
    "sudo .venv/bin/chatlab netlab exec server -- .venv/bin/chatlab server --host 10.77.0.2":
        Serve(r"chat-lab server on port 5050", needs=("sudo .venv/bin/chatlab netlab up --loss 20",)),
    "sudo .venv/bin/chatlab netlab exec client1 -- .venv/bin/chatlab client 10.77.0.2 --name alice":
        Excuse("a person chatting through a router that loses 20 %: the same client and server are run by "
               "tests/net (the lab) and tests/e2e (the chat); a tty over the lossy lab would make this test flaky"),
    "sudo .venv/bin/chatlab netlab exec router -- tcpdump -i any -Q in -n port 5050":
        Serve(r"listening on any", needs=("sudo .venv/bin/chatlab netlab up --loss 20",)),
    "sudo .venv/bin/chatlab netlab down": Run(expect=r"lab 'chatlab' (removed|was not up)"),
    "sudo .venv/bin/chatlab netlab up --delay 40ms --rate 2mbit --queue 32kb --loss 1 --seed 7":
        Run(expect=r"\(tun stage\)|\(netem stage\)"),
    "sudo .venv/bin/chatlab netlab measure":
        Run(expect=r"ping: \d+ of 20 answered", timeout=300, slow=True,
            needs=("sudo .venv/bin/chatlab netlab up --delay 40ms --rate 2mbit --queue 32kb --loss 1 --seed 7",)),
    "sudo .venv/bin/chatlab compare --loss 20 --messages 200 [--seed S] [--json] [--interval MS]": Excuse(SYNOPSIS),
    # --- docs/PERFORMANCE.md
    "make bench": Excuse("about 10 minutes of load, and it rewrites docs/PERFORMANCE.md; tests/bench runs the "
                         "benchmarks' code"),
    "python bench/run.py --reps 3 --duration 10 --no-write": Excuse("about 6 minutes of load; tests/bench runs the "
                                                                   "benchmarks' code"),
    "python bench/startup.py": Run(expect=r"chatlab server --help +median", timeout=300, slow=True),
    "python bench/fanout.py": Run(expect=r"one pass to 1000 sockets", timeout=300, slow=True),
    "chatlab load 127.0.0.1 --port 5050 --clients 200 --senders 20 --rate 5 --duration 20":
        Run(expect=r"reach\W+1\.0000", needs=("chatlab server",), timeout=300, slow=True),
    # --- docs/TLS.md
    "chatlab client 127.0.0.1 --tls --cafile ca.pem":
        tls_client(r"Your name: ", needs=INSTRUCTOR_TLS),
    "chatlab client 192.168.1.20 --tls --cafile ca.pem":
        tls_client(r"Your name: ", needs=INSTRUCTOR_TLS),
    # --- tools/lessons/*.py (markdown cells, inline commands too)
    "python -m pytest tests/graded/test_ex01_echo.py": STUDENT_TESTS_FAIL,
    "python -m pytest tests/graded/test_ex10_rtt.py": STUDENT_TESTS_FAIL,
    "python -m pytest tests/graded/test_ex02_framing.py": STUDENT_TESTS_FAIL,
    "python -m pytest tests/graded/test_ex05_closing.py": STUDENT_TESTS_FAIL,
    "python -m pytest tests/graded/test_ex06_udp.py": STUDENT_TESTS_FAIL,
    "python -m pytest tests/graded/test_ex11_handcraft.py": STUDENT_TESTS_FAIL,
    "python -m pytest tests/graded/test_ex12_reliable.py": STUDENT_TESTS_FAIL,
    "chatlab relay": Excuse(PROSE + " (docs/EXERCISES.md's `chatlab relay --to ...` is run)"),
    "sudo .venv/bin/chatlab sniff --port 5050": Serve(r"capturing port 5050 on lo"),
    "chatlab client 127.0.0.1 --name you": chat_client(r"you> "),
    "chatlab client SERVER-IP --name NAME": Excuse("SERVER-IP and NAME are placeholders for the class to fill in; "
                                                   "`chatlab client 192.168.1.20 -n bob` is run"),
    "nc": Excuse(PROSE),
    "chatlab load": Excuse(PROSE + " (the lesson's block above it is run)"),
    "chatlab client": Excuse(PROSE),
    "chatlab client --insecure": Excuse("an option named in prose (`--insecure` switches verification off)"),
    "sudo .venv/bin/chatlab compare": Run(expect=r"the same \d+ messages", timeout=600, slow=True),
    "sudo .venv/bin/chatlab compare --loss 10": Run(expect=r"the same \d+ messages", timeout=600, slow=True),
    "chatlab tls init --ip YOUR-LAN-IP": Excuse("YOUR-LAN-IP is a placeholder; "
                                                "`chatlab tls init --ip 192.168.1.20` is run"),
    "chatlab client --tls --cafile ca.pem YOUR-LAN-IP":
        Excuse("YOUR-LAN-IP is a placeholder; `chatlab client 192.168.1.20 --tls --cafile ca.pem` is run"),
    "tshark": Excuse(PROSE),
}

FOUND = kit_commands(ROOT)
PLACES: "OrderedDict[str, list[str]]" = OrderedDict()
for _found in FOUND:
    PLACES.setdefault(_found.command, []).append(_found.where())


def test_the_docs_have_commands_to_check():
    # If the extraction broke, every test below would pass on nothing.
    assert len(PLACES) >= 40 and "chatlab server" in PLACES and "make demo" in PLACES, list(PLACES)


def test_every_documented_command_has_a_decision():
    missing = [f"{', '.join(PLACES[c])}: `{c}`" for c in PLACES if c not in DECISIONS]
    assert not missing, (
        "these documented commands have no decision in tests/docs/test_docs_commands.py: add each to DECISIONS "
        "(Run, Serve with what it prints first, needs= for what another terminal must run first, or Excuse "
        "with the reason it must not run in a test):\n  " + "\n  ".join(missing))


def test_every_decision_is_still_a_documented_command():
    stale = [c for c in DECISIONS if c not in PLACES]
    assert not stale, "these DECISIONS are for commands no doc has any more: remove them:\n  " + "\n  ".join(stale)


def test_every_prerequisite_is_a_documented_command_that_runs():
    for command, decision in DECISIONS.items():
        for need in getattr(decision, "needs", ()):
            assert isinstance(DECISIONS.get(need), (Run, Serve)), f"`{command}` needs `{need}`, which is not run"


def _cases():
    cases = []
    for command, decision in DECISIONS.items():
        if isinstance(decision, Excuse) or command not in PLACES:
            continue
        what = decision.decision if isinstance(decision, Xfail) else decision
        marks = [pytest.mark.privileged, pytest.mark.timeout(int(what.timeout) + 120)]
        if what.slow:
            marks.append(pytest.mark.slow)
        cases.append(pytest.param(command, marks=marks, id=command))
    return cases


class NotAsDocumented(AssertionError):
    """A command did not do what its decision says; ``seen`` is the last line it printed."""

    def __init__(self, command: str, problem: str, output: str):
        where = ", ".join(PLACES.get(command, ["(a prerequisite)"]))
        super().__init__(f"`{command}` ({where}) {problem}:\n{output}")
        lines = [line for line in output.splitlines() if line.strip()]
        self.seen = lines[-1].strip() if lines else "(no output)"


def _carry_out(sandbox: Sandbox, command: str, decision: Run | Serve) -> None:
    """Run COMMAND as DECISION says; NotAsDocumented with what was expected and what it printed."""
    if isinstance(decision, Serve):
        started = sandbox.start(command, tty=decision.tty)
        problem = started.wait_for(re.compile(decision.expect), decision.timeout)
        output = started.output()
        if problem:
            raise NotAsDocumented(command, problem, output)
        if "Traceback (most recent call last)" in output:
            raise NotAsDocumented(command, "printed a traceback", output)
        return
    status, output = sandbox.run(command, decision.timeout)
    if status not in decision.status:
        raise NotAsDocumented(command, f"exited {status}, expected {' or '.join(map(str, decision.status))}", output)
    if not decision.quotes_tracebacks and "Traceback (most recent call last)" in output:
        raise NotAsDocumented(command, "printed a traceback", output)
    if decision.expect and not re.search(decision.expect, output):
        raise NotAsDocumented(command, f"did not print /{decision.expect}/", output)


@pytest.mark.parametrize("command", _cases())
def test_documented_command_runs_as_written(command, tmp_path):
    decision = DECISIONS[command]
    what = decision.decision if isinstance(decision, Xfail) else decision
    with Sandbox(tmp_path, kit=what.kit) as sandbox:
        for need in what.needs:
            _carry_out(sandbox, need, DECISIONS[need])
        if not isinstance(decision, Xfail):
            _carry_out(sandbox, command, what)
            return
        try:
            _carry_out(sandbox, command, what)
        except NotAsDocumented as failure:
            pytest.xfail(f"XFAIL: {decision.doc} ({decision.owner} to fix): {decision.reason}. "
                         f"Seen: {failure.seen}")
    pytest.fail(f"`{command}` in {decision.doc} works as written now: remove its Xfail entry "
                "(give it the decision it carries)")
