"""Shared matplotlib helpers, so every figure of the book has the same look.

Figures are made with this module's :class:`Figure` (a matplotlib figure that shows
itself as a PNG), not through pyplot: a figure that pyplot does not know about is never
shown twice by the notebook's inline backend, and nothing has to be closed. A plain
``matplotlib.figure.Figure`` would show as ``<Figure size ...>`` text when the kernel
never imported pyplot, as in the book's build.

Example::

    from book import landscapes, plotting
    fig, ax = plotting.figure()
    plotting.contour(ax, landscapes.rosenbrock())
    plotting.paths(ax, {"gd": path_gd, "momentum": path_momentum})
    fig  # displayed by the notebook
"""

import io

import numpy as np
import matplotlib
import matplotlib.colors
import matplotlib.figure
import matplotlib.text
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from PIL import Image

__all__ = ["COLORS", "DIVERGED_COLOR", "STYLE", "COLUMN_WIDTH_PX", "MIN_TEXT_PT", "Figure", "figure", "contour",
           "paths", "legend", "rate_map", "displayed_text_sizes", "check_readable", "png_bytes"]

#: Colours of the series in a figure, in order (matplotlib's colour-blind-safe tab10).
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

#: Colour of the cells of a :func:`rate_map` whose run does not converge (outside any colour map).
DIVERGED_COLOR = "#d9d9d9"

#: Width of the book's text column in CSS pixels, in a laptop's window (1280 px) at 100%:
#: a wider image is scaled down to it.
COLUMN_WIDTH_PX = 688
#: Smallest text a figure may show, in points at its displayed size (1 pt = 4/3 CSS px).
MIN_TEXT_PT = 9.0

#: The book's text sizes (points): with a figure at most COLUMN_WIDTH_PX wide at 100 dpi,
#: the smallest, 9 pt, is shown at 9 pt or more.
STYLE = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "xtick.labelsize": 9,
         "ytick.labelsize": 9, "legend.fontsize": 9, "figure.titlesize": 11}
matplotlib.rcParams.update(STYLE)

# Resolution of the contour grid: fine enough for smooth level lines, cheap to evaluate.
_CONTOUR_RESOLUTION = 200


class Figure(matplotlib.figure.Figure):
    """A matplotlib figure that a notebook displays as a PNG image (its last-line value)."""

    def _repr_png_(self):
        return png_bytes(self)


def figure(figsize=(5.0, 4.0), dpi=100):
    """A new figure with one axes, in the book's style; returns ``(fig, ax)``."""
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    ax.grid(alpha=0.25)
    return fig, ax


def _bounds(landscape, bounds):
    bounds = landscape.plot_bounds if bounds is None else bounds
    (x_min, x_max), (y_min, y_max) = np.asarray(bounds, dtype=float)
    if not (x_min < x_max and y_min < y_max):
        raise ValueError(f"plot bounds must be ((x_min, x_max), (y_min, y_max)) "
                         f"with min < max, got {bounds!r}")
    return (x_min, x_max), (y_min, y_max)


def contour(ax, landscape, bounds=None, levels=20, log=True):
    """Draw the level lines of a 2-D ``landscape`` over ``bounds`` on ``ax``.

    ``bounds`` defaults to ``landscape.plot_bounds``, ``((x_min, x_max), (y_min,
    y_max))``. With ``log=True`` the levels are spaced evenly in
    :math:`\\log(f - f_{\\min} + \\epsilon)` over the window, so that the floor of a
    ravine and its steep walls both show. The axes limits are set to ``bounds``.
    """
    (x_min, x_max), (y_min, y_max) = _bounds(landscape, bounds)
    xs = np.linspace(x_min, x_max, _CONTOUR_RESOLUTION)
    ys = np.linspace(y_min, y_max, _CONTOUR_RESOLUTION)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)
    values = np.asarray(landscape.value(grid), dtype=float)
    if log:
        shifted = values - values.min()
        values = np.log(shifted + 1e-3 * (shifted.max() + 1e-12))
    ax.contour(xs, ys, values, levels=levels, cmap="Greys_r", linewidths=0.6, alpha=0.8)
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return ax


