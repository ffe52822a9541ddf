#!/usr/bin/env bash
# Container checks (make container-test; CI runs it after make test). With podman, for real:
#   1. lint both Dockerfiles (hadolint) and validate docker-compose.yaml (docker-compose config)
#   2. build the three images from a base made without a registry (tools/container-base.sh), or
#      from BASE_IMAGE when set (for example BASE_IMAGE=python:3.12-slim where a registry is
#      reachable)
#   3. inside the daemon image: package versions, pip check, pinned versions, user, time zone,
#      health command
#   4. the compose `sim` profile: IB simulator + Alpaca stand-in + daemon containers, a preview and
#      an execute through tools/rebalance.sh, the simulator's orders checked, a preview of the
#      Alpaca demo account (no order at the stand-in), then a stop that must take < 5 s
#   5. the production `event-broker` service from a deployment directory (.env, accounts, ./data)
#      against the simulator standing in for ib-gateway, the Alpaca stand-in for Alpaca (the
#      example accounts.yaml has an Alpaca account) and our fake Ably server for the realtime
#      service: healthy (realtime connected), IB login not in its environment, state written to
#      ./data, the HTTP API answering on the project network (health without a key, accounts
#      with it, 401 without) and published on the host's loopback only, a preview, a signal on
#      the strategy's channel rebalances its account (orders in the simulator, the event in the
#      journal, the owner notified through apprise), no secret or error in its log, a prompt stop
#
# Installs what it needs where it may (apt-get as root; pip into .venv); otherwise it names
# exactly what is missing. Work files go to .container-test/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
# shellcheck source=tools/container-lib.sh
source tools/container-lib.sh

VENV="${VENV:-$repo/.venv}"
WORK="$repo/.container-test"
PROJECT="${CT_PROJECT:-rebalancer-ci}"
DEPLOY_PROJECT="$PROJECT-deploy"
export IMAGE_TAG="${IMAGE_TAG:-ci}"
EB_IMAGE="localhost/ibkr-rebalancer/event-broker:$IMAGE_TAG"
SIM_IMAGE="localhost/ibkr-rebalancer/ib-gateway-sim:$IMAGE_TAG"
ALPACA_IMAGE="localhost/ibkr-rebalancer/alpaca-api-sim:$IMAGE_TAG"
DEMO_ACCOUNT="${CT_DEMO_ACCOUNT:-DUM959247}"
DEMO_ALPACA_ACCOUNT="${CT_DEMO_ALPACA_ACCOUNT:-PA3DEMO00001}"
# The Alpaca stand-in's own demo key pair (demo/alpaca-scenario.yaml; also in the compose file).
ALPACA_DEMO_KEY_ID=PKDEMOSTANDIN0000001
ALPACA_DEMO_SECRET=demo-stand-in-secret-not-an-alpaca-key-01
STOP_LIMIT_SECS=5
started=$SECONDS

step() { ct_log "== $*"; }

rm -rf "$WORK"
mkdir -p "$WORK"

# --- tools -----------------------------------------------------------------------------------
ct_require_system_tools
ct_require_python_tools "$VENV"
ct_containers_conf "$WORK"
compose=("$VENV/bin/podman-compose" --in-pod false -p "$PROJECT" -f "$repo/docker-compose.yaml")

# --- 1. static checks ------------------------------------------------------------------------
step "hadolint"
"$VENV/bin/hadolint" --no-color event-broker/Dockerfile packages/ib-gateway-sim/Dockerfile \
    packages/alpaca-api-sim/Dockerfile
ct_log "hadolint: no findings"

step "docker-compose config -q"
# Validated in a scratch project directory whose .env is .env.example, so the check neither needs
# nor reads a developer's real .env.
mkdir -p "$WORK/compose-project"
cp .env.example "$WORK/compose-project/.env"
docker-compose --project-directory "$WORK/compose-project" -f docker-compose.yaml config -q
COMPOSE_PROFILES=sim docker-compose --project-directory "$WORK/compose-project" \
    -f docker-compose.yaml config --services | sort | tr '\n' ' ' >&2
