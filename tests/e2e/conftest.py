"""The e2e tier: fixtures for the local single-node cluster (tests/support/local_cluster.py).

`pipeline` lives for the whole session, and test_helm and test_upgrade remove every release
when they start: the modules that use the pipeline are named so that they run after test_helm
and before test_upgrade (pytest runs the modules in name order: test_pipeline*,
test_rollbacks).
"""

from tests.e2e.pipeline import pipeline
from tests.support.local_cluster import cluster_api, local_cluster, namespace

__all__ = ["cluster_api", "local_cluster", "namespace", "pipeline"]
