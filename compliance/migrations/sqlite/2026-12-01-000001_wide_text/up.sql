-- MySQL's TEXT holds 64 KiB, less than an AUTH request may carry; sqlite's text is unbounded.
SELECT 1;
