"""The docs follow the code: every flag of both servers documented with its real default
(docs/operating.md), every limit (docs/reliability.md), every module in README's Layout."""

import re
from pathlib import Path

from inference_service.settings import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
OPERATING = (ROOT / "docs" / "operating.md").read_text()
FLAG_ROW = r"^\| `(--[a-z0-9-]+)` \| `([^`]*)` \|"


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end >= 0 else None]


def test_every_inference_flag_is_in_the_operators_table_with_its_default():
    rows = dict(re.findall(FLAG_ROW, section(OPERATING, "## The inference service's flags"), flags=re.M))
    for action in build_parser()._actions:
        flag = next((s for s in action.option_strings if s.startswith("--") and s != "--help"), None)
        if flag is None:
            continue
        assert flag in rows, f"{flag} is missing from docs/operating.md's flag table"
        default = action.default
        documented = rows[flag]
        assert documented == str(default) or (documented and float(documented) == float(default)), \
            (flag, documented, default)


def test_every_web_app_flag_is_in_a_table_with_its_default(monkeypatch):
    """The web app's flags in docs/operating.md's table, its limits in docs/reliability.md's."""
    import os

    from web_client.__main__ import build_parser as web_parser
    for name in [n for n in os.environ if n.startswith("MASKSCOPE_")]:  # the defaults, not the tests' settings
        monkeypatch.delenv(name)
    reliability = (ROOT / "docs" / "reliability.md").read_text()
    rows = dict(re.findall(FLAG_ROW, section(OPERATING, "## The web app's flags"), flags=re.M))
    for action in web_parser()._actions:
        flag = next((s for s in action.option_strings if s.startswith("--") and s != "--help"), None)
        if flag is None:
            continue
        if flag in rows:
            assert rows[flag] == ("" if getattr(action, "secret", False) else str(action.default)), flag
        else:
            assert f"| `{flag}` |" in reliability, f"{flag} is in neither table"


def test_the_layout_names_every_module_and_only_modules_that_exist():
    root = Path(__file__).resolve().parents[2]
    layout = README[README.index("## Layout"):README.index("## Development")]
    named = {Path(name).name for name in re.findall(r"`([a-z_/.]+\.(?:py|js))`", layout)}
    modules = {p.name for folder in ("inference_service", "web_client", "web_client/study", "maskscope")
               for p in (root / folder).glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    modules |= {p.name for p in (root / "inference_service").glob("*/*.py") if p.name != "__init__.py"}
    # The service's sub-packages are the path a request takes: each of their modules in its folder.
    in_folders = {f"{p.parent.name}/{p.name}" for p in (root / "inference_service").glob("*/*.py")
                  if p.name != "__init__.py"}
    assert in_folders - set(re.findall(r"`([a-z_]+/[a-z_]+\.py)`", layout)) == set(), \
        "service modules the Layout does not name in their folder"
    modules |= {p.name for p in (root / "web_client/static/js").glob("*.js")}
    assert modules - named == set(), "modules the README's Layout does not name"
    assert named - modules == set(), "names of modules that do not exist"


def test_every_web_limit_is_in_the_reliability_table_with_its_default():
    from dataclasses import fields

    from web_client.limits import _FLAGS, Limits
    doc = (Path(__file__).resolve().parents[2] / "docs" / "reliability.md").read_text()
    table = doc[doc.index("## The web tier's limits"):]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    for field in fields(Limits):
        flag = _FLAGS[field.name][0]
        row = next((r for r in rows if f"`{flag}`" in r.split("|")[3]), None)
        assert row is not None, f"{flag} is missing from docs/reliability.md's table of limits"
        default = getattr(Limits(), field.name)
        if flag != "--max-upload-mb" or "an upload" in row:  # the upload's other rows are derived from it
            assert f"`{default:.10g}`" in row.split("|")[2], (flag, default, row)
