#!/usr/bin/env bash
# Installs what Stageproof, its lab and its tests need on a fresh Debian/Ubuntu machine. Idempotent; run as root.
set -euo pipefail

packages=(
  openssh-server openssh-client      # the lab's hosts run sshd; tests start a private sshd
  postgresql postgresql-contrib      # one server per lab environment; pgcrypto for acme-mail
  mariadb-server mariadb-client      # the MariaDB engine's tests start a private mariadbd; mariadb-dump and mariadb for its rollback points
  slapd ldap-utils                   # tests of the ldap check and directory facts start a private slapd (never the system's)
  libldap-2.5-0                      # System.DirectoryServices.Protocols speaks LDAP through libldap on Linux
  debootstrap                        # the lab's base image
  dpkg-dev apt-utils                 # dpkg-scanpackages, apt-ftparchive: the lab's apt repository and snapshot repositories
  gnupg                              # signs snapshot repositories (gpg, gpgconf)
  ansible                            # the peer in the facts benchmark
  sudo                               # tests of `become: sudo`
  iproute2 systemd                   # ip netns and systemd-socket-activate: the lab test of a host only its bastion reaches
  chromium                           # the HTML report test opens the report in headless Chromium (Playwright drives /usr/bin/chromium)
  procps curl ca-certificates git
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-prerequisites: run as root (the lab mounts filesystems and starts servers)" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's postgresql package starts a cluster on 127.0.0.1:5432 (and mariadb-server one on 127.0.0.1:3306);
# Stageproof never uses them, but stop nothing the operator may rely on. The lab and the tests start their own
# servers on other 127.x addresses and ports.

if ! command -v dotnet >/dev/null 2>&1; then
  if apt-cache show dotnet-sdk-10.0 >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dotnet-sdk-10.0 >/dev/null
  else
    echo "install-prerequisites: the .NET 10 SDK is missing and this distribution's archive does not carry it;" >&2
    echo "install it from https://dot.net (package dotnet-sdk-10.0) and run this again." >&2
    exit 3
  fi
fi
echo "Prerequisites present: ${packages[*]} dotnet $(dotnet --version)"
