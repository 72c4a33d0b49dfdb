-- `planerix user remove --keep-data` archives an account by renaming it (to a name no account
-- can take) and `planerix user restore` renames it back: every reference to an account follows
-- its name. Rewrites each foreign key to account(name), keeping its ON DELETE action.
DO $$
DECLARE
    fk record;
BEGIN
    FOR fk IN SELECT con.conname, con.conrelid::regclass AS tbl, pg_get_constraintdef(con.oid) AS def
              FROM pg_constraint con
              WHERE con.contype = 'f' AND con.confrelid = 'account'::regclass AND con.confupdtype <> 'c'
    LOOP
        -- (Concatenation, not format(): the migration runner's driver reads percent signs.)
        EXECUTE 'ALTER TABLE ' || fk.tbl || ' DROP CONSTRAINT ' || quote_ident(fk.conname);
        EXECUTE 'ALTER TABLE ' || fk.tbl || ' ADD CONSTRAINT ' || quote_ident(fk.conname) || ' '
                || fk.def || ' ON UPDATE CASCADE';
    END LOOP;
END $$;
