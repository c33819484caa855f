#!/usr/bin/env bash
# Build a released version's chart and image from the git tag that shipped it, for upgrade
# tests and rollbacks: `hack/build-release.sh v0.1.0 [out-dir]`.
#
# Tags are `v<major>.<minor>.<patch>` on main, the version in pyproject.toml and
# charts/mlops-operator/Chart.yaml at that commit (a test keeps the two equal). The previous
# release of a checkout is the newest such tag that is an ancestor of HEAD and differs from
# HEAD's own version: `hack/build-release.sh previous`.
#
# Out: <out-dir>/<tag>/charts/mlops-operator (the chart as it was) and, unless
# SKIP_IMAGE=1, the image mlops-operator:<version> built by that tree's own
# hack/build-image.sh (so it has exactly what shipped).
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:?usage: hack/build-release.sh <tag>|previous [out-dir]}
out=${2:-.tmp/releases}
if [[ $tag == previous ]]; then
  current=v$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
  tag=$(git tag --merged HEAD --list 'v[0-9]*.[0-9]*.[0-9]*' --sort=-v:refname | grep -vx "$current" | head -n1 || true)
  [[ -n $tag ]] || { echo "no released tag before $current is an ancestor of HEAD" >&2; exit 1; }
fi
git rev-parse --verify --quiet "refs/tags/$tag" >/dev/null || { echo "no tag $tag" >&2; exit 1; }
tree="$out/$tag"
rm -rf "$tree"
mkdir -p "$tree"
git archive "$tag" | tar -x -C "$tree"
echo "chart: $tree/charts/mlops-operator ($(grep '^version:' "$tree/charts/mlops-operator/Chart.yaml"))"
if [[ ${SKIP_IMAGE:-0} != 1 ]]; then
  (cd "$tree" && bash hack/build-image.sh)
fi
echo "$tree"