echo >&2
ct_log "compose file valid"

# --- 2. images -------------------------------------------------------------------------------
step "base image"
if [ -z "${BASE_IMAGE:-}" ]; then
    BASE_IMAGE="$(bash tools/container-base.sh)"
fi
export BASE_IMAGE
ct_log "BASE_IMAGE=$BASE_IMAGE"

ca="$(ct_ca_bundle)"
build() {
    local dockerfile="$1" tag="$2" t0=$SECONDS
    # --format docker keeps HEALTHCHECK (the OCI format has none); the CA bundle is mounted for
    # pip only during the build, never copied into the image.
    podman build --pull=never --format docker -v "$ca:$ca:ro" \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" -f "$dockerfile" -t "$tag" . >"$WORK/build-$(basename "$(dirname "$dockerfile")").log" 2>&1 ||
        {
            tail -n 40 "$WORK/build-$(basename "$(dirname "$dockerfile")").log" >&2
            ct_die "podman build -f $dockerfile failed (full log above in $WORK)"
        }
    ct_log "built $tag in $((SECONDS - t0)) s"
}
step "podman build"
build event-broker/Dockerfile "$EB_IMAGE"
build packages/ib-gateway-sim/Dockerfile "$SIM_IMAGE"
build packages/alpaca-api-sim/Dockerfile "$ALPACA_IMAGE"
# Images a previous run built and this one replaced (untagged now), and only ours.
podman image prune -f --filter label=io.github.ibkr-rebalancer.component >/dev/null 2>&1 || true
grep -A4 -E '^STEP .*pip list --format=freeze' "$WORK/build-event-broker.log" | grep -E '==|No broken' >&2 || true

# --- 3. inside the daemon image --------------------------------------------------------------
step "inside the event-broker image"
run_eb() { podman run --rm --no-healthcheck "$EB_IMAGE" "$@"; }
run_eb python -c '
import alpaca_connector, broker_connector_base, ibkr_connector, portfolio_analytics, rebalance_backtest, rebalance_calculator, rebalance_engine
print(f"broker-connector-base: v{broker_connector_base.__version__}")
print(f"portfolio-analytics: v{portfolio_analytics.__version__}")
print(f"rebalance-calculator: v{rebalance_calculator.__version__}")
print(f"rebalance-engine: v{rebalance_engine.__version__}")
print(f"rebalance-backtest: v{rebalance_backtest.__version__}")
print(f"ibkr-connector: v{ibkr_connector.__version__}")
print(f"alpaca-connector: v{alpaca_connector.__version__}")
'
run_eb sh -c 'pip list 2>/dev/null | grep -E "^(broker-connector-base|portfolio-analytics|rebalance-calculator|rebalance-engine|rebalance-backtest|ibkr-connector|alpaca-connector) "'
run_eb pip check
# Backtests run in the image as they do through `docker compose exec` (rebalance.sh): a two-day
# backtest on files made in the container, stored in its own DATA_DIR.
# shellcheck disable=SC2016 # expanded inside the container, not here
backtest="$(run_eb sh -c 'cd /tmp &&
    printf "date,SPY,AGG\n2024-01-08,471.00,97.50\n2024-01-09,472.40,97.80\n" >prices.csv &&
    printf "date,symbol,weight\n2024-01-08,SPY,0.6\n2024-01-08,AGG,0.4\n" >alloc.csv &&
    DATA_DIR=/tmp/data python -m app.cli -backtest growth -prices prices.csv \
        -allocations alloc.csv -commission zero -description image')" ||
    ct_die "-backtest failed in the image: $backtest"
grep -qE '^backtest growth_[0-9]{8}_image: ' <<<"$backtest" ||
    ct_die "-backtest in the image printed no result name: $backtest"
