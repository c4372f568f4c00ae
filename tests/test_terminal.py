"""lab.terminal without a terminal: the row arithmetic and how server lines are drawn."""

from __future__ import annotations

import pytest

from lab.terminal import erase_rows, past_margin, render_line, rows_above, rows_taken

WIDTH = 40


@pytest.mark.parametrize("cells, above, taken, margin", [
    (0, 0, 1, ""),          # an empty prompt line still takes its row
    (7, 0, 1, ""),          # "alice> "
    (39, 0, 1, ""),
    (40, 1, 1, "\r\n"),     # exactly one full row: the cursor sits on the next row
    (41, 1, 2, ""),
    (80, 2, 2, "\r\n"),
    (81, 2, 3, ""),
])
def test_rows_of_a_typed_line(cells, above, taken, margin):
    shown = "x" * cells
    assert (rows_above(shown, WIDTH), rows_taken(shown, WIDTH), past_margin(shown, WIDTH)) == (above, taken, margin)


def test_wide_characters_take_two_columns():
    assert rows_above("é" * 40, WIDTH) == 1  # one column each
    assert rows_above("漢" * 20, WIDTH) == 1 and rows_taken("漢" * 21, WIDTH) == 2  # two columns each


def test_erase_goes_up_and_clears_to_the_end_of_the_screen():
    assert erase_rows(0) == "\r\x1b[J"
    assert erase_rows(2) == "\x1b[2A\r\x1b[J"


@pytest.mark.parametrize("line, shown", [
    ("12:00:00 <bob> hi", "12:00:00 <bob> hi"),
    ("12:00:00 *bob* psst", "12:00:00 *bob* psst"),
    ("12:00:00 ->bob psst", "12:00:00 -> bob psst"),
    ("12:00:00 *** bob left (quit: bye)", "12:00:00 *** bob left (quit: bye)"),
    ("12:00:00 --- list: 2 online: alice, bob", "12:00:00 --- 2 online: alice, bob"),
    ("12:00:00 !!! name-taken: 'bob' is online already", "12:00:00 !!! 'bob' is online already"),
    ("not the protocol [bold]x[/]", "not the protocol [bold]x[/]"),
])
def test_server_lines_are_drawn_by_kind_without_codes_and_literally(line, shown):
    assert render_line(line).plain == shown


def test_history_lines_are_dimmed():
    assert any("dim" in str(span.style) for span in render_line("12:00:00 <bob> hi", in_history=True).spans)
    assert all("dim" not in str(span.style) for span in render_line("12:00:00 <bob> hi").spans[1:])
