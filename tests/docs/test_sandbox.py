"""The docs-commands sandbox leaves nothing running: `chatlab netlab up` detaches a delay stage on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.sandbox import Sandbox
from tests.helpers.waiting import wait_for

pytestmark = [pytest.mark.privileged, pytest.mark.timeout(180)]


def test_closing_the_sandbox_ends_the_delay_stage_that_netlab_up_left_running(tmp_path):
    with Sandbox(tmp_path) as sandbox:
        status, output = sandbox.run("sudo .venv/bin/chatlab netlab up --delay 5ms --seed 1", timeout=120)
        assert status == 0, output
        status, pids = sandbox.run('for ns in $(ip netns list | cut -d" " -f1); do ip netns pids "$ns"; done', 30)
        stage = [int(pid) for pid in pids.split()
                 if "lab.net.delay_stage" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]
        assert len(stage) == 1, f"netlab up should leave one delay stage running: {pids!r}"
    wait_for(lambda: not Path(f"/proc/{stage[0]}").exists(), timeout=30,
             what="the delay stage to end with the sandbox")