ct_log "$(grep -E '^backtest ' <<<"$backtest")"
# Reproducible: every third-party distribution in the image is at the version constraints.txt
# pins (the base image's own pip, setuptools and wheel and our six packages aside).
run_eb pip list --format=freeze >"$WORK/image-freeze.txt"
python3 - "$WORK/image-freeze.txt" constraints.txt <<'EOF'
import re
import sys


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


pins = {}
for line in open(sys.argv[2], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if "==" in line:
        name, version = line.split("==", 1)
        pins[norm(name)] = version.strip()
skip = {
    "broker-connector-base", "portfolio-analytics", "rebalance-calculator", "rebalance-engine",
    "rebalance-backtest", "ibkr-connector", "alpaca-connector", "pip", "setuptools", "wheel",
}
installed = [line.strip().split("==", 1) for line in open(sys.argv[1], encoding="utf-8") if "==" in line]
checked = [(name, version) for name, version in installed if norm(name) not in skip]
wrong = [
    f"{name}=={version} (constraints.txt: {pins.get(norm(name), 'not pinned')})"
    for name, version in checked
    if pins.get(norm(name)) != version
]
if wrong:
    sys.exit("the image holds versions constraints.txt does not pin: " + ", ".join(wrong))
print(f"{len(checked)} third-party distributions in the image, all at constraints.txt versions", file=sys.stderr)
EOF
# shellcheck disable=SC2016 # expanded inside the container, not here
identity="$(run_eb sh -c 'echo "uid=$(id -u) tz=$TZ zone=$(date +%Z) python=$(python -V 2>&1)"')"
ct_log "$identity"
user="$(podman image inspect --format '{{.Config.User}}' "$EB_IMAGE")"
[ "$user" = "1000:1000" ] || ct_die "image USER is '$user', expected 1000:1000"
case "$identity" in
    uid=0\ *) ct_die "the image runs as root" ;;
esac
[[ "$identity" =~ zone=(EST|EDT) ]] || ct_die "TZ=America/New_York is not in effect: $identity"
leaked="$(run_eb sh -c 'ls -a /app; ls /app/app | grep -c tests || true')"
if grep -qxE '\.env|\.git|tests' <<<"$leaked"; then
    ct_die "the image holds files .dockerignore should keep out: $leaked"
fi
hc="$(podman image inspect --format '{{json .Config.Healthcheck.Test}}' "$EB_IMAGE")"
ct_log "HEALTHCHECK $hc"
[ "$hc" = '["CMD","python","-m","app.main","--check"]' ] || ct_die "unexpected HEALTHCHECK: $hc"
# With no daemon running there is no status file: the health command must say unhealthy.
if run_eb env ALLOCATIONS_API_URL=file:///tmp python -m app.main --check >"$WORK/check.out" 2>&1; then
    cat "$WORK/check.out" >&2
    ct_die "the health command reported healthy with no daemon running"
fi
ct_log "health command without a daemon: unhealthy, as it must be ($(tail -n1 "$WORK/check.out"))"

# --- 4. the sim profile ----------------------------------------------------------------------
container_of() {
    podman ps -a --filter "label=com.docker.compose.project=${2:-$PROJECT}" \
        --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -n1
}
teardown() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        for c in "$(container_of ib-gateway-sim)" "$(container_of alpaca-api-sim)" \
            "$(container_of event-broker-sim)" "$DEPLOY_PROJECT-gateway" \
            "$DEPLOY_PROJECT-alpaca" "$DEPLOY_PROJECT-realtime" "$DEPLOY_PROJECT-notify" \
            "$(container_of event-broker "$DEPLOY_PROJECT")"; do
            if [ -z "$c" ] || ! podman container exists "$c"; then
                continue
            fi
            ct_log "--- last log lines of $c"
            podman logs --tail 40 "$c" >&2 2>&1 || true
        done
    fi
    "${compose[@]}" --profile sim down -v >/dev/null 2>&1 || true
    cleanup_deploy
    exit "$rc"
}
cleanup_deploy() {
    local c
    c="$(container_of event-broker "$DEPLOY_PROJECT" 2>/dev/null || true)"
    [ -z "$c" ] || podman rm -f "$c" >/dev/null 2>&1 || true
    podman rm -f "$DEPLOY_PROJECT-gateway" "$DEPLOY_PROJECT-alpaca" "$DEPLOY_PROJECT-realtime" \
        "$DEPLOY_PROJECT-notify" >/dev/null 2>&1 || true
    podman network rm "${DEPLOY_PROJECT}_default" >/dev/null 2>&1 || true
}
trap teardown EXIT
cleanup_deploy

