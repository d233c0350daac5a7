#!/bin/bash
# Builds the acme-mail Debian packages, one per release, from this one code base.
#
#   build-debs.sh OUTDIR [VERSION...]      (default versions: 1.0 1.1)
#
# For each VERSION: dotnet publish (self-contained linux-x64, trimmed, single file, ReadyToRun, invariant globalization,
# -p:AcmeMailVersion=VERSION), stage the package tree, dpkg-deb --root-owner-group --build
# OUTDIR/acme-mail_VERSION-1_amd64.deb. Needs: the .NET 10 SDK, dpkg-deb; network only for NuGet (one restore).
# Release 1.0 has the mailbox authorization bug; every other version has the fix.
set -euo pipefail

usage() { echo "usage: $0 OUTDIR [VERSION...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; esac

HERE=$(cd "$(dirname "$0")" && pwd)
APP=$(cd "$HERE/.." && pwd)
PROJECT=$APP/AcmeMail.csproj
mkdir -p "$1"
OUTDIR=$(cd "$1" && pwd)
shift
if [ $# -eq 0 ]; then set -- 1.0 1.1; fi
for v in "$@"; do
  [[ $v =~ ^[0-9]+\.[0-9]+(\.[0-9]+)?$ ]] || { echo "$0: bad version '$v' (expected N.N or N.N.N)" >&2; exit 2; }
done

command -v dotnet >/dev/null || { echo "$0: dotnet (the .NET 10 SDK) is not on PATH" >&2; exit 3; }
command -v dpkg-deb >/dev/null || { echo "$0: dpkg-deb is not installed" >&2; exit 3; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/acme-mail-debs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
umask 022
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# Reproducible timestamps inside the .deb: the last commit's time when in git, else now.
: "${SOURCE_DATE_EPOCH:=$(git -C "$APP" log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH

# ReadyToRun: trimming rewrites the framework's assemblies as plain IL, so without it every start JIT-compiles ASP.NET
# Core and Npgsql again — about 1 s of CPU before the service answers and 0.3 s for its first request, paid on every
# host at every restart (a lab test run starts the service a few hundred times). Precompiled, a start costs about a
# fifth of that; the binary is twice the size (about 50 MB).
PUBLISH_PROPS=(
  -c Release -r linux-x64 --self-contained true
  -p:PublishTrimmed=true -p:PublishSingleFile=true -p:PublishReadyToRun=true -p:InvariantGlobalization=true
  -p:DebugType=none -p:GenerateDocumentationFile=false
)

# All build state (restore assets, intermediate and output files) lives under $WORK: the source tree is not
# touched, so a developer's or CI's concurrent build of the same project does not race with this script.
RESTORE_PROPS=(-r linux-x64 -p:PublishTrimmed=true -p:PublishSingleFile=true -p:PublishReadyToRun=true -p:BaseIntermediateOutputPath="$WORK/obj/")

echo "== restore (once for all versions)"
dotnet restore "$PROJECT" "${RESTORE_PROPS[@]}" --verbosity quiet

for v in "$@"; do
  debver="$v-1"
  deb="$OUTDIR/acme-mail_${debver}_amd64.deb"
  pub="$WORK/publish-$v"
  root="$WORK/root-$v"
  echo "== $v: publish"
  # Separate intermediate and output directories per version: the version is a compile-time switch.
  dotnet publish "$PROJECT" --no-restore "${PUBLISH_PROPS[@]}" -p:BaseIntermediateOutputPath="$WORK/obj/" \
    -p:AcmeMailVersion="$v" \
    -p:IntermediateOutputPath="$WORK/obj-$v/" -p:OutputPath="$WORK/bin-$v/" \
    -o "$pub" --verbosity quiet
  got=$("$pub/acme-mail" --version)
  [ "$got" = "$v" ] || { echo "$0: published binary reports version '$got', expected '$v'" >&2; exit 1; }

  echo "== $v: stage"
  install -d "$root/DEBIAN" "$root/usr/lib/acme-mail" "$root/usr/bin" "$root/usr/share/acme-mail/migrations/mariadb" \
    "$root/etc/acme-mail" "$root/etc/init.d" "$root/usr/share/doc/acme-mail"
  # The single-file binary, plus any native library the SDK left beside it (the Web SDK's
  # staticwebassets manifest is not needed: the service serves no files).
  for f in "$pub"/*; do
    case "$(basename "$f")" in
      acme-mail|*.so) install -m 0755 "$f" "$root/usr/lib/acme-mail/" ;;
      *) ;;
    esac
  done
  ln -s ../lib/acme-mail/acme-mail "$root/usr/bin/acme-mail"
  install -m 0644 "$APP/share/defaults.conf" "$APP/share/seed.sql" "$APP/share/seed-mariadb.sql" "$root/usr/share/acme-mail/"
  install -m 0644 "$APP"/share/migrations/V*__*.sql "$root/usr/share/acme-mail/migrations/"
  install -m 0644 "$APP"/share/migrations/mariadb/V*__*.sql "$root/usr/share/acme-mail/migrations/mariadb/"
  install -m 0644 "$APP/share/acme-mail.conf" "$root/etc/acme-mail/acme-mail.conf"
  install -m 0755 "$HERE/acme-mail.init" "$root/etc/init.d/acme-mail"
  install -m 0644 "$HERE/README.Debian" "$root/usr/share/doc/acme-mail/README.Debian"
  install -m 0755 "$HERE/debian/postinst" "$HERE/debian/prerm" "$HERE/debian/postrm" "$root/DEBIAN/"
  install -m 0644 "$HERE/debian/conffiles" "$root/DEBIAN/conffiles"
  size=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
  sed -e "s/@DEBVERSION@/$debver/" -e "s/@VERSION@/$v/" -e "s/@INSTALLED_SIZE@/$size/" \
    "$HERE/debian/control.in" > "$root/DEBIAN/control"
  find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

  echo "== $v: dpkg-deb"
  # gzip, not xz: 2 s instead of 9 s a package, for a demo package that only travels to the lab's mirror.
  dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" >/dev/null
  echo "built $deb ($(du -h "$deb" | cut -f1))"
done
