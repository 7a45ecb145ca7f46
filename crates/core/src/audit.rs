//! The audit chain: how entries are digested, authenticated, sealed and verified.
//!
//! Each entry's *personal* data (names, changed values, source address) sits beside the
//! entry, salted and digested; the chain covers the digest, not the data. A purge erases the
//! data and its salt yet leaves the chain verifiable, and an edit to data that remains still
//! fails its digest. An erasure is genuine only when a purge of the entry's actor or target
//! follows it in the chain.
//!
//! Entries are written inside the transaction of the change, unsealed, each with a *tag*:
//! HMAC-SHA256 under the installation's audit key (a file beside the configuration, never in
//! the database) over the entry's digest. After commit, one sealer at a time (serialised on
//! the chain head) gives each unsealed entry with a valid tag the next chain position and
//! `hash = HMAC(key, prev_hash, position, entry digest)`; a row without a valid tag (written
//! by hand into the database) is refused, left out of the chain and reported. The head is
//! tagged too. So someone who can write to the database but hasn't the key can't add,
//! rewrite, reorder or remove entries, nor fake an erasure, without `audit verify` noticing;
//! what they can still do — roll the whole tail back to a head they saw earlier — is caught
//! by comparing with a head kept elsewhere (`audit verify --expect-head`).
//!
//! Other people than the actor and the target are named in an entry by user id only
//! ([`person`]); names are looked up when the log is read, so a purge erases them everywhere.

use crate::ports::{AuditHead, AuditRow, NewAuditEntry, PersonalData, SettingTx};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

vocabulary! {
    /// Every action an audit entry records; the audit filter accepts exactly these, and the
    /// README lists them.
    AuditAction {
        /// A user was created (any channel, SCIM and SSO included).
        UserCreate = "user.create",
        /// A user's profile, type, branches, groups or dates changed.
        UserUpdate = "user.update",
        UserActivate = "user.activate",
        UserDeactivate = "user.deactivate",
        /// Moved to the trash.
        UserDelete = "user.delete",
        /// Back from the trash, deactivated.
        UserRestore = "user.restore",
        /// Erased for good; the erasures it covers precede it in the chain.
        UserPurge = "user.purge",
        /// Deleted with their courses handed to a new owner.
        UserOffboard = "user.offboard",
        /// A scheduled deactivation the rules refused (the last administrator).
        UserScheduledDeactivationRefused = "user.scheduled_deactivation_refused",
        /// A leave of absence ended with no seat free: the account stays deactivated.
        UserScheduledReactivationRefused = "user.scheduled_reactivation_refused",
        UserSignIn = "user.sign_in",
        /// Failed password sign-ins to one account (or a login naming none) from one
        /// address in one 15-minute window, counted: one entry per window.
        UserSignInFailed = "user.sign_in_failed",
        UserSetPassword = "user.set_password",
        UserPasswordResetRequested = "user.password_reset_requested",
        /// Signed out everywhere.
        UserSessionsEnd = "user.sessions_end",
        UserSsoLink = "user.sso_link",
        UserSsoUnlink = "user.sso_unlink",
        UserScimLink = "user.scim_link",
        UserScimUnlink = "user.scim_unlink",
        /// The idle policy warned the account of its coming deactivation.
        UserIdleWarn = "user.idle_warn",
        /// A warning that no longer stands (a sign-in, an exemption, a status change).
        UserIdleWarningWithdrawn = "user.idle_warning_withdrawn",
        UserTypeCreate = "user_type.create",
        UserTypeEdit = "user_type.edit",
        UserTypeDelete = "user_type.delete",
        BranchCreate = "branch.create",
        BranchUpdate = "branch.update",
        GroupCreate = "group.create",
        GroupUpdate = "group.update",
        GroupDelete = "group.delete",
        GroupAddMember = "group.add_member",
        GroupRemoveMember = "group.remove_member",
        /// A learner joined with the group's key.
        GroupJoin = "group.join",
        GroupAddCourse = "group.add_course",
        CourseCreate = "course.create",
        CourseEnroll = "course.enroll",
        CourseUnitComplete = "course.unit_complete",
        CourseGrade = "course.grade",
        CourseReassign = "course.reassign",
        TokenCreate = "token.create",
        TokenRevoke = "token.revoke",
        PlanSet = "plan.set",
        /// Seats used crossed 80, 90 or 100% of the plan's limit.
        PlanSeatAlert = "plan.seat_alert",
        /// Seats used in a branch crossed 80, 90 or 100% of its cap.
        BranchSeatAlert = "branch.seat_alert",
        SettingsSet = "settings.set",
        IdlePolicySet = "idle_policy.set",
        /// A run the safety cap held back, waiting for confirmation.
        IdlePolicyHeld = "idle_policy.held",
        IdlePolicyRun = "idle_policy.run",
        /// A daily job ran (scheduled, or asked for by hand).
        JobRun = "job.run",
        SsoSet = "sso.set",
        SsoDisable = "sso.disable",
    }
}

