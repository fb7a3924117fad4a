"""book.plotting: the shared figure helpers."""

import numpy as np
from matplotlib.colors import to_rgba

from book import plotting


def test_rate_map_paints_diverged_cells_apart_from_every_rate():
    fig, ax = plotting.figure()
    rates = np.array([[0.5, 0.9], [np.inf, 1.2]])
    image = plotting.rate_map(ax, [0, 1], [0, 1], rates, vmin=0.5, vmax=1.0)
    painted = image.get_array()
    # The colour map carries only the converging cells; the others sit in the grey layer.
    assert painted.mask.ravel().tolist() == [False, False, True, True]
    assert image.get_clim() == (0.5, 1.0)
    diverged_layer = ax.collections[0]
    assert diverged_layer.get_array().mask.ravel().tolist() == [True, True, False, False]
    (handle,) = ax.get_legend().legend_handles
    assert handle.get_facecolor() == to_rgba(plotting.DIVERGED_COLOR)
    assert "diverges" in ax.get_legend().get_texts()[0].get_text()
