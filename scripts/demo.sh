#!/usr/bin/env bash
# demo.sh starts a real Ollama (built once, cached) with a tiny generated
# model, puts edgeway in front of it, streams one chat through edgeway and
# leaves both running. `scripts/demo.sh stop` (make demo-stop) ends them.
set -euo pipefail
cd "$(dirname "$0")/.."
state="$PWD/.demo"
ollama_port="${DEMO_OLLAMA_PORT:-11435}"
listen="${DEMO_LISTEN:-127.0.0.1:8420}"

stop() {
  for name in edgeway ollama; do
    if [ -f "$state/$name.pid" ]; then
      kill "$(cat "$state/$name.pid")" 2>/dev/null && echo "stopped $name" || true
      rm -f "$state/$name.pid"
    fi
  done
}

wait_http() { # url tries
  for _ in $(seq "$2"); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

case "${1:-start}" in
stop) stop; exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop"; exit 2 ;;
esac

stop >/dev/null
ollama="$(scripts/build-ollama.sh)"
mkdir -p "$state/home" "$state/models" "$state/model"
scripts/tiny-model.sh "$state/model" >/dev/null

HOME="$state/home" OLLAMA_HOST="127.0.0.1:$ollama_port" OLLAMA_MODELS="$state/models" OLLAMA_NO_CLOUD=1 \
  nohup "$ollama" serve >"$state/ollama.log" 2>&1 &
echo $! >"$state/ollama.pid"
wait_http "http://127.0.0.1:$ollama_port/api/version" 100 || { echo "demo: ollama did not start; see $state/ollama.log"; stop; exit 1; }
(cd "$state/model" && HOME="$state/home" OLLAMA_HOST="127.0.0.1:$ollama_port" "$ollama" create tiny -f Modelfile >/dev/null 2>&1)

cat >"$state/edgeway.yaml" <<YAML
listen: $listen
data_dir: $state/data
providers:
  - name: ollama
    type: ollama
    base_url: http://127.0.0.1:$ollama_port
models:
  tiny: [ollama/tiny]
YAML
nohup bin/edgeway serve --config "$state/edgeway.yaml" >"$state/edgeway.log" 2>&1 &
echo $! >"$state/edgeway.pid"
wait_http "http://$listen/healthz" 100 || { echo "demo: edgeway did not start; see $state/edgeway.log"; cat "$state/edgeway.log"; stop; exit 1; }
cat "$state/edgeway.log"

echo
echo "streaming a chat through edgeway -> real Ollama (tiny random-weight model: the words are random):"
curl -sN "http://$listen/v1/chat/completions" -H 'content-type: application/json' \
  -d '{"model":"tiny","stream":true,"max_tokens":24,"messages":[{"role":"user","content":"Say hello"}]}'
echo
echo "edgeway and Ollama are running. Try:"
echo "  curl http://$listen/v1/chat/completions -H 'content-type: application/json' -d '{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'"
echo "Stop them with: make demo-stop"
