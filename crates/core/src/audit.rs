//! The audit chain: how entries are digested, sealed and verified.
//!
//! Each entry's *personal* data (names, changed values, source address) sits beside the
//! entry, salted and digested; the chain covers the digest, not the data. A purge erases the
//! data and its salt yet leaves the chain verifiable, and an edit to data that remains still
//! fails its digest.
//!
//! Entries are written inside the transaction of the change, unsealed. After commit, one
//! sealer at a time (serialised on the chain head) gives each unsealed entry the next chain
//! position and `hash = SHA-256(prev_hash, position, entry digest)`. Concurrent writers thus
//! never fork the chain and never queue on its head inside their own transactions.

use crate::ports::{AuditHead, AuditRow, PersonalData};
use sha2::{Digest, Sha256};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

pub fn new_salt() -> String {
    let salt: [u8; 16] = rand::random();
    hex::encode(salt)
}

pub fn personal_digest(salt: &str, data: &str) -> String {
    sha256_hex(&[salt.as_bytes(), data.as_bytes()])
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

pub fn chain_hash(prev_hash: &str, seq: i64, entry_digest: &str) -> String {
    sha256_hex(&[
        prev_hash.as_bytes(),
        seq.to_string().as_bytes(),
        entry_digest.as_bytes(),
    ])
}

/// What verification found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    pub sealed: i64,
    pub unsealed: i64,
    pub erased: i64,
    pub problem: Option<Problem>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The first entry (by id) at which the chain breaks, when there is one.
    pub entry_id: Option<i64>,
    pub position: i64,
    pub reason: String,
}

/// Walks the chain page by page; `expected` is the position and hash the next entry must
/// follow. Pure, so the rules are unit-tested without a database.
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
    pub erased: i64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            erased: 0,
        }
    }
}

impl ChainVerifier {
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
            Some(PersonalData { erased_at: Some(_), .. }) => self.erased += 1,
            Some(_) => {
                return Err(fail("its personal data was removed without an erasure record".into()));
            }
        }
        let expected = chain_hash(&self.prev_hash, seq, &entry_digest(row));
        if row.hash.as_deref() != Some(expected.as_str()) {
            return Err(fail("it was edited after it was sealed".into()));
        }
        self.prev_hash = expected;
        self.expected_seq += 1;
        Ok(())
    }

    /// After the last page: the head must point at the last entry verified.
    pub fn finish(&self, head: &AuditHead) -> Result<(), Problem> {
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut prev = GENESIS_HASH.to_owned();
        let mut out = vec![];
        for (i, mut r) in rows.into_iter().enumerate() {
            let seq = i as i64 + 1;
            r.chain_seq = Some(seq);
            r.prev_hash = Some(prev.clone());
            prev = chain_hash(&prev, seq, &entry_digest(&r));
            r.hash = Some(prev.clone());
            out.push(r);
        }
        let head = AuditHead {
            seq: out.len() as i64,
            hash: prev,
        };
        (out, head)
    }

    fn verify(rows: &[AuditRow], head: &AuditHead) -> Result<i64, Problem> {
        let mut v = ChainVerifier::default();
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
    fn erased_personal_data_still_verifies() {
        let (mut rows, head) = chain();
        rows[1].personal = Some(PersonalData {
            salt: None,
            data: None,
            erased_at: Some(9),
        });
        let mut v = ChainVerifier::default();
        rows.iter().try_for_each(|r| v.check(r)).unwrap();
        v.finish(&head).unwrap();
        assert_eq!(v.erased, 1);
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
}