impl AuditAction {
    /// The action the audit filter names, by its exact wire string (case and spaces aside).
    pub fn parse(s: &str) -> crate::Result<AuditAction> {
        let wanted = s.trim().to_ascii_lowercase();
        AuditAction::from_wire(&wanted).ok_or_else(|| {
            let known: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
            crate::Error::invalid(
                "action",
                format!("unknown audit action '{s}'; known actions: {}", known.join(", ")),
            )
        })
    }
}

/// The action of a purge entry: the erasures it covers precede it in the chain.
pub const PURGE_ACTION: &str = AuditAction::UserPurge.as_str();

/// The settings row holding the audit key's fingerprint (not a user-facing setting).
pub const KEY_FINGERPRINT_SETTING: &str = "internal.audit_key_fingerprint";

/// Binds the database to `key`: the first process to claim a key records its fingerprint,
/// and from then on only that key is accepted (`false` for any other). The caller holds the
/// chain head's lock, so two first claims agree.
pub async fn claim_key(settings: &mut dyn SettingTx, key: &AuditKey) -> crate::Result<bool> {
    match settings.setting(KEY_FINGERPRINT_SETTING).await? {
        Some(stored) => Ok(key.fingerprint_matches(&stored)),
        None => {
            settings
                .set_setting(KEY_FINGERPRINT_SETTING, &key.fingerprint())
                .await?;
            Ok(true)
        }
    }
}

fn length_prefixed(parts: &[&[u8]], mut update: impl FnMut(&[u8])) {
    for p in parts {
        update(&(p.len() as u64).to_be_bytes());
        update(p);
    }
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    length_prefixed(parts, |b| h.update(b));
    hex::encode(h.finalize())
}

pub fn new_salt() -> String {
    let salt: [u8; 16] = rand::random();
    hex::encode(salt)
}

pub fn personal_digest(salt: &str, data: &str) -> String {
    sha256_hex(&[salt.as_bytes(), data.as_bytes()])
}

/// Another person named in an entry's changes: by id, never by name. Reading the log turns
/// it into `{"user_id": N, "username": "…"}`, or `{"user_id": N, "erased": true}` once
/// that user is purged.
pub fn person(id: crate::domain::UserId) -> serde_json::Value {
    serde_json::json!({ "user_id": id.0 })
}

/// The user id of a [`person`] reference.
pub fn person_ref(v: &serde_json::Value) -> Option<i64> {
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    o.get("user_id")?.as_i64()
}

/// Every person referenced anywhere in `v`.
pub fn people_in(v: &serde_json::Value, out: &mut Vec<i64>) {
    if let Some(id) = person_ref(v) {
        out.push(id);
        return;
    }
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| people_in(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| people_in(x, out)),
        _ => {}
    }
}