stop_within_limit() {
    local container="$1" t0 t1 secs code
    t0="$(date +%s.%N)"
    # (podman logs a harmless error here: no systemd to remove the healthcheck timer from.)
    podman stop -t 10 "$container" >"$WORK/stop.log" 2>&1 ||
        { cat "$WORK/stop.log" >&2; ct_die "podman stop $container failed"; }
    t1="$(date +%s.%N)"
    secs="$(python3 -c "print(f'{$t1 - $t0:.2f}')")"
    code="$(podman inspect --format '{{.State.ExitCode}}' "$container")"
    ct_log "$container stopped in $secs s with exit code $code"
    python3 -c "import sys; sys.exit(0 if $secs < $STOP_LIMIT_SECS else 1)" ||
        ct_die "stop took $secs s (limit $STOP_LIMIT_SECS s): SIGTERM is not handled promptly"
    [ "$code" -eq 0 ] || ct_die "the daemon exited with $code after SIGTERM (expected 0)"
}

wait_healthy() {
    local container="$1" limit="$2" t0=$SECONDS
    # Nothing runs healthchecks by itself here (no systemd timers): run them until healthy.
    until podman healthcheck run "$container" >/dev/null 2>&1; do
        if [ "$(podman inspect --format '{{.State.Running}}' "$container")" != true ]; then
            ct_die "$container exited while waiting for it to become healthy"
        fi
        [ $((SECONDS - t0)) -lt "$limit" ] || ct_die "$container not healthy after ${limit} s"
        sleep 1
    done
    ct_log "$container healthy after $((SECONDS - t0)) s"
}

sim_orders() {
    # The control endpoint listens on the simulator container's loopback only.
    podman exec "${1:-$sim}" python -c '
import json, sys, urllib.request
with urllib.request.urlopen("http://127.0.0.1:8080/orders", timeout=10) as response:
    orders = json.load(response)
json.dump(orders, sys.stdout, indent=1, default=str)
'
}

alpaca_orders() {
    # The stand-in's control routes ask for one of its key pairs; no proxy for this loopback call.
    podman exec "$1" python -c '
import json, sys, urllib.request as u
request = u.Request("http://127.0.0.1:8765/sim/orders",
                    headers={"APCA-API-KEY-ID": sys.argv[1], "APCA-API-SECRET-KEY": sys.argv[2]})
with u.build_opener(u.ProxyHandler({})).open(request, timeout=10) as response:
    json.dump(json.load(response), sys.stdout, indent=1)
' "$ALPACA_DEMO_KEY_ID" "$ALPACA_DEMO_SECRET"
}

step "compose --profile sim: simulators"
"${compose[@]}" --profile sim down -v >/dev/null 2>&1 || true
# podman-compose cannot wait on `condition: service_healthy` with this podman: start the
# stand-ins, wait for their healthchecks, then start the daemon without its dependencies.
"${compose[@]}" --profile sim up -d --no-build ib-gateway-sim alpaca-api-sim >"$WORK/compose-up.log" 2>&1 ||
    { cat "$WORK/compose-up.log" >&2; ct_die "podman-compose up ib-gateway-sim alpaca-api-sim failed"; }
sim="$(container_of ib-gateway-sim)"
[ -n "$sim" ] || ct_die "no ib-gateway-sim container"
wait_healthy "$sim" 60
alpaca="$(container_of alpaca-api-sim)"
[ -n "$alpaca" ] || ct_die "no alpaca-api-sim container"
wait_healthy "$alpaca" 60

