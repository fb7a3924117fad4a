"""book.experiments.cheatsheet: the cheat sheet generated from book.optim, and the sources' sheet
compared with it (book.experiments.source_sheet)."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from book import optim
from book.experiments import cheatsheet, source_sheet
from book.optim._base import Optimizer

ROOT = Path(__file__).resolve().parents[1]
SEED_SHEET = next((ROOT.parent / "shared" / "seeds").glob("002_*.txt"), None)


# --- the library's own rows -----------------------------------------------------------


def test_every_exported_factory_has_a_catalog_entry_and_every_entry_a_factory():
    factories, entries = set(cheatsheet.factories()), set(cheatsheet.catalog())
    assert factories - entries == set(), "factories without a CATALOG entry"
    assert entries - factories == set(), "CATALOG entries of no exported factory"


def test_helpers_that_take_params_are_not_factories():
    assert "eval_params" in optim.__all__ or "hutchinson" in optim.__all__
    assert "eval_params" not in cheatsheet.factories()
    assert "hutchinson" not in cheatsheet.factories()
    assert {"sgd", "adam", "radam"} <= set(cheatsheet.factories())


def test_a_factory_without_an_entry_is_an_error(monkeypatch):
    monkeypatch.setattr(optim, "__all__", [*optim.__all__, "sgd_copy"])
    monkeypatch.setattr(optim, "sgd_copy", lambda lr=1.0: optim.sgd(lr), raising=False)
    with pytest.raises(ValueError, match="sgd_copy"):
        cheatsheet.rows()


@pytest.mark.parametrize("name", sorted(cheatsheet.catalog()))
def test_entry_fields(name):
    entry = cheatsheet.catalog()[name]
    bib = (ROOT / "references.bib").read_text()
    assert re.search(r"@\w+\{" + re.escape(entry.bibkey) + ",", bib), entry.bibkey
    assert entry.rule and all(isinstance(line, str) for line in entry.rule)
    assert str(entry.year) in entry.paper, "the paper text names its year"
    assert entry.chapter.startswith("chapters/")
    recorded = cheatsheet.verification().get(name)
    if recorded is not None:
        assert recorded["reference"].startswith(entry.reference) or entry.reference in \
            recorded["reference"], (entry.reference, recorded["reference"])


def test_hyperparameters_are_the_signature():
    assert cheatsheet.hyperparameters_text("adam") == (
        "lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0, amsgrad=False, "
        "maximize=False, decoupled_weight_decay=False")
    assert dict(cheatsheet.hyperparameters("sgd"))["momentum"] == 0


# --- state memory, counted -------------------------------------------------------------


@pytest.mark.parametrize("name, options, expected", [
    ("sgd", {}, "0"),
    ("sgd", {"momentum": 0.9}, "n"),
    ("adagrad", {}, "n"),
    ("rmsprop", {"centered": True, "momentum": 0.9}, "3n"),
    ("adadelta", {}, "2n"),
    ("adam", {}, "2n"),
    ("adam", {"amsgrad": True}, "3n"),
    ("nadam", {}, "2n"),  # mu_product is one float for all parameters
])
def test_state_memory_of_known_optimizers(name, options, expected):
    assert cheatsheet.state_memory(name, **options).text() == expected


def fake_optimizer(init):
    return Optimizer("fake", {}, init, None)


def test_memory_terms_are_fitted_from_the_shapes():
    # Adafactor-like factors (m + k), Shampoo-like Kronecker factors (m^2 + k^2) plus n.
    factored = fake_optimizer(lambda p: (0, np.zeros(p.shape[:1]), np.zeros(p.shape[-1:])))
    assert cheatsheet.count_memory(factored).text() == "m + k (vector: 2n)"
    kronecker = fake_optimizer(lambda p: {"L": np.zeros((p.shape[0],) * 2),
                                          "R": np.zeros((p.shape[-1],) * 2),
                                          "m": [np.zeros(p.shape)], "step": 3})
    assert cheatsheet.count_memory(kronecker).text() == "n + m^2 + k^2 (vector: n + 2n^2)"
    assert cheatsheet.count_memory(kronecker).text(markdown=True) == (
        "$n + m^2 + k^2$ (vector: $n + 2n^2$)")


def test_memory_of_matrix_only_optimizers():
    def matrices_only(p):
        if p.ndim != 2:
            raise ValueError("2-D only")
        return (np.zeros(p.shape),)
    assert cheatsheet.count_memory(fake_optimizer(matrices_only)).text() == \
        "n (matrices only)"


def test_memory_by_option_lists_the_options_that_add_state():
    def memory(name):
        return cheatsheet.memory_text(cheatsheet.memory_by_option(name))
    assert memory("adam") == "2n; 3n with amsgrad=True"
    assert memory("sgd") == "0; n with momentum=0.5"
    assert memory("rmsprop") == "n; 2n with momentum=0.5 or centered=True"


# --- the renderings ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def rows():
    return cheatsheet.rows()


def table_cells(line):
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_markdown_table_has_every_factory_once(rows):
    table = cheatsheet.markdown_table(rows, published={"chapters/adam"})
    lines = table.splitlines()
    width = len(table_cells(lines[0]))
    assert all(len(table_cells(line)) == width for line in lines), "a stray | splits a cell"
    for name in cheatsheet.factories():
        assert sum(f"`{name}`" in table_cells(line)[0] for line in lines[2:]) == 1, name
    assert "[`adam`](/chapters/adam.md)" in table
    assert "[`sgd`]" not in table, "only published chapters are linked"


def test_csv_round_trips(rows):
    text = cheatsheet.csv_text(rows)
    read = cheatsheet.read_csv(text)
    assert [line["factory"] for line in read] == [row.factory for row in rows]
    for line, row in zip(read, rows):
        assert line["rule"].split(" ; ") == list(row.entry.rule)
        assert line["state_memory"] == row.memory
        assert line["year"] == str(row.entry.year)
        recorded = row.max_relative_error
        assert (float(line["max_relative_error"]) == recorded if recorded is not None
                else line["max_relative_error"] == "")


def test_download_link_carries_the_csv(rows):
    import base64

    text = cheatsheet.csv_text(rows)
    link = cheatsheet.download_link(text)
    encoded = re.search(r'href="data:text/csv;base64,([^"]+)"', link).group(1)
    assert base64.b64decode(encoded).decode() == text


def test_the_book_side_imports_no_reference_package():
    code = ("import sys; from book.experiments import cheatsheet; cheatsheet.rows(); "
            "cheatsheet.sheet_comparisons(); "
            "print(sorted(m for m in ('torch', 'pytorch_optimizer', 'schedulefree', "
            "'lion_pytorch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


# --- the sources' sheet, compared --------------------------------------------------------


@pytest.mark.parametrize("row", [r for r in source_sheet.ROWS if r.name in source_sheet.RULES],
                         ids=lambda r: r.name)
def test_a_difference_is_said_exactly_where_one_is_measured(row):
    gap = source_sheet.formula_gap(row)
    assert gap is not None
    assert bool(row.differences) == (gap > source_sheet.SAME_RULE), gap


def test_nesterov_is_the_same_method_at_the_look_ahead_point():
    assert source_sheet.nesterov_look_ahead_gap() < source_sheet.SAME_RULE
    nag = next(r for r in source_sheet.ROWS if r.name == "Nesterov (NAG)")
    assert source_sheet.formula_gap(nag) > 1e-3


def test_amsgrad_first_step_is_larger_by_one_over_sqrt_one_minus_beta2():
    row = next(r for r in source_sheet.ROWS if r.name == "AMSGrad")
    start = np.ones_like(source_sheet.CURVATURES)
    (sheet,) = source_sheet.RULES[row.name](source_sheet.quadratic_gradient, start, 1,
                                            source_sheet.hyperparameters(row))
    (book,) = source_sheet.book_run(row, steps=1)
    ratio = (sheet - start) / (book - start)
    beta2 = source_sheet.hyperparameters(row)["betas"][1]
    # eps stays out of it on the coordinates whose gradient is far above eps.
    np.testing.assert_allclose(ratio[3:], 1 / np.sqrt(1 - beta2), rtol=1e-6)


def test_radam_thresholds_rectify_from_different_steps():
    beta2 = source_sheet.hyperparameters(
        next(r for r in source_sheet.ROWS if r.name == "RAdam"))["betas"][1]
    first = {threshold: next(t for t in range(1, 100)
                             if source_sheet.rectified(t, beta2, threshold)[0])
             for threshold in (4.0, 5.0)}
    assert first[4.0] < first[5.0]


def test_nadam_first_momentum_weight_is_near_half_beta1():
    opt = optim.nadam()
    _, state = opt.step(np.ones(2), np.ones(2), opt.init(np.ones(2)))
    beta1 = opt.hyperparams["betas"][0]
    assert abs(state.mu_product / (beta1 / 2) - 1) < 0.01


def test_rows_not_in_the_library_are_said_so():
    comparisons = cheatsheet.sheet_comparisons()
    table = cheatsheet.comparison_table(comparisons)
    missing = {c.row.name for c in comparisons if not c.in_library}
    assert missing == {r.name for r in source_sheet.ROWS
                       if r.factory not in cheatsheet.factories()}
    said = {line.split("|")[1].strip() for line in table.splitlines()
            if "not yet in book.optim" in line}
    assert said == missing


def test_citation_differences_are_computed():
    entries = cheatsheet.catalog()
    rows = {r.name: r for r in source_sheet.ROWS}
    assert cheatsheet.citation_difference(rows["Adam"], entries["adam"]) == \
        "the sheet dates it 2014; book.optim cites 2015"
    assert cheatsheet.citation_difference(rows["AdaGrad"], entries["adagrad"]) == ""
    assert cheatsheet.citation_difference(rows["SGD + Momentum"], entries["sgd"]) == ""
    assert cheatsheet.citation_difference(rows["Nesterov (NAG)"], entries["sgd"]).startswith(
        "the sheet cites Nesterov (1983)")


def test_reg_citation_says_the_sheet_links_another_arxiv_paper():
    """The sources cite REG as arXiv 2502.06615; the paper (Liu, Wu, Fu, Liu, Han, Zhong,
    Yuan 2025, "REG: A Regularization Optimizer for Robust Training Dynamics") is arXiv
    2510.03691, as references.bib gives it; authors and year agree."""
    rows = {r.name: r for r in source_sheet.ROWS}
    entry = cheatsheet.catalog()["reg"]
    assert cheatsheet.bib_arxiv(entry.bibkey) == "2510.03691"
    assert cheatsheet.citation_difference(rows["REG"], entry) == (
        "the sheet links arXiv 2502.06615; references.bib gives the paper as arXiv 2510.03691")
    table = cheatsheet.comparison_table(
        [c for c in cheatsheet.sheet_comparisons() if c.row.name == "REG"])
    assert "Citation: the sheet links arXiv 2502.06615; references.bib gives the paper as " \
        "arXiv 2510.03691." in table


@pytest.mark.skipif(SEED_SHEET is None, reason="the sources are not next to the checkout")
@pytest.mark.parametrize("row", source_sheet.ROWS, ids=lambda r: r.name)
def test_transcription_matches_the_sources_sheet(row):
    """Each row's name, first author and year are the sheet's own."""
    lines = [line for line in SEED_SHEET.read_text().splitlines()
             if line.startswith("|") and f"**{row.name}**" in line]
    assert len(lines) == 1, row.name
    paper_cell = table_cells(lines[0].replace("\\|", "/"))[4]
    assert f"({row.year})" in paper_cell
    assert row.cited.replace(" (textbook)", "").split(",")[0].split(" &")[0] in paper_cell
    if row.arxiv:
        assert f"arxiv.org/abs/{row.arxiv})" in paper_cell


def test_muon_differs_by_its_defaults_alone():
    """Without torch's weight decay and Nesterov step the sheet's Muon is book.optim's:
    summing instead of averaging the momentum is undone by Newton-Schulz's norming."""
    row = next(r for r in source_sheet.ROWS if r.name == "Muon")
    plain = row._replace(options={"nesterov": False, "weight_decay": 0.0})
    assert source_sheet.formula_gap(plain) < source_sheet.SAME_RULE
    assert source_sheet.formula_gap(row) > source_sheet.SAME_RULE
