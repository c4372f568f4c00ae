"""Known wrong answers, each kept to prove that a graded test catches it.

Each file here is *a patch on the reference answer*: it holds the wrong
version of one or two functions and an ``apply(module)`` that puts them in
place.  tests/test_graded_wrong_answers.py copies the kit to a temporary
directory, applies the patch to that copy's ``solutions/EXERCISE.py``, runs
the exercise's graded tests on it, and checks that exactly the tests named
in ``MUST_FAIL`` fail -- each with a teaching message -- and that every
other test still passes (the patched answer is the solution with one
classic mistake, nothing else).

The files are not importable from here (their relative imports resolve in
the copied ``solutions`` package only), and ``chatlab release`` leaves this
directory out of the student copy: most of a wrong answer is right.
"""
