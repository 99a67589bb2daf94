# Sourced by the scripts that start `bookstore up`: wait_until_serving PORT PID [SECONDS]
# Waits until the gateway on 127.0.0.1:PORT answers 200 on its readiness and on one route of every service (so the
# gateway's first health checks have seen each service up), or fails with the end of the log when PID exits or
# time runs out (default 60 s).
wait_until_serving() {
    local port=$1 pid=$2 limit=${3:-60} log=${4:-}
    local paths=(/actuator/health/readiness /api/users/health /api/payments-python/health /api/payments-java/actuator/health /api/reviews/health)
    local deadline=$((SECONDS + limit)) path
    while true; do
        local all=1
        for path in "${paths[@]}"; do
            curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port$path" 2>/dev/null || { all=0; break; }
        done
        ((all)) && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "bookstore up exited before serving" >&2; [ -n "$log" ] && tail -n 30 "$log" >&2; return 1
        fi
        if ((SECONDS >= deadline)); then
            echo "bookstore up not serving $path within ${limit}s" >&2; [ -n "$log" ] && tail -n 30 "$log" >&2; return 1
        fi
        sleep 0.2
    done
}
