"""Bad input is refused at the door: the real API server against the manifest corpus."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from tests.manifests.corpus import Manifest, load
from tests.support.cluster import Objects
from tests.support.control_plane import BIN, ControlPlane

from mlops_operator.api.kinds import KINDS, Kind, by_kind

pytestmark = pytest.mark.integration

VALID = load("valid")
INVALID = load("invalid")
IMMUTABLE = load("immutable")


def _rejection(objects: Objects, body: dict[str, Any]) -> kubernetes.client.ApiException:
    with pytest.raises(kubernetes.client.ApiException) as caught:
        objects.create(body)
    return caught.value


def _assert_names_field(error: kubernetes.client.ApiException, manifest: Manifest) -> None:
    assert error.status in (400, 422), f"{manifest.name}: HTTP {error.status}: {error.body}"
    message = json.loads(str(error.body))["message"]
    for expected in manifest.expects:
        assert expected in message, f"{manifest.name}: {expected!r} not in {message}"


def test_the_corpus_is_big_enough() -> None:
    assert len(INVALID) >= 45
    assert len(IMMUTABLE) >= 3
    assert {m.kind for m in VALID} == {k.kind for k in KINDS}
    assert {m.kind for m in INVALID} == {k.kind for k in KINDS}


@pytest.mark.parametrize("manifest", INVALID, ids=lambda m: m.name)
def test_invalid_manifest_is_rejected_naming_the_field(
    objects: Objects, manifest: Manifest
) -> None:
    assert manifest.expects, f"{manifest.path} has no '# expect:' header"
    error = _rejection(objects, manifest.body)
    _assert_names_field(error, manifest)
    assert objects.list(manifest.kind) == []


@pytest.mark.parametrize("manifest", IMMUTABLE, ids=lambda m: m.name)
def test_model_version_spec_cannot_change(objects: Objects, manifest: Manifest) -> None:
    assert manifest.patch is not None, f"{manifest.path} has no '# patch:' header"
    created = objects.create(manifest.body)
    with pytest.raises(kubernetes.client.ApiException) as caught:
        objects.patch(manifest.kind, manifest.body["metadata"]["name"], manifest.patch)
    _assert_names_field(caught.value, manifest)
    stored = objects.get(manifest.kind, manifest.body["metadata"]["name"])
    assert stored["spec"] == created["spec"]


def test_model_version_metadata_can_still_change(objects: Objects) -> None:
    """Immutability covers the spec only: labels and annotations stay editable."""
    body = IMMUTABLE[0].body
    objects.create(body)
    name = body["metadata"]["name"]
    patched = objects.patch("ModelVersion", name, {"metadata": {"labels": {"stage": "prod"}}})
    assert patched["metadata"]["labels"] == {"stage": "prod"}


@pytest.mark.parametrize("manifest", VALID, ids=lambda m: m.name)
def test_valid_manifest_is_accepted(objects: Objects, manifest: Manifest) -> None:
    created = objects.create(manifest.body)
    assert created["metadata"]["uid"]
    # The API server's defaults must agree with the models' defaults: whatever the server
    # filled in, the model reads the stored spec the same way it reads the manifest.
    model = by_kind(manifest.kind).model
    stored = model.model_validate({"spec": created["spec"]}).wire()["spec"]  # type: ignore[attr-defined]
    written = model.model_validate({"spec": manifest.body["spec"]}).wire()["spec"]  # type: ignore[attr-defined]
    assert stored == written


def test_discovery_lists_every_kind_in_category_mlops(
    kube_api: kubernetes.client.ApiClient,
) -> None:
    resources = kubernetes.client.CustomObjectsApi(kube_api).get_api_resources(
        "mlops.dev", "v1alpha1"
    )
    top_level = {r.kind: r for r in resources.resources if "/" not in r.name}
    assert set(top_level) == {k.kind for k in KINDS}
    for kind in KINDS:
        resource = top_level[kind.kind]
        assert resource.name == kind.plural
        assert resource.namespaced
        assert resource.categories == ["mlops"]
        assert resource.short_names == kind.short_names
    status = {r.name for r in resources.resources if r.name.endswith("/status")}
    assert status == {f"{k.plural}/status" for k in KINDS}


def _kubectl(plane: ControlPlane, cache: Path, *args: str) -> str:
    result = subprocess.run(
        [
            str(BIN / "kubectl"),
            "--kubeconfig",
            str(plane.kubeconfig),
            "--cache-dir",
            str(cache),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _example(kind: Kind) -> Manifest:
    return next(m for m in VALID if m.kind == kind.kind)


def test_kubectl_get_mlops_lists_every_kind(
    control_plane: ControlPlane, objects: Objects, namespace: str, tmp_path: Path
) -> None:
    for kind in KINDS:
        objects.create(_example(kind).body)
    out = _kubectl(control_plane, tmp_path, "get", "mlops", "-n", namespace, "-o", "name")
    listed = {line.split("/", 1)[0] for line in out.split()}
    assert listed == {f"{k.singular}.mlops.dev" for k in KINDS}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_kubectl_get_prints_ready_first_and_age_last(
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    objects: Objects,
    namespace: str,
    tmp_path: Path,
    kind: Kind,
) -> None:
    body = _example(kind).body
    name = body["metadata"]["name"]
    objects.create(body)
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Checked",
        "message": "set by the admission test",
        "lastTransitionTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    kubernetes.client.CustomObjectsApi(kube_api).patch_namespaced_custom_object_status(
        "mlops.dev", "v1alpha1", namespace, kind.plural, name, {"status": {"conditions": [ready]}}
    )

    header, row = _kubectl(
        control_plane, tmp_path, "get", kind.plural, "-n", namespace
    ).splitlines()
    default_columns = [str(c["name"]).upper() for c in kind.columns if not c.get("priority")]
    assert header.split() == ["NAME", "READY", *default_columns, "AGE"]
    assert row.split()[:2] == [name, "True"]

    wide = _kubectl(control_plane, tmp_path, "get", kind.plural, "-n", namespace, "-o", "wide")
    all_columns = [str(c["name"]).upper() for c in kind.columns]
    assert wide.splitlines()[0].split() == ["NAME", "READY", *all_columns, "AGE"]


def _builtin_short_names(api: kubernetes.client.ApiClient) -> dict[str, str]:
    """Every short name the API server's built-in groups advertise, to the resource using it."""
    taken: dict[str, str] = {}
    groups = ["/api/v1"] + [
        f"/apis/{version.group_version}"
        for group in kubernetes.client.ApisApi(api).get_api_versions().groups
        if not group.name.endswith("mlops.dev")
        for version in group.versions
    ]
    for path in groups:
        response = api.call_api(
            "GET", api.configuration.host + path, {"Accept": "application/json"}
        )
        response.read()
        body = json.loads(response.data)
        for resource in body["resources"]:
            for short in resource.get("shortNames") or []:
                taken[short] = f"{resource['name']}.{path}"
    return taken


def test_no_builtin_resource_shadows_a_short_name(kube_api: kubernetes.client.ApiClient) -> None:
    taken = _builtin_short_names(kube_api)
    assert taken["ds"].startswith("daemonsets."), "the reason Dataset's short name is not `ds`"
    assert {k.short: taken[k.short] for k in KINDS if k.short in taken} == {}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_kubectl_short_name_reaches_the_kind(
    control_plane: ControlPlane, objects: Objects, namespace: str, tmp_path: Path, kind: Kind
) -> None:
    body = _example(kind).body
    objects.create(body)
    out = _kubectl(control_plane, tmp_path, "get", kind.short, "-n", namespace, "-o", "name")
    assert out.split() == [f"{kind.singular}.mlops.dev/{body['metadata']['name']}"]


def test_the_old_dataset_short_name_still_works_with_the_group(
    control_plane: ControlPlane, objects: Objects, namespace: str, tmp_path: Path
) -> None:
    body = _example(by_kind("Dataset")).body
    objects.create(body)
    out = _kubectl(control_plane, tmp_path, "get", "ds.mlops.dev", "-n", namespace, "-o", "name")
    assert out.split() == [f"dataset.mlops.dev/{body['metadata']['name']}"]
