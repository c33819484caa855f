"""Training on a real cluster: a TrainingJob vs the same fit as a plain batch/v1 Job.

On the local single-node cluster (hack/cluster-up.sh: real kubelet, containerd, runc), with the
project image and the Helm chart installed into the namespace `mlops-bench`:

  ours   a TrainingJob (LogisticRegression on the iris Dataset), from `kubectl apply` to its
         ModelVersion Ready: the operator validates the spec, creates the Job, reads the
         result, registers an immutable ModelVersion and load-checks its artifact
  plain  the very same fit as a batch/v1 Job created by hand (the pod template the operator
         wrote for the same round, same image, same `mlops-operator train` command, its own
         result path), from create to the Job's Complete condition: only the fit, in a pod

Both are timed by watch events of the API server (no polling). Contenders alternate inside
every round; medians and the median of per-round ratios are printed. Like the e2e tier, the
bench takes the cluster over: it removes any mlops.dev objects and chart releases first.

    python bench/training_bench.py            # BENCH_ROUNDS rounds, default 5
"""

from __future__ import annotations

import copy
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
NAMESPACE, RELEASE = "mlops-bench", "bench"
WHAT = (
    "What each does that the other does not: ours validates the spec against the estimator, "
    "names and creates the Job, reads the run's result, registers an immutable ModelVersion "
    "with lineage and load-checks its artifact in a subprocess before it is Ready; plain only "
    "runs the fit in a pod (the result file is written, nothing reads or registers it)."
)


def until(stream: Callable[..., Any], done: Callable[[Any], bool], *args: Any, **kw: Any) -> None:
    """Block on a watch until `done(object)` holds (or fail after 10 minutes)."""
    import kubernetes

    watch = kubernetes.watch.Watch()
    for event in watch.stream(stream, *args, timeout_seconds=600, **kw):
        if done(event["object"]):
            watch.stop()
            return
    raise TimeoutError(f"no event satisfied the wait on {args}")


def main() -> int:
    import kubernetes
    from tests.support.cluster import Objects, configuration, wait_for
    from tests.support.local_cluster import KUBECONFIG, _cluster_script
    from tests.support.release import build_image, install, remove_everything

    up = _cluster_script("cluster-up.sh", timeout=900)
    if up.returncode != 0:
        print(f"the local cluster did not start:\n{up.stdout[-3000:]}{up.stderr[-3000:]}")
        return 1
    build_image()
    remove_everything(KUBECONFIG, [NAMESPACE])
    install(KUBECONFIG, RELEASE, NAMESPACE)
    api = kubernetes.client.ApiClient(configuration(KUBECONFIG))
    objects, batch = Objects(api, NAMESPACE), kubernetes.client.BatchV1Api(api)
    custom = kubernetes.client.CustomObjectsApi(api)
    try:
        objects.create(
            {
                "apiVersion": "mlops.dev/v1alpha1",
                "kind": "Dataset",
                "metadata": {"name": "iris"},
                "spec": {"source": {"uri": "sklearn://iris"}},
            }
        )
        wait_for(
            lambda: (objects.get("Dataset", "iris").get("status") or {}).get("phase") == "Ready",
            timeout=300,
            interval=1,
            what="Dataset iris Ready",
        )

        def ours(i: int) -> tuple[float, Any]:
            model = f"bench{i}"
            started = time.perf_counter()
            objects.create(
                {
                    "apiVersion": "mlops.dev/v1alpha1",
                    "kind": "TrainingJob",
                    "metadata": {"name": model},
                    "spec": {
                        "datasetRef": {"name": "iris"},
                        "model": model,
                        "estimator": "LogisticRegression",
                        "hyperparameters": {"max_iter": 500},
                        "target": "target",
                    },
                }
            )
            until(
                custom.list_namespaced_custom_object,
                lambda mv: any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in (mv.get("status") or {}).get("conditions") or []
                ),
                "mlops.dev",
                "v1alpha1",
                NAMESPACE,
                "modelversions",
                field_selector=f"metadata.name={model}-v1",
            )
            seconds = time.perf_counter() - started
            [job] = batch.list_namespaced_job(
                NAMESPACE, label_selector=f"mlops.dev/trainingjob={model}"
            ).items
            return seconds, job

        def plain(i: int, template: Any) -> float:
            pod = api.sanitize_for_serialization(template.spec.template)
            pod = copy.deepcopy(pod)
            pod["metadata"] = {"labels": {"bench": "plain"}}
            args = pod["spec"]["containers"][0]["args"]
            for flag, value in (("--uid", str(uuid.uuid4())), ("--name", f"plain{i}")):
                args[args.index(flag) + 1] = value
            result = args.index("--result-uri") + 1
            args[result] = args[result].rsplit("/", 1)[0] + f"/plain{i}.json"
            job = {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": f"plain{i}"},
                "spec": {"backoffLimit": 0, "template": pod},
            }
            started = time.perf_counter()
            batch.create_namespaced_job(NAMESPACE, job)
            until(
                batch.list_namespaced_job,
                lambda j: any(
                    c.type == "Complete" and c.status == "True" for c in j.status.conditions or []
                ),
                NAMESPACE,
                field_selector=f"metadata.name=plain{i}",
            )
            return time.perf_counter() - started

        # round 0 only warms up (the node's page cache, the operator's first reconciles)
        _, template = ours(0)
        plain(0, template)
        times: dict[str, list[float]] = {"ours": [], "plain": []}
        for i in range(1, ROUNDS + 1):
            if i % 2:
                seconds, template = ours(i)
                times["ours"].append(seconds)
                times["plain"].append(plain(i, template))
            else:
                times["plain"].append(plain(i, template))
                seconds, template = ours(i)
                times["ours"].append(seconds)
    finally:
        remove_everything(KUBECONFIG, [NAMESPACE])
    ratio = statistics.median(o / p for o, p in zip(times["ours"], times["plain"], strict=True))
    print(f"\nTraining LogisticRegression on iris, real pods, {ROUNDS} interleaved rounds")
    print("\n| contender | median s | ours / plain (per round, median) |")
    print("|---|---|---|")
    print(f"| ours: TrainingJob -> ModelVersion Ready | {statistics.median(times['ours']):.2f} "
          f"| {ratio:.2f}x |")  # fmt: skip
    print(f"| plain batch/v1 Job -> Complete | {statistics.median(times['plain']):.2f} | 1.00x |")
    print(f"\n{WHAT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
