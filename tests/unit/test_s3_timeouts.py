"""An S3 endpoint that accepts connections and never answers: every store call ends, with
StoreUnavailable naming the URI and the endpoint, because every s3fs filesystem the store
builds has explicit connect and read timeouts and a bounded number of attempts."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from mlops_operator.artifacts import Store, StoreUnavailable, s3_client
from mlops_operator.artifacts.store import filesystem, s3_options_from_env
from mlops_operator.config import OperatorConfig
from mlops_operator.reconcile.pods import store_env


class SilentServer:
    """A listening socket that accepts every connection, reads nothing and never replies."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.held.append(conn)

    def close(self) -> None:
        self.stopping.set()
        self.sock.close()
        for conn in self.held:
            conn.close()
        self.thread.join(timeout=10)


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def store(silent: SilentServer, monkeypatch: pytest.MonkeyPatch) -> Store:
    # Short bounds so the test is quick; what is tested is that the calls end, and how.
    monkeypatch.setenv(s3_client.CONNECT_TIMEOUT_ENV, "1")
    monkeypatch.setenv(s3_client.READ_TIMEOUT_ENV, "1")
    monkeypatch.setenv(s3_client.MAX_ATTEMPTS_ENV, "2")
    monkeypatch.setenv("MLOPS_S3_ENDPOINT", silent.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    return Store("s3://bucket/root", storage_options={"skip_instance_cache": True})


@pytest.mark.timeout(180)
def test_a_read_of_a_silent_endpoint_is_store_unavailable(
    store: Store, silent: SilentServer
) -> None:
    with pytest.raises(StoreUnavailable, match=r"s3://bucket/root/runs/ml/r1\.json") as caught:
        store.read_json("runs/ml/r1.json")
    assert silent.endpoint in str(caught.value)
    assert silent.held  # the server did accept: this is a hanging, not a refused, endpoint


@pytest.mark.timeout(180)
def test_a_listing_of_a_silent_endpoint_is_store_unavailable(
    store: Store, silent: SilentServer
) -> None:
    with pytest.raises(StoreUnavailable, match=r"s3://bucket/root/samples/ml") as caught:
        store.list("samples/ml")
    assert silent.endpoint in str(caught.value)
    with pytest.raises(StoreUnavailable, match=silent.endpoint):
        store.list_detail("samples/ml")


def test_every_s3_filesystem_has_timeouts_and_bounded_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (s3_client.CONNECT_TIMEOUT_ENV, s3_client.READ_TIMEOUT_ENV,
                 s3_client.MAX_ATTEMPTS_ENV):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    assert s3_options_from_env({})["config_kwargs"] == {
        "connect_timeout": 10.0,
        "read_timeout": 30.0,
        "retries": {"total_max_attempts": 3, "mode": "standard"},
    }
    fs = filesystem("s3", {"key": "k", "secret": "s", "endpoint_url": "http://127.0.0.1:1",
                           "skip_instance_cache": True})  # fmt: skip
    assert fs.retries == 1
    assert fs.config_kwargs["read_timeout"] == 30.0


def test_settings_come_from_the_environment() -> None:
    env = {s3_client.CONNECT_TIMEOUT_ENV: "2.5", s3_client.READ_TIMEOUT_ENV: "60",
           s3_client.MAX_ATTEMPTS_ENV: "5"}  # fmt: skip
    assert s3_client.client_config(env) == {
        "connect_timeout": 2.5,
        "read_timeout": 60.0,
        "retries": {"total_max_attempts": 5, "mode": "standard"},
    }


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        (s3_client.CONNECT_TIMEOUT_ENV, "0"),
        (s3_client.READ_TIMEOUT_ENV, "-1"),
        (s3_client.READ_TIMEOUT_ENV, "soon"),
        (s3_client.READ_TIMEOUT_ENV, "inf"),
        (s3_client.MAX_ATTEMPTS_ENV, "0"),
        (s3_client.MAX_ATTEMPTS_ENV, "11"),
        (s3_client.MAX_ATTEMPTS_ENV, "2.5"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(name: str, raw: str) -> None:
    with pytest.raises(ValueError, match=name):
        s3_client.client_config({name: raw})


def test_pods_on_an_s3_store_get_the_bounds() -> None:
    config = OperatorConfig(store_uri="s3://b/p", s3_secret="s3", s3_read_timeout_seconds=2.5)
    env = {e["name"]: e.get("value") for e in store_env(config)}
    assert env[s3_client.CONNECT_TIMEOUT_ENV] == "10"
    assert env[s3_client.READ_TIMEOUT_ENV] == "2.5"
    assert env[s3_client.MAX_ATTEMPTS_ENV] == "3"
    assert s3_client.client_config({k: v for k, v in env.items() if v})["read_timeout"] == 2.5
    on_a_volume = {e["name"] for e in store_env(OperatorConfig(store_uri="file:///s"))}
    assert s3_client.READ_TIMEOUT_ENV not in on_a_volume