/// Replaces every person reference in `v` by its id and current username (`None`: erased).
pub fn resolve_people(v: &mut serde_json::Value, name: &dyn Fn(i64) -> Option<String>) {
    if let Some(id) = person_ref(v) {
        *v = match name(id) {
            Some(n) => serde_json::json!({ "user_id": id, "username": n }),
            None => serde_json::json!({ "user_id": id, "erased": true }),
        };
        return;
    }
    match v {
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| resolve_people(x, name)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| resolve_people(x, name)),
        _ => {}
    }
}

/// The digest of everything the entry stores itself, its id included.
pub fn entry_digest(row: &AuditRow) -> String {
    let canonical = serde_json::json!([
        row.id,
        row.at,
        row.actor_kind,
        row.actor_user_id.map(|u| u.0),
        row.actor_ref,
        row.channel,
        row.action,
        row.target_kind,
        row.target_id,
        row.request_id,
        row.personal_digest,
    ]);
    sha256_hex(&[canonical.to_string().as_bytes()])
}

/// The digest of a new entry once the database has given it its id.
pub fn new_entry_digest(id: i64, e: &NewAuditEntry) -> String {
    let canonical = serde_json::json!([
        id,
        e.at,
        e.actor_kind,
        e.actor_user_id.map(|u| u.0),
        e.actor_ref,
        e.channel,
        e.action,
        e.target_kind,
        e.target_id,
        e.request_id,
        e.personal_digest,
    ]);
    sha256_hex(&[canonical.to_string().as_bytes()])
}

/// The unkeyed link of entries sealed before entries were authenticated (an installation
/// upgraded from an older version); every later link is [`AuditKey::chain_hash`].
pub fn chain_hash(prev_hash: &str, seq: i64, entry_digest: &str) -> String {
    sha256_hex(&[
        prev_hash.as_bytes(),
        seq.to_string().as_bytes(),
        entry_digest.as_bytes(),
    ])
}

/// The installation's secret for authenticating audit entries: 32 random bytes kept beside
/// the configuration (never in the database, never logged).
#[derive(Clone)]
pub struct AuditKey([u8; AuditKey::LEN], i64);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey([redacted])")
    }
}

impl AuditKey {
    pub const LEN: usize = 32;

    pub fn generate() -> AuditKey {
        AuditKey(rand::random(), 1)
    }

    /// Exactly [`AuditKey::LEN`] bytes; keyed from the first position.
    pub fn from_bytes(bytes: &[u8]) -> Option<AuditKey> {
        bytes.try_into().ok().map(|b| AuditKey(b, 1))
    }

    /// The key of a log whose positions before `keyed_from` were sealed before any key
    /// existed (an upgraded installation). The boundary lives with the key, outside the
    /// database, so someone editing the database can't move it to pass keyed entries off
    /// as unkeyed ones.
    pub fn keyed_from(mut self, keyed_from: i64) -> AuditKey {
        self.1 = keyed_from.max(1);
        self
    }

    /// Where authenticated positions begin, as the key file says.
    pub fn boundary(&self) -> i64 {
        self.1
    }

    /// For writing the key file.
    pub fn to_bytes(&self) -> [u8; AuditKey::LEN] {
        self.0
    }

    fn mac(&self, purpose: &str, parts: &[&[u8]]) -> HmacSha256 {
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length");
        length_prefixed(&[purpose.as_bytes()], |b| m.update(b));
        length_prefixed(parts, |b| m.update(b));
        m
    }

    /// A value that names this key without revealing it, kept in the database so a process
    /// started with another key is refused before it writes a single entry.
    pub fn fingerprint(&self) -> String {
        hex::encode(self.mac("rollcall audit key fingerprint", &[]).finalize().into_bytes())
    }

    pub fn fingerprint_matches(&self, stored: &str) -> bool {
        self.check("rollcall audit key fingerprint", &[], Some(stored))
    }

    fn check(&self, purpose: &str, parts: &[&[u8]], tag: Option<&str>) -> bool {
        let Some(bytes) = tag.and_then(|t| hex::decode(t).ok()) else {
            return false;
        };
        // Constant time.
        self.mac(purpose, parts).verify_slice(&bytes).is_ok()
    }

