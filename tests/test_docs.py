"""The documents say what the code holds: README's run-directory table names exactly the files
rundir.py writes, and DESIGN.md's layout names every module of the package."""
from __future__ import annotations

import re

from charrnn import rundir

from .conftest import REPO


def test_the_readme_run_directory_table_is_rundirs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("## What a run directory holds")[1].split("```")[1]
    listed = re.findall(r"^  (\S+)", table, flags=re.MULTILINE)
    assert sorted(listed) == sorted([*rundir.RUN_FILES, rundir.CHECKPOINTS + "/", rundir.LOCK])


def test_the_design_layout_names_every_module():
    design = (REPO / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    layout = design.split("## Layout")[1].split("## ")[0]
    package = REPO / "charrnn"
    modules = {p.name for p in package.rglob("*.py") if p.name != "__init__.py"}
    missing = sorted(m for m in modules if not re.search(rf"\b{re.escape(m)}\b", layout))
    assert missing == []
