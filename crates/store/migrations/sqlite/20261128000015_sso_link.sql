-- SSO links by issuer and subject (SQLite). Keep in lockstep with ../postgres/.

-- An account is found at sign-in by the identity provider's entity id and the NameID it
-- asserted, never by its username: `sso_issuer` holds the entity id, `sso_subject` the NameID.
-- Links stored before held both in `sso_subject` as "entity id|NameID" (an entity id is a
-- URI, which has no unescaped '|').
ALTER TABLE users ADD COLUMN sso_issuer TEXT;
UPDATE users
   SET sso_issuer = substr(sso_subject, 1, instr(sso_subject, '|') - 1),
       sso_subject = substr(sso_subject, instr(sso_subject, '|') + 1)
 WHERE sso_subject IS NOT NULL AND instr(sso_subject, '|') > 0;
UPDATE users SET sso_subject = NULL WHERE sso_issuer IS NULL;
DROP INDEX users_sso_subject;
CREATE UNIQUE INDEX users_sso_link ON users (sso_issuer, sso_subject) WHERE sso_subject IS NOT NULL;
