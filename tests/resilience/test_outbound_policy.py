"""The outbound destination policy: only public addresses are called unless an operator
allows more; checked on the address the socket connects to (one resolution, Host and SNI
kept), for alert webhooks, Slack and replays alike, and when an operator saves a URL.

The test settings allow loopback (pytest-httpserver listens there); every test here starts
from the production default, nothing allowed. Names under ``.test`` are answered by the
``hosts`` fixture, a stand-in for /etc/hosts or a DNS server that changes its answer.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from ipaddress import ip_address, ip_network

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from pytest_httpserver import HTTPServer

from alerts.models import AlertDelivery, Channel
from alerts.services.delivery import channel_send_test
from resilience.dead_letters.replay import dead_letter_replay_batch
from resilience.models import DeadLetter
from resilience.outbound import calls as outbound
from resilience.outbound.calls import DestinationPolicy, DestinationRefused, address_rule
from tests.factories import DeadLetterFactory, ReplayTargetFactory


@pytest.fixture(autouse=True)
def policy_on(settings, monkeypatch):
    """The production default: nothing but public addresses, no proxy."""
    settings.FAULTLINE = {**settings.FAULTLINE, "OUTBOUND_ALLOWED_NETWORKS": [],
                          "OUTBOUND_ALLOW_PRIVATE": False}
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                 "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return settings


def received(server: HTTPServer, path: str) -> list:
    """Requests that reached ``path`` (a slow handler of an earlier test may log late)."""
    return [request for request, _ in server.log if request.path == path]


def allow(settings, *, networks=(), private=False):
    settings.FAULTLINE = {**settings.FAULTLINE, "OUTBOUND_ALLOWED_NETWORKS": list(networks),
                          "OUTBOUND_ALLOW_PRIVATE": private}


class Hosts:
    """Answers for names ending in .test, in turn (the last one repeats; one answer may
    hold several addresses, comma-separated); other names go to the real resolver.
    ``asked`` counts the questions per name."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.asked: dict[str, int] = {}

    def __setitem__(self, name: str, addresses: list[str]) -> None:
        self.answers[name] = list(addresses)


@pytest.fixture
def hosts(monkeypatch) -> Hosts:
    table = Hosts()
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if isinstance(host, str) and host.endswith(".test"):
            table.asked[host] = table.asked.get(host, 0) + 1
            answers = table.answers.get(host)
            if not answers:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            return [info for address in answer.split(",")
                    for info in real(address, port, family, type, proto, flags)]
        return real(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


# --- the rules (pure) ---------------------------------------------------------------------


@pytest.mark.parametrize(("address", "rule"), [
    ("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.10", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("fd00:ec2::254", "unique-local"), ("100.64.0.1", "shared"),
    ("224.0.0.251", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "reserved"), ("192.0.2.1", "reserved"), ("2001:db8::1", "reserved"),
    # IPv6 spellings of an IPv4 host are judged as that host.
    ("::ffff:169.254.169.254", "link-local"), ("::ffff:127.0.0.1", "loopback"),
    ("64:ff9b::a9fe:a9fe", "link-local"), ("2002:a00:1::", "private"),
    ("8.8.8.8", ""), ("2606:4700:4700::1111", ""), ("64:ff9b::808:808", ""),
])
def test_every_non_public_address_has_a_rule(address, rule):
    assert address_rule(ip_address(address)) == rule


def test_allow_private_opens_private_and_loopback_but_never_metadata():
    policy = DestinationPolicy(allow_private=True)
    assert policy.refusal(ip_address("10.0.0.5")) == ""
    assert policy.refusal(ip_address("127.0.0.1")) == ""
    assert policy.refusal(ip_address("fd12::1")) == ""
    assert policy.refusal(ip_address("169.254.169.254")) == "link-local"
    assert policy.refusal(ip_address("0.0.0.0")) == "unspecified"


def test_allowed_networks_open_exactly_those_networks():
    policy = DestinationPolicy(allowed_networks=(ip_network("10.20.0.0/16"),))
    assert policy.refusal(ip_address("10.20.3.4")) == ""
    assert policy.refusal(ip_address("::ffff:10.20.3.4")) == ""
    assert policy.refusal(ip_address("10.21.0.1")) == "private"


def test_a_malformed_network_setting_is_named_by_the_check_and_fails_calls_cleanly(settings):
    allow(settings, networks=["10.0.0.0/33"])
    named = r"OUTBOUND_ALLOWED_NETWORKS.*10\.0\.0\.0/33"
    with pytest.raises(ImproperlyConfigured, match=named):
        outbound.destination_policy()
    [error] = outbound.check_destination_policy()
    assert error.id == "faultline.E101" and "10.0.0.0/33" in error.msg
    with pytest.raises(DestinationRefused, match=named) as caught:
        outbound.post("http://8.8.8.8/x", b"{}")
    assert caught.value.permanent
    assert "10.0.0.0/33" in outbound.destination_problem("https://8.8.8.8/x")


# --- at connect time ----------------------------------------------------------------------


def test_loopback_is_refused_before_anything_is_sent(httpserver):
    httpserver.expect_request("/loopback").respond_with_data("ok")
    with pytest.raises(DestinationRefused) as caught:
        outbound.post(httpserver.url_for("/loopback"), b"{}")
    assert caught.value.permanent and caught.value.rule == "loopback"
    assert "a loopback address" in caught.value.message
    assert "FAULTLINE_OUTBOUND_ALLOW_PRIVATE" in caught.value.message
    assert received(httpserver, "/loopback") == []


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/iam/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[fe80::1]/",
])
def test_cloud_metadata_is_refused_in_any_spelling(url):
    with pytest.raises(DestinationRefused, match="link-local address") as caught:
        outbound.post(url, b"{}", timeout=1)
    assert caught.value.rule == "link-local"
    assert "ALLOW_PRIVATE" not in caught.value.message  # only an explicit network opens it


