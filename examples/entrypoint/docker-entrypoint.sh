#!/bin/sh
# Entrypoint of an image that runs a Python web app (see Dockerfile beside this file).
#
# Every X_FILE variable becomes X, exactly as the official images' file_env does (X and X_FILE
# both set is an error), and the command replaces this shell and then runsecrets: it keeps the
# container's PID 1 and receives `docker stop`'s SIGTERM itself.
set -eu

# No arguments (`docker run --entrypoint ...` drops CMD) means the default server, and so does
# `docker run IMAGE --workers 4`: the default server with these flags. `$#` first: under `set -u`
# a bare `$1` with no arguments is an error.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- gunicorn --bind 0.0.0.0:8000 app:application "$@"
fi

exec runsecrets exec -- "$@"
