"""Interactive figures that also work without a kernel, and on paper.

One call in a chapter cell makes one figure with sliders, in three layers that share
the same NumPy data:

(a) **live** — ipywidgets sliders that redraw the figure, when the chapter runs as a
    notebook with a kernel (MIME type ``application/vnd.jupyter.widget-view+json``);
(b) **static** — the same figure in the built HTML book, where the sliders move
    without a kernel: every state of the slider grid is computed when the book is
    built, and a few lines of JavaScript (``book/static/explorer.js``, inlined into the
    figure, nothing loaded from the network) swap it in (``text/html``);
(c) **print** — a plain PNG of the initial state (``image/png``).

The book's ``_config.yml`` tells myst-nb to prefer ``text/html`` over the widget view
in HTML, and the PNG in LaTeX; ``make book`` sets ``BOOK_WIDGETS=static`` so that the
build does not even make the live layer, whose kernel state would only weigh down the
page. The sliders move over a *grid*: each parameter takes one
of a short list of values, and the static layer holds one state per combination, so
keep grids small (the total number of states is capped).

Two entry points:

:func:`explore`
    any figure: ``draw(ax, **values)`` draws one state with matplotlib; the static
    layer is one small PNG per state.
:func:`trajectory_explorer`
    optimizer paths on a 2-D landscape: one contour background, and the paths of every
    state as coordinates, drawn in the browser as SVG polylines (much smaller than one
    image per state).

Example::

    import numpy as np
    from book.widgets import explore, trajectory_explorer
    from book import landscapes, optim

    def draw(ax, lr, beta):
        t = np.arange(50)
        ax.semilogy(t, (1 - lr) ** t + beta ** t)

    explore(draw, {"lr": [0.01, 0.1, 0.5], "beta": [0.0, 0.5, 0.9]}, title="Decay")

    trajectory_explorer(
        landscapes.quadratic(kappa=10),
        lambda lr, momentum: {"heavy ball": optim.sgd(lr=lr, momentum=momentum)},
        {"lr": [0.01, 0.03, 0.1], "momentum": [0.0, 0.5, 0.9]},
        x0=[-4.0, 1.0], steps=60,
    )

Both return a :class:`Explorer`, which Jupyter displays; it is the last expression of
its cell (or pass it to ``IPython.display.display``).
"""

import base64
import functools
import html
import itertools
import json
import math
import os
from pathlib import Path

import numpy as np

from book import plotting

__all__ = ["Explorer", "explore", "trajectory_explorer", "MAX_FRAMES", "MAX_PATH_STATES"]

#: Most states an :func:`explore` grid may have: each one is an image in the page.
MAX_FRAMES = 120
#: Most states a :func:`trajectory_explorer` grid may have: each one is a set of paths.
MAX_PATH_STATES = 1000
#: Most path points a :func:`trajectory_explorer` page may carry (all states together).
MAX_PATH_POINTS = 400_000

# Palette size of the static layer's images (see book.plotting.png_bytes).
_STATIC_COLORS = 256
# SVG clip paths need page-unique ids; several figures can share a page.
_clip_ids = itertools.count()
_SCRIPT = Path(__file__).with_name("static") / "explorer.js"
_STYLE = """
.book-explorer { margin: 0.5em 0 1em; }
.book-explorer .book-explorer-figure { position: relative; display: inline-block; max-width: 100%; }
.book-explorer img.book-explorer-image { display: block; max-width: 100%; height: auto; }
.book-explorer svg.book-explorer-overlay { position: absolute; left: 0; top: 0; width: 100%; height: 100%; pointer-events: none; }
.book-explorer .book-explorer-controls { display: flex; flex-wrap: wrap; gap: 0.25em 1.5em; font-size: 0.9em; }
.book-explorer label { display: flex; align-items: center; gap: 0.5em; margin: 0; }
.book-explorer output { font-family: monospace; min-width: 5em; }
.book-explorer .book-explorer-readout { font-family: monospace; font-size: 0.85em; white-space: pre-wrap; }
"""


