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
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.conname);
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s ON UPDATE CASCADE', fk.tbl, fk.conname, fk.def);
    END LOOP;
END $$;
