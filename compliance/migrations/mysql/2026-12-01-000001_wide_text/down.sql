-- Never narrowed back: rows may not fit.
SELECT 1;
