-- PostgreSQL only. Text columns compare in byte order (`COLLATE "C"`), as SQLite's do, so
-- that keyset pages walk the same order on both backends. Tables created from now on get it
-- from the PostgreSQL dialect of their migration; this converts the columns of databases
-- created before, whatever service tables they hold. It runs after every other migration
-- already applied there, and finds nothing to do on a new database.
DO $$
DECLARE
    text_column record;
BEGIN
    FOR text_column IN
        SELECT c.table_name, c.column_name
        FROM information_schema.columns c
        JOIN information_schema.tables t
          ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = current_schema()
          AND t.table_type = 'BASE TABLE'
          AND c.data_type = 'text'
          AND c.collation_name IS DISTINCT FROM 'C'
          AND c.table_name NOT LIKE '\_sqlx%'
    LOOP
        EXECUTE format(
            'ALTER TABLE %I ALTER COLUMN %I TYPE text COLLATE "C"',
            text_column.table_name,
            text_column.column_name
        );
    END LOOP;
END
$$;
