"""The e2e tier: fixtures for the local single-node cluster (tests/support/local_cluster.py)."""

from tests.e2e.pipeline import pipeline
from tests.support.local_cluster import cluster_api, local_cluster, namespace

__all__ = ["cluster_api", "local_cluster", "namespace", "pipeline"]
