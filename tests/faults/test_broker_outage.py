"""The Celery broker (a private Redis) really killed under a real gunicorn and worker:
ingest never waits on it, the worker survives it, digestion resumes when it is back
(issue 12)."""

import shutil
import time
from concurrent.futures import ThreadPoolExecutor

from tests.faults import celery_procs as procs

REPORTS = 50


def test_ingest_answers_at_full_speed_while_the_broker_is_down(stack, private_redis):
    private_redis.stop()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda _: procs.post_report(stack.port, stack.key),
                                 range(REPORTS)))
    elapsed = time.monotonic() - started
    # Before issue 12 each commit waited ~6 s on the dead broker: 50 reports took minutes.
    assert statuses == [201] * REPORTS
    assert elapsed < 10, f"{REPORTS} reports took {elapsed:.1f} s with the broker down"
    assert procs.count_entries(stack.database_url, stack.service_id) == REPORTS


def test_digestion_resumes_within_10_s_of_the_broker_coming_back(stack, private_redis):
    private_redis.stop()
    stack.post(5)
    time.sleep(1)  # the scheduler thread's publish fails against the dead broker
    assert stack.undigested() == 5

    private_redis.start()  # empty: whatever was queued died with it
    procs.wait_for(lambda: stack.undigested() == 0, timeout=10,
                   what="the entries stored during the outage to be digested",
                   procs=stack.procs)
    assert stack.worker.alive()


def test_the_worker_survives_repeated_broker_kills_and_consumes_after(stack, private_redis):
    for _ in range(5):
        private_redis.stop()
        time.sleep(1.5)
        private_redis.start()
        time.sleep(1.5)
        assert stack.worker.alive(), stack.worker.tail()
    assert "Unrecoverable error" not in stack.worker.log_path.read_text()

    stack.post(3)
    procs.wait_for(lambda: stack.undigested() == 0, timeout=10,
                   what="reports sent after the outages to be digested", procs=stack.procs)
    assert stack.worker.alive()


def test_a_removed_filesystem_broker_folder_is_recreated(private_postgres, tmp_path,
                                                          redis_url):
    """The embedded broker (`make run`): its queue folder removed under a running worker."""
    stack = procs.Stack(database_url=private_postgres.database_url,
                        broker_url="filesystem://", logs=tmp_path)
    try:
        stack.post(1)
        procs.wait_for(lambda: stack.undigested() == 0, timeout=10, what="the first digest",
                       procs=stack.procs)
        shutil.rmtree(tmp_path / "broker")
        time.sleep(3)  # the worker polls the missing folder: it used to exit here
        assert stack.worker.alive(), stack.worker.tail()
        assert "Unrecoverable error" not in stack.worker.log_path.read_text()

        stack.post(3)
        procs.wait_for(lambda: stack.undigested() == 0, timeout=10,
                       what="reports sent after the folder went to be digested",
                       procs=stack.procs)
        assert (tmp_path / "broker" / "queue").is_dir()
    finally:
        stack.stop()
