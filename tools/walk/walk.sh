#!/usr/bin/env bash
# walk.sh [COMMIT]: the files one proxied request goes through in core, in call order.
# It checks COMMIT (default HEAD) out into a temporary worktree, adds a trace call at the
# start of every multi-line function of package core (instrument.py; one-line accessors are
# not traced), runs one keep-alive GET through a pooled connection (walk_test.go.txt) and
# prints the sequence of files entered and how many times a file is entered again after
# control went elsewhere (re-entries). Nothing is changed in the working tree.
set -euo pipefail
rev=${1:-HEAD}
here=$(cd "$(dirname "$0")" && pwd)
wt=$(mktemp -d)/walk
git worktree add -q --detach "$wt" "$rev"
trap 'git worktree remove --force "$wt"' EXIT
python3 "$here/instrument.py" "$wt/core"
cp "$here/walk_test.go.txt" "$wt/core/walk_test.go"
(cd "$wt" && go test ./core -run '^TestWalk$' -count=1 -v | grep -E '^(FILES|WALK|REENTER)')
