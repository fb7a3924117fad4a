"""The sandbox's mount order: a checkout under /tmp (where CI may clone) stays visible."""

import tempfile
from pathlib import Path

from autograder.sandbox import bwrap_args


def test_private_tmp_is_mounted_before_a_checkout_under_tmp_is_bound_back():
    with tempfile.TemporaryDirectory(dir="/tmp") as checkout:
        checkout = Path(checkout).resolve()
        args = bwrap_args(expose=[checkout], hide=[], tmp_bytes=1 << 20)
        tmpfs_tmp = next(i for i, arg in enumerate(args) if arg == "--tmpfs" and args[i + 1] == "/tmp")
        bind = next(i for i, arg in enumerate(args) if arg == "--ro-bind" and args[i + 1] == str(checkout))
        assert tmpfs_tmp < bind
        assert args.count("/tmp") == 2  # the tmpfs and --chdir, nothing mounted over /tmp later