class _Grid:
    """The slider grid: parameter names, their values, and the flattened states."""

    def __init__(self, sliders, initial, max_states, what):
        if not isinstance(sliders, dict) or not sliders:
            raise ValueError("sliders must be a non-empty dict mapping a parameter name "
                             "to the list of values its slider offers")
        self.names = list(sliders)
        self.values = []
        for name, values in sliders.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"slider name {name!r} must be a Python identifier: "
                                 "it is passed as a keyword argument")
            values = list(np.asarray(values).tolist()) if isinstance(values, np.ndarray) \
                else list(values)
            if not values:
                raise ValueError(f"slider {name!r} has no values")
            self.values.append(values)
        self.sizes = [len(v) for v in self.values]
        self.count = math.prod(self.sizes)
        if self.count > max_states:
            shape = " x ".join(map(str, self.sizes))
            raise ValueError(f"the slider grid has {self.count} states ({shape}); "
                             f"{what} allows at most {max_states}: use fewer values per slider")
        self.labels = [[_label(v) for v in values] for values in self.values]
        self.start = self._start_positions(initial or {})

    def _start_positions(self, initial):
        unknown = set(initial) - set(self.names)
        if unknown:
            raise ValueError(f"initial names unknown sliders: {sorted(unknown)}")
        positions = []
        for name, values in zip(self.names, self.values):
            if name not in initial:
                positions.append((len(values) - 1) // 2)
                continue
            matches = [i for i, v in enumerate(values) if v == initial[name]]
            if not matches:
                raise ValueError(f"initial value {initial[name]!r} of {name!r} is not "
                                 f"one of its slider values {values}")
            positions.append(matches[0])
        return tuple(positions)

    def states(self):
        """Every state as a dict of keyword arguments, in row-major order."""
        for combination in itertools.product(*self.values):
            yield dict(zip(self.names, combination))

    def flat(self, positions):
        return int(np.ravel_multi_index(positions, self.sizes))

    def values_at(self, positions):
        return {n: v[p] for n, v, p in zip(self.names, self.values, positions)}


def _label(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _data_uri(png):
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _script_json(data):
    # "</" inside a <script> element would end it early.
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


class Explorer:
    """A figure with sliders, displayed in three layers (see the module docstring).

    Made by :func:`explore` and :func:`trajectory_explorer`. ``png`` holds the print
    layer (bytes), ``html`` the kernel-free layer; the live layer is built when the
    object is displayed in a kernel that has ipywidgets.
    """

    def __init__(self, html_layer, png, live_png, grid, title):
        self.html = html_layer
        self.png = png
        self._live_png = live_png
        self._grid = grid
        self._title = title

    def __repr__(self):
        shape = ", ".join(f"{n}: {s} values" for n, s in zip(self._grid.names, self._grid.sizes))
        return f"<Explorer {self._title or ''}({shape})>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {
            "text/plain": repr(self),
            "text/html": self.html,
            "image/png": base64.b64encode(self.png).decode("ascii"),
        }
        live = self._live_view()
        if live is not None:
            bundle.update(live._repr_mimebundle_())
        return bundle

    def _live_view(self):
        """ipywidgets sliders that redraw the figure in the kernel.

        None without ipywidgets, and when ``BOOK_WIDGETS=static`` (set by ``make
        book``): the HTML book never shows the widget view, and its kernel state (the
        current image) would only add weight to the page.
        """
        if os.environ.get("BOOK_WIDGETS") == "static":
            return None
        try:
            import ipywidgets
            from IPython.display import Image, display
        except ImportError:
            return None
        grid = self._grid
        sliders = [
            ipywidgets.SelectionSlider(
                options=list(zip(labels, range(len(labels)))), value=start,
                description=name, continuous_update=False,
                style={"description_width": "initial"})
            for name, labels, start in zip(grid.names, grid.labels, grid.start)
        ]
        out = ipywidgets.Output()

        def redraw(_change=None):
            positions = tuple(slider.value for slider in sliders)
            with out:
                out.clear_output(wait=True)
                display(Image(self._live_png(positions)))

        for slider in sliders:
            slider.observe(redraw, names="value")
        redraw()
        return ipywidgets.VBox([ipywidgets.HBox(sliders, layout={"flex_flow": "row wrap"}), out])


def _static_html(grid, spec, figure_html, title):
    """The kernel-free layer: controls, the figure, the data and the script."""
    spec = dict(spec, sizes=grid.sizes, labels=grid.labels)
    controls = "".join(
        f'<label>{html.escape(name)} <input type="range" class="book-explorer-slider" '
        f'min="0" max="{size - 1}" step="1" value="{start}" aria-label="{html.escape(name)}">'
        f"<output>{html.escape(labels[start])}</output></label>"
        for name, size, start, labels in zip(grid.names, grid.sizes, grid.start, grid.labels)
    )
    caption = f'<div class="book-explorer-title"><strong>{html.escape(title)}</strong></div>' \
        if title else ""
    return (
        f"<style>{_STYLE}</style>"
        f'<div class="book-explorer">{caption}'
        f'<div class="book-explorer-controls">{controls}</div>'
        f'<div class="book-explorer-figure">{figure_html}</div>'
        f'<div class="book-explorer-readout"></div>'
        f'<script type="application/json" class="book-explorer-data">{_script_json(spec)}</script>'
        f"<script>{_SCRIPT.read_text()}</script>"
        f"</div>"
    )


def explore(draw, sliders, *, title=None, figsize=(6.0, 4.0), dpi=100, initial=None):
    """A matplotlib figure with one slider per parameter.

    Parameters
    ----------
    draw : callable
        ``draw(ax, **values)`` draws one state on a fresh axes ``ax`` (a figure made by
        :func:`book.plotting.figure`; ``ax.figure`` reaches it).
    sliders : dict
        Maps each keyword of ``draw`` to the list of values its slider offers. The grid
        is every combination; at most :data:`MAX_FRAMES` states.
    title : str, optional
        Shown above the sliders.
    figsize : (float, float)
        Figure size in inches.
    dpi : int
        Resolution of the static frames (the live and print layers use 100). The page
        carries one PNG per state, but a frame must stay readable: its text is checked
        at the size the page shows it (:func:`book.plotting.check_readable`).
    initial : dict, optional
        Starting value of some sliders (default: the middle of each list).
    """
    if not callable(draw):
        raise TypeError("draw must be a function draw(ax, **values)")
    grid = _Grid(sliders, initial, MAX_FRAMES, "explore")

    @functools.lru_cache(maxsize=None)
    def render(positions, resolution, colors=None):
        fig, ax = plotting.figure(figsize, resolution)
        draw(ax, **grid.values_at(positions))
        return plotting.png_bytes(fig, colors=colors)

    positions = list(itertools.product(*(range(s) for s in grid.sizes)))
    frames = [_data_uri(render(p, dpi, _STATIC_COLORS)) for p in positions]
    image = (f'<img class="book-explorer-image" src="{frames[grid.flat(grid.start)]}" '
             f'alt="{html.escape(title or "interactive figure")}">')
    html_layer = _static_html(grid, {"kind": "frames", "frames": frames}, image, title)
    return Explorer(html_layer, render(grid.start, 100), lambda p: render(p, 100), grid, title)


def _optimizer_series(made):
    """``make_optimizer`` may return one optimizer or a dict ``{label: optimizer}``."""
    if isinstance(made, dict):
        if not made:
            raise ValueError("make_optimizer returned an empty dict")
        return made
    return {"": made}


class _Run:
    """One optimizer's run at one state of a batched grid: ``path`` (steps+1, [starts,] 2)."""

    def __init__(self, path, losses):
        self.path, self.losses = path, losses


def _run_grid(grid, make_optimizer, landscape, x0, steps):
    """Every state's runs, a list of ``{label: _Run}`` in row-major grid order.

    When every slider is numeric, the whole grid is one batched call of
    :func:`book.runner.trajectory` per label: ``make_optimizer`` receives arrays of
    shape ``(states, 1, ...)``, which book.optim broadcasts against the starts. A
    ``make_optimizer`` that cannot take arrays (a boolean slider, a Python ``if`` on a
    value) is called once per state instead.
    """
    from book import runner

    states = list(grid.states())
    batch_shape = (grid.count,) + x0.shape
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                  for values in grid.values for v in values)
    if numeric:
        arrays = {name: np.array([state[name] for state in states], dtype=float)
                  .reshape((grid.count,) + (1,) * x0.ndim) for name in grid.names}
        try:
            series = _optimizer_series(make_optimizer(**arrays))
            batched = {label: runner.trajectory(opt, landscape, x0, steps)
                       for label, opt in series.items()}
        except (TypeError, ValueError):
            batched = None
        if batched and all(r.path.shape[1:] == batch_shape for r in batched.values()):
            return [{label: _Run(r.path[:, i], r.losses[:, i]) for label, r in batched.items()}
                    for i in range(grid.count)]
    runs = [{label: runner.trajectory(opt, landscape, x0, steps)
             for label, opt in _optimizer_series(make_optimizer(**values)).items()}
            for values in states]
    labels = list(runs[0])
    if any(list(run) != labels for run in runs):
        raise ValueError("make_optimizer must return the same labels for every state")
    return runs


