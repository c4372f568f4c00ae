"""Re-record the captures the notebooks replay when live capture is not permitted.

Runs every notebook (as root, so capture is live) with CHATLAB_RECORD_LESSONS
set: each ``lesson.capture(port, NAME)`` then writes lab/data/lessons/NAME.pcap
and NAME.json (the packet counts at each step of the notebook) when it stops;
``nb.measured(cap, ...)`` keeps the socket measurements its self-checks
compare with those packets in NAME.facts.json; lesson 6's ``nb.compare()``
keeps the TCP half of the run (06-compare.json, 06-compare-tcp.pcap), which
the lesson shows when it cannot run it.  Every self-check of the notebooks
must pass on what was recorded (the notebook tests run them recorded too).
Run it after changing a lesson's captured steps:

    sudo .venv/bin/python tools/record_lessons.py [01_sockets_handshake ...]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.capture.sniffer import capture_problem  # noqa: E402
from lab.notebook import LESSON_DATA, RECORD_ENV  # noqa: E402
from tests.notebooks.run import NOTEBOOKS, execute  # noqa: E402


def main(names: list[str]) -> int:
    problem = capture_problem("lo")
    if problem:
        print(f"cannot record: {problem}", file=sys.stderr)
        return 1
    os.environ[RECORD_ENV] = str(LESSON_DATA)
    os.environ.pop("CHATLAB_RECORDED", None)
    paths = [NOTEBOOKS / f"{n.removesuffix('.ipynb')}.ipynb" for n in names] or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    for path in paths:
        print("recording", path.name, flush=True)
        execute(path)
    print("wrote", ", ".join(sorted(p.name for p in LESSON_DATA.glob("*.pcap"))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
