#!/usr/bin/env bash
# Random secrets for the local stack, once (an existing file is kept: the sealing key must not
# change under a database that holds sealed secrets).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p secrets
umask 077
[ -s secrets/database_password ] || head -c 24 /dev/urandom | base64 | tr -d '/+=' > secrets/database_password
[ -s secrets/sealing_key ] || head -c 32 /dev/urandom | base64 > secrets/sealing_key
printf 'postgres://netorch:%s@postgres:5432/netorch\n' "$(cat secrets/database_password)" > secrets/database_url
echo "secrets in $(pwd)/secrets (keep sealing_key with any backup of the database)"
