CREATE TABLE authorized_transaction (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  transaction_id VARCHAR(64) NOT NULL,
  memo VARCHAR(64) NOT NULL,
  transaction_xdr TEXT NOT NULL,
  authorized_at DATETIME NOT NULL,
  data TEXT NOT NULL
);
CREATE UNIQUE INDEX at_by_transaction_id ON authorized_transaction (transaction_id);
CREATE INDEX at_by_memo ON authorized_transaction (memo);
CREATE TABLE allowed_fi (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  domain VARCHAR(255) NOT NULL,
  public_key CHAR(56) NOT NULL,
  allowed_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX afi_by_domain ON allowed_fi (domain);
CREATE TABLE allowed_user (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  fi_name VARCHAR(255) NOT NULL,
  fi_domain VARCHAR(255) NOT NULL,
  fi_public_key CHAR(56) NOT NULL,
  user_id VARCHAR(255) NOT NULL,
  allowed_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX au_by_fi_domain_user_id ON allowed_user (fi_domain, user_id);
CREATE TABLE auth_data (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  request_id VARCHAR(255) NOT NULL,
  domain VARCHAR(255) NOT NULL,
  auth_data TEXT NOT NULL
);
CREATE UNIQUE INDEX request_id ON auth_data (request_id);
