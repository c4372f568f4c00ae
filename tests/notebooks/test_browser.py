"""Every lesson, executed and opened in JupyterLab in headless chromium, fits the notebook's column.

What the instructor's projector shows (issue 18, item 2): each lesson is
executed (recorded captures, CHATLAB_RECORDED=1: the same tables, ladders
and events as live, and the same packets every run), saved with its outputs,
served by JupyterLab on 127.0.0.1 with a random token, and opened in
Debian's chromium (headless, through chromedriver and selenium) in
JupyterLab's default layout, file browser open, at a 1024 px and a 1280 px
window.  Once every output has rendered (a condition: all outputs in the
page, images loaded, fonts loaded, two measurements in a row the same), for
every output and every element in it: ``scrollWidth <= clientWidth`` (no
horizontal scrolling, nothing spilling out), and every explanation cell of
the kit's views is at least MIN_EXPLANATION_CHARS characters of its own font
wide.  The notebook is opened as a student would open a saved one: not
trusted, so JupyterLab sanitizes its HTML; the kit's tables must survive that
(their inline ``table-layout: auto`` beats JupyterLab's ``fixed``).

The check can fail: ``test_the_check_sees_what_the_lessons_used_to_show``
serves a notebook with the two wrong answers (rich's fixed-width text at 120
columns, which needed scrolling; an HTML table with the explanation as a
tenth column, which squeezes it) and expects the check to flag both.

Run by hand (as root it installs chromium first)::

    make check-browser

On a laptop without chromium it skips with what is missing; in CI (CI=true,
root) it must run: a skip is a failure.
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import nbformat
import pytest

from lab.notebook import FORCE_RECORDED_ENV
from tests.notebooks.run import NOTEBOOKS, execute
from tests.notebooks.test_notebooks import MARKER, NAMES, _marked_processes

pytestmark = pytest.mark.slow

WIDTHS = (1024, 1280)        # the browser window's inner width, px
MIN_EXPLANATION_CHARS = 40   # a readable line; rich's squeezed column was 2
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# This machine's network is closed: no background connections, no component
# updates, no QUIC; a fresh profile for each browser.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_DEADLINE = 120.0      # s for JupyterLab to answer (a busy machine)
RENDER_DEADLINE = 120.0      # s for a lesson's outputs to render
MEASURE_JS = (Path(__file__).parent / "measure_outputs.js").read_text()
WRONG = "wrong_answers.ipynb"


def missing() -> str | None:
    """What the check needs and this machine lacks, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} (Debian's {package}: `sudo bash .ci/sysdeps.sh --browser`)"
    for module, extra in (("selenium", "browser"), ("jupyterlab", "notebooks")):
        if importlib.util.find_spec(module) is None:
            return f"the Python package {module} (`pip install -e '.[{extra}]'`, or `make check-browser`)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterLab:
    """A JupyterLab server on 127.0.0.1 serving one folder, with a random token and its own settings."""

    def __init__(self, root: Path, marker: str):
        self.root, self.port, self.token = root, _free_port(), uuid.uuid4().hex
        settings = root / ".settings" / "@jupyterlab"
        # every cell in the page (JupyterLab 4 otherwise renders only the cells in view)
        self._setting(settings / "notebook-extension" / "tracker.jupyterlab-settings", {"windowingMode": "none"})
        # no "get notified about Jupyter news?" toast over the outputs, no update check
        self._setting(settings / "apputils-extension" / "notification.jupyterlab-settings",
                      {"fetchNews": "false", "checkForUpdates": False})
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(root / ".config"), JUPYTER_RUNTIME_DIR=str(root / ".runtime"))
        env[MARKER] = marker
        self.log = root / ".jupyterlab.log"
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                   f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
                   f"--LabApp.user_settings_dir={root / '.settings'}",
                   f"--LabApp.workspaces_dir={root / '.workspaces'}", "--LabApp.extension_manager=readonly"]
        if os.geteuid() == 0:
            command.append("--allow-root")
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        self._wait_ready()

    @staticmethod
    def _setting(path: Path, value: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))

    def url(self, name: str) -> str:
        """The page of notebook ``name``, with a fresh workspace (only that notebook open)."""
        return f"http://127.0.0.1:{self.port}/lab/tree/{name}?reset&token={self.token}"

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_DEADLINE
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({self.proc.returncode}):\n{self.log.read_text()[-2000:]}")
            try:
                self.api("status")
                return
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"JupyterLab did not answer in {SERVER_DEADLINE:.0f} s:\n"
                                       f"{self.log.read_text()[-2000:]}") from None
                time.sleep(0.2)

    def stop_kernels(self) -> None:
        """Shut down the kernels JupyterLab started for the notebooks opened so far (nothing runs in them)."""
        for session in self.api("sessions") or []:
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.api(f"sessions/{session['id']}", method="DELETE")

    def stop(self) -> None:
        """Shut the server down (its kernels with it); kill it if it does not exit."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.api("shutdown", method="POST")
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _wrong_answers() -> nbformat.NotebookNode:
    """The two layouts the check must catch, on lesson 1's recorded packets.

    Cell 0: rich's own notebook output at 120 columns (a <pre> with
    ``white-space: pre``), what every lesson showed before lab/notebook/html.py.
    Cell 1: an HTML table with the explanation as a tenth column.
    """
    from lab.capture import Annotator, read_pcap
    from lab.capture.render import packet_table
    from lab.notebook.display import plain
    from lab.notebook.settings import LESSON_DATA

    meta = json.loads((LESSON_DATA / "01-handshake.json").read_text())
    annotator = Annotator(set(meta["server_ports"]))
    packets = packet_table([annotator.feed(s) for s in read_pcap(LESSON_DATA / "01-handshake.pcap")][:5])
    rich_html = ("<pre style=\"white-space:pre;overflow-x:auto;line-height:normal;font-family:Menlo,"
                 "'DejaVu Sans Mono',consolas,'Courier New',monospace\">"
                 + html.escape(plain(packets, width=120)) + "</pre>")
    head = "".join(f"<th>{html.escape(c.header)}</th>" for c in packets.columns) + "<th>what it means</th>"
    rows = "".join("<tr>" + "".join(f'<td style="white-space:nowrap">{html.escape(v)}</td>' for v in row.cells)
                   + f'<td class="chatlab-explanation" style="text-align:left">{html.escape(row.note)}</td></tr>'
                   for row in packets.rows)
    squeezed = (f'<div class="chatlab-view"><table style="table-layout:auto"><thead><tr>{head}</tr></thead>'
                f"<tbody>{rows}</tbody></table></div>")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for markup in (rich_html, squeezed):
        cell = nbformat.v4.new_code_cell("nb.show(...)")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": markup, "text/plain": "..."})]
        nb.cells.append(cell)
    return nb


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Every lesson executed (recorded captures) into a temporary folder, served by JupyterLab."""
    problem = missing()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"the browser check must run in CI, but this machine lacks {problem}", pytrace=False)
        pytest.skip(f"the browser check needs {problem}")
    root = tmp_path_factory.mktemp("lessons-in-a-browser")
    marker = uuid.uuid4().hex
    with pytest.MonkeyPatch.context() as env:
        env.setenv(FORCE_RECORDED_ENV, "1")
        env.setenv(MARKER, marker)   # every process started from here on carries it
        for name in NAMES:
            nbformat.write(execute(NOTEBOOKS / name), root / name)
        nbformat.write(_wrong_answers(), root / WRONG)
        lab = JupyterLab(root, marker)
        try:
            yield lab
        finally:
            lab.stop()
    deadline = time.monotonic() + 15
    left = _marked_processes(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _marked_processes(marker)
    for pid, _ in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    assert not left, f"the browser check left processes running: {left}"


@pytest.fixture(scope="module", params=WIDTHS, ids=lambda width: f"{width}px")
def browser(request, served, tmp_path_factory):
    """Headless chromium, a fresh profile, a window ``width`` px wide inside."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    width = request.param
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
                                  f"--window-size={width},900"]:
        options.add_argument(flag)
    # With the driver's path given, selenium never runs Selenium Manager (which would look for one online).
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_script_timeout(30)
    try:
        yield driver, width
    finally:
        driver.quit()


def _expected_outputs(path: Path) -> int:
    """How many output areas JupyterLab draws for the file: consecutive stream outputs of one name merge."""
    count = 0
    for cell in nbformat.read(path, as_version=4).cells:
        previous = None
        for out in cell.get("outputs", []):
            stream = out.get("name") if out.output_type == "stream" else None
            if stream is None or stream != previous:
                count += 1
            previous = stream
    return count


def measure(driver, lab: JupyterLab, name: str, shots: Path) -> dict:
    """Open notebook ``name`` and measure its outputs once they have all rendered and stopped moving."""
    expected = _expected_outputs(lab.root / name)
    driver.get(lab.url(name))
    deadline = time.monotonic() + RENDER_DEADLINE
    last = None
    while True:
        found = driver.execute_script(MEASURE_JS)
        ready = (found["notebook"] == name and found["outputs"] >= expected
                 and found["imagesLoading"] == 0 and found["fontsLoaded"])
        if ready and found == last:
            lab.stop_kernels()
            return found
        last = found if ready else None
        if time.monotonic() > deadline:
            driver.save_screenshot(str(shots / f"{name}.png"))
            pytest.fail(f"{name}: after {RENDER_DEADLINE:.0f} s, {found['outputs']} of {expected} outputs had "
                        f"rendered (in front: {found['notebook']!r}; screenshot {shots / (name + '.png')})")
        time.sleep(0.25)


def _report(name: str, width: int, found: dict) -> str:
    narrowest = min((e["chars"] for e in found["explanations"]), default=None)
    return (f"{name} at {width} px: output column {found['column']} px, {found['outputs']} outputs, "
            f"{found['views']} kit views, {len(found['overflowing'])} need scrolling, narrowest explanation "
            f"{narrowest if narrowest is not None else '-'} characters")


@pytest.mark.parametrize("name", NAMES)
def test_lesson_needs_no_horizontal_scrolling(browser, served, name, tmp_path):
    driver, width = browser
    found = measure(driver, served, name, tmp_path)
    print(_report(name, width, found))
    assert found["innerWidth"] == width, f"the window is {found['innerWidth']} px wide inside, not {width}"
    assert found["views"] > 0, f"{name}: none of the kit's views (nb.show) rendered"
    assert found["fixedTables"] == 0, (
        f"{name}: {found['fixedTables']} of the kit's tables lost their inline styles (JupyterLab's sanitizer "
        "removed them?): use only the tags and CSS properties lab/notebook/html.py lists")
    problems = [f"  cell {o['cell']}: a <{o['tag']}> {o['scroll']} px wide inside a {o['client']} px box: "
                f"{o['text']!r}" for o in found["overflowing"]]
    assert not problems, (
        f"{name} at a {width} px window (output column {found['column']} px): these outputs need horizontal "
        "scrolling; show tables, packets, ladders and events with nb.show (lab/notebook/html.py wraps them "
        "to the column), print only text that may wrap:\n" + "\n".join(problems))
    narrow = [f"  cell {e['cell']}: {e['chars']} characters ({e['px']:.0f} px): {e['text']!r}"
              for e in found["explanations"] if e["chars"] < MIN_EXPLANATION_CHARS]
    assert not narrow, (f"{name} at {width} px: explanations narrower than {MIN_EXPLANATION_CHARS} characters "
                        "(put the explanation on its own row under the numbers):\n" + "\n".join(narrow))


def test_the_check_sees_what_the_lessons_used_to_show(browser, served, tmp_path):
    driver, width = browser
    found = measure(driver, served, WRONG, tmp_path)
    print(_report(WRONG, width, found))
    assert 0 in [o["cell"] for o in found["overflowing"]], (
        f"rich's 120-column text (cell 0) should need scrolling: {found['overflowing']}")
    narrow = {e["cell"] for e in found["explanations"] if e["chars"] < MIN_EXPLANATION_CHARS}
    assert 1 in narrow, f"the tenth-column explanation (cell 1) should be squeezed: {found['explanations']}"
