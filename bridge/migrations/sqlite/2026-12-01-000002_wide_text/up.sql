-- MySQL's TEXT holds 64 KiB, less than a peer's AuthData may; sqlite's text is unbounded.
SELECT 1;
