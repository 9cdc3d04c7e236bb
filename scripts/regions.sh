#!/usr/bin/env bash
# Starts a local mesh of two or three regions on loopback, each its own Orleans cluster (silo process) with its
# own data folder, every region naming the others as peers. Ctrl+C stops them all.
#
#   scripts/regions.sh              # east, west
#   scripts/regions.sh 3            # east, west, north
#   scripts/regions.sh 2 40000      # the same with Orleans gateways from 40000 (a base port, when 30000 is taken)
#
# With base port B (default 30000), region i (from 0) uses Orleans gateway B+i, silo port B+100+i, HTTP B+200+10*i,
# gRPC B+201+10*i, and data in regions-data/NAME; the default base keeps silo ports at 11111+i and HTTP at 8000+10*i.
# Talk to them all at once with: .mesh/cli/mesh predict mlp --input ... --regions east=127.0.0.1:30000,west=127.0.0.1:30001
set -euo pipefail
cd "$(dirname "$0")/.."

count="${1:-2}"
base="${2:-30000}"
names=(east west north)
if [[ "$count" -lt 2 || "$count" -gt 3 ]] || ! [[ "$base" =~ ^[0-9]+$ ]] || [[ "$base" -lt 1024 || "$base" -gt 65000 ]]; then
  echo "usage: scripts/regions.sh [2|3] [BASE_PORT 1024-65000]" >&2
  exit 2
fi
if [[ "$base" -eq 30000 ]]; then silo_base=11111; http_base=8000; else silo_base=$((base + 100)); http_base=$((base + 200)); fi

dotnet build silos/Mesh.Silo -v quiet -nologo >/dev/null
silo="$(find silos/Mesh.Silo/bin/Debug -name Mesh.Silo.dll | head -n 1)"

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
for ((i = 0; i < count; i++)); do
  name="${names[$i]}"
  env=(
    "Mesh__Silo__ClusterId=$name"
    "Mesh__Silo__GatewayPort=$((base + i))"
    "Mesh__Silo__SiloPort=$((silo_base + i))"
    "Mesh__Gateway__HttpPort=$((http_base + 10 * i))"
    "Mesh__Gateway__GrpcPort=$((http_base + 1 + 10 * i))"
    "Mesh__Storage__DataDirectory=regions-data/$name"
  )
  peer=0
  for ((j = 0; j < count; j++)); do
    [[ "$j" -eq "$i" ]] && continue
    env+=("Mesh__Regions__Peers__${peer}__Name=${names[$j]}" "Mesh__Regions__Peers__${peer}__Gateway=127.0.0.1:$((base + j))")
    peer=$((peer + 1))
  done
  env "${env[@]}" dotnet "$silo" 2>&1 | sed -u "s/^/[$name] /" &
  pids+=($!)
done
wait
