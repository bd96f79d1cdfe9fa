DROP TABLE source_lease;
