"""Exercise 9's captures and tshark's reading of them (see make_ex09_captures.py)."""
