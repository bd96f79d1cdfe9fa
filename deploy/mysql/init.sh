# Sourced once by the MariaDB image on an empty data volume (/docker-entrypoint-initdb.d/).
#
# Creates one database and one user per server from the same secret files the servers read,
# so each password is written down exactly once:
#   federation  SELECT on `bank` (your customer table; federation owns no tables)
#   compliance  everything on `compliance` (it migrates its own tables at start)
#   bridge      everything on `bridge`     (ditto; never the compliance server's database)
# URLs look like mysql://USER:PASSWORD@db:3306/DATABASE; use passwords without URL-special
# characters (openssl rand -hex 24).

trio_user() {
  url=$(cat "$1")
  rest=${url#mysql://}
  credentials=${rest%%@*}
  TRIO_USER=${credentials%%:*}
  TRIO_PASSWORD=${credentials#*:}
  TRIO_DATABASE=${rest#*/}
  TRIO_DATABASE=${TRIO_DATABASE%%\?*}
}

trio_user /run/secrets/federation_db_url
docker_process_sql <<SQL
CREATE DATABASE IF NOT EXISTS \`$TRIO_DATABASE\`;
CREATE USER IF NOT EXISTS '$TRIO_USER'@'%' IDENTIFIED BY '$TRIO_PASSWORD';
GRANT SELECT ON \`$TRIO_DATABASE\`.* TO '$TRIO_USER'@'%';
-- A stand-in for your customer table: federation.queries in docker-compose.yml reads it.
-- Each customer is paid on the receiving account with a text memo the bridge hands back to
-- the back office as the route.
CREATE TABLE IF NOT EXISTS \`$TRIO_DATABASE\`.people (
  id VARCHAR(56) NOT NULL,
  name VARCHAR(64) NOT NULL,
  domain VARCHAR(128) NOT NULL,
  memo_type VARCHAR(8),
  memo VARCHAR(128),
  PRIMARY KEY (name, domain)
);
INSERT IGNORE INTO \`$TRIO_DATABASE\`.people VALUES
  ('$RECEIVING_ACCOUNT_ID', 'alice', '$DOMAIN', 'text', 'alice'),
  ('$RECEIVING_ACCOUNT_ID', 'bob', '$DOMAIN', 'text', 'bob');
SQL

for server in compliance bridge; do
  trio_user "/run/secrets/${server}_db_url"
  docker_process_sql <<SQL
CREATE DATABASE IF NOT EXISTS \`$TRIO_DATABASE\`;
CREATE USER IF NOT EXISTS '$TRIO_USER'@'%' IDENTIFIED BY '$TRIO_PASSWORD';
GRANT ALL PRIVILEGES ON \`$TRIO_DATABASE\`.* TO '$TRIO_USER'@'%';
SQL
done
unset TRIO_USER TRIO_PASSWORD TRIO_DATABASE