    /// The tag written with an entry: it proves rollcall's service wrote the entry (its id,
    /// fields and personal digest) and nobody changed it since.
    pub fn entry_tag(&self, entry_digest: &str) -> String {
        hex::encode(
            self.mac("rollcall audit entry", &[entry_digest.as_bytes()])
                .finalize()
                .into_bytes(),
        )
    }

    pub fn entry_tag_valid(&self, row: &AuditRow) -> bool {
        self.check(
            "rollcall audit entry",
            &[entry_digest(row).as_bytes()],
            row.tag.as_deref(),
        )
    }

    /// The link of a sealed entry to the one before it.
    pub fn chain_hash(&self, prev_hash: &str, seq: i64, entry_digest: &str) -> String {
        let seq = seq.to_string();
        let parts: [&[u8]; 3] = [prev_hash.as_bytes(), seq.as_bytes(), entry_digest.as_bytes()];
        hex::encode(self.mac("rollcall audit chain", &parts).finalize().into_bytes())
    }

    fn head_parts(head: &AuditHead) -> [String; 3] {
        [head.seq.to_string(), head.hash.clone(), head.keyed_from.to_string()]
    }

    /// The tag of the chain head, written by the sealer.
    pub fn head_tag(&self, head: &AuditHead) -> String {
        let p = Self::head_parts(head);
        let parts: [&[u8]; 3] = [p[0].as_bytes(), p[1].as_bytes(), p[2].as_bytes()];
        hex::encode(self.mac("rollcall audit head", &parts).finalize().into_bytes())
    }

    pub fn head_tag_valid(&self, head: &AuditHead) -> bool {
        let p = Self::head_parts(head);
        let parts: [&[u8]; 3] = [p[0].as_bytes(), p[1].as_bytes(), p[2].as_bytes()];
        self.check("rollcall audit head", &parts, head.tag.as_deref())
    }

    /// The link the sealer gives the entry at `seq`.
    pub fn link(&self, head: &AuditHead, seq: i64, entry_digest: &str) -> String {
        if seq >= head.keyed_from {
            self.chain_hash(&head.hash, seq, entry_digest)
        } else {
            chain_hash(&head.hash, seq, entry_digest)
        }
    }
}

/// What verification found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    pub sealed: i64,
    pub unsealed: i64,
    pub erased: i64,
    /// The sealed head as stored: keep `head_seq:head_hash` somewhere else and pass it to
    /// `audit verify --expect-head` later to detect a truncated or rewritten chain.
    pub head_seq: i64,
    pub head_hash: String,
    /// Chain positions below this were sealed before entries were authenticated (an
    /// upgraded installation); 1 on every installation that started with this version.
    pub keyed_from: i64,
    pub problem: Option<Problem>,
    /// Rows the sealer refused (no valid tag: not written by rollcall), never sealed.
    pub refused: Vec<Refused>,
}

