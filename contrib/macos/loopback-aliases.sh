#!/bin/sh
# macOS: alias on lo0 the loopback addresses the test suite binds its simulated sites to.
#
# Linux routes all of 127.0.0.0/8 to the loopback interface; macOS answers 127.0.0.1 alone until each
# other address is aliased on lo0 (a probe of an address that is not is dropped: "filtered", never
# "closed"). This adds, or removes, every address .1-.254 of the networks below (about 7,400 aliases,
# about a minute). tests/test_platforms.py checks that every loopback address the tests name lies in one
# of them. Usage:
#
#     sudo sh contrib/macos/loopback-aliases.sh          # add
#     sudo sh contrib/macos/loopback-aliases.sh remove   # and take them away again
#
# Not covered: tests/test_sql_clients.py picks 127.14.0.0/15 addresses per process (it needs tsql and
# tshark, which it skips without), and the ten-thousand-site test probes 127.10.0.0/16, where nothing
# must listen.
set -eu
NETS="127.0.0 127.0.1 127.0.2 127.0.3 127.0.4 127.0.5 127.0.6 127.0.7 127.0.8 127.0.9 127.0.10
127.0.21 127.0.23 127.0.25 127.0.40 127.0.41 127.0.77 127.0.78 127.0.79 127.0.90 127.0.91
127.0.150 127.0.151 127.0.152 127.1.0 127.3.0 127.9.0 127.9.1 127.9.2"
action=${1:-add}
case "$action" in
  add|remove) ;;
  *) echo "usage: $0 [add|remove]" >&2; exit 2 ;;
esac
for net in $NETS; do
  host=1
  while [ "$host" -le 254 ]; do
    address="$net.$host"
    if [ "$address" != 127.0.0.1 ]; then
      if [ "$action" = add ]; then
        ifconfig lo0 alias "$address" up
      else
        ifconfig lo0 -alias "$address" 2>/dev/null || true
      fi
    fi
    host=$((host + 1))
  done
done
echo "$0: $action: done"
