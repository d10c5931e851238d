"""docs/notebooks/what_flips_it.ipynb, run cell by cell on a real kernel against the real server."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from maskscope.processes import ROOT

NOTEBOOK = ROOT / "docs" / "notebooks" / "what_flips_it.ipynb"


def html_outputs(cell) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in cell.get("outputs", []))


def test_the_notebook_shows_a_search_and_the_folders_grid(server, monkeypatch, tmp_path):
    monkeypatch.setenv("MASKSCOPE_ADDR", server.address)
    monkeypatch.setenv("MASKSCOPE_PHOTOS", str(ROOT / "web_client" / "static" / "samples"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    one, folder, rule = html_outputs(code[1]), html_outputs(code[2]), html_outputs(code[3])
    assert "<img src='data:image/png;base64," in one and "turns espresso" in one
    assert folder.count("class='card'") == len(list(Path(ROOT / "web_client" / "static" / "samples").glob("*.jpg")))
    assert "flip search over 7 photos: the class survives in" in folder
    assert "rule outside-centre over 7 photos" in rule
