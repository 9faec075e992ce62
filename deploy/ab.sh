#!/bin/sh
# Interleaved A/B of the deployed shape: an older commit against this checkout, run back to
# back (base, head, base, head, ...), because identical runs on a shared machine drift by
# half. The older commit gets today's bench (bench.py, bench_client.py, bench_result.py and the
# statement counter) so that both sides are measured the same way.
#
#   deploy/ab.sh 0961256 3 --n 200 --concurrency 20 --idle 3
#
# Logs go to var/ab/{base,head}-N.log; deploy/ab_report.py var/ab prints the ratios.
set -eu
base=$1; pairs=$2; shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$here/.venv/bin/python}
tree=$(mktemp -d /tmp/topup-ab-XXXXXX)
git -C "$here" worktree add --detach "$tree" "$base" >/dev/null
for f in deploy/bench.py deploy/bench_client.py deploy/bench_result.py deploy/ab_report.py shared/sqlcount.py shared/db.py \
         shared/localbell.py; do
  cp "$here/$f" "$tree/$f"
done
mkdir -p "$here/var/ab"
i=1
while [ "$i" -le "$pairs" ]; do
  (cd "$tree" && "$python" -m deploy.bench "$@" --statements 0) > "$here/var/ab/base-$i.log" 2>&1
  (cd "$here" && "$python" -m deploy.bench "$@" --statements 0) > "$here/var/ab/head-$i.log" 2>&1
  echo "pair $i done"
  i=$((i + 1))
done
git -C "$here" worktree remove --force "$tree"
"$python" "$here/deploy/ab_report.py" "$here/var/ab"
