"""The real @sentry/node SDK (tests/sentry/js/), run with the machine's Node.js.

`npm ci` installs the locked version once, outside the source tree: into the user's cache
($XDG_CACHE_HOME, else ~/.cache) under a folder named by the lock file's hash, which
`send.js` finds through NODE_PATH. A changed lock file is a new folder. Without node and
npm the test is skipped (failed under REQUIRE_SERVICES=1, as CI runs it).
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from resilience.core.exception_tree import LINK_TEXT
from resilience.digest.service import digest_batch
from resilience.ingest.keys import service_key_dsn
from resilience.models import ErrorGroup, ErrorLogEntry
from tests import factories

JS_DIR = Path(__file__).resolve().parent / "js"
pytestmark = pytest.mark.django_db(transaction=True)


def _missing(message: str) -> None:
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _install_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    lock = hashlib.sha256((JS_DIR / "package-lock.json").read_bytes()).hexdigest()[:16]
    return Path(cache) / "faultline" / f"sentry-node-{lock}"


def _installed_matches(prefix: Path) -> bool:
    wanted = json.loads((JS_DIR / "package.json").read_text())["dependencies"]["@sentry/node"]
    installed = prefix / "node_modules" / "@sentry" / "node" / "package.json"
    return installed.exists() and json.loads(installed.read_text())["version"] == wanted


@pytest.fixture(scope="session")
def node_sdk() -> dict[str, str]:
    """The environment to run `node send.js` in: NODE_PATH at the cached install."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _missing("node and npm are required for the @sentry/node test")
    prefix = _install_dir()
    if not _installed_matches(prefix):
        prefix.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(JS_DIR / name, prefix / name)
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=prefix,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            _missing(f"npm ci failed:\n{done.stderr[-2000:]}")
    return {**os.environ, "NODE_PATH": str(prefix / "node_modules"), "NODE": node}


def test_an_exception_from_sentry_node_arrives_and_is_grouped(node_sdk, live_server, service,
                                                              settings):
    settings.EXTERNAL_URL = live_server.url
    key = factories.service_key(service)[0]
    done = subprocess.run([node_sdk["NODE"], "send.js", service_key_dsn(key), "ci"],
                          cwd=JS_DIR, capture_output=True, text=True, timeout=60, env=node_sdk)
    assert done.returncode == 0, done.stderr
    event_id = done.stdout.strip().splitlines()[-1]

    entry = ErrorLogEntry.objects.get(event_id=event_id)  # sent chunked, no Content-Length
    assert entry.source == "sentry"
    assert entry.name == "Error"
    assert entry.message == "charging the order failed"
    assert entry.cause["message"] == "connect ECONNREFUSED 127.0.0.1:6543"
    # The system error's code comes from its message; the unknown wrapper takes its verdict.
    assert entry.cause["code"] == "ECONNREFUSED"
    assert (entry.category, entry.retryable, entry.strategy) == ("TRANSIENT", True, "RETRY")
    assert entry.classification["classified_by"] == "cause"
    assert entry.environment == "js-test" and entry.release == "web@1.2.3"
    assert entry.user_id == "user-42"
    assert entry.extra["tags"]["run"] == "ci"
    assert entry.extra["sdk"]["name"] == "sentry.javascript.node"
    functions = [f["function"] for f in entry.extra["frames"] if f["in_app"]]
    assert functions[-1] == "chargeOrder"
    assert all("lineno" not in f for f in entry.extra["frames"])

    digest_batch(limit=100)
    group = ErrorGroup.objects.get()
    assert group.culprit == "send in chargeOrder"
    assert entry.__class__.objects.get(pk=entry.pk).group_id == group.pk


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on leaving: nothing listens there


def _run(node_sdk, key, scenario: str, **env: str) -> list[str]:
    """Runs send.js for one scenario with `key`'s DSN; the lines it printed."""
    env = {**node_sdk, "REFUSED_URL": f"http://127.0.0.1:{_closed_port()}/never", **env}
    done = subprocess.run([node_sdk["NODE"], "send.js", service_key_dsn(key), scenario, scenario],
                          cwd=JS_DIR, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def _send(node_sdk, service, scenario: str, **env: str) -> ErrorLogEntry:
    lines = _run(node_sdk, factories.service_key(service)[0], scenario, **env)
    return ErrorLogEntry.objects.get(event_id=lines[-1])


def test_node_fetch_failed_is_classified_by_its_refused_connection(node_sdk, live_server,
                                                                   service, settings):
    settings.EXTERNAL_URL = live_server.url
    entry = _send(node_sdk, service, "fetch")
    assert (entry.name, entry.message) == ("TypeError", "fetch failed")
    assert entry.cause["code"] == "ECONNREFUSED"
    assert (entry.category, entry.retryable, entry.strategy) == ("TRANSIENT", True, "RETRY")
    assert entry.classification["classified_by"] == "cause"


def test_a_code_sent_as_error_data_classifies_the_event(node_sdk, live_server, service,
                                                        settings):
    settings.EXTERNAL_URL = live_server.url
    entry = _send(node_sdk, service, "error-data")
    assert entry.message == "the ledger did not answer"
    assert entry.code == "ECONNREFUSED"  # from contexts.Error.code
    assert (entry.category, entry.retryable, entry.classification["classified_by"]) == (
        "TRANSIENT", True, "code"
    )


def test_an_info_message_from_node_is_low_and_titled_by_itself(node_sdk, live_server, service,
                                                              settings):
    settings.EXTERNAL_URL = live_server.url
    entry = _send(node_sdk, service, "message")
    assert (entry.message, entry.severity) == ("cache warmed in 1500ms", "LOW")
    assert entry.extra["level"] == "info" and entry.extra["event_type"] == "message"
    assert entry.strategy != "IMMEDIATE_ALERT"
    digest_batch(limit=100)
    assert ErrorGroup.objects.get().title == "cache warmed in 1500ms"


def test_a_cause_from_sentry_node_is_labelled_the_direct_cause(node_sdk, live_server, service,
                                                               settings):
    settings.EXTERNAL_URL = live_server.url
    entry = _send(node_sdk, service, "chain")
    # linkedErrorsIntegration marks error.cause with mechanism.source "cause".
    assert [e["link"] for e in entry.extra["exceptions"]] == ["cause", None]
    assert LINK_TEXT["cause"] in entry.stack_trace
    assert entry.extra["unhandled"] is False


def test_an_unhandled_rejection_is_unhandled_and_so_is_its_group(node_sdk, live_server,
                                                                 service, settings):
    settings.EXTERNAL_URL = live_server.url
    entry = _send(node_sdk, service, "unhandled-rejection")
    assert entry.message == "the refund was rejected"
    assert entry.extra["unhandled"] is True
    assert entry.extra["mechanism"].endswith("onunhandledrejection")
    frames = entry.extra["exceptions"][-1]["frames"]
    assert any(f["function"] == "refundLater" and "Promise.reject" in f.get("context_line", "")
               for f in frames)
    digest_batch(limit=100)
    assert ErrorGroup.objects.get().unhandled is True
