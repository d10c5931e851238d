"""web_client/cpu.py: seconds-long work runs where it is called, or on the pool once there is one."""

import threading

import pytest

from web_client import cpu


@pytest.fixture
def pool():
    cpu.start(1)
    yield
    cpu._pool.kill()
    cpu._pool = None


def test_without_a_pool_the_work_runs_here():
    assert cpu.run(threading.get_ident) == threading.get_ident()


def test_with_a_pool_it_runs_on_the_pools_thread_and_answers_here(pool):
    assert cpu.run(threading.get_ident) != threading.get_ident()
    assert cpu.run(divmod, 7, 2) == (3, 1)
    with pytest.raises(ZeroDivisionError):
        cpu.run(divmod, 1, 0)
