#!/bin/sh
# Initialise an empty data directory from the official image's variables, then exec the server.
#
#   MARIADB_ROOT_PASSWORD   required on first start (from MARIADB_ROOT_PASSWORD_FILE)
#   MARIADB_DATABASE        a database to create
#   MARIADB_USER, MARIADB_PASSWORD   an account with every privilege on MARIADB_DATABASE
#
# Passwords go to the server on standard input, never on a command line, and the variables are
# removed before the server starts, so neither `ps` nor the server's environment shows them.
set -eu
datadir=/var/lib/mysql

. /usr/local/lib/runsecrets-mariadb/sql.sh
check_names "${MARIADB_DATABASE:-}" "${MARIADB_USER:-}"

if [ ! -d "$datadir/mysql" ]; then
    : "${MARIADB_ROOT_PASSWORD:?MARIADB_ROOT_PASSWORD (or MARIADB_ROOT_PASSWORD_FILE) is required to initialise the database}"
    mariadb-install-db --datadir="$datadir" --skip-test-db --auth-root-authentication-method=normal \
        >/dev/null
    {
        # install-db's root accounts other than root@localhost have no password: drop them.
        printf '%s\n' "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');"
        printf '%s\n' "FLUSH PRIVILEGES;"
        root="$(quote "$MARIADB_ROOT_PASSWORD")"
        printf '%s\n' "ALTER USER 'root'@'localhost' IDENTIFIED BY $root;"
        printf '%s\n' "CREATE USER 'root'@'%' IDENTIFIED BY $root;"
        printf '%s\n' "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
        if [ -n "${MARIADB_DATABASE:-}" ]; then
            printf '%s\n' "CREATE DATABASE \`$MARIADB_DATABASE\`;"
        fi
        if [ -n "${MARIADB_USER:-}" ]; then
            : "${MARIADB_PASSWORD:?MARIADB_PASSWORD (or MARIADB_PASSWORD_FILE) is required with MARIADB_USER}"
            printf '%s\n' "CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY $(quote "$MARIADB_PASSWORD");"
            if [ -n "${MARIADB_DATABASE:-}" ]; then
                printf '%s\n' "GRANT ALL ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'%';"
            fi
        fi
    } | mariadbd --bootstrap --datadir="$datadir" --log-warnings=0 >/dev/null
    echo "runsecrets-mariadb-init: initialised $datadir" >&2
fi
unset MARIADB_ROOT_PASSWORD MARIADB_PASSWORD
exec "$@"
