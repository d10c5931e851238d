"""The committed gRPC stubs are exactly what the committed .proto generates."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("classifier_pb2.py", "classifier_pb2.pyi", "classifier_pb2_grpc.py")


def test_committed_stubs_are_not_stale(tmp_path):
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-Iproto", f"--python_out={tmp_path}",
                    f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}", "proto/maskscope/v1/classifier.proto"],
                   cwd=ROOT, check=True)
    for name in GENERATED:
        fresh = (tmp_path / "maskscope" / "v1" / name).read_text()
        committed = (ROOT / "maskscope" / "v1" / name).read_text()
        assert fresh == committed, f"maskscope/v1/{name} is stale: run `make proto`"