step "compose --profile sim: event-broker"
"${compose[@]}" --profile sim up -d --no-build --no-deps event-broker-sim >>"$WORK/compose-up.log" 2>&1 ||
    { cat "$WORK/compose-up.log" >&2; ct_die "podman-compose up event-broker-sim failed"; }
eb="$(container_of event-broker-sim)"
[ -n "$eb" ] || ct_die "no event-broker-sim container"
wait_healthy "$eb" 90
podman exec "$eb" python -m app.main --check
# The sim stack's API stays on the container's own loopback, without a key.
podman exec "$eb" python -c '
import json, urllib.request
with urllib.request.urlopen("http://127.0.0.1:8000/api/v1/health", timeout=10) as response:
    assert json.load(response)["status"] == "ok"
' || ct_die "the sim daemon's API does not answer /api/v1/health on its loopback"
ct_log "sim daemon: /api/v1/health answers on the container's loopback"

step "preview through tools/rebalance.sh"
export REBALANCE_EXEC="podman exec $eb"
bash tools/rebalance.sh -account "$DEMO_ACCOUNT" | tee "$WORK/preview.log"
before="$(sim_orders)"
[ "$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$before")" -eq 0 ] ||
    ct_die "the preview placed orders: $before"
ct_log "simulator orders after the preview: none"

step "execute through tools/rebalance.sh"
bash tools/rebalance.sh -account "$DEMO_ACCOUNT" -exec rebalance | tee "$WORK/execute.log"
after="$(sim_orders)"
echo "$after" >"$WORK/orders.json"
ct_log "simulator orders after the execute (full JSON in $WORK/orders.json):"
python3 - "$after" "$DEMO_ACCOUNT" <<'EOF'
import json
import sys

orders = json.loads(sys.argv[1])
account = sys.argv[2]
print(f"{'id':>4} {'account':<10} {'action':<6} {'qty':>6} {'symbol':<6} {'type':<4} {'status':<9} {'avg price':>10}")
for o in orders:
    print(
        f"{o['order_id']:>4} {o['account']:<10} {o['action']:<6} {o['quantity']:>6} "
        f"{o['symbol']:<6} {o['order_type']:<4} {o['status']:<9} {o['avg_fill_price']:>10}"
    )
ours = [o for o in orders if o.get("account") == account]
if not ours:
    sys.exit(f"no simulator order for {account} after the execute")
unfilled = [o for o in ours if str(o.get("status", "")).lower() != "filled"]
if unfilled:
    sys.exit(f"orders not filled: {unfilled}")
print(f"{len(ours)} orders for {account}, all filled", file=sys.stderr)
EOF

step "preview of the Alpaca demo account through tools/rebalance.sh"
bash tools/rebalance.sh -account "$DEMO_ALPACA_ACCOUNT" | tee "$WORK/alpaca-preview.log"
grep -qE "^$DEMO_ALPACA_ACCOUNT preview \(run [^)]+\) succeeded: [0-9]+ trades proposed" \
    "$WORK/alpaca-preview.log" || ct_die "no successful preview of $DEMO_ALPACA_ACCOUNT at the Alpaca stand-in"
[ "$(alpaca_orders "$alpaca" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" -eq 0 ] ||
    ct_die "the Alpaca preview placed orders: $(alpaca_orders "$alpaca")"
ct_log "Alpaca stand-in orders after the preview: none"

step "stop the event-broker (limit ${STOP_LIMIT_SECS} s)"
stop_within_limit "$eb"

