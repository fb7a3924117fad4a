// Kernel-free sliders for the figures made by book.widgets.
//
// Every figure is a <div class="book-explorer"> holding its data as JSON in a
// <script type="application/json">, one range input per parameter (its value is the
// index into that parameter's grid) and either an <img> whose source is swapped
// ("frames") or an SVG overlay whose polylines are redrawn ("paths"). This file is
// included once per figure; the first copy defines window.bookExplorer and every copy
// mounts the figures that are not mounted yet, so several figures per page work.
(function () {
  "use strict";
  if (window.bookExplorer) {
    window.bookExplorer.mountAll();
    return;
  }

  // Row-major position of the slider indices in the flattened grid.
  function flatIndex(sizes, positions) {
    var index = 0;
    for (var k = 0; k < sizes.length; k++) {
      index = index * sizes[k] + positions[k];
    }
    return index;
  }

  function pointsAttribute(flat) {
    var pairs = [];
    for (var j = 0; j + 1 < flat.length; j += 2) {
      pairs.push(flat[j] + "," + flat[j + 1]);
    }
    return pairs.join(" ");
  }

  function showFrame(root, spec, index) {
    root.querySelector("img.book-explorer-image").src = spec.frames[index];
  }

  function showPaths(root, spec, index) {
    var lines = root.querySelectorAll("polyline.book-explorer-path");
    var ends = root.querySelectorAll("circle.book-explorer-end");
    var paths = spec.paths[index];
    for (var j = 0; j < lines.length; j++) {
      var flat = paths[j];
      lines[j].setAttribute("points", pointsAttribute(flat));
      var n = flat.length;
      ends[j].setAttribute("cx", n >= 2 ? flat[n - 2] : -10);
      ends[j].setAttribute("cy", n >= 2 ? flat[n - 1] : -10);
    }
  }

  function mount(root) {
    if (root.getAttribute("data-mounted") === "true") {
      return;
    }
    root.setAttribute("data-mounted", "true");
    var spec = JSON.parse(root.querySelector("script.book-explorer-data").textContent);
    var inputs = root.querySelectorAll("input.book-explorer-slider");
    var readout = root.querySelector(".book-explorer-readout");
    function update() {
      var positions = [];
      for (var k = 0; k < inputs.length; k++) {
        var position = Number(inputs[k].value);
        positions.push(position);
        inputs[k].parentNode.querySelector("output").textContent = spec.labels[k][position];
      }
      var index = flatIndex(spec.sizes, positions);
      if (spec.kind === "frames") {
        showFrame(root, spec, index);
      } else {
        showPaths(root, spec, index);
      }
      if (readout && spec.readouts) {
        readout.textContent = spec.readouts[index];
      }
    }
    for (var k = 0; k < inputs.length; k++) {
      inputs[k].addEventListener("input", update);
    }
    update();
  }

  function mountAll() {
    var roots = document.querySelectorAll("div.book-explorer");
    for (var i = 0; i < roots.length; i++) {
      mount(roots[i]);
    }
  }

  window.bookExplorer = { mountAll: mountAll };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mountAll);
  } else {
    mountAll();
  }
})();
