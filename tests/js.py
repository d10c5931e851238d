"""Running the page's pure ES modules in Node, for their tests."""

import json
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="needs node (on every CI machine)")


def run_js(module: str, body: str):
    """`body` (a function body that returns a JSON-able value) with `m` the page's module `module`."""
    url = (ROOT / "web_client" / "static" / "js" / module).as_uri()
    script = f"const m = await import({json.dumps(url)});\nconst out = (() => {{ {body} }})();\n" \
             "console.log(JSON.stringify(out));"
    result = subprocess.run([NODE, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
