"""Your exercises: fill in every ``raise NotImplementedError`` in these modules.

This package is generated from the instructor's reference answers by
tools/make_exercises.py.  Each module starts with the instructions for one
exercise; each function or method you must write says in its docstring what
it must do.  Run the graded tests of one exercise with, for example::

    chatlab grade ex01
    python -m pytest tests/graded/test_ex01_echo.py --impl exercises

See docs/EXERCISES.md for how to work and how you are graded.
"""
