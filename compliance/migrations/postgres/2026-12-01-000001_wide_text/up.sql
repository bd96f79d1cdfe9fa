-- MySQL's TEXT holds 64 KiB, less than an AUTH request may carry; postgres's text is unbounded.
SELECT 1;
