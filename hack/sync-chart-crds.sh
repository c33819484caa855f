#!/usr/bin/env bash
# Copy the generated CRDs (crds/, written by `make crds`) to the two places that ship them:
# the Helm chart's crds/ and the kustomize install. tests/unit/test_chart_crds.py keeps all
# three byte-identical.
set -euo pipefail
cd "$(dirname "$0")/.."
for target in charts/mlops-operator/crds manifests/install/crds; do
  mkdir -p "$target"
  rm -f "$target"/*.yaml
  cp crds/*.yaml "$target"/
done
echo "CRDs copied to charts/mlops-operator/crds and manifests/install/crds"
