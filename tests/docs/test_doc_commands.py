"""The extraction of commands from the docs (tests/docs/doc_commands.py): what counts as a command."""

from __future__ import annotations

from tests.docs.doc_commands import commands_in_markdown, lesson_markdown_cells, normalise

DOC = '''# A page

```sh
chatlab server                  # terminal 1: a comment, not part of the command
chatlab client 127.0.0.1 \\
    --name alice
```

A log excerpt, which is output:

```
14:03:01 server LISTENING  listening on 0.0.0.0:5050
chatlab grade ex03            # one exercise
```

```console
$ chatlab doctor
everything is fine
```

```python
import chatlab  # code, not a command
```

1. In a list:
   ```
   python -m pytest tests/graded/test_ex03_broadcast.py -x
   ```

Prose with `chatlab demo` inline.
'''


def test_commands_in_markdown_blocks():
    found = commands_in_markdown(DOC, "docs/PAGE.md")
    assert [(f.line, f.command) for f in found] == [
        (4, "chatlab server"),
        (5, "chatlab client 127.0.0.1 --name alice"),  # the continuation joined, on the line it starts
        (13, "chatlab grade ex03"),  # the log line above it is not a command
        (17, "chatlab doctor"),  # console: only the "$ " line
        (27, "python -m pytest tests/graded/test_ex03_broadcast.py -x"),  # an indented fence
    ]
    assert all(f.where().startswith("docs/PAGE.md:") for f in found)


def test_inline_spans_count_only_where_asked_for_and_only_for_programs():
    assert "chatlab demo" not in [f.command for f in commands_in_markdown(DOC, "x.md")]
    inline = [f.command for f in commands_in_markdown("run `chatlab demo`, then `--loss 40` or `ls -l`.", "l.py",
                                                      inline=True)]
    assert inline == ["chatlab demo"]


def test_a_comment_sign_inside_quotes_or_a_word_stays():
    assert normalise("chatlab client x --name 'a # b'  # comment") == "chatlab client x --name 'a # b'"
    assert normalise("nc host 5050#x") == "nc host 5050#x"


def test_lesson_cells_are_read_without_importing_the_lesson():
    source = '''raise SystemExit("importing this would stop the test")
CELLS = [
("md", r"""
Run `chatlab server`.
"""),
("code", r"""
print("chatlab client")
"""),
]
'''
    cells = lesson_markdown_cells(source)
    assert cells == [(3, "\nRun `chatlab server`.\n")]
    assert [f.line for f in commands_in_markdown(cells[0][1], "l.py", first_line=cells[0][0], inline=True)] == [4]