# --- 5. the production service definition ----------------------------------------------------
# The `event-broker` service exactly as a user runs it: a deployment directory with .env (made
# from .env.example, with a dummy IB login), accounts.yaml, replacement-sets.yaml and ./data.
# The real gateway image cannot be pulled here, so the simulator answers as `ib-gateway` on the
# project network, on the gateway image's paper port 4004; and our fake Ably server (run from
# the daemon's image, which has its dependencies) is the realtime service.
step "production event-broker service against a stand-in ib-gateway and realtime service"
deploy="$WORK/deploy"
mkdir -p "$deploy/data"
cp docker-compose.yaml accounts.yaml replacement-sets.yaml "$deploy/"
# Allocations from a directory under ./data, so no extra mount is needed.
cp -r demo/allocations "$deploy/data/allocations"
sed -e 's|^TWS_USERID=.*|TWS_USERID=ci-user|' \
    -e 's|^TWS_PASSWORD=.*|TWS_PASSWORD=ci-dummy-password|' \
    -e 's|^ALLOCATIONS_API_URL=.*|ALLOCATIONS_API_URL=file:///app/data/allocations|' \
    .env.example >"$deploy/.env"
realtime_secret="ci-realtime-secret-$RANDOM$RANDOM"
api_key="ci-api-key-$RANDOM$RANDOM$RANDOM"
# The host port compose publishes the API on (127.0.0.1 only): any free one.
api_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# The README's instruction: ./data must be writable by uid 1000, the daemon's user.
chown -R 1000:1000 "$deploy/data"
deploy_compose=("$VENV/bin/podman-compose" --in-pod false -p "$DEPLOY_PROJECT" -f "$deploy/docker-compose.yaml")
network="${DEPLOY_PROJECT}_default"
podman network exists "$network" || podman network create "$network" >/dev/null
podman run -d --name "$DEPLOY_PROJECT-gateway" --network "$network" --network-alias ib-gateway \
    -v "$repo/demo:/app/demo:ro" "$SIM_IMAGE" python -m ib_gateway_sim --host 0.0.0.0 \
    --port 4004 --scenario /app/demo/scenario.yaml --control-port 8080 >/dev/null
wait_healthy "$DEPLOY_PROJECT-gateway" 60
# The example accounts.yaml trades an Alpaca paper account too: the stand-in answers for Alpaca.
podman run -d --name "$DEPLOY_PROJECT-alpaca" --network "$network" --network-alias alpaca-api \
    -v "$repo/demo:/app/demo:ro" "$ALPACA_IMAGE" python -m alpaca_api_sim --host 0.0.0.0 \
    --port 8765 --scenario /app/demo/alpaca-scenario.yaml >/dev/null
wait_healthy "$DEPLOY_PROJECT-alpaca" 60
realtime="$DEPLOY_PROJECT-realtime"
podman run -d --no-healthcheck --name "$realtime" --network "$network" --network-alias realtime \
    -v "$repo/packages/fake-ably-server/src:/opt/fake-ably-server:ro" \
    -e PYTHONPATH=/opt/fake-ably-server "$EB_IMAGE" python -m fake_ably_server --host 0.0.0.0 \
    --port 8765 --api-key "ciapp.cikey:$realtime_secret" >/dev/null
t0=$SECONDS
until podman exec "$realtime" python -c \
    'import urllib.request as u; u.urlopen("http://127.0.0.1:8765/time", timeout=2)' >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -lt 30 ] || ct_die "the fake realtime service did not start"
    sleep 0.5
done
# The owner's notifications: apprise's json:// target, received by a small aiohttp server.
notify="$DEPLOY_PROJECT-notify"
notify_token="ci-hook-token-$RANDOM$RANDOM"
podman run -d --no-healthcheck --name "$notify" --network "$network" \
    -v "$repo/tools/container-notify-receiver.py:/opt/receiver.py:ro" "$EB_IMAGE" \
    python /opt/receiver.py 8090 >/dev/null
notifications() {
    podman exec "$notify" python -c \
        'import urllib.request as u; print(u.urlopen("http://127.0.0.1:8090/received", timeout=5).read().decode())'
}
t0=$SECONDS
until notifications >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -lt 30 ] || ct_die "the notification receiver did not start"
    sleep 0.5
