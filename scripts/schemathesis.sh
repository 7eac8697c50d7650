#!/usr/bin/env bash
# Runs schemathesis against a running api, from the api's OpenAPI document (api/assets/openapi.json).
#
#   pip install schemathesis==4.32.5
#
# Usage: scripts/schemathesis.sh BASE_URL [LOGIN:PASSWORD] [-- MORE SCHEMATHESIS RUN OPTIONS...]
#   e.g. scripts/schemathesis.sh http://127.0.0.1:9173
#        scripts/schemathesis.sh http://127.0.0.1:9173 crowd:secret -- --seed 42
#
# Uses `schemathesis` from PATH, or $SCHEMATHESIS when set. Prints schemathesis' summary; exits
# non-zero on any failure. Test cases per operation and phase: $SCHEMATHESIS_EXAMPLES, 400 by
# default, which takes under a minute against `crowd up` on two cores.
#
# Every operation is tested, with every check that applies, except:
# - GET and HEAD /events: a server-sent event stream that does not end;
# - positive_data_acceptance: a job valid by the schema is still refused (400) when its action is
#   not one this api knows (which actions exist is configuration, not schema), and an
#   Idempotency-Key drawn twice makes a 409 or a 410.
# The run posts jobs, deletes and retries them, and pauses and resumes actions (names it makes up,
# and maybe real ones it reads from GET /actions: `curl -X DELETE BASE_URL/blacklist/NAME` resumes
# one): point it at an api whose data you can spare.
set -euo pipefail

usage() {
    echo "usage: $0 BASE_URL [LOGIN:PASSWORD] [-- MORE SCHEMATHESIS RUN OPTIONS...]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
base_url=$1
shift
auth=()
if [ $# -ge 1 ] && [ "$1" != "--" ]; then
    case $1 in
        *:*) auth=(--auth "$1") ;;
        *) usage ;;
    esac
    shift
fi
if [ $# -ge 1 ]; then
    [ "$1" = "--" ] || usage
    shift
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
document="$here/../api/assets/openapi.json"
[ -f "$document" ] || { echo "error: $document not found" >&2; exit 2; }

schemathesis=${SCHEMATHESIS:-schemathesis}
if ! command -v "$schemathesis" >/dev/null 2>&1; then
    echo "error: $schemathesis not found: pip install schemathesis==4.32.5, or set SCHEMATHESIS" >&2
    exit 2
fi

# Wait for the api (up to 30 s), so a run started beside `crowd up` does not fail on its start.
if command -v curl >/dev/null 2>&1; then
    for _ in $(seq 60); do
        curl -fsS -o /dev/null "${base_url%/}/healthz" 2>/dev/null && break
        sleep 0.5
    done
fi

# Run from a scratch directory, so that no schemathesis.toml around the caller changes the run and
# nothing is left behind (give report options absolute paths). One worker: with two, schemathesis
# 4.32.5 sometimes fails a run with its own hypothesis error (FlakyFailure), and it is no faster here.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
document=$(cd "$(dirname "$document")" && pwd)/$(basename "$document")
cd "$scratch"

"$schemathesis" run "$document" \
    --url "$base_url" \
    "${auth[@]}" \
    --exclude-path /events \
    --checks all \
    --exclude-checks positive_data_acceptance \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-400}" \
    --workers 1 \
    --request-timeout 10 \
    --max-response-time 5 \
    --generation-database none \
    "$@"
