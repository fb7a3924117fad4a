"""book.widgets: the three layers of an interactive figure and the data behind them."""

import base64
import json
import re

import numpy as np
import pytest

from book import landscapes, optim, runner
from book.widgets import MAX_FRAMES, explore, trajectory_explorer

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def spec_of(explorer):
    """The JSON data the static layer's script reads."""
    match = re.search(r'<script type="application/json" class="book-explorer-data">(.*?)</script>',
                      explorer.html, re.S)
    return json.loads(match.group(1).replace("<\\/", "</"))


def draw_line(ax, slope, offset):
    ax.plot([0, 1], [offset, offset + slope])
    ax.set_ylim(-3, 3)


def test_explore_carries_three_layers_and_one_frame_per_state():
    figure = explore(draw_line, {"slope": [-1.0, 0.0, 1.0], "offset": [0, 1]},
                     title="Lines", initial={"slope": 1.0})
    bundle = figure._repr_mimebundle_()
    assert {"text/plain", "text/html", "image/png", WIDGET_VIEW} <= set(bundle)
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")
    spec = spec_of(figure)
    assert spec["kind"] == "frames" and spec["sizes"] == [3, 2]
    assert spec["labels"] == [["-1", "0", "1"], ["0", "1"]]
    assert len(spec["frames"]) == 6 and len(set(spec["frames"])) == 6
    # The initial state: slope 1.0 (index 2), offset in the middle of [0, 1] (index 0).
    assert 'value="2"' in figure.html and f'src="{spec["frames"][2 * 2 + 0]}"' in figure.html
    assert "window.bookExplorer" in figure.html  # the script travels with the figure


def test_static_builds_skip_the_live_layer(monkeypatch):
    monkeypatch.setenv("BOOK_WIDGETS", "static")
    bundle = explore(draw_line, {"slope": [0.0, 1.0], "offset": [0]})._repr_mimebundle_()
    assert WIDGET_VIEW not in bundle and {"text/html", "image/png"} <= set(bundle)


@pytest.mark.parametrize("sliders, initial, message", [
    ({"slope": list(range(MAX_FRAMES + 1))}, None, "allows at most"),
    ({}, None, "non-empty dict"),
    ({"not a name": [1]}, None, "identifier"),
    ({"slope": []}, None, "has no values"),
    ({"slope": [1, 2]}, {"slope": 3}, "not one of its slider values"),
    ({"slope": [1, 2]}, {"offset": 0}, "unknown sliders"),
])
def test_explore_rejects_bad_grids_with_a_clear_message(sliders, initial, message):
    with pytest.raises(ValueError, match=message):
        explore(draw_line, sliders, initial=initial)


BOWL = landscapes.quadratic(kappa=10)
WINDOW = ((-5.0, 5.0), (-4.0, 4.0))


def heavy_ball(lr, momentum):
    return {"gd": optim.sgd(lr=lr), "heavy ball": optim.sgd(lr=lr, momentum=momentum)}


def test_paths_are_drawn_in_the_pixels_of_the_background_axes():
    # Starts at two corners of the window land on the corners of the axes' clip box.
    corners = np.array([[WINDOW[0][0], WINDOW[1][1]], [WINDOW[0][1], WINDOW[1][0]]])
    figure = trajectory_explorer(BOWL, heavy_ball, {"lr": [0.01, 0.1], "momentum": [0.0, 0.9]},
                                 x0=corners, steps=5, bounds=WINDOW)
    x, y, width, height = map(float, re.search(
        r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/>',
        figure.html).groups())
    spec = spec_of(figure)
    assert len(spec["paths"]) == 4 and len(spec["paths"][0]) == 4  # 2 optimizers x 2 starts
    for state in spec["paths"]:
        top_left, bottom_right = state[0][:2], state[1][:2]
        np.testing.assert_allclose(top_left, [x, y], atol=0.2)
        np.testing.assert_allclose(bottom_right, [x + width, y + height], atol=0.2)
        assert all(len(line) == 2 * 6 for line in state)


def test_batched_grid_equals_one_run_per_state(monkeypatch):
    calls = []
    trajectory = runner.trajectory
    monkeypatch.setattr(runner, "trajectory", lambda *args: calls.append(1) or trajectory(*args))
    sliders = {"lr": [0.02, 0.1, 0.18], "momentum": [0.0, 0.6]}
    batched = trajectory_explorer(BOWL, heavy_ball, sliders, x0=[-4.0, 1.0], steps=30)
    assert len(calls) == 2  # one batched run per optimizer

    def one_state_at_a_time(lr, momentum):
        return heavy_ball(float(lr), float(momentum))  # float() refuses the batch arrays

    single = trajectory_explorer(BOWL, one_state_at_a_time, sliders, x0=[-4.0, 1.0], steps=30)
    assert len(calls) == 2 + 6 * 2
    assert spec_of(batched)["paths"] == spec_of(single)["paths"]
    # And both are the runner's own paths: the last state's losses in the readout.
    run = runner.trajectory(optim.sgd(lr=0.18, momentum=0.6), BOWL, np.array([-4.0, 1.0]), 30)
    assert f"heavy ball: f after 30 steps = {run.losses[-1]:.3g}" in spec_of(batched)["readouts"][-1]


def test_a_diverging_run_is_cut_and_reported():
    figure = trajectory_explorer(BOWL, lambda lr: optim.sgd(lr=lr), {"lr": [0.1, 5.0]},
                                 x0=[-4.0, 1.0], steps=200)
    spec = spec_of(figure)
    assert spec["readouts"][1] == "diverged"
    converged, diverged = spec["paths"][0][0], spec["paths"][1][0]
    assert len(converged) == 2 * 201 and 2 <= len(diverged) < 2 * 201
    assert np.all(np.isfinite(diverged)) and np.max(np.abs(diverged)) < 1e7


def test_trajectory_explorer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="x0 must have shape"):
        trajectory_explorer(BOWL, heavy_ball, {"lr": [0.1], "momentum": [0.5]},
                            x0=[1.0, 2.0, 3.0], steps=5)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        trajectory_explorer(BOWL, heavy_ball, {"lr": [0.1], "momentum": [0.5]},
                            x0=[1.0, 2.0], steps=0)
    with pytest.raises(ValueError, match="same labels"):
        trajectory_explorer(BOWL, lambda flag: {str(flag): optim.sgd(lr=0.1)},
                            {"flag": [False, True]}, x0=[1.0, 2.0], steps=5)
