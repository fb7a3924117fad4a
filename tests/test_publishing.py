"""Publishing: the book's address is set in one place, and the Pages workflow builds and
publishes what `make book` builds.

The workflow (.github/workflows/pages.yml) cannot run here, so it is checked as data:
its triggers, permissions, steps and the folder it uploads. Nothing here builds the
book; tests/test_book.py checks the built pages' canonical links.
"""

import json
import re

import pytest
import yaml
from book_pages import ROOT, toc_pages
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from test_book import external_resources

from autograder.release import RELEASE_DIR, SOURCE_DIR, assignments, book_url

WORKFLOW = ROOT / ".github" / "workflows" / "pages.yml"
# Where `make book` (jupyter-book build . , no --path-output) writes the HTML; the
# `built_book` fixture of conftest.py reads the same folder.
BOOK_OUTPUT = "_build/html"


def book_config():
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def workflow():
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps(job):
    return workflow()["jobs"][job]["steps"]


def action(step):
    """``actions/checkout@v7`` -> (``actions/checkout``, 7); (None, None) for a run step."""
    if "uses" not in step:
        return None, None
    name, _, ref = step["uses"].partition("@")
    major = re.fullmatch(r"v(\d+)(?:\.\d+)*", ref)
    assert major, f"{step['uses']}: pin a release tag (vN), not a branch or nothing"
    return name, int(major.group(1))


# ---- One address ----------------------------------------------------------------------

def test_the_canonical_url_is_book_url_itself():
    # html.baseurl is a YAML alias of book_url: one value to edit, not two to keep equal.
    text = (ROOT / "_config.yml").read_text(encoding="utf-8")
    assert re.search(r"^book_url:\s*&book_url\s+https?://\S+$", text, re.MULTILINE), text
    assert re.search(r"^\s+baseurl:\s*\*book_url\s*$", text, re.MULTILINE)
    config = book_config()
    assert config["html"]["baseurl"] == config["book_url"]


def test_sphinx_and_release_read_the_same_address():
    # What Jupyter Book hands Sphinx (html_baseurl) is what `python -m autograder release`
    # writes into the exercises' links, and what the handout names.
    from jupyter_book.config import get_final_config

    sphinx_config, _ = get_final_config(user_yaml=ROOT / "_config.yml", sourcedir=ROOT,
                                        cli_config={"latex_individualpages": False},
                                        raise_on_invalid=True)
    assert sphinx_config["html_baseurl"].rstrip("/") == book_url()
    # A second html_baseurl under sphinx.config would override html.baseurl.
    assert "html_baseurl" not in (book_config().get("sphinx") or {}).get("config", {})


def test_exercises_link_the_published_chapters_not_a_local_build():
    for assignment in assignments():
        source = (SOURCE_DIR / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8")
        released = (RELEASE_DIR / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8")
        assert "{book_url}/chapters/" in source, f"{assignment}: source links no chapter"
        assert "_build" not in source and "_build" not in released
        text = "".join("".join(cell["source"]) for cell in json.loads(released)["cells"]
                       if cell["cell_type"] == "markdown")
        links = re.findall(r"\]\((https?://[^)\s]+)\)", text)
        chapter_links = [link for link in links if link.startswith(f"{book_url()}/chapters/")]
        assert chapter_links, f"{assignment}: no link to {book_url()}/chapters/"
        for link in chapter_links:
            assert link.removeprefix(f"{book_url()}/").removesuffix(".html") in toc_pages(), link


@pytest.mark.parametrize("html, loads", [
    ('<link rel="canonical" href="{url}/chapters/adam.html" />', False),
    ("<link href='{url}/index.html' rel=canonical>", False),
    ('<link rel="canonical" href="https://elsewhere.example.com/chapters/adam.html" />', True),
    ('<link rel="canonical" href="{url}.evil.example/x.html" />', True),
    ('<link rel="stylesheet" href="{url}/_static/theme.css" />', True),
    ('<link rel="canonical stylesheet" href="{url}/_static/theme.css" />', True),
    ('<link rel="preload" as="font" href="//cdn.example.com/f.woff2" />', True),
    ('<script src="{url}/_static/x.js"></script>', True),
    ('<a href="https://arxiv.org/abs/1412.6980">Kingma and Ba</a>', False),
])
def test_only_the_canonical_link_to_the_book_itself_is_allowed(html, loads):
    url = book_url()
    assert bool(external_resources(html.format(url=url), url)) is loads


# ---- The workflow ----------------------------------------------------------------------

def test_workflow_runs_on_pushes_to_main_and_by_hand():
    data = workflow()
    triggers = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in triggers


def test_workflow_has_the_pages_permissions_and_one_deployment_at_a_time():
    data = workflow()
    assert data["permissions"]["pages"] == "write"
    assert data["permissions"]["id-token"] == "write"
    assert data["permissions"].get("contents", "read") == "read"
    assert data["concurrency"]["group"] == "pages"
    assert data["concurrency"]["cancel-in-progress"] is False


def test_workflow_builds_with_the_readme_command_and_uploads_the_book_output():
    build = steps("build")
    names = [action(step)[0] for step in build]
    assert names == ["actions/checkout", "actions/setup-python", None,
                     "actions/upload-pages-artifact"], names
    runs = [step["run"].strip() for step in build if "run" in step]
    assert runs == ["make book"], runs
    assert "make book" in (ROOT / "README.md").read_text(encoding="utf-8")
    upload = build[-1]
    assert upload["with"]["path"].rstrip("/") == BOOK_OUTPUT
    # make book builds `jupyter-book build .` into ./_build/html (no other output folder).
    recipe = (ROOT / "Makefile").read_text(encoding="utf-8")
    build_line = next(line for line in recipe.splitlines() if "jupyter-book build" in line)
    assert "jupyter-book build . " in build_line and "--path-output" not in build_line
    assert "--builder" not in build_line


def test_workflow_uses_a_python_the_project_supports():
    setup = steps("build")[1]
    version = str(setup["with"]["python-version"])
    assert re.fullmatch(r"3\.\d+", version), version  # a string: YAML would read 3.10 as 3.1
    requires = re.search(r'requires-python\s*=\s*"([^"]+)"',
                         (ROOT / "pyproject.toml").read_text(encoding="utf-8")).group(1)
    assert Version(version) in SpecifierSet(requires), (version, requires)


def test_workflow_deploys_the_uploaded_artifact_to_github_pages():
    job = workflow()["jobs"]["deploy"]
    assert job["needs"] in ("build", ["build"])
    assert job["environment"]["name"] == "github-pages"
    (deploy,) = job["steps"]
    assert action(deploy)[0] == "actions/deploy-pages"
    assert job["environment"]["url"] == "${{ steps.%s.outputs.page_url }}" % deploy["id"]


def test_workflow_actions_are_majors_that_work_together():
    # upload-pages-artifact v1/v2 stored the site with the retired upload-artifact v3;
    # artifacts of v3 and later deploy only with deploy-pages v4 or later.
    majors = dict(action(step) for job in ("build", "deploy") for step in steps(job)
                  if "uses" in step)
    assert majors["actions/upload-pages-artifact"] >= 3
    assert majors["actions/deploy-pages"] >= 4
    assert majors["actions/checkout"] >= 4
    assert majors["actions/setup-python"] >= 5