@pytest.mark.parametrize("spelling", ["2130706433", "0x7f.1", "127.1", "0"])
def test_numeric_spellings_of_loopback_are_resolved_and_refused(httpserver, spelling):
    httpserver.expect_request("/numeric").respond_with_data("ok")
    url = f"http://{spelling}:{httpserver.port}/numeric"
    with pytest.raises(DestinationRefused):
        outbound.post(url, b"{}")
    assert received(httpserver, "/numeric") == []


def test_an_operator_can_allow_a_network(httpserver, settings):
    httpserver.expect_request("/allowed").respond_with_data("ok")
    allow(settings, networks=["127.0.0.0/8"])
    assert outbound.post(httpserver.url_for("/allowed"), b"{}").status == 200
    allow(settings, private=True)
    assert outbound.post(httpserver.url_for("/allowed"), b"{}").status == 200


def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_connected(
    httpserver, hosts, settings
):
    """DNS rebinding: public when an operator saved it, loopback when it is called."""
    httpserver.expect_request("/rebind").respond_with_data("ok")
    hosts["rebind.test"] = ["93.184.216.34", "127.0.0.1"]
    url = f"http://rebind.test:{httpserver.port}/rebind"
    assert outbound.destination_problem(url) == ""  # what a form saw
    with pytest.raises(DestinationRefused, match=r"rebind\.test \(127\.0\.0\.1\)"):
        outbound.post(url, b"{}")
    assert hosts.asked["rebind.test"] == 2  # the form's lookup, then exactly one for the call
    assert received(httpserver, "/rebind") == []


def test_the_host_header_keeps_the_name(httpserver, hosts, settings):
    allow(settings, networks=["127.0.0.0/8"])
    hosts["receiver.test"] = ["127.0.0.1"]
    httpserver.expect_request("/host").respond_with_data("ok")
    assert outbound.post(f"http://receiver.test:{httpserver.port}/host", b"{}").status == 200
    [request] = received(httpserver, "/host")
    assert request.headers["Host"] == f"receiver.test:{httpserver.port}"
    assert hosts.asked["receiver.test"] == 1


