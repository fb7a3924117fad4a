"""``python -m autograder``: one sub-command per module.

Each module named in ``COMMANDS`` defines ``register(subparsers)``, which adds its
sub-command and sets ``func`` (called with the parsed arguments, returning an exit code).
Modules are imported only when the command line is parsed, so ``release`` does not pay
for torch. Every command's ``--help`` goes through :class:`HelpFormatter`.
"""

import argparse
import importlib
import re

COMMANDS = {
    "release": "autograder.release",
    "handout": "autograder.handout",
    "grade": "autograder.grade",
    "fixtures": "autograder.reference",
    "validate-gpu": "autograder.gpu",
}
DESCRIPTION = ("The optimizer book's assignments: release them, bundle them for students, grade submissions "
               "against the PyTorch reference, check the reference fixtures and validate them on a GPU.")


def plain(text: str) -> str:
    """``text`` without reStructuredText's double backquotes (the docstrings' markup)."""
    return re.sub(r"``(.+?)``", r"\1", text)


class HelpFormatter(argparse.HelpFormatter):
    """Help without markup, and with each option's default where it says something: not
    for flags or options without a default, nor where the help already names one."""

    def _format_text(self, text):
        return super()._format_text(plain(text))

    def _get_help_string(self, action):
        text = plain(action.help or "")
        if (action.default in (None, False, argparse.SUPPRESS) or not action.option_strings
                or "default" in text):
            return text
        return f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=DESCRIPTION,
                                     formatter_class=HelpFormatter)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).register(subparsers)
    for command in subparsers.choices.values():
        command.formatter_class = HelpFormatter
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
