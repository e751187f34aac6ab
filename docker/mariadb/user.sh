#!/bin/sh
# The database side of a password rotation, run inside the MariaDB task (docker exec -i):
#
#   runsecrets-mariadb-user USER < new-password    create USER@'%' (every privilege on
#                                                  MARIADB_DATABASE) or set its password, and
#                                                  unlock it
#   runsecrets-mariadb-user --lock USER            lock USER (its open sessions go on; no new
#                                                  login): the last step of alternating users
#
# It logs in as root over the server's socket with the password in MARIADB_ROOT_PASSWORD_FILE
# (the service's own setting). The new password comes on standard input and goes to the server
# on standard input: never on a command line, never printed.
set -eu
. /usr/local/lib/runsecrets-mariadb/sql.sh

lock=
if [ "${1:-}" = "--lock" ]; then lock=1; shift; fi
[ $# -eq 1 ] || { echo "usage: $0 [--lock] USER (the new password on standard input)" >&2; exit 2; }
user="$1"
check_names "$user" "${MARIADB_DATABASE:-}"
: "${MARIADB_ROOT_PASSWORD_FILE:?MARIADB_ROOT_PASSWORD_FILE names the root password file}"

account="'$user'@'%'"
if [ -n "$lock" ]; then
    sql="ALTER USER $account ACCOUNT LOCK;"
else
    password="$(cat)"
    [ -n "$password" ] || { echo "$0: no password on standard input" >&2; exit 2; }
    quoted="$(quote "$password")"
    sql="CREATE USER IF NOT EXISTS $account IDENTIFIED BY $quoted;
ALTER USER $account IDENTIFIED BY $quoted ACCOUNT UNLOCK;"
    if [ -n "${MARIADB_DATABASE:-}" ]; then
        sql="$sql
GRANT ALL ON \`$MARIADB_DATABASE\`.* TO $account;"
    fi
fi
MYSQL_PWD="$(cat "$MARIADB_ROOT_PASSWORD_FILE")" && export MYSQL_PWD
printf '%s\n' "$sql" | mariadb --user=root --batch
if [ -n "$lock" ]; then echo "$0: locked $user" >&2; else echo "$0: password set for $user" >&2; fi
