#!/bin/sh
# /usr/bin/redraft: the bundle lives in /opt/redraft (the .deb) or beside this script's resolved target.
exec "$(dirname "$(readlink -f "$0")")/../../opt/redraft/redraft" "$@"
