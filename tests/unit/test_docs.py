"""The README documents every server flag, with its real default."""

import re
from pathlib import Path

from inference_service.server import build_parser

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_server_flag_is_in_the_readme_table():
    rows = dict(re.findall(r"^\| `(--[a-z0-9-]+)` \| `([^`]*)` \|", README, flags=re.M))
    for action in build_parser()._actions:
        flag = next((s for s in action.option_strings if s.startswith("--") and s != "--help"), None)
        if flag is None:
            continue
        assert flag in rows, f"{flag} is missing from the README's flag table"
        default = action.default
        documented = rows[flag]
        assert documented == str(default) or (documented and float(documented) == float(default)), \
            (flag, documented, default)


def test_the_layout_names_every_module_and_only_modules_that_exist():
    root = Path(__file__).resolve().parents[2]
    layout = README[README.index("## Layout"):README.index("## Development")]
    named = {Path(name).name for name in re.findall(r"`([a-z_/.]+\.(?:py|js))`", layout)}
    modules = {p.name for folder in ("inference_service", "web_client", "web_client/study", "maskscope")
               for p in (root / folder).glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    modules |= {p.name for p in (root / "web_client/static/js").glob("*.js")}
    assert modules - named == set(), "modules the README's Layout does not name"
    assert named - modules == set(), "names of modules that do not exist"
