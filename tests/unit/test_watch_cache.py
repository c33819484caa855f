"""The watch cache: reads without requests, a listing never overrides a newer event."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mlops_operator.kube import cache as cache_module
from mlops_operator.kube import client
from mlops_operator.kube.cache import Cache, selector_labels

LABELS = {"app.kubernetes.io/managed-by": "mlops-operator", "app.kubernetes.io/part-of": "mlops"}


def job(name: str, rv: int, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "ml", "resourceVersion": str(rv),
                     "labels": {**LABELS, **labels}, "managedFields": [{"big": "x" * 100}]},
    }  # fmt: skip


class Listing(list[tuple[str, str, str | None]]):
    """The LISTs sent, and the API server's answer to them."""

    answer: dict[str, Any]


@pytest.fixture
def listing(monkeypatch: pytest.MonkeyPatch) -> Listing:
    calls = Listing()
    answer: dict[str, Any] = {"items": []}
    calls.answer = answer

    async def list_from_server(
        api_version: str, kind: str, namespace: str | None, selector: str | None = None
    ) -> dict[str, Any]:
        calls.append((kind, namespace or "", selector))
        await asyncio.sleep(0)
        return answer

    monkeypatch.setattr(client, "list_from_server", list_from_server)
    return calls


def test_the_first_read_lists_the_namespace_once_then_reads_cost_nothing(listing: Listing) -> None:
    listing.answer["items"] = [job("a", 5)]
    store = Cache()

    async def main() -> None:
        assert (await store.get("batch/v1", "Job", "ml", "a"))["metadata"]["name"] == "a"
        assert await store.get("batch/v1", "Job", "ml", "b") is None
        assert len(await store.list_objects("batch/v1", "Job", "ml")) == 1

    asyncio.run(main())
    assert listing == [("Job", "ml", cache_module.CHILD_SELECTOR)]
    assert "managedFields" not in store.peek("batch/v1", "Job", "ml", "a")["metadata"]  # type: ignore[index]


def test_a_listing_older_than_an_event_does_not_win(listing: Listing) -> None:
    store = Cache()
    store.observe("MODIFIED", job("a", 9, stage="new"))
    listing.answer["items"] = [job("a", 5, stage="old")]
    found = asyncio.run(store.get("batch/v1", "Job", "ml", "a"))
    assert found is not None and found["metadata"]["labels"]["stage"] == "new"


def test_an_object_deleted_while_the_listing_was_in_flight_stays_deleted(listing: Listing) -> None:
    store = Cache()
    store.observe("DELETED", job("a", 7))
    listing.answer["items"] = [job("a", 6)]
    assert asyncio.run(store.get("batch/v1", "Job", "ml", "a")) is None
    store.observe("ADDED", job("a", 8))  # recreated later with the same name
    assert store.peek("batch/v1", "Job", "ml", "a") is not None


def test_label_selectors_are_answered_from_the_cache(listing: Listing) -> None:
    store = Cache()
    for name, owner in (("a", "x"), ("b", "y"), ("c", "x")):
        store.observe("ADDED", job(name, 3, **{"mlops.dev/dataset": owner}))
    found = asyncio.run(store.list_objects("batch/v1", "Job", "ml", "mlops.dev/dataset=x"))
    assert [j["metadata"]["name"] for j in found] == ["a", "c"]


def test_an_object_that_loses_our_labels_leaves_the_cache(listing: Listing) -> None:
    store = Cache()
    store.observe("ADDED", job("a", 3))
    unlabelled = job("a", 4)
    unlabelled["metadata"]["labels"] = {}
    store.observe("MODIFIED", unlabelled)
    assert store.peek("batch/v1", "Job", "ml", "a") is None


def test_unwatched_kinds_and_set_based_selectors_go_to_the_api_server(listing: Listing) -> None:
    store = Cache()
    asyncio.run(store.list_objects("v1", "ConfigMap", "ml"))
    asyncio.run(store.list_objects("batch/v1", "Job", "ml", "mlops.dev/dataset in (a,b)"))
    assert [c[0] for c in listing] == ["ConfigMap", "Job"]


def test_the_cache_keeps_what_decisions_read_and_not_the_pod_template(listing: Listing) -> None:
    store = Cache()
    big = job("a", 3)
    big["spec"] = {"template": {"metadata": {"labels": {"x": "y"}}, "spec": {"containers": []}}}
    big["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": "{...}",
        "mlops.dev/spec-hash": "abc",
    }
    store.observe("ADDED", big)
    kept = store.peek("batch/v1", "Job", "ml", "a")
    assert kept is not None
    assert kept["spec"] == {"template": {"metadata": {"labels": {"x": "y"}}}}
    assert kept["metadata"]["annotations"] == {"mlops.dev/spec-hash": "abc"}
    assert "spec" in big["spec"]["template"]  # the event's own object is left as it was


def test_tombstones_are_kept_only_until_the_namespace_is_listed(listing: Listing) -> None:
    store = Cache()
    store.observe("DELETED", job("a", 7))
    asyncio.run(store.get("batch/v1", "Job", "ml", "a"))
    store.observe("DELETED", job("b", 9))  # after the listing: the event alone is enough
    assert store._gone[("batch/v1", "Job")] == {}


def test_the_children_an_owner_controlled_are_found_by_its_uid(listing: Listing) -> None:
    def owned(name: str, rv: int, uid: str | None, controller: bool = True) -> dict[str, Any]:
        child = job(name, rv)
        if uid:
            ref = {"apiVersion": "mlops.dev/v1alpha1", "kind": "Dataset", "name": "iris"}
            child["metadata"]["ownerReferences"] = [{**ref, "uid": uid, "controller": controller}]
        return child

    store = Cache()
    store.observe("ADDED", owned("mine", 1, "u1"))
    store.observe("ADDED", owned("other", 2, "u2"))
    store.observe("ADDED", owned("not-controlled", 3, "u1", controller=False))
    store.observe("ADDED", owned("orphaned", 4, "u1"))
    store.observe("MODIFIED", owned("orphaned", 5, None))  # --cascade=orphan removed the ref
    store.observe("ADDED", owned("gone", 6, "u1"))
    store.observe("DELETED", owned("gone", 7, "u1"))
    assert [j["metadata"]["name"] for j in store.controlled_by("u1")] == ["mine"]
    assert store.controlled_by("nobody") == []


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "ml", "resourceVersion": "3",
                         "labels": {**LABELS, **labels}}}  # fmt: skip


def test_only_a_model_deployments_pods_are_cached_and_other_pod_queries_go_to_the_server(
    listing: Listing,
) -> None:
    store = Cache()
    store.observe("ADDED", pod("iris-abc", **{"mlops.dev/modeldeployment": "iris"}))
    store.observe(
        "ADDED",
        pod("iris-profile-xyz", **{"job-name": "iris-profile", "mlops.dev/dataset": "iris"}),
    )
    assert store.peek("v1", "Pod", "ml", "iris-abc") is not None
    assert store.peek("v1", "Pod", "ml", "iris-profile-xyz") is None
    served = asyncio.run(store.list_objects("v1", "Pod", "ml", "mlops.dev/modeldeployment=iris"))
    assert [p["metadata"]["name"] for p in served] == ["iris-abc"]
    assert [c[0] for c in listing] == ["Pod"]  # the one listing of the namespace
    asyncio.run(store.list_objects("v1", "Pod", "ml", "job-name=iris-profile"))
    assert listing[-1] == ("Pod", "ml", "job-name=iris-profile")  # asked of the API server
    assert selector_labels("a=b,c") == {"a": "b", "c": None}
