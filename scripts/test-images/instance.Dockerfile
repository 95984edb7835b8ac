# The molecule instances: Debian 13 "VMs" with systemd as PID 1.
# BASE is docker.io/library/debian:trixie where it can be pulled, else a debootstrap import.
# CLOUD_PACKAGES are what cloud images have and minimal images lack (python3-apt for Ansible's
# package modules, sudo): the default scenario's worker hosts run on the minimal image, built with
# them empty.
ARG BASE=docker.io/library/debian:trixie
FROM ${BASE}
ARG CLOUD_PACKAGES="python3-apt sudo"
ENV container=docker DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      systemd systemd-sysv dbus python3 ca-certificates iproute2 procps ${CLOUD_PACKAGES} \
 && apt-get clean \
  # Units that make no sense in a container and slow boot down.
 && systemctl mask getty.target systemd-logind.service systemd-remount-fs.service \
      systemd-udevd.service systemd-udev-trigger.service sys-kernel-debug.mount \
      sys-kernel-tracing.mount systemd-firstboot.service
# Ansible's module payloads compile once per host, not on every task (see the file).
COPY ansiballz_bytecode_cache.py /tmp/
RUN site=$(python3 -c 'import site; print(site.getsitepackages()[0])') \
 && mkdir -p "$site" \
 && mv /tmp/ansiballz_bytecode_cache.py "$site/" \
 && echo 'import ansiballz_bytecode_cache' >"$site/ansiballz_bytecode_cache.pth"
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