def _to_pixels(path, to_display, image_height, limit):
    """Pixel coordinates of a ``(steps+1, 2)`` path, cut before it leaves ``limit``.

    A diverging path grows without bound: keep the points that stay within ``limit``
    (a box far larger than the window), so the SVG never holds huge numbers.
    """
    (x_min, x_max), (y_min, y_max) = limit
    inside = (np.isfinite(path).all(axis=1)
              & (path[:, 0] >= x_min) & (path[:, 0] <= x_max)
              & (path[:, 1] >= y_min) & (path[:, 1] <= y_max))
    keep = path[: np.argmin(inside) if not inside.all() else len(path)]
    pixels = to_display(keep) if len(keep) else np.empty((0, 2))
    pixels[:, 1] = image_height - pixels[:, 1]
    return np.round(pixels, 1).ravel().tolist()


def _readout(series_losses, steps):
    parts = []
    for label, loss in series_losses.items():
        final = np.asarray(loss, dtype=float)[-1]
        final = float(np.max(final))  # the worst start when there are several
        name = f"{label}: " if label else ""
        parts.append(f"{name}f after {steps} steps = {final:.3g}" if np.isfinite(final)
                     else f"{name}diverged")
    return "   ".join(parts)


def trajectory_explorer(landscape, make_optimizer, sliders, *, x0, steps, bounds=None,
                        title=None, figsize=(5.0, 4.0), dpi=100, levels=20, initial=None):
    """Optimizer paths on a 2-D landscape, with sliders for the hyperparameters.

    Parameters
    ----------
    landscape
        A 2-D test function of :mod:`book.landscapes` (``value``, ``grad``,
        ``plot_bounds``).
    make_optimizer : callable
        ``make_optimizer(**values)`` returns an optimizer of :mod:`book.optim`, or a
        dict ``{label: optimizer}`` to compare several (same labels for every state).
    sliders : dict
        Maps each keyword of ``make_optimizer`` to its list of values; at most
        :data:`MAX_PATH_STATES` states.
    x0 : array_like, shape (2,) or (starts, 2)
        Starting point(s).
    steps : int
        Number of optimizer steps.
    bounds : ((x_min, x_max), (y_min, y_max)), optional
        Plot window (default ``landscape.plot_bounds``).
    title, figsize, dpi, levels, initial
        As in :func:`explore`; ``levels`` is the number of contour levels.

    Every path is computed with :func:`book.runner.trajectory`, in one batched call
    when the sliders are numeric. The readout under the figure gives the loss after the
    last step (the worst start, if several).
    """
    grid = _Grid(sliders, initial, MAX_PATH_STATES, "trajectory_explorer")
    x0 = np.asarray(x0, dtype=float)
    if x0.shape[-1:] != (2,) or x0.ndim > 2:
        raise ValueError(f"x0 must have shape (2,) or (starts, 2), got {x0.shape}")
    if not (isinstance(steps, (int, np.integer)) and steps >= 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    starts = 1 if x0.ndim == 1 else x0.shape[0]
    if grid.count * starts * (steps + 1) > MAX_PATH_POINTS:
        raise ValueError(f"{grid.count} states x {starts} starts x {steps + 1} points "
                         f"exceeds {MAX_PATH_POINTS} path points: use fewer slider "
                         "values, starts or steps")

    runs = _run_grid(grid, make_optimizer, landscape, x0, steps)
    labels = list(runs[0])
    if len(labels) > len(plotting.COLORS):
        raise ValueError(f"at most {len(plotting.COLORS)} optimizers per figure")

    fig, ax = plotting.figure(figsize, dpi)
    plotting.contour(ax, landscape, bounds, levels=levels)
    plotting.legend(ax, labels)
    start_points = x0.reshape(-1, 2)
    ax.plot(start_points[:, 0], start_points[:, 1], "o", color="black", ms=4)
    background = plotting.png_bytes(fig, colors=_STATIC_COLORS)
    fig.canvas.draw()  # fixes the constrained layout, so the transform below is final
    width, height = fig.canvas.get_width_height()
    (x_lo, x_hi), (y_lo, y_hi) = ax.get_xlim(), ax.get_ylim()
    span_x, span_y = x_hi - x_lo, y_hi - y_lo
    limit = ((x_lo - 1e3 * span_x, x_hi + 1e3 * span_x), (y_lo - 1e3 * span_y, y_hi + 1e3 * span_y))
    clip = ax.get_window_extent()

    def polylines(run):
        return [_to_pixels(np.asarray(result.path, dtype=float).reshape(steps + 1, -1, 2)[:, k],
                           ax.transData.transform, height, limit)
                for result in run.values() for k in range(starts)]

    spec = {
        "kind": "paths",
        "paths": [polylines(run) for run in runs],
        "readouts": [_readout({l: r.losses for l, r in run.items()}, steps) for run in runs],
    }
    colors = [c for c in plotting.COLORS[: len(labels)] for _ in range(starts)]
    svg_lines = "".join(
        f'<polyline class="book-explorer-path" fill="none" stroke="{c}" stroke-width="1.6" '
        f'stroke-linejoin="round" points=""/><circle class="book-explorer-end" r="3" '
        f'fill="{c}" cx="-10" cy="-10"/>'
        for c in colors)
    clip_id = f"book-explorer-clip-{next(_clip_ids)}"
    figure_html = (
        f'<img class="book-explorer-image" src="{_data_uri(background)}" '
        f'alt="{html.escape(title or "optimizer paths")}">'
        f'<svg class="book-explorer-overlay" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="none"><defs><clipPath id="{clip_id}"><rect x="{clip.x0:.1f}" '
        f'y="{height - clip.y1:.1f}" width="{clip.width:.1f}" height="{clip.height:.1f}"/>'
        f'</clipPath></defs><g clip-path="url(#{clip_id})">{svg_lines}</g></svg>'
    )
    html_layer = _static_html(grid, spec, figure_html, title)

    @functools.lru_cache(maxsize=None)
    def render(positions):
        fig, ax = plotting.figure(figsize, 100)
        plotting.contour(ax, landscape, bounds, levels=levels)
        run = runs[grid.flat(positions)]
        plotting.paths(ax, {l: _clipped(r.path, limit) for l, r in run.items()})
        ax.set_title(_readout({l: r.losses for l, r in run.items()}, steps))
        return plotting.png_bytes(fig)

    return Explorer(html_layer, render(grid.start), render, grid, title)


def _clipped(path, limit):
    """The path with the points beyond ``limit`` (a diverging tail) masked out."""
    path = np.array(path, dtype=float)
    (x_min, x_max), (y_min, y_max) = limit
    outside = ~((path[..., 0] >= x_min) & (path[..., 0] <= x_max)
                & (path[..., 1] >= y_min) & (path[..., 1] <= y_max))
    path[outside] = np.nan
    return path
