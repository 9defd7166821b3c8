"""The documents say what the code holds: the run-directory table names exactly the files
rundir.py writes, DESIGN.md's layout names every module, the API reference documents every
public name (each with a docstring), the README stays a first screen, and every link to the
repository is built from the one address in setup.cfg."""
from __future__ import annotations

import configparser
import inspect
import re

import charrnn
from charrnn.runs import rundir

from .conftest import REPO

DOCS = REPO / "docs"


def test_the_run_directory_table_is_rundirs():
    training = (DOCS / "training.md").read_text(encoding="utf-8")
    table = training.split("## What a run directory holds")[1].split("```")[1]
    listed = re.findall(r"^  (\S+)", table, flags=re.MULTILINE)
    assert sorted(listed) == sorted([*rundir.RUN_FILES, rundir.CHECKPOINTS + "/", rundir.LOCK])


def test_the_design_layout_is_the_package_as_it_is():
    """DESIGN.md's layout puts every module in the folder it is in, and names no other."""
    design = (DOCS / "DESIGN.md").read_text(encoding="utf-8")
    layout = design.split("## Layout")[1].split("## ")[0]
    block = layout.split("\ncharrnn/")[1].split("\nscripts/")[0]
    listed, folder = set(), ""
    for line in block.splitlines():
        match = re.match(r"^(  |    )(\S+\.py|\S+/)\s", line + " ")
        if not match:
            continue
        indent, name = match.groups()
        if indent == "  ":
            folder = name if name.endswith("/") else ""
            if not name.endswith("/"):
                listed.add(name)
        elif name.endswith(".py"):
            listed.add(folder + name)
    package = REPO / "charrnn"
    modules = {p.relative_to(package).as_posix() for p in package.rglob("*.py")
               if p.name != "__init__.py" or p.parent == package}
    described = {m for m in listed if not m.endswith("__init__.py") or "/" not in m}
    assert described == modules


def _home(name: str) -> str:
    return charrnn._HOMES.get(name, "errors")


def test_the_api_reference_documents_every_public_name_with_its_docstring():
    reference = (DOCS / "api.md").read_text(encoding="utf-8")
    documented = re.findall(r"^::: charrnn\.([\w.]+)$", reference, flags=re.MULTILINE)
    assert sorted(documented) == sorted(f"{_home(n)}.{n}" for n in charrnn.__all__)
    undocumented = []
    for name in charrnn.__all__:
        public = getattr(charrnn, name)
        members = [(f"{name}.{m}", v.fget if isinstance(v, property) else v)
                   for m, v in vars(public).items()
                   if not m.startswith("_") and (callable(v) or isinstance(v, property))
                   ] if inspect.isclass(public) else []
        undocumented += [label for label, obj in [(name, public), *members]
                         if not (inspect.getdoc(obj) or "").strip()]
    assert undocumented == []


def test_the_readme_is_a_first_screen_that_links_its_pages():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    for page in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (REPO / page).is_file(), page
    assert (REPO / "LICENSE").read_text().startswith("\n                                 Apache")


def test_every_link_to_the_repository_is_built_from_the_one_address():
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    address = setup["metadata"]["url"]
    owner_and_name = address.removeprefix("https://github.com/")
    files = [REPO / "README.md", REPO / "mkdocs.yml", *DOCS.glob("*.md"),
             DOCS / "quickstart.ipynb"]
    found = {(f.name, m) for f in files
             for m in re.findall(r"github(?:\.com)?/([\w.-]+/charrnn)\b",
                                 f.read_text(encoding="utf-8"))}
    assert found and {m for _, m in found} == {owner_and_name}, found
    colab = f"https://colab.research.google.com/github/{owner_and_name}/blob/main/"
    for text in ((REPO / "README.md").read_text(), (DOCS / "quickstart.ipynb").read_text()):
        assert colab + "docs/quickstart.ipynb" in text
