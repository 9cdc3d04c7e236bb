#!/usr/bin/env bash
# Starts a local mesh of two or three regions on loopback, each its own Orleans cluster (silo process) with its
# own data folder, every region naming the others as peers. Ctrl+C stops them all.
#
#   scripts/regions.sh            # east, west
#   scripts/regions.sh 3          # east, west, north
#
# Region i (from 0) uses Orleans gateway 30000+i, silo port 11111+i, HTTP 8000+10*i, gRPC 8001+10*i, and data in
# regions-data/NAME. Talk to one with: dotnet run --project clients/Mesh.Cli -- models --gateway 127.0.0.1:30001 --cluster west
set -euo pipefail
cd "$(dirname "$0")/.."

count="${1:-2}"
names=(east west north)
if [[ "$count" -lt 2 || "$count" -gt 3 ]]; then
  echo "usage: scripts/regions.sh [2|3]" >&2
  exit 2
fi

dotnet build silos/Mesh.Silo -v quiet -nologo >/dev/null
silo="$(find silos/Mesh.Silo/bin/Debug -name Mesh.Silo.dll | head -n 1)"

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
for ((i = 0; i < count; i++)); do
  name="${names[$i]}"
  env=(
    "Mesh__Silo__ClusterId=$name"
    "Mesh__Silo__GatewayPort=$((30000 + i))"
    "Mesh__Silo__SiloPort=$((11111 + i))"
    "Mesh__Gateway__HttpPort=$((8000 + 10 * i))"
    "Mesh__Gateway__GrpcPort=$((8001 + 10 * i))"
    "Mesh__Storage__DataDirectory=regions-data/$name"
  )
  peer=0
  for ((j = 0; j < count; j++)); do
    [[ "$j" -eq "$i" ]] && continue
    env+=("Mesh__Regions__Peers__${peer}__Name=${names[$j]}" "Mesh__Regions__Peers__${peer}__Gateway=127.0.0.1:$((30000 + j))")
    peer=$((peer + 1))
  done
  env "${env[@]}" dotnet "$silo" 2>&1 | sed -u "s/^/[$name] /" &
  pids+=($!)
done
wait
