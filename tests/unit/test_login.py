"""The operator's login in a pod: the API server address from the kubelet's variables."""

from __future__ import annotations

from mlops_operator.handlers.settings import in_cluster_server


def test_service_variables_name_the_server_without_dns() -> None:
    env = {"KUBERNETES_SERVICE_HOST": "198.19.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert in_cluster_server(env) == "https://198.19.0.1:443"


def test_ipv6_host_is_bracketed() -> None:
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}
    assert in_cluster_server(env) == "https://[fd00::1]:6443"


def test_outside_a_pod_there_is_no_in_cluster_server() -> None:
    assert in_cluster_server({}) is None
    assert in_cluster_server({"KUBERNETES_SERVICE_HOST": "198.19.0.1"}) is None
