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
releases=hack/releases.tsv
# The commit a release tag names: the git tag, else its line in hack/releases.tsv (a clone
# may come without tags).
commit_of() {
  git rev-parse --verify --quiet "refs/tags/$1^{commit}" 2>/dev/null ||
    awk -v t="$1" '$1 == t {print $2}' "$releases"
}
if [[ $tag == previous ]]; then
  current=v$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
  known=$({ git tag --list 'v[0-9]*.[0-9]*.[0-9]*'; awk '!/^#/ && NF {print $1}' "$releases"; } | sort -u -V -r)
  tag=""
  for candidate in $known; do
    [[ $candidate == "$current" ]] && continue
    commit=$(commit_of "$candidate")
    if [[ -n $commit ]] && git merge-base --is-ancestor "$commit" HEAD 2>/dev/null; then
      tag=$candidate
      break
    fi
  done
  [[ -n $tag ]] || { echo "no released version before $current is an ancestor of HEAD" >&2; exit 1; }
fi
commit=$(commit_of "$tag")
[[ -n $commit ]] && git cat-file -e "$commit^{commit}" 2>/dev/null ||
  { echo "no tag $tag (and no commit for it in $releases)" >&2; exit 1; }
tree="$out/$tag"
rm -rf "$tree"
mkdir -p "$tree"
git archive "$commit" | tar -x -C "$tree"
echo "chart: $tree/charts/mlops-operator ($(grep '^version:' "$tree/charts/mlops-operator/Chart.yaml"))"
if [[ ${SKIP_IMAGE:-0} != 1 ]]; then
  (cd "$tree" && bash hack/build-image.sh)
fi
echo "$tree"
