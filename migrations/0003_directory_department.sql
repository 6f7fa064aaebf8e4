-- The embedded directory's department (AD/OpenLDAP `department`, Graph `department`), for the
-- admin report's split per department. NULL: none.
ALTER TABLE directory_accounts ADD COLUMN department TEXT;
