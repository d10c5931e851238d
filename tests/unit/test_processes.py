"""maskscope/processes.py: starting a server and waiting for its log, and what /proc says of a process."""

import os
import sys
from pathlib import Path

import pytest

from maskscope import processes


def test_wait_for_log_reads_what_a_process_says_and_says_when_it_ends(tmp_path):
    log = tmp_path / "child.log"
    child = processes.start_logged(["-c", "print('listening on 127.0.0.1:4321', flush=True); import time; "
                                    "time.sleep(30)"], log)
    try:
        assert processes.wait_for_log(child, log, r"listening on [^ ]+:(\d+)", timeout_s=30) == "4321"
    finally:
        assert processes.stop_process(child) != 0  # terminated
    quits = processes.start_logged(["-c", "print('bye')"], tmp_path / "quits.log")
    with pytest.raises(RuntimeError, match="exited with 0"):
        processes.wait_for_log(quits, tmp_path / "quits.log", r"never (\d)", timeout_s=30)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_proc_readers_on_this_process():
    me = os.getpid()
    assert processes.rss_bytes(me) > 1 << 20 and processes.peak_rss_bytes(me) >= processes.rss_bytes(me)
    before = processes.cpu_seconds(me)
    sum(i * i for i in range(2_000_000))
    assert processes.cpu_seconds(me) > before
    child = processes.start_logged(["-c", "import time; time.sleep(30)"], Path(os.devnull))
    try:
        assert child.pid in processes.children(me)
    finally:
        processes.stop_process(child)
    assert child.pid not in processes.children(me)
