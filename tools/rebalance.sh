#!/usr/bin/env bash
# Manual trigger: preview or execute a rebalance through the daemon's own path; snapshots and
# performance reports.
#
#   tools/rebalance.sh -account DUM959247                  # preview (print-rebalance)
#   tools/rebalance.sh -account DUM959247 -exec rebalance  # place the orders
#   tools/rebalance.sh -all [-exec rebalance]              # every enabled account
#   tools/rebalance.sh -snapshot -account ID | -all        # record snapshots, place nothing
#   tools/rebalance.sh -report -account ID [-since YYYY-MM-DD] [-format json] [-plot FILE]
#   tools/rebalance.sh -halt "allocations API looks wrong" # kill switch: no new order,
#                                                           # working ones cancelled
#   tools/rebalance.sh -resume                             # trade again
#
# Where it runs, first match wins:
#   REBALANCE_EXEC="podman exec rebalancer-event-broker"   that command prefix, then
#                                                           `python -m app.cli ARGS`
#   REBALANCE_TARGET=local, or a repo .venv and no         the repo's .venv, from the current
#     running compose service                              directory (its .env, accounts.yaml)
#   otherwise                                              docker compose exec -T event-broker
#
# Exit status is the CLI's: 0 all runs succeeded (or the report printed, the switch set), 1 a
# run failed or was refused, 2 bad input (an unknown, repeated or misplaced flag, a bad value;
# no arguments at all).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
    sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    usage
    exit 0
fi
if [[ $# -eq 0 ]]; then
    # Nothing asked for is a mistake, not success: usage on stderr, exit 2 like the CLI.
    usage >&2
    exit 2
fi

if [[ -n "${REBALANCE_EXEC:-}" ]]; then
    # Word splitting is wanted: the variable holds a command prefix.
    # shellcheck disable=SC2086
    exec ${REBALANCE_EXEC} python -m app.cli "$@"
fi

compose_running() {
    command -v docker >/dev/null 2>&1 &&
        (cd "$repo" && docker compose ps --status running --services 2>/dev/null | grep -qx event-broker)
}

target="${REBALANCE_TARGET:-}"
if [[ -z "$target" ]]; then
    if [[ -x "$repo/.venv/bin/python" ]] && ! compose_running; then
        target=local
    else
        target=compose
    fi
fi

case "$target" in
    local)
        if [[ ! -x "$repo/.venv/bin/python" ]]; then
            echo "error: $repo/.venv is missing; run 'make install' first" >&2
            exit 2
        fi
        export PYTHONPATH="$repo/event-broker${PYTHONPATH:+:$PYTHONPATH}"
        exec "$repo/.venv/bin/python" -m app.cli "$@"
        ;;
    compose)
        cd "$repo"
        exec docker compose exec -T event-broker python -m app.cli "$@"
        ;;
    *)
        echo "error: REBALANCE_TARGET must be 'local' or 'compose', not '$target'" >&2
        exit 2
        ;;
esac
