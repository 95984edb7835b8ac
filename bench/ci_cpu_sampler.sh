#!/usr/bin/env bash
# Records where a test run's CPU goes, for bench/ci_cpu_report.py: every 15 s the machine's CPU
# counters, each Docker container's cgroup CPU time (the molecule instances and, as siblings with
# --cgroupns=host, the containers their own engines run), and the CPU time of the host's test
# processes (molecule, pytest, ansible-playbook, the Docker daemons). Stop it with kill.
#   bench/ci_cpu_sampler.sh /tmp/cpu.txt &  CI=true bash .ci/run;  kill %1
#   .venv/bin/python bench/ci_cpu_report.py /tmp/cpu.txt
set -uo pipefail
out=${1:?usage: ci_cpu_sampler.sh OUTPUT_FILE}
: >"$out"
n=0
# Only the host's own processes (the sampler's namespace; PID 1's may not be readable): the
# instances' show in /proc too, but their cgroups count them.
host_pid_ns=$(readlink /proc/$$/ns/pid)
while true; do
  {
    echo "T $(date +%s) $(head -1 /proc/stat)"
    for d in /sys/fs/cgroup/cpuacct/docker/*/ /sys/fs/cgroup/system.slice/docker-*.scope/; do
      if [ -f "$d/cpuacct.usage" ]; then
        echo "C $(basename "$d") $(cat "$d/cpuacct.usage")"
      elif [ -f "$d/cpu.stat" ]; then
        id=$(basename "$d" .scope)
        echo "C ${id#docker-} $(($(awk '/^usage_usec/ {print $2}' "$d/cpu.stat") * 1000))"
      fi
    done
    docker ps --format 'N {{.ID}} {{.Names}}' 2>/dev/null
    # The names of the containers the instances run, now and then (docker exec costs CPU too).
    if [ $((n % 8)) -eq 0 ]; then
      for inst in $(docker ps --format '{{.Names}}'); do
        docker exec "$inst" docker ps --no-trunc --format "I {{.ID}} $inst/{{.Names}}" 2>/dev/null
      done
    fi
    n=$((n + 1))
    for p in /proc/[0-9]*; do
      [ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$host_pid_ns" ] || continue
      read -r -a s <"$p/stat" 2>/dev/null || continue
      c=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null | cut -c1-600)
      case "$c" in
        *pytest* | *"molecule test"* | *ansible-playbook* | *dockerd* | *containerd*)
          # pid, parent, own + waited-for children's CPU ticks, command line
          echo "P ${p#/proc/} ${s[3]} $((s[13] + s[14] + s[15] + s[16])) $c"
          ;;
      esac
    done
  } >>"$out"
  sleep 15
done