def paths(ax, series, colors=COLORS):
    """Draw optimizer paths: ``series`` maps a label to an array ``(steps+1, ..., 2)``.

    Each series gets one colour; extra axes between the step axis and the last one
    (several starts) draw one line each. A legend names the series.
    """
    for (label, path), color in zip(series.items(), colors):
        path = np.asarray(path, dtype=float)
        lines = path.reshape(path.shape[0], -1, 2)
        for k in range(lines.shape[1]):
            ax.plot(lines[:, k, 0], lines[:, k, 1], "-", color=color, lw=1.4,
                    marker=".", ms=3)
            ax.plot(lines[0, k, 0], lines[0, k, 1], "o", color="black", ms=4)
    legend(ax, list(series), colors)
    return ax


def legend(ax, labels, colors=COLORS):
    """A legend with one coloured line per label, independent of what ``ax`` holds."""
    if len(labels) > 1 or (labels and labels[0]):
        handles = [Line2D([], [], color=c, lw=1.4, label=l) for l, c in zip(labels, colors)]
        ax.legend(handles=handles, loc="upper right")


def rate_map(ax, xs, ys, rates, vmin, vmax, cmap="viridis"):
    """Paint convergence rates ``rates[len(ys), len(xs)]`` as a colour grid on ``ax``.

    Rates in ``[vmin, vmax]`` take the colour map; a cell whose rate is not below 1
    (``inf``, the divergence marker of :func:`book.convergence.measured_rate`, or a
    spectral radius >= 1) is painted :data:`DIVERGED_COLOR` and named in a legend, so
    it can never pass for a slow rate. Returns the mappable for a colour bar.
    """
    rates = np.asarray(rates, dtype=float)
    fails = ~(rates < 1)
    ax.pcolormesh(xs, ys, np.where(fails, 1.0, np.nan), cmap=matplotlib.colors.ListedColormap([DIVERGED_COLOR]),
                  shading="nearest")
    image = ax.pcolormesh(xs, ys, np.where(fails, np.nan, rates), vmin=vmin, vmax=vmax, cmap=cmap,
                          shading="nearest")
    ax.legend(handles=[Patch(color=DIVERGED_COLOR, label="diverges (no rate < 1)")], loc="upper right")
    return image


def displayed_text_sizes(fig, dpi=None):
    """``{text: size in pt}`` of every visible text of a drawn figure, at the size the book
    shows it: an image ``w`` pixels wide is shown at ``min(w, COLUMN_WIDTH_PX)`` CSS pixels."""
    dpi = dpi or fig.dpi
    width_px = fig.get_figwidth() * dpi
    scale = min(1.0, COLUMN_WIDTH_PX / width_px)
    # A font of s pt is s * dpi / 72 image pixels, shown at `scale` CSS px each (0.75 pt).
    return {text.get_text(): text.get_fontsize() * dpi / 72 * scale * 0.75
            for text in fig.findobj(matplotlib.text.Text)
            if text.get_visible() and text.get_text().strip()}


def check_readable(fig, dpi=None):
    """Refuse a figure whose smallest text would be shown below :data:`MIN_TEXT_PT`."""
    sizes = displayed_text_sizes(fig, dpi)
    small = {text: round(pt, 1) for text, pt in sizes.items() if pt < MIN_TEXT_PT}
    if small:
        shown = ", ".join(f"{text!r}: {pt} pt" for text, pt in list(small.items())[:4])
        raise ValueError(f"figure text shown below {MIN_TEXT_PT} pt ({shown}): make the figure "
                         f"narrower, its dpi higher or its fonts larger")


def png_bytes(fig, dpi=None, colors=None):
    """The figure as PNG bytes, at ``dpi`` (default: the figure's own).

    With ``colors`` (at most 256) the image is reduced to a palette of that many
    colours: a line plot stays visually the same at about a third of the bytes, which
    matters where a page carries one image per slider state.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi or fig.dpi)
    check_readable(fig, dpi)  # after savefig, which drew the tick labels
    if colors is None:
        return buffer.getvalue()
    buffer.seek(0)
    palette = Image.open(buffer).convert("RGB").quantize(colors)
    reduced = io.BytesIO()
    palette.save(reduced, format="png", optimize=True)
    return reduced.getvalue()
