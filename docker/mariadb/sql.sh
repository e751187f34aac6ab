# Shared by runsecrets-mariadb-init and runsecrets-mariadb-user (sourced, not run).

# A value as a single-quoted SQL string: backslashes and quotes escaped. printf, not echo: dash's
# echo would turn the escaped backslashes back into single ones.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")"; }

# Names go into SQL as identifiers: letters, digits and underscores only.
check_names() {
    for name in "$@"; do
        case "$name" in
        *[!A-Za-z0-9_]*) echo "$0: database and user names take letters, digits and _ only" >&2; exit 1 ;;
        esac
    done
}
