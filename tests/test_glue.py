"""book.glue keeps what a chapter glues, in a form the text can format."""

import numpy as np
import pytest

from book import glue as glue_module


@pytest.mark.parametrize(
    "value, expected",
    [(np.float64(0.25), 0.25), (np.float32(0.5), 0.5), (np.int64(7), 7), (np.bool_(True), True)],
)
def test_numpy_scalars_are_glued_as_python_numbers(value, expected):
    glue_module.glue("scalar", value, display=False)
    kept = glue_module.values["scalar"]
    assert kept == expected and type(kept) is type(expected)
    assert f"{kept:.2f}" == f"{expected:.2f}"  # what {glue:text}`scalar:.2f` needs


def test_other_values_are_kept_as_they_are():
    array = np.arange(3.0)
    glue_module.glue("array", array, display=False)
    assert glue_module.values["array"] is array