done
# By address: the SDK would take a bare service name for an Ably routing policy (the daemon
# refuses one), and the test network has no dotted names.
address_of() {
    podman inspect --format "{{(index .NetworkSettings.Networks \"$network\").IPAddress}}" "$1"
}
realtime_ip="$(address_of "$realtime")"
notify_ip="$(address_of "$notify")"
[ -n "$realtime_ip" ] && [ -n "$notify_ip" ] || ct_die "no address on $network for $realtime or $notify"
cat >>"$deploy/.env" <<EOF
REALTIME_API_KEY=ciapp.cikey:$realtime_secret
ABLY_ENDPOINT=$realtime_ip:8765
ABLY_TLS=false
NOTIFICATION_URLS=json://$notify_ip:8090/hook/$notify_token
ALPACA_API_KEY_ID=$ALPACA_DEMO_KEY_ID
ALPACA_API_SECRET_KEY=$ALPACA_DEMO_SECRET
ALPACA_BASE_URL=http://alpaca-api:8765
NO_PROXY=$realtime_ip,$notify_ip,ib-gateway,alpaca-api
API_KEY=$api_key
API_PORT=$api_port
EOF
(cd "$deploy" && "${deploy_compose[@]}" up -d --no-build --no-deps event-broker) >"$WORK/deploy-up.log" 2>&1 ||
    { cat "$WORK/deploy-up.log" >&2; ct_die "podman-compose up event-broker failed"; }
prod="$(container_of event-broker "$DEPLOY_PROJECT")"
[ -n "$prod" ] || ct_die "no event-broker container"
wait_healthy "$prod" 90
leaked_env="$(podman exec "$prod" sh -c 'env | grep -E "^(TWS_USERID|TWS_PASSWORD)=." || true')"
[ -z "$leaked_env" ] || ct_die "the IB login from .env reached the daemon's container"
ct_log "the IB login in .env is not in the daemon's environment"
[ -s "$deploy/data/daemon-status.json" ] || ct_die "the daemon wrote nothing to ./data on the host"
ct_log "./data on the host: $(find "$deploy/data" -mindepth 1 -maxdepth 1 -printf '%f(uid %U) ')"
# The HTTP API from another container on the project network: health without a key, the
# accounts with it, 401 without it.
prod_ip="$(address_of "$prod")"
[ -n "$prod_ip" ] || ct_die "no address on $network for $prod"
podman run --rm --no-healthcheck --network "$network" -e NO_PROXY="$prod_ip" "$EB_IMAGE" python -c '
import json, sys, urllib.error, urllib.request
base, key, account = sys.argv[1], sys.argv[2], sys.argv[3]
with urllib.request.urlopen(base + "/api/v1/health", timeout=10) as response:
    assert json.load(response)["status"] == "ok", "health"
try:
    urllib.request.urlopen(base + "/api/v1/accounts", timeout=10)
    sys.exit("GET /api/v1/accounts answered without a key")
except urllib.error.HTTPError as exc:
    assert exc.code == 401, exc.code
request = urllib.request.Request(base + "/api/v1/accounts", headers={"X-API-Key": key})
with urllib.request.urlopen(request, timeout=10) as response:
    ids = [a["account_id"] for a in json.load(response)["accounts"]]
assert account in ids, ids
print(f"API on the project network: health ok, 401 without the key, accounts {ids}", file=sys.stderr)
' "http://$prod_ip:8000" "$api_key" "$DEMO_ACCOUNT" || ct_die "the daemon's HTTP API does not answer on the project network"
published="$(podman port "$prod" 8000/tcp)"
ct_log "API published on the host at: $published"
[ -n "$published" ] || ct_die "the API port is not published"
if grep -vqE '^127\.0\.0\.1:[0-9]+$' <<<"$published"; then
    ct_die "the API port is published beyond the host's loopback: $published"
fi
python3 - "$api_port" <<'PYEOF' || ct_die "the published API port does not answer on 127.0.0.1"
import json
import sys
import urllib.request

# No proxy for our own loopback, whatever the environment says.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with opener.open(f"http://127.0.0.1:{sys.argv[1]}/api/v1/health", timeout=10) as response:
    assert json.load(response)["status"] == "ok"
