#!/bin/sh
# Builds the Teams app package (a zip to upload in Teams or the Teams admin center).
# usage: teams/package.sh APP_ID PUBLIC_HOST [OUT.zip]
#   APP_ID       the bot's Microsoft App ID (Azure Bot registration)
#   PUBLIC_HOST  the host name the messaging endpoint is reached at, e.g. sspr.bedrijf.nl
set -eu
[ $# -ge 2 ] || { echo "usage: $0 APP_ID PUBLIC_HOST [OUT.zip]" >&2; exit 2; }
app_id=$1
host=$2
out=${3:-sspr-bot-teams.zip}
case "$app_id" in
  *[!0-9a-fA-F-]*|"") echo "$0: APP_ID must be a GUID" >&2; exit 2 ;;
esac
case "$host" in
  *[!A-Za-z0-9.-]*|"") echo "$0: PUBLIC_HOST must be a host name (no scheme, no path)" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -e "s/{{APP_ID}}/$app_id/g" -e "s/{{PUBLIC_HOST}}/$host/g" "$here/manifest.json" > "$work/manifest.json"
cp "$here/en.json" "$here/color.png" "$here/outline.png" "$work/"
rm -f "$out"
(cd "$work" && python3 -m zipfile -c package.zip manifest.json en.json color.png outline.png)
mv "$work/package.zip" "$out"
echo "$out"
