# The molecule instance: a Debian 13 "VM" with systemd as PID 1.
# BASE is docker.io/library/debian:trixie where it can be pulled, else a debootstrap import.
ARG BASE=docker.io/library/debian:trixie
FROM ${BASE}
ENV container=docker DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      systemd systemd-sysv dbus python3 python3-apt ca-certificates iproute2 procps sudo \
 && apt-get clean \
  # Units that make no sense in a container and slow boot down.
 && systemctl mask getty.target systemd-logind.service systemd-remount-fs.service \
      systemd-udevd.service systemd-udev-trigger.service sys-kernel-debug.mount \
      sys-kernel-tracing.mount systemd-firstboot.service
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
