-- SAML single sign-on state (PostgreSQL). Keep in lockstep with ../sqlite/.

-- The identity-provider subject (IdP entity id and NameID) an account is linked to: an
-- account is never silently taken over by another IdP.
ALTER TABLE users ADD COLUMN sso_subject TEXT;
CREATE UNIQUE INDEX users_sso_subject ON users (sso_subject) WHERE sso_subject IS NOT NULL;
