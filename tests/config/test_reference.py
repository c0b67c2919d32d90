"""bomerge.config.reference: the config reference page is generated from the models, so
the committed page is exactly what the generator prints and lists every key."""

from __future__ import annotations

from pathlib import Path

from bomerge.config.reference import COMMAND, config_reference, sections

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "config.md"


def test_the_committed_page_is_what_the_models_generate():
    assert PAGE.read_text() == config_reference(), f"{PAGE} is stale: run {COMMAND}"


def test_every_key_of_every_section_has_a_row_under_its_section():
    page = config_reference()
    for path, model in sections():
        heading = f"## `{path}`" if path else "## top level"
        assert heading in page, heading
        body = page.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
        if body.strip().startswith("The same keys as"):
            continue  # a section listed under its first path
        for name in model.model_fields:
            assert f"| `{name}` |" in body, f"{path or 'top level'}.{name}"


def test_a_row_carries_its_type_default_and_description():
    search = config_reference().split("## `search`\n", 1)[1]
    row = next(line for line in search.splitlines() if line.startswith("| `batch_size` |"))
    assert '| int \\| "auto" | `1` |' in row and "'auto'" in row and "at most 8" in row


def test_a_section_that_holds_its_own_kind_is_listed_once():
    paths = [path for path, _ in sections()]
    assert "task" in paths and not any(p.startswith("task.tasks") for p in paths)
    assert len(paths) == len(set(paths))