impl VerifyReport {
    /// The chain verifies and nothing was refused.
    pub fn intact(&self) -> bool {
        self.problem.is_none() && self.refused.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The first entry (by id) at which the chain breaks, when there is one.
    pub entry_id: Option<i64>,
    pub position: i64,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Refused {
    pub entry_id: i64,
    pub reason: String,
}

/// Why a refused row is reported: a row with a valid tag was kept out of the chain by hand.
pub fn refusal_reason(key: &AuditKey, row: &AuditRow) -> String {
    if key.entry_tag_valid(row) {
        "it carries a valid tag but was marked refused and kept out of the chain by hand".into()
    } else {
        "it has no valid authentication tag: rollcall did not write it (inserted or edited by hand), so it was never sealed".into()
    }
}

/// An erased entry waiting for the purge that explains it.
struct PendingErasure {
    entry_id: i64,
    position: i64,
    subjects: Vec<i64>,
}

/// Walks the chain page by page; `expected` is the position and hash the next entry must
/// follow. Pure, so the rules are unit-tested without a database.
pub struct ChainVerifier<'k> {
    key: &'k AuditKey,
    keyed_from: i64,
    expected_seq: i64,
    prev_hash: String,
    /// A head kept earlier: the chain must still reach it, with the same hash.
    expect: Option<(i64, String)>,
    pending: Vec<PendingErasure>,
    pub erased: i64,
}

impl<'k> ChainVerifier<'k> {
    pub fn new(key: &'k AuditKey, keyed_from: i64) -> ChainVerifier<'k> {
        ChainVerifier {
            key,
            keyed_from,
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            expect: None,
            pending: vec![],
            erased: 0,
        }
    }

    /// Also checks the chain against a head kept earlier (`SEQ:HASH`).
    pub fn expecting(mut self, seq: i64, hash: &str) -> Self {
        self.expect = Some((seq, hash.trim().to_ascii_lowercase()));
        self
    }

    pub fn verified(&self) -> i64 {
        self.expected_seq - 1
    }

    pub fn check(&mut self, row: &AuditRow) -> Result<(), Problem> {
        let fail = |reason: String| Problem {
            entry_id: Some(row.id),
            position: self.expected_seq,
            reason,
        };
        let seq = row.chain_seq.unwrap_or_default();
        if seq != self.expected_seq {
            return Err(Problem {
                entry_id: Some(row.id),
                position: self.expected_seq,
                reason: format!(
                    "chain position {} is missing: the entry there was removed or the entries reordered (found position {seq} next)",
                    self.expected_seq
                ),
            });
        }
        if row.prev_hash.as_deref() != Some(self.prev_hash.as_str()) {
            return Err(fail(
                "its link to the previous entry is broken: an entry before it was removed, edited or reordered".into(),
            ));
        }
        let keyed = seq >= self.keyed_from;
        if keyed && !self.key.entry_tag_valid(row) {
            return Err(fail(
                "its authentication tag does not match: it was edited after rollcall wrote it, or rollcall never wrote it (or the audit key is not the one it was written with)".into(),
            ));
        }
        match &row.personal {
            None => return Err(fail("its personal-data record was removed".into())),
            Some(PersonalData {
                salt: Some(salt),
                data: Some(data),
                ..
            }) => {
                if personal_digest(salt, data) != row.personal_digest {
                    return Err(fail(
                        "its personal data (names, changed values or source) was edited".into(),
                    ));
                }
            }
            Some(PersonalData { erased_at: Some(_), .. }) => {
                self.erased += 1;
                let mut subjects: Vec<i64> = row.actor_user_id.map(|u| u.0).into_iter().collect();
                if row.target_kind.as_deref() == Some("user") {
                    subjects.extend(row.target_id);
                }
                if subjects.is_empty() {
                    return Err(fail(
                        "its personal data was erased, but it is by and about nobody a purge could erase".into(),
                    ));
                }
                self.pending.push(PendingErasure {
                    entry_id: row.id,
                    position: seq,
                    subjects,
                });
            }
            Some(_) => {
                return Err(fail("its personal data was removed without an erasure record".into()));
            }
        }
        let expected = if keyed {
            self.key.chain_hash(&self.prev_hash, seq, &entry_digest(row))
        } else {
            chain_hash(&self.prev_hash, seq, &entry_digest(row))
        };
        if row.hash.as_deref() != Some(expected.as_str()) {
            return Err(fail("it was edited after it was sealed".into()));
        }
        if let Some((at, hash)) = &self.expect
            && *at == seq
            && *hash != expected
        {
            return Err(fail(format!(
                "the chain was rewritten: the entry at position {seq} has hash {expected}, not the kept head's {hash}"
            )));
        }
        // A purge (itself authenticated) explains the erasures before it.
        if row.action == PURGE_ACTION
            && row.target_kind.as_deref() == Some("user")
            && let Some(purged) = row.target_id
        {
            self.pending.retain(|p| !p.subjects.contains(&purged));
        }
        self.prev_hash = expected;
        self.expected_seq += 1;
        Ok(())
    }

    /// After the last page: the head must point at the last entry verified, carry a valid
    /// tag, and every erasure must have been explained by a purge.
    pub fn finish(&self, head: &AuditHead) -> Result<(), Problem> {
        if let Some(p) = self.pending.first() {
            return Err(Problem {
                entry_id: Some(p.entry_id),
                position: p.position,
                reason: format!(
                    "its personal data was erased, but no purge of user {} follows it in the chain: the erasure was faked",
                    p.subjects
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            });
        }
        if let Some((at, _)) = &self.expect
            && *at > self.verified()
        {
            return Err(Problem {
                entry_id: None,
                position: self.expected_seq,
                reason: format!(
                    "the chain was cut off: it ends at position {}, before the kept head at position {at}",
                    self.verified()
                ),
            });
        }
        if head.seq != self.verified() || head.hash != self.prev_hash {
            return Err(Problem {
                entry_id: None,
                position: self.expected_seq,
                reason: format!(
                    "the chain head records {} sealed entries but {} were found: entries at the end were removed",
                    head.seq,
                    self.verified()
                ),
            });
        }
        if head.seq >= head.keyed_from && !self.key.head_tag_valid(head) {
            return Err(Problem {
                entry_id: None,
                position: self.expected_seq,
                reason: "the chain head was not written by rollcall's sealer: the end of the chain was moved by hand"
                    .into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's list of audit actions is the enum's, no more and no less.
    #[test]
    fn the_readme_lists_every_audit_action() {
        let readme = include_str!("../../../README.md");
        let section = readme
            .split("### Audit actions")
            .nth(1)
            .expect("README has the section");
        let section = section.split("\n#").next().unwrap_or(section);
        let listed: Vec<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("- `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let known: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(listed, known);
    }

    #[test]
    fn the_audit_filter_takes_only_known_actions() {
        assert_eq!(
            AuditAction::parse(" User.Deactivate ").unwrap(),
            AuditAction::UserDeactivate
        );
        let e = AuditAction::parse("user.frobnicate").unwrap_err();
        assert_eq!(e.code(), "invalid_input");
        assert!(e.to_string().contains("user.sign_in"), "{e}");
    }
    use crate::ports::SettingReads;
    use async_trait::async_trait;
    use std::collections::HashMap;

    fn key() -> AuditKey {
        AuditKey::from_bytes(&[7; 32]).unwrap()
    }

    fn entry(id: i64, data: &str) -> AuditRow {
        let salt = new_salt();
        AuditRow {
            id,
            at: 1000 + id,
            actor_kind: "operator".into(),
            actor_user_id: None,
            actor_ref: None,
            channel: "cli".into(),
            action: "user.create".into(),
            target_kind: Some("user".into()),
            target_id: Some(id),
            request_id: None,
            personal_digest: personal_digest(&salt, data),
            tag: None,
            refused_at: None,
            chain_seq: None,
            prev_hash: None,
            hash: None,
            personal: Some(PersonalData {
                salt: Some(salt),
                data: Some(data.into()),
                erased_at: None,
            }),
        }
    }

    fn sealed(rows: Vec<AuditRow>) -> (Vec<AuditRow>, AuditHead) {
        let k = key();
        let mut head = AuditHead {
            seq: 0,
            hash: GENESIS_HASH.into(),
            keyed_from: 1,
            tag: None,
        };
        let mut out = vec![];
        for mut r in rows {
            r.tag = Some(k.entry_tag(&entry_digest(&r)));
            let seq = head.seq + 1;
            r.chain_seq = Some(seq);
            r.prev_hash = Some(head.hash.clone());
            head.hash = k.link(&head, seq, &entry_digest(&r));
            head.seq = seq;
            r.hash = Some(head.hash.clone());
            out.push(r);
        }
        head.tag = Some(k.head_tag(&head));
        (out, head)
    }

    fn verify(rows: &[AuditRow], head: &AuditHead) -> Result<i64, Problem> {
        let k = key();
        let mut v = ChainVerifier::new(&k, head.keyed_from);
        for r in rows {
            v.check(r)?;
        }
        v.finish(head)?;
        Ok(v.verified())
    }

    fn chain() -> (Vec<AuditRow>, AuditHead) {
        sealed(
            (1..=5)
                .map(|i| entry(i, &format!("{{\"target\":\"user{i}\"}}")))
                .collect(),
        )
    }

    fn erase(r: &mut AuditRow) {
        r.personal = Some(PersonalData {
            salt: None,
            data: None,
            erased_at: Some(9),
        });
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let (rows, head) = chain();
        assert_eq!(verify(&rows, &head).unwrap(), 5);
    }

    #[test]
    fn an_edited_field_is_named() {
        let (mut rows, head) = chain();
        rows[2].action = "user.delete".into();
        assert_eq!(verify(&rows, &head).unwrap_err().entry_id, Some(3));
    }

    #[test]
    fn edited_personal_data_is_named() {
        let (mut rows, head) = chain();
        rows[1].personal.as_mut().unwrap().data = Some("{\"target\":\"mallory\"}".into());
        assert_eq!(verify(&rows, &head).unwrap_err().entry_id, Some(2));
    }

    #[test]
    fn an_erasure_verifies_when_a_purge_follows() {
        let mut rows: Vec<AuditRow> = (1..=4).map(|i| entry(i, "{}")).collect();
        rows[3].action = PURGE_ACTION.into();
        rows[3].target_id = Some(2);
        let (mut rows, head) = sealed(rows);
        erase(&mut rows[1]);
        let k = key();
        let mut v = ChainVerifier::new(&k, 1);
        rows.iter().try_for_each(|r| v.check(r)).unwrap();
        v.finish(&head).unwrap();
        assert_eq!(v.erased, 1);
    }

    #[test]
    fn a_faked_erasure_is_named() {
        let (mut rows, head) = chain();
        erase(&mut rows[1]);
        let p = verify(&rows, &head).unwrap_err();
        assert_eq!(p.entry_id, Some(2));
        assert!(p.reason.contains("faked"), "{}", p.reason);
        // A purge of someone else, or one before the erasure, explains nothing.
        let mut rows: Vec<AuditRow> = (1..=4).map(|i| entry(i, "{}")).collect();
        rows[0].action = PURGE_ACTION.into();
        rows[0].target_id = Some(3);
        rows[3].action = PURGE_ACTION.into();
        rows[3].target_id = Some(1);
        let (mut rows, head) = sealed(rows);
        erase(&mut rows[2]);
        assert_eq!(verify(&rows, &head).unwrap_err().entry_id, Some(3));
    }

    #[test]
    fn an_entry_without_a_valid_tag_is_named_even_when_rechained() {
        let (rows, _) = chain();
        // Someone without the key rebuilds the chain around an entry of their own.
        let mut forged = rows.clone();
        forged[2].action = "user.delete".into();
        let mut head = AuditHead {
            seq: 0,
            hash: GENESIS_HASH.into(),
            keyed_from: 1,
            tag: None,
        };
        let other = AuditKey::generate();
        for r in &mut forged {
            let seq = head.seq + 1;
            r.prev_hash = Some(head.hash.clone());
            head.hash = other.link(&head, seq, &entry_digest(r));
            head.seq = seq;
            r.hash = Some(head.hash.clone());
        }
        head.tag = Some(other.head_tag(&head));
        assert_eq!(verify(&forged, &head).unwrap_err().entry_id, Some(1));
    }

    #[test]
    fn a_removed_entry_is_found() {
        let (mut rows, head) = chain();
        rows.remove(1);
        let p = verify(&rows, &head).unwrap_err();
        assert_eq!(p.entry_id, Some(3));
        assert_eq!(p.position, 2);
    }

    #[test]
    fn reordered_entries_are_found() {
        let (mut rows, head) = chain();
        let (a, b) = (rows[1].chain_seq, rows[2].chain_seq);
        rows[1].chain_seq = b;
        rows[2].chain_seq = a;
        rows.swap(1, 2);
        assert_eq!(verify(&rows, &head).unwrap_err().entry_id, Some(3));
    }

    #[test]
    fn a_truncated_tail_is_found() {
        let (mut rows, head) = chain();
        rows.pop();
        assert_eq!(verify(&rows, &head).unwrap_err().entry_id, None);
    }

    #[test]
    fn a_head_moved_by_hand_is_found() {
        let (mut rows, _) = chain();
        rows.pop();
        let last = rows.last().unwrap();
        let head = AuditHead {
            seq: 4,
            hash: last.hash.clone().unwrap(),
            keyed_from: 1,
            tag: Some("00".repeat(32)),
        };
        assert!(verify(&rows, &head).unwrap_err().reason.contains("head"));
    }

    #[test]
    fn a_kept_head_catches_truncation_and_rewrites() {
        let (rows, head) = chain();
        let k = key();
        let kept = rows[3].hash.clone().unwrap();
        // Cut back to position 3, with a head tag as a sealer at position 3 wrote it.
        let cut = rows[..3].to_vec();
        let mut old_head = AuditHead {
            seq: 3,
            hash: cut[2].hash.clone().unwrap(),
            keyed_from: 1,
            tag: None,
        };
        old_head.tag = Some(k.head_tag(&old_head));
        let check = |rows: &[AuditRow], head: &AuditHead, seq: i64, hash: &str| {
            let mut v = ChainVerifier::new(&k, 1).expecting(seq, hash);
            rows.iter().try_for_each(|r| v.check(r))?;
            v.finish(head)
        };
        assert!(check(&cut, &old_head, 3, cut[2].hash.as_deref().unwrap()).is_ok());
        let p = check(&cut, &old_head, 4, &kept).unwrap_err();
        assert!(p.reason.contains("cut off"), "{}", p.reason);
        assert!(check(&rows, &head, 4, &kept).is_ok());
        let p = check(&rows, &head, 4, &"ab".repeat(32)).unwrap_err();
        assert!(p.reason.contains("rewritten"), "{}", p.reason);
    }

    #[test]
    fn people_are_stored_by_id_and_named_when_read() {
        let mut v = serde_json::json!({ "to": person(crate::domain::UserId(7)), "n": 2, "list": [person(crate::domain::UserId(8))] });
        let mut ids = vec![];
        people_in(&v, &mut ids);
        ids.sort();
        assert_eq!(ids, vec![7, 8]);
        resolve_people(&mut v, &|id| (id == 7).then(|| "heir".to_owned()));
        assert_eq!(v["to"], serde_json::json!({ "user_id": 7, "username": "heir" }));
        assert_eq!(v["list"][0], serde_json::json!({ "user_id": 8, "erased": true }));
        assert_eq!(v["n"], 2);
    }

    /// Settings in memory: all of the storage `claim_key` needs.
    #[derive(Default)]
    struct Settings(HashMap<String, String>);

    #[async_trait]
    impl SettingReads for Settings {
        async fn setting(&mut self, key: &str) -> crate::Result<Option<String>> {
            Ok(self.0.get(key).cloned())
        }
    }

    #[async_trait]
    impl SettingTx for Settings {
        async fn set_setting(&mut self, key: &str, value: &str) -> crate::Result<()> {
            self.0.insert(key.to_owned(), value.to_owned());
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_first_key_claimed_is_the_only_one_accepted() {
        let mut settings = Settings::default();
        let (first, other) = (key(), AuditKey::generate());
        assert!(claim_key(&mut settings, &first).await.unwrap(), "the first claim binds");
        assert!(claim_key(&mut settings, &first).await.unwrap(), "the same key again");
        assert!(
            !claim_key(&mut settings, &other).await.unwrap(),
            "another key is refused"
        );
        assert!(
            claim_key(&mut settings, &first).await.unwrap(),
            "and a refused key replaced nothing"
        );
        // What is stored names the key without revealing it.
        let stored = &settings.0[KEY_FINGERPRINT_SETTING];
        assert!(first.fingerprint_matches(stored));
        assert!(!stored.contains(&hex::encode(first.to_bytes())));
    }
}
