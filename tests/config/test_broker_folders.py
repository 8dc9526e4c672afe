"""The embedded filesystem broker keeps all its files under var/broker, none in the cwd."""

from kombu import Connection, Exchange, Queue

import config.celery_app  # noqa: F401 - registers Faultline's filesystem transport


def test_exchange_tables_go_to_the_control_folder_not_the_working_directory(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    broker = tmp_path / "var" / "broker"  # not created yet: the transport makes it
    options = {
        "data_folder_in": str(broker / "queue"),
        "data_folder_out": str(broker / "queue"),
        "processed_folder": str(broker / "processed"),
        "control_folder": str(broker / "control"),
        "store_processed": False,
    }
    with Connection("filesystem://", transport_options=options) as conn:
        queue = Queue("digest", Exchange("digest"), routing_key="digest")
        queue(conn.default_channel).declare()

    assert (broker / "control" / "digest.exchange").exists()
    assert not (tmp_path / "control").exists()
