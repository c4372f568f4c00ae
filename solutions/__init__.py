"""Reference answers to the chat-lab exercises (instructors only).

This package is the single source of truth: tools/make_exercises.py turns
each ``### BEGIN SOLUTION`` / ``### END SOLUTION`` region into a TODO and a
``raise NotImplementedError`` to make exercises/.  Edit the answers and the
instructions here, then run ``make exercises``.  ``chatlab release`` leaves
this package out of the copy handed to students.
"""
