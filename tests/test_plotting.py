"""book.plotting: the shared figure helpers."""

import numpy as np
import pytest
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


def test_text_is_measured_at_the_size_the_page_shows_it():
    narrow = plotting.Figure(figsize=(5.0, 4.0), dpi=100)
    narrow.text(0.5, 0.5, "label", fontsize=9)
    # 500 px wide: shown unscaled, 9 pt at 100 dpi is 12.5 px, 9.4 pt.
    assert plotting.displayed_text_sizes(narrow) == {"label": pytest.approx(9.375)}
    # 900 px wide: scaled down to the 688 px column.
    wide = plotting.Figure(figsize=(9.0, 4.0), dpi=100)
    wide.text(0.5, 0.5, "label", fontsize=9)
    assert plotting.displayed_text_sizes(wide)["label"] == pytest.approx(9.375 * 688 / 900)


def test_a_figure_with_text_too_small_to_read_is_refused():
    for figsize, dpi, fontsize in [((5.0, 4.0), 45, 9), ((9.0, 3.0), 100, 9), ((5.0, 4.0), 100, 7)]:
        fig = plotting.Figure(figsize=figsize, dpi=dpi)
        fig.text(0.5, 0.5, "tiny", fontsize=fontsize)
        with pytest.raises(ValueError, match="'tiny'"):
            plotting.png_bytes(fig)


def test_the_book_style_is_readable_at_its_default_size():
    fig, ax = plotting.figure()
    ax.plot([0, 1], [0, 1], label="a line")
    ax.set(xlabel="step", ylabel="loss", title="a title")
    ax.legend()
    plotting.png_bytes(fig)  # raises if any text is too small
    assert min(plotting.displayed_text_sizes(fig).values()) >= plotting.MIN_TEXT_PT