def test_only_allowed_addresses_of_a_name_are_connected_to(httpserver, hosts, settings):
    allow(settings, networks=["127.0.0.0/8"])
    httpserver.expect_request("/mixed").respond_with_data("ok")
    hosts["metadata.test"] = ["169.254.169.254"]
    with pytest.raises(DestinationRefused, match="link-local"):
        outbound.post("http://metadata.test/mixed", b"{}", timeout=1)
    # The refused address comes first and is passed over: never connected to.
    hosts["mixed.test"] = ["169.254.169.254,127.0.0.1"]
    assert outbound.post(f"http://mixed.test:{httpserver.port}/mixed", b"{}").status == 200


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch):
    """An HTTPS receiver on 127.0.0.1 with a certificate for receiver.test only, trusted
    through SSL_CERT_FILE (made by the openssl command line)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=receiver.test",
         "-addext", "subjectAltName=DNS:receiver.test"],
        check=True, capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    yield server
    server.clear()
    server.stop()


def test_tls_is_checked_against_the_name_while_connecting_to_the_checked_address(
    tls_receiver, hosts, settings
):
    allow(settings, networks=["127.0.0.0/8"])
    hosts["receiver.test"] = ["127.0.0.1"]
    hosts["other.test"] = ["127.0.0.1"]
    tls_receiver.expect_request("/tls").respond_with_data("ok")
    port = tls_receiver.port
    assert outbound.post(f"https://receiver.test:{port}/tls", b"{}").status == 200
    # The same address under a name the certificate does not carry: SNI and the
    # certificate check used the name, not the address.
    with pytest.raises(outbound.OutboundError, match="certificate verify failed"):
        outbound.post(f"https://other.test:{port}/tls", b"{}")
    assert len(tls_receiver.log) == 1


def test_through_a_proxy_the_destination_is_still_checked(httpserver, monkeypatch):
    """An operator's proxy (HTTP_PROXY) is trusted; the destination it is asked for is
    not."""
    httpserver.expect_request("/proxied").respond_with_data("proxied")
    monkeypatch.setenv("HTTP_PROXY", httpserver.url_for("/"))
    with pytest.raises(DestinationRefused, match="a private address"):
        outbound.post("http://10.1.2.3/proxied", b"{}")
    assert received(httpserver, "/proxied") == []
    assert outbound.post("http://8.8.8.8/proxied", b"{}").body_excerpt == "proxied"
    [request] = received(httpserver, "/proxied")
    assert request.headers["Host"] == "8.8.8.8"


# --- what uses it: replay, alert channels, the admin forms -------------------------------


def test_a_replay_to_a_metadata_address_fails_permanently_naming_the_rule(service):
    target = ReplayTargetFactory(service=service, url="http://169.254.169.254/latest/")
    letter = DeadLetterFactory(service=service, operation=target.operation)
    result = dead_letter_replay_batch(filters={"ids": [letter.pk]}, via="system")
    assert result.failed == 1
    letter.refresh_from_db()
    assert letter.status == DeadLetter.Status.FAILED
    assert "link-local address" in letter.last_replay_error
    assert "(permanent)" in letter.last_replay_error
    assert letter.next_replay_at is None  # not retried automatically


@pytest.mark.parametrize("kind", ["SLACK", "WEBHOOK"])
def test_an_alert_channel_to_a_loopback_address_fails_without_sending(db, httpserver, kind):
    from alerts.services.delivery import alert_delivery_send

    httpserver.expect_request("/channel").respond_with_data("ok")
    channel = Channel.objects.create(kind=kind, name=f"{kind} internal", enabled=True,
                                     url=httpserver.url_for("/channel"), secret="s3cret")
    delivery = channel_send_test(channel=channel, actor=None, via="test")
    outcome = alert_delivery_send(delivery_id=delivery.pk)
    assert outcome.status == AlertDelivery.Status.FAILED
    assert "a loopback address" in outcome.error
    assert received(httpserver, "/channel") == []
    channel.refresh_from_db()
    assert channel.enabled  # refused by policy, not gone: the channel stays as it is


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", password="pw-root")


def test_the_replay_target_form_names_the_rule(client, superuser, service):
    client.force_login(superuser)
    data = {"service": service.pk, "operation": "op", "kind": "WEBHOOK",
            "url": "http://169.254.169.254/latest/meta-data/", "secret": "s",
            "task_name": "", "rate_per_second": 5, "max_replays": 3, "enabled": "on"}
    response = client.post(reverse("admin:resilience_replaytarget_add"), data)
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["url"]
    assert "a link-local address" in error and "OUTBOUND_ALLOWED_NETWORKS" in error


def test_the_channel_form_names_the_rule_and_accepts_an_allowed_network(
    client, superuser, settings
):
    client.force_login(superuser)
    channel = Channel.objects.get(kind="WEBHOOK")
    url = reverse("admin:alerts_channel_change", args=[channel.pk])
    form = {"name": channel.name, "kind": "WEBHOOK", "recipients": "",
            "url": "http://10.0.0.8/hooks/faultline", "secret": "s3cret", "enabled": "on",
            "disabled_reason": ""}
    response = client.post(url, form)
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["url"]
    assert "a private address" in error
    allow(settings, networks=["10.0.0.0/24"])
    assert client.post(url, form).status_code == 302
    channel.refresh_from_db()
    assert channel.url == "http://10.0.0.8/hooks/faultline"
