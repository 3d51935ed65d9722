"""The documentation cannot drift: the reference is generated, the examples load."""

from __future__ import annotations

import re

from tests.conftest import REPO

from sweeplab.config import parse_yaml, validate_doc
from sweeplab.reports.reference import render_reference


def test_reference_is_current():
    current = (REPO / "docs" / "reference.md").read_text()
    assert current == render_reference(), (
        "regenerate: python -m sweeplab.reports.reference > docs/reference.md"
    )


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.S)


def test_readme_and_reference_examples_load():
    from sweeplab.config.project import Project
    from sweeplab.space import SearchSpace

    blocks = _yaml_blocks((REPO / "README.md").read_text()) + _yaml_blocks(
        (REPO / "docs" / "reference.md").read_text()
    )
    kinds = []
    for block in blocks:
        doc = parse_yaml(block, file="README.md")
        if "parameters" in doc.data:
            space = SearchSpace.from_dict(doc.data, file="README.md")
            assert space.names
            kinds.append("space")
        else:
            project = validate_doc(doc, Project)
            assert project.name
            kinds.append("project")
    assert "space" in kinds and "project" in kinds


def test_shipped_projects_and_spaces_load():
    from sweeplab.space import load_space
    from sweeplab.tasks import load_project

    projects = sorted((REPO / "projects").glob("*.yaml"))
    assert len(projects) >= 2
    for path in projects:
        pf = load_project(path)
        if pf.project.search.space:
            load_space(pf.resolve(pf.project.search.space))
    for path in sorted((REPO / "search_spaces").glob("*.yaml")):
        assert load_space(path).names


def test_every_key_of_the_reference_has_a_meaning():
    """A key table row (| `key` | type | default | meaning |) with an empty meaning cell fails,
    naming the section and the key."""
    section, empty, rows = "", [], 0
    for line in render_reference().splitlines():
        if line.startswith("### "):
            section = line[4:]
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 4 and cells[0].startswith("`"):
            rows += 1
            if not cells[3]:
                empty.append(f"{section}: {cells[0]}")
    assert rows > 100
    assert not empty, f"keys without a meaning (add a Field description): {empty}"
