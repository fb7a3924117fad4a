"""The autograder: torch reference, checks, diagnosis and sandboxed grading.

Run ``python -m autograder --help`` for the command line.
"""
