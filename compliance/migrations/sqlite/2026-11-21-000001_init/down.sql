DROP TABLE auth_data;
DROP TABLE allowed_user;
DROP TABLE allowed_fi;
DROP TABLE authorized_transaction;