PYEOF
ct_log "API published on 127.0.0.1:$api_port only, health answers there"
REBALANCE_EXEC="podman exec $prod" bash tools/rebalance.sh -account "$DEMO_ACCOUNT" >"$WORK/deploy-preview.log" 2>&1 ||
    { cat "$WORK/deploy-preview.log" >&2; ct_die "preview through the production service failed"; }
tail -n 1 "$WORK/deploy-preview.log" >&2
[ "$(sim_orders "$DEPLOY_PROJECT-gateway")" = "[]" ] || ct_die "the preview placed orders"

# A strategy signal, as the strategy's publisher sends it: the daemon rebalances every enabled
# account of that strategy (here the demo account) with no manual trigger.
strategy="${CT_DEMO_STRATEGY:-etf-blend-301-20}"
podman exec "$realtime" python -c '
import json, sys, urllib.request
body = json.dumps({"data": {"exec": "rebalance"}, "id": "ci-signal-1:0"}).encode()
request = urllib.request.Request(f"http://127.0.0.1:8765/publish/{sys.argv[1]}", data=body,
                                 headers={"Content-Type": "application/json"})
urllib.request.urlopen(request, timeout=10).close()
' "$strategy"
ct_log "published {\"exec\": \"rebalance\"} on channel $strategy"
journal_events() {
    podman exec "$prod" python -c '
import sqlite3
with sqlite3.connect("file:/app/data/journal.sqlite3?mode=ro", uri=True) as db:
    for channel, outcome in db.execute("SELECT channel, outcome FROM events"):
        print(f"{channel}: {outcome}")
'
}
t0=$SECONDS
until journal_events | grep -q "^$strategy: ran "; do
    [ $((SECONDS - t0)) -lt 90 ] || ct_die "the signal was not processed within 90 s: $(journal_events)"
    sleep 1
done
ct_log "journal event: $(journal_events)"
python3 - "$(sim_orders "$DEPLOY_PROJECT-gateway")" "$DEMO_ACCOUNT" <<'EOF'
import json
import sys

orders = [o for o in json.loads(sys.argv[1]) if o.get("account") == sys.argv[2]]
if not orders or any(str(o.get("status", "")).lower() != "filled" for o in orders):
    sys.exit(f"after the signal, expected filled orders for {sys.argv[2]}, got {orders}")
summary = ", ".join(f"{o['action']} {o['quantity']} {o['symbol']}" for o in orders)
print(f"the signal rebalanced {sys.argv[2]}: {summary} (all filled)", file=sys.stderr)
EOF
t0=$SECONDS
until notifications | grep -q "Rebalance finished: $DEMO_ACCOUNT"; do
    [ $((SECONDS - t0)) -lt 30 ] || ct_die "no notification of $DEMO_ACCOUNT's rebalance: $(notifications)"
    sleep 0.5
done
python3 - "$(notifications)" "$DEMO_ACCOUNT" <<'EOF'
import json
import sys

for note in json.loads(sys.argv[1]):
    if sys.argv[2] in str(note.get("title", "")):
        lines = str(note.get("message", "")).splitlines()
        print(f"notification ({note.get('type')}): {note['title']} / {' / '.join(lines[:3])}", file=sys.stderr)
EOF
for secret in "$realtime_secret" "$notify_token" "$api_key" "$ALPACA_DEMO_SECRET"; do
    if podman logs "$prod" 2>&1 | grep -qF "$secret"; then
        ct_die "a secret from .env (${secret%%-[0-9]*}-...) appears in the daemon's log"
    fi
done
ct_log "no secret from .env (realtime, notification token, API key, Alpaca) is in the daemon's log"
# Seed task 4.3's first criterion: no errors in the logs.
errors="$(podman logs "$prod" 2>&1 | grep -E ' (ERROR|CRITICAL) |Traceback' || true)"
[ -z "$errors" ] || ct_die "errors in the daemon's log:
$errors"
ct_log "no ERROR, CRITICAL or traceback in the daemon's log"
stop_within_limit "$prod"

ct_log "container-test passed in $((SECONDS - started)) s"
