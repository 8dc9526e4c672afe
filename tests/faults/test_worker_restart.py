"""A Celery worker killed -9 in the middle of a digest run: its entries are digested within
10 s of a worker being back (issue 12: they waited up to 84 s). The run is held mid-digest
by a row lock the test takes on the entries' group, so the kill really lands inside it."""

import os
import signal
import subprocess

from tests.faults import celery_procs as procs


def _hold_a_digest_run(stack):
    """Digest one report (its group exists), lock that group, send five more and wait
    until the worker's run is blocked on the lock with the five claimed. Returns the
    connection holding the lock."""
    stack.post(1)
    procs.wait_for(lambda: stack.undigested() == 0, timeout=10, what="the first digest",
                   procs=stack.procs)
    holder = procs.db(stack.database_url)
    holder.autocommit = False
    with holder.cursor() as cur:
        cur.execute("SELECT id FROM resilience_errorgroup WHERE service_id = %s FOR UPDATE",
                    [stack.service_id])
        assert cur.rowcount == 1
    stack.post(5)

    def blocked() -> bool:
        # Asked on a connection of its own: inside the holder's transaction
        # pg_stat_activity is a snapshot taken at its first read.
        watcher = procs.db(stack.database_url)
        try:
            with watcher.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_activity"
                            " WHERE wait_event_type = 'Lock' AND datname = current_database()")
                return cur.fetchone()[0] > 0
        finally:
            watcher.close()

    procs.wait_for(blocked, timeout=10, what="the digest run to block on the group",
                   procs=stack.procs)
    assert stack.undigested() == 5
    return holder


def _pool_children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


def test_a_pool_process_killed_mid_digest_is_redone_at_once(stack):
    holder = _hold_a_digest_run(stack)
    children = _pool_children(stack.worker.proc.pid)
    assert children, stack.worker.tail()
    for child in children:
        os.kill(child, signal.SIGKILL)
    holder.rollback()  # the dead process's claim went with its connection
    holder.close()

    # The master replaces the child and gets the run back (acks late, reject on loss).
    procs.wait_for(lambda: stack.undigested() == 0, timeout=10,
                   what="the killed run's entries to be digested", procs=stack.procs)
    assert stack.worker.alive()


def test_a_whole_worker_killed_mid_digest_resumes_when_a_worker_starts(stack):
    holder = _hold_a_digest_run(stack)
    stack.worker.kill()
    holder.rollback()
    holder.close()
    assert stack.undigested() == 5  # nobody digests while no worker runs

    # What the supervisor does (deploy/faultline-worker.service: Restart=always).
    stack.start_worker("worker-restarted")
    procs.wait_for(lambda: stack.undigested() == 0, timeout=10,
                   what="entries left by the killed worker to be digested", procs=stack.procs)
