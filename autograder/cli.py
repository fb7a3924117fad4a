"""``python -m autograder``: one sub-command per module.

Each module named in ``COMMANDS`` defines ``register(subparsers)``, which adds its
sub-command and sets ``func`` (called with the parsed arguments, returning an exit code).
Modules are imported only when the command line is parsed, so ``release`` does not pay
for torch.
"""

import argparse
import importlib

COMMANDS = {
    "release": "autograder.release",
    "grade": "autograder.grade",
    "fixtures": "autograder.reference",
    "validate-gpu": "autograder.gpu",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
