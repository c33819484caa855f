"""The local single-node cluster itself (hack/cluster-up.sh): a real node runs real pods.

Pods get addresses from the CNI bridge in 198.18.0.0/16, Services in 198.19.0.0/16 route
through kube-proxy's iptables rules, pods reach the API server through `kubernetes.default`,
and PVCs of the default StorageClass `local-path` bind to the hostPath pool.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import kubernetes
import pytest
from tests.support.cluster import wait_for
from tests.support.local_cluster import POD_CIDR, SERVICE_CIDR, LocalCluster, e2e_pod, wait_pod

pytestmark = pytest.mark.e2e


def test_node_is_ready(
    local_cluster: LocalCluster, cluster_api: kubernetes.client.ApiClient
) -> None:
    node = kubernetes.client.CoreV1Api(cluster_api).read_node(local_cluster.node)
    ready = {c.type: c.status for c in node.status.conditions}
    assert ready["Ready"] == "True", node.status.conditions
    assert node.spec.pod_cidr == POD_CIDR
    assert not node.spec.taints, node.spec.taints
    assert node.status.node_info.container_runtime_version.startswith("containerd://")
    assert node.status.node_info.kubelet_version == "v1.34.4"


def test_pod_gets_an_address_in_the_pod_cidr(
    cluster_api: kubernetes.client.ApiClient, namespace: str
) -> None:
    core = kubernetes.client.CoreV1Api(cluster_api)
    core.create_namespaced_pod(namespace, e2e_pod("sleeper", ["sleep"]))
    pod = wait_pod(core, namespace, "sleeper")
    assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network(POD_CIDR)
    assert pod.status.container_statuses[0].ready


def test_service_cluster_ip_reachable_from_another_pod(
    cluster_api: kubernetes.client.ApiClient, namespace: str
) -> None:
    core = kubernetes.client.CoreV1Api(cluster_api)
    probe = {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}
    core.create_namespaced_pod(
        namespace,
        e2e_pod(
            "echo",
            ["serve"],
            container={"ports": [{"containerPort": 8080}], "readinessProbe": probe},
            restartPolicy="Always",
        ),
    )
    service = core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "echo"},
            "spec": {"selector": {"app": "echo"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    cluster_ip = service.spec.cluster_ip
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network(SERVICE_CIDR)
    server = wait_for(
        lambda: (
            (p := core.read_namespaced_pod("echo", namespace)).status.container_statuses
            and p.status.container_statuses[0].ready
            and p
        ),
        timeout=90,
        what="echo ready",
    )
    # kube-proxy programs the Service from its EndpointSlice: wait for the ready address there,
    # and let the client retry (OnFailure) through kube-proxy's own sync after it.
    discovery = kubernetes.client.DiscoveryV1Api(cluster_api)
    wait_for(
        lambda: (
            server.status.pod_ip
            in [
                address
                for piece in discovery.list_namespaced_endpoint_slice(
                    namespace, label_selector="kubernetes.io/service-name=echo"
                ).items
                for endpoint in piece.endpoints or []
                if endpoint.conditions and endpoint.conditions.ready
                for address in endpoint.addresses
            ]
        ),
        timeout=60,
        what="the echo endpoint ready in the EndpointSlice",
    )
    client_pod = e2e_pod("client", ["get", f"http://{cluster_ip}/"], restartPolicy="OnFailure")
    core.create_namespaced_pod(namespace, client_pod)
    wait_pod(core, namespace, "client", phases=("Succeeded",))
    answer = core.read_namespaced_pod_log("client", namespace)
    # "200 <server hostname> <client address>": the server saw the client pod's own address.
    status, host, peer = answer.split()
    client = core.read_namespaced_pod("client", namespace)
    assert (status, host) == ("200", "echo")
    assert peer.rsplit(":", 1)[0] == client.status.pod_ip
    assert server.status.pod_ip != client.status.pod_ip


def test_pod_reaches_the_api_server_through_kubernetes_default(
    cluster_api: kubernetes.client.ApiClient, namespace: str
) -> None:
    core = kubernetes.client.CoreV1Api(cluster_api)
    kubernetes_svc = core.read_namespaced_service("kubernetes", "default")
    assert kubernetes_svc.spec.cluster_ip == "198.19.0.1"
    core.create_namespaced_pod(
        namespace, e2e_pod("api", ["get", "-sa", "https://198.19.0.1:443/version"])
    )
    wait_pod(core, namespace, "api", phases=("Succeeded",))
    answer = core.read_namespaced_pod_log("api", namespace)
    assert answer.startswith("200 "), answer
    assert '"gitVersion": "v1.34.4"' in answer


def test_pvc_binds_and_a_non_root_pod_writes_to_it(
    cluster_api: kubernetes.client.ApiClient, namespace: str
) -> None:
    core = kubernetes.client.CoreV1Api(cluster_api)
    storage = kubernetes.client.StorageV1Api(cluster_api)
    default = [
        c.metadata.name
        for c in storage.list_storage_class().items
        if (c.metadata.annotations or {}).get("storageclass.kubernetes.io/is-default-class")
        == "true"
    ]
    assert default == ["local-path"]
    core.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "metadata": {"name": "store"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    claim = wait_for(
        lambda: (
            (c := core.read_namespaced_persistent_volume_claim("store", namespace)).status.phase
            == "Bound"
            and c
        ),
        timeout=60,
        what="PVC store Bound",
    )
    assert claim.spec.storage_class_name == "local-path"
    core.create_namespaced_pod(
        namespace,
        e2e_pod(
            "writer",
            ["write", "/data/hello.txt", namespace],
            container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
            volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "store"}}],
        ),
    )
    wait_pod(core, namespace, "writer", phases=("Succeeded",))
    volume = core.read_persistent_volume(claim.spec.volume_name)
    assert (Path(volume.spec.host_path.path) / "hello.txt").read_text() == namespace
