#!/usr/bin/env bash
# quota-ab.sh: interleaved A/B rounds of two benchmarks of cluster/redisquota (each round runs
# A then B in fresh processes), printing ns/op per round, the B/A ratio and the median ratio.
# The machine is shared and noisy: only ratios of neighbouring runs mean anything.
#
#   bench/quota-ab.sh ROUNDS BENCH_A BENCH_B [benchtime]
#   bench/quota-ab.sh 8 'Take/local$' 'Take/global$' 1000000x      # quota check per call
#   bench/quota-ab.sh 6 'LeaseClient/rueidis/batch64$' 'LeaseClient/go-redis/batch64$' 2s
#
# CPU=1 runs the benchmarks on one P (default 2); FIELD=cpu-ns/op compares that metric instead
# of ns/op. Needs redis-server (tools/deps.sh). Run from the repository root.
set -euo pipefail
rounds=$1 a=$2 b=$3 bt=${4:-1s}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go test -c -o "$dir/rq.test" ./cluster/redisquota/
run() { "$dir/rq.test" -test.cpu "${CPU:-2}" -test.run '^$' -test.bench "^Benchmark$1" -test.benchtime "$bt" -test.benchmem | awk -v f="${FIELD:-ns/op}" '/^Benchmark/ {for (i = 3; i < NF; i++) if ($(i + 1) == f) {print $i; exit}}'; }
ratios=()
for r in $(seq 1 "$rounds"); do
	na=$(run "$a") nb=$(run "$b")
	ratio=$(awk -v x="$na" -v y="$nb" 'BEGIN {printf "%.2f", y / x}')
	ratios+=("$ratio")
	echo "round $r: A $na, B $nb (${FIELD:-ns/op}), B/A $ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR]=$1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "median B/A over %d rounds: %.2f\n", NR, m}'
