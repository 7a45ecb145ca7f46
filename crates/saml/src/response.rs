//! Validating a SAML `Response` delivered to the assertion consumer over HTTP-POST.
//!
//! The XML signature is checked by bergshamra against the IdP's pinned certificates only
//! (KeyInfo in the message is never trusted); everything SAML-specific is checked here, on
//! the same parsed tree the signature was verified on, so no value is read from an element
//! the signature does not cover.

use std::collections::{BTreeMap, HashSet};

use base64::Engine as _;
use bergshamra::core::algorithm;
use bergshamra::{DsigContext, KeysManager, VerifyResult};
use chrono::{DateTime, Duration, Utc};
use uppsala::{Document, NodeId};

pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// Largest decoded response accepted.
pub const MAX_RESPONSE: usize = 256 * 1024;
/// Clock skew tolerated between rollcall and the IdP.
pub const MAX_SKEW: Duration = Duration::minutes(3);

const SIGNATURE_METHODS: [&str; 6] = [
    algorithm::RSA_SHA256,
    algorithm::RSA_SHA384,
    algorithm::RSA_SHA512,
    algorithm::ECDSA_SHA256,
    algorithm::ECDSA_SHA384,
    algorithm::ECDSA_SHA512,
];
const DIGEST_METHODS: [&str; 3] = [algorithm::SHA256, algorithm::SHA384, algorithm::SHA512];
const TRANSFORMS: [&str; 2] = [algorithm::ENVELOPED_SIGNATURE, algorithm::EXC_C14N];

/// Why a response was refused. The text is for the log, never for the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Refusal {}

fn refuse<T>(reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(reason.into()))
}

/// What the response must match.
pub struct Expected<'a> {
    pub idp_entity_id: &'a str,
    /// The IdP's signing certificates, base64 DER, pinned from its metadata.
    pub signing_certs: &'a [String],
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    pub now: DateTime<Utc>,
}

/// An assertion whose signature and conditions hold. Replay and InResponseTo are the
/// caller's to check against its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    pub assertion_id: String,
    /// `None` for an IdP-initiated (unsolicited) response.
    pub in_response_to: Option<String>,
    pub name_id: String,
    pub name_id_is_email: bool,
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Keep the assertion id until then to refuse a replay.
    pub expires_at: DateTime<Utc>,
}

/// Decodes the `SAMLResponse` form field (base64 of the XML).
pub fn decode_post(saml_response: &str) -> Result<String, Refusal> {
    if saml_response.len() > MAX_RESPONSE * 4 / 3 + 4 {
        return refuse("the response is larger than 256 KiB");
    }
    let compact: String = saml_response.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .or_else(|_| refuse("the SAMLResponse is not base64"))?;
    String::from_utf8(bytes).or_else(|_| refuse("the response is not UTF-8"))
}

/// Checks a response: size, no DTD, structure, signature, issuer, status, destination,
/// subject confirmation, conditions and audience.
pub fn validate(xml: &str, expected: &Expected<'_>) -> Result<VerifiedAssertion, Refusal> {
    if xml.len() > MAX_RESPONSE {
        return refuse("the response is larger than 256 KiB");
    }
    let upper = xml.to_ascii_uppercase();
    if upper.contains("<!DOCTYPE") || upper.contains("<!ENTITY") {
        return refuse("the response carries a DTD or an entity declaration");
    }
    let doc = uppsala::parse(xml).or_else(|_| refuse("the response is not well-formed XML"))?;
    let root = doc.document_element().ok_or_else(|| Refusal("empty document".into()))?;
    if !is(&doc, root, PROTOCOL_NS, "Response") {
        return refuse("the document is not a SAML Response");
    }
    check_unique_ids(&doc)?;

    let all = doc.descendants(root);
    let assertions: Vec<NodeId> = all
        .iter()
        .copied()
        .filter(|&n| is(&doc, n, ASSERTION_NS, "Assertion"))
        .collect();
    if all.iter().any(|&n| is(&doc, n, ASSERTION_NS, "EncryptedAssertion")) {
        return refuse("encrypted assertions are not supported");
    }
    let [assertion] = assertions[..] else {
        return refuse(format!(
            "the response holds {} assertions, not exactly one",
            assertions.len()
        ));
    };
    if doc.parent(assertion) != Some(root) {
        return refuse("the assertion is not a direct child of the Response");
    }
    // Before any cryptographic work: a response stuffed with signatures stops here.
    check_signature_shape(&doc, root, assertion)?;

    verify_signature(&doc, root, assertion, expected)?;

    // Everything below is read from the Response and its one Assertion, both covered.
    let response_issuer = child(&doc, root, ASSERTION_NS, "Issuer").map(|n| text(&doc, n));
    if let Some(issuer) = response_issuer
        && issuer != expected.idp_entity_id
    {
        return refuse(format!("the Response issuer {issuer:?} is not the configured IdP"));
    }
    match doc.get_attribute(root, "Destination") {
        Some(d) if d == expected.acs_url => {}
        Some(d) => return refuse(format!("the Destination {d:?} is not this ACS URL")),
        None => return refuse("the Response has no Destination"),
    }
    let status = child(&doc, root, PROTOCOL_NS, "Status")
        .and_then(|s| child(&doc, s, PROTOCOL_NS, "StatusCode"))
        .and_then(|c| doc.get_attribute(c, "Value"));
    if status != Some(STATUS_SUCCESS) {
        return refuse(format!("the IdP answered with status {status:?}"));
    }
    let in_response_to = doc.get_attribute(root, "InResponseTo").map(str::to_owned);

    let issuer = child(&doc, assertion, ASSERTION_NS, "Issuer").map(|n| text(&doc, n));
    if issuer.as_deref() != Some(expected.idp_entity_id) {
        return refuse(format!("the assertion issuer {issuer:?} is not the configured IdP"));
    }
    let assertion_id = doc
        .get_attribute(assertion, "ID")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Refusal("the assertion has no ID".into()))?
        .to_owned();

    let subject = child(&doc, assertion, ASSERTION_NS, "Subject").ok_or_else(|| Refusal("no Subject".into()))?;
    let name_id_node = child(&doc, subject, ASSERTION_NS, "NameID").ok_or_else(|| Refusal("no NameID".into()))?;
    // Every text node, so a comment inside the NameID can't cut it short.
    let name_id = text(&doc, name_id_node).trim().to_owned();
    if name_id.is_empty() {
        return refuse("the NameID is empty");
    }
    let name_id_is_email = doc.get_attribute(name_id_node, "Format") == Some(EMAIL_FORMAT);
    let now = expected.now;
    let mut confirmed_until = None;
    for confirmation in children(&doc, subject, ASSERTION_NS, "SubjectConfirmation") {
        if doc.get_attribute(confirmation, "Method") != Some(BEARER) {
            continue;
        }
        let Some(data) = child(&doc, confirmation, ASSERTION_NS, "SubjectConfirmationData") else {
            continue;
        };
        match doc.get_attribute(data, "Recipient") {
            Some(r) if r == expected.acs_url => {}
            r => return refuse(format!("the Recipient {r:?} is not this ACS URL")),
        }
        if doc.get_attribute(data, "InResponseTo") != in_response_to.as_deref() {
            return refuse("the subject's InResponseTo differs from the Response's");
        }
        if doc.get_attribute(data, "NotBefore").is_some() {
            return refuse("a bearer confirmation must not carry NotBefore");
        }
        let until = time_attr(&doc, data, "NotOnOrAfter")?
            .ok_or_else(|| Refusal("the bearer confirmation has no NotOnOrAfter".into()))?;
        if now - MAX_SKEW >= until {
            return refuse(format!("the bearer confirmation expired at {until}"));
        }
        confirmed_until = Some(until);
        break;
    }
    let Some(confirmed_until) = confirmed_until else {
        return refuse("the subject has no bearer confirmation");
    };

    let conditions = child(&doc, assertion, ASSERTION_NS, "Conditions")
        .ok_or_else(|| Refusal("the assertion has no Conditions".into()))?;
    if let Some(not_before) = time_attr(&doc, conditions, "NotBefore")?
        && now + MAX_SKEW < not_before
    {
        return refuse(format!("the assertion is not valid before {not_before}"));
    }
    let not_on_or_after = time_attr(&doc, conditions, "NotOnOrAfter")?;
    if let Some(end) = not_on_or_after
        && now - MAX_SKEW >= end
    {
        return refuse(format!("the assertion expired at {end}"));
    }
    let restrictions = children(&doc, conditions, ASSERTION_NS, "AudienceRestriction");
    if restrictions.is_empty() {
        return refuse("the assertion has no AudienceRestriction");
    }
    for restriction in restrictions {
        let audiences: Vec<String> = children(&doc, restriction, ASSERTION_NS, "Audience")
            .into_iter()
            .map(|a| text(&doc, a).trim().to_owned())
            .collect();
        if !audiences.iter().any(|a| a == expected.sp_entity_id) {
            return refuse(format!(
                "the audience {audiences:?} does not name this service provider"
            ));
        }
    }

    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for statement in children(&doc, assertion, ASSERTION_NS, "AttributeStatement") {
        for attribute in children(&doc, statement, ASSERTION_NS, "Attribute") {
            let Some(name) = doc.get_attribute(attribute, "Name") else {
                continue;
            };
            let values = children(&doc, attribute, ASSERTION_NS, "AttributeValue")
                .into_iter()
                .map(|v| text(&doc, v).trim().to_owned());
            attributes.entry(name.to_owned()).or_default().extend(values);
        }
    }

    let expires_at = not_on_or_after.map_or(confirmed_until, |end| end.max(confirmed_until)) + MAX_SKEW;
    Ok(VerifiedAssertion {
        assertion_id,
        in_response_to,
        name_id,
        name_id_is_email,
        attributes,
        expires_at,
    })
}

/// The signatures a response may carry, checked on the parsed tree before any digest or
/// signature is computed: at most one directly inside the Response and one directly
/// inside the Assertion, none anywhere else, each with one SignedInfo holding exactly one
/// Reference that names the element the signature sits in, with at most two transforms.
/// So a response stuffed with signatures (or references, or transforms) costs one walk
/// over the tree, never a verification per signature.
fn check_signature_shape(doc: &Document<'_>, root: NodeId, assertion: NodeId) -> Result<(), Refusal> {
    let mut on_response = 0usize;
    let mut on_assertion = 0usize;
    let mut elsewhere = 0usize;
    for node in doc.descendants(root) {
        if !is(doc, node, DSIG_NS, "Signature") {
            continue;
        }
        match doc.parent(node) {
            Some(p) if p == root => on_response += 1,
            Some(p) if p == assertion => on_assertion += 1,
            _ => elsewhere += 1,
        }
    }
    if elsewhere > 0 {
        return refuse(format!(
            "the response carries {elsewhere} signature(s) outside the Response and the Assertion (shape check, before verification)"
        ));
    }
    if on_response > 1 || on_assertion > 1 {
        return refuse(format!(
            "the response carries {on_response} signature(s) on the Response and {on_assertion} on the Assertion; at most one each (shape check, before verification)"
        ));
    }
    for signed in [root, assertion] {
        let Some(signature) = child(doc, signed, DSIG_NS, "Signature") else {
            continue;
        };
        let Some(info) = child(doc, signature, DSIG_NS, "SignedInfo") else {
            return refuse("a signature must hold exactly one SignedInfo (shape check, before verification)");
        };
        let references = children(doc, info, DSIG_NS, "Reference");
        let [reference] = references[..] else {
            return refuse(format!(
                "a signature holds {} References, not exactly one (shape check, before verification)",
                references.len()
            ));
        };
        let id = doc.get_attribute(signed, "ID").unwrap_or_default();
        let uri = doc.get_attribute(reference, "URI").unwrap_or_default();
        if id.is_empty() || uri.strip_prefix('#') != Some(id) {
            return refuse("a signature does not name the element it sits in (shape check, before verification)");
        }
        let transforms = child(doc, reference, DSIG_NS, "Transforms").map_or(0, |t| {
            doc.children(t)
                .into_iter()
                .filter(|&c| doc.element(c).is_some())
                .count()
        });
        if transforms > TRANSFORMS.len() {
            return refuse(format!(
                "a reference holds {transforms} transforms (shape check, before verification)"
            ));
        }
    }
    Ok(())
}

/// Accepts only a signature by a pinned certificate, with allowed algorithms, sitting
/// directly in the element it signs (the Response or the Assertion), whose one Reference
/// names that element. Every signature in the document must verify.
fn verify_signature(
    doc: &Document<'_>,
    root: NodeId,
    assertion: NodeId,
    expected: &Expected<'_>,
) -> Result<(), Refusal> {
    let signatures: Vec<NodeId> = doc
        .descendants(root)
        .into_iter()
        .filter(|&n| is(doc, n, DSIG_NS, "Signature"))
        .collect();
    if signatures.is_empty() {
        return refuse("the response is not signed");
    }
    for &signature in &signatures {
        check_algorithms(doc, signature)?;
    }
    if expected.signing_certs.is_empty() {
        return refuse("no IdP signing certificate is configured");
    }
    let mut keys = KeysManager::new();
    for cert in expected.signing_certs {
        let der = base64::engine::general_purpose::STANDARD
            .decode(cert)
            .or_else(|_| refuse("a configured certificate is not base64"))?;
        let key = bergshamra::keys::loader::load_x509_cert_der(&der)
            .or_else(|e| refuse(format!("a configured certificate can't be read: {e}")))?;
        keys.add_key(key);
    }
    let ctx = DsigContext::new(keys);
    let results = bergshamra::dsig::verify::verify_all_document(&ctx, doc)
        .or_else(|e| refuse(format!("the signature can't be checked: {e}")))?;
    let mut covers_assertion = false;
    for result in results {
        let VerifyResult::Valid {
            signature_node,
            references,
            ..
        } = result
        else {
            let VerifyResult::Invalid { reason } = result else {
                unreachable!()
            };
            return refuse(format!("a signature does not verify: {reason}"));
        };
        let signed = doc
            .parent(signature_node)
            .ok_or_else(|| Refusal("a signature has no parent".into()))?;
        let [reference] = &references[..] else {
            return refuse("a signature must hold exactly one Reference");
        };
        let id = doc.get_attribute(signed, "ID").unwrap_or_default();
        if id.is_empty()
            || reference.uri != format!("#{id}")
            || reference.resolved_node != Some(signed)
            || !reference.digest_verified
        {
            return refuse("a signature does not sign the element it sits in");
        }
        if signed == root || signed == assertion {
            covers_assertion = true;
        }
    }
    if !covers_assertion {
        return refuse("neither the Response nor the Assertion is signed");
    }
    Ok(())
}

fn check_algorithms(doc: &Document<'_>, signature: NodeId) -> Result<(), Refusal> {
    let info =
        child(doc, signature, DSIG_NS, "SignedInfo").ok_or_else(|| Refusal("a signature has no SignedInfo".into()))?;
    let algorithm_of =
        |parent: NodeId, name: &str| child(doc, parent, DSIG_NS, name).and_then(|n| doc.get_attribute(n, "Algorithm"));
    let method = algorithm_of(info, "SignatureMethod").unwrap_or_default();
    if !SIGNATURE_METHODS.contains(&method) {
        return refuse(format!("signature method {method:?} is not allowed"));
    }
    let c14n = algorithm_of(info, "CanonicalizationMethod").unwrap_or_default();
    if c14n != algorithm::EXC_C14N {
        return refuse(format!("canonicalization {c14n:?} is not allowed"));
    }
    for reference in children(doc, info, DSIG_NS, "Reference") {
        let digest = algorithm_of(reference, "DigestMethod").unwrap_or_default();
        if !DIGEST_METHODS.contains(&digest) {
            return refuse(format!("digest method {digest:?} is not allowed"));
        }
        if let Some(transforms) = child(doc, reference, DSIG_NS, "Transforms") {
            for transform in children(doc, transforms, DSIG_NS, "Transform") {
                let t = doc.get_attribute(transform, "Algorithm").unwrap_or_default();
                if !TRANSFORMS.contains(&t) {
                    return refuse(format!("transform {t:?} is not allowed"));
                }
            }
        }
    }
    Ok(())
}

/// An ID appearing twice would let a reference resolve to a different element than the
/// one read.
fn check_unique_ids(doc: &Document<'_>) -> Result<(), Refusal> {
    let mut seen = HashSet::new();
    for node in doc.descendants(doc.root()) {
        for name in ["ID", "Id", "id", "AssertionID"] {
            if let Some(id) = doc.get_attribute(node, name)
                && !seen.insert(id.to_owned())
            {
                return refuse(format!("the ID {id:?} appears twice"));
            }
        }
    }
    Ok(())
}

fn is(doc: &Document<'_>, node: NodeId, ns: &str, local: &str) -> bool {
    doc.element(node).is_some_and(|e| e.name.matches(Some(ns), local))
}

fn children(doc: &Document<'_>, parent: NodeId, ns: &str, local: &str) -> Vec<NodeId> {
    doc.children(parent)
        .into_iter()
        .filter(|&c| is(doc, c, ns, local))
        .collect()
}

fn child(doc: &Document<'_>, parent: NodeId, ns: &str, local: &str) -> Option<NodeId> {
    let found = children(doc, parent, ns, local);
    // Two where one is expected is as suspicious as none.
    if found.len() == 1 { Some(found[0]) } else { None }
}

/// All the text inside an element, comments skipped but never truncating it.
fn text(doc: &Document<'_>, node: NodeId) -> String {
    doc.text_content_deep(node)
}

fn time_attr(doc: &Document<'_>, node: NodeId, name: &str) -> Result<Option<DateTime<Utc>>, Refusal> {
    doc.get_attribute(node, name)
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .or_else(|_| refuse(format!("{name} {v:?} is not a dateTime")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_idp::{ResponseSpec, TestIdp};

    const SP: &str = "https://lms.example.org/saml/metadata";
    const ACS: &str = "https://lms.example.org/saml/acs";

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn spec(idp: &TestIdp) -> ResponseSpec {
        let mut spec = ResponseSpec::new(idp, SP, ACS, "ada@example.org", now());
        spec.in_response_to = Some("_req1".into());
        spec.attributes = vec![
            ("firstName".into(), "Ada".into()),
            ("lastName".into(), "Lovelace".into()),
        ];
        spec
    }

    fn check_at(xml: &str, at: DateTime<Utc>) -> Result<VerifiedAssertion, Refusal> {
        let certs = [TestIdp::new().cert_b64()];
        validate(
            xml,
            &Expected {
                idp_entity_id: &TestIdp::new().entity_id,
                signing_certs: &certs,
                sp_entity_id: SP,
                acs_url: ACS,
                now: at,
            },
        )
    }

    fn check(xml: &str) -> Result<VerifiedAssertion, Refusal> {
        check_at(xml, now())
    }

    #[track_caller]
    fn refused(xml: &str, because: &str) {
        match check(xml) {
            Ok(a) => panic!("accepted {a:?}, expected a refusal mentioning {because:?}"),
            Err(Refusal(reason)) => assert!(reason.contains(because), "refused for {reason:?}, expected {because:?}"),
        }
    }

    #[test]
    fn a_signed_response_yields_the_subject_and_attributes() {
        let idp = TestIdp::new();
        let spec = spec(&idp);
        let verified = check(&idp.response(&spec)).unwrap();
        assert_eq!(verified.name_id, "ada@example.org");
        assert!(verified.name_id_is_email);
        assert_eq!(verified.assertion_id, spec.assertion_id);
        assert_eq!(verified.in_response_to.as_deref(), Some("_req1"));
        assert_eq!(verified.attributes["firstName"], ["Ada"]);
        assert!(verified.expires_at > now());
    }

    #[test]
    fn a_signed_response_element_covers_its_assertion() {
        let idp = TestIdp::new();
        let spec = spec(&idp);
        let template = idp.wrap(&spec, &idp.assertion_xml(&spec, false));
        // Put a Response-level signature template right after the Response's Issuer.
        let sig = idp.assertion_xml(&spec, true);
        let start = sig.find("<ds:Signature").unwrap();
        let end = sig.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        let signature = sig[start..end].replace(&format!("#{}", spec.assertion_id), &format!("#{}", spec.response_id));
        let template = template.replacen("</saml:Issuer>", &format!("</saml:Issuer>{signature}"), 1);
        assert_eq!(check(&idp.sign(&template)).unwrap().name_id, "ada@example.org");
    }

    #[test]
    fn unsigned_and_stripped_responses_are_refused() {
        let idp = TestIdp::new();
        let spec = spec(&idp);
        refused(&idp.wrap(&spec, &idp.assertion_xml(&spec, false)), "not signed");
        let signed = idp.response(&spec);
        let start = signed.find("<ds:Signature").unwrap();
        let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        refused(&format!("{}{}", &signed[..start], &signed[end..]), "not signed");
    }

    #[test]
    fn content_changed_after_signing_is_refused() {
        let idp = TestIdp::new();
        let signed = idp.response(&spec(&idp));
        refused(
            &signed.replace("ada@example.org", "root@example.org"),
            "does not verify",
        );
        refused(&signed.replace(">Ada<", ">Eve<"), "does not verify");
    }

    #[test]
    fn a_key_shipping_its_own_certificate_is_not_trusted() {
        let attacker = TestIdp::attacker();
        let signed = attacker.response(&spec(&attacker));
        assert!(
            signed.contains(&attacker.cert_b64()),
            "the forged response carries its certificate"
        );
        refused(&signed, "does not verify");
    }

    #[test]
    fn an_evil_assertion_before_beside_or_around_the_signed_one_is_refused() {
        let idp = TestIdp::new();
        let good = spec(&idp);
        let signed_assertion = {
            let response = idp.response(&good);
            let start = response.find("<saml:Assertion").unwrap();
            let end = response.rfind("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
            response[start..end].to_owned()
        };
        let mut evil = good.clone();
        evil.assertion_id = "_evil".into();
        evil.name_id = "admin@example.org".into();
        let evil_assertion = idp.assertion_xml(&evil, false);
        refused(
            &idp.wrap(&good, &format!("{evil_assertion}{signed_assertion}")),
            "not exactly one",
        );
        refused(
            &idp.wrap(&good, &format!("{signed_assertion}{evil_assertion}")),
            "not exactly one",
        );
        // The signed assertion hidden inside the evil one's Subject (wrapping).
        let wrapped = evil_assertion.replacen("<saml:Subject>", &format!("<saml:Subject>{signed_assertion}"), 1);
        refused(&idp.wrap(&good, &wrapped), "not exactly one");
        // The signed assertion hidden in Extensions, the evil one alone in its place.
        let extensions = format!("<samlp:Extensions>{signed_assertion}</samlp:Extensions>{evil_assertion}");
        refused(&idp.wrap(&good, &extensions), "not exactly one");
    }

    #[test]
    fn a_comment_inside_the_name_id_never_truncates_it() {
        let idp = TestIdp::new();
        let mut spec = spec(&idp);
        spec.name_id = "admin@example.org.evil.test".into();
        let signed = idp.response(&spec);
        // exc-c14n drops comments, so the signature still holds after the comment is added.
        let tampered = signed.replacen("admin@example.org.evil.test", "admin@example.org<!---->.evil.test", 1);
        assert_ne!(tampered, signed);
        assert_eq!(check(&tampered).unwrap().name_id, "admin@example.org.evil.test");
    }

    #[test]
    fn expired_and_not_yet_valid_assertions_are_refused_beyond_three_minutes_of_skew() {
        let idp = TestIdp::new();
        let signed = idp.response(&spec(&idp));
        // Valid five minutes; three more of skew allowed.
        assert!(check_at(&signed, now() + Duration::minutes(7)).is_ok());
        assert!(
            check_at(&signed, now() + Duration::minutes(9))
                .unwrap_err()
                .0
                .contains("expired")
        );
        assert!(check_at(&signed, now() - Duration::minutes(3)).is_ok());
        assert!(
            check_at(&signed, now() - Duration::minutes(4))
                .unwrap_err()
                .0
                .contains("not valid before")
        );
    }

    #[test]
    fn wrong_audience_recipient_destination_issuer_or_status_is_refused() {
        let idp = TestIdp::new();
        let mut s = spec(&idp);
        s.audience = "https://other-sp.example/metadata".into();
        refused(&idp.response(&s), "audience");
        let mut s = spec(&idp);
        s.recipient = "https://evil.example/acs".into();
        refused(&idp.response(&s), "Recipient");
        let mut s = spec(&idp);
        s.destination = "https://evil.example/acs".into();
        refused(&idp.response(&s), "Destination");
        let mut s = spec(&idp);
        s.issuer = "https://other-idp.example".into();
        refused(&idp.response(&s), "issuer");
        let mut s = spec(&idp);
        s.status = "urn:oasis:names:tc:SAML:2.0:status:Requester".into();
        refused(&idp.response(&s), "status");
    }

    #[test]
    fn sha1_and_foreign_transforms_are_refused() {
        let idp = TestIdp::new();
        let signed = idp.response(&spec(&idp));
        refused(
            &signed.replace(algorithm::RSA_SHA256, algorithm::RSA_SHA1),
            "signature method",
        );
        refused(&signed.replace(algorithm::SHA256, algorithm::SHA1), "digest method");
        refused(
            &signed.replacen(
                algorithm::ENVELOPED_SIGNATURE,
                "http://www.w3.org/TR/1999/REC-xpath-19991116",
                1,
            ),
            "transform",
        );
    }

    #[test]
    fn doctype_entities_duplicate_ids_and_oversized_bodies_are_refused() {
        let idp = TestIdp::new();
        let spec = spec(&idp);
        let signed = idp.response(&spec);
        refused(&format!("<!DOCTYPE r [<!ENTITY x \"ada\">]>{signed}"), "DTD");
        refused(&format!("<!doctype r>{signed}"), "DTD");
        let big = signed.replacen(
            "</samlp:Status>",
            &format!("</samlp:Status><!--{}-->", "x".repeat(MAX_RESPONSE)),
            1,
        );
        refused(&big, "256 KiB");
        let dup = signed.replacen(
            "<samlp:Status>",
            &format!(r#"<samlp:Status ID="{}">"#, spec.assertion_id),
            1,
        );
        refused(&dup, "appears twice");
        assert!(decode_post(&"A".repeat(MAX_RESPONSE * 2)).is_err());
        assert_eq!(decode_post(&idp.post_body(&signed)).unwrap(), signed);
    }

    /// A valid response with `extra` inserted right after the assertion's signature.
    fn with_after_assertion_signature(signed: &str, extra: &str) -> String {
        let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        format!("{}{extra}{}", &signed[..end], &signed[end..])
    }

    fn signature_of(signed: &str) -> String {
        let start = signed.find("<ds:Signature").unwrap();
        let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        signed[start..end].to_owned()
    }

    /// A valid response padded to just under the size limit with copies of its own
    /// signature: the amplification a stuffed response would buy.
    fn stuffed(signed: &str) -> String {
        let sig = signature_of(signed);
        let copies = (MAX_RESPONSE - signed.len()) / sig.len();
        let stuffed = with_after_assertion_signature(signed, &sig.repeat(copies));
        assert!(stuffed.len() > 200 * 1024 && stuffed.len() <= MAX_RESPONSE);
        stuffed
    }

    #[test]
    fn a_response_stuffed_with_signatures_is_refused_before_verification() {
        let idp = TestIdp::new();
        let signed = idp.response(&spec(&idp));
        let sig = signature_of(&signed);
        // Hundreds of copies of a signature that would verify, in a 256 KiB response.
        let stuffed = stuffed(&signed);
        refused(&stuffed, "shape check, before verification");
        refused(&stuffed, "on the Assertion; at most one each");
        // Refused with no certificate configured too: no key was ever needed.
        let none: [String; 0] = [];
        let reason = validate(
            &stuffed,
            &Expected {
                idp_entity_id: &idp.entity_id,
                signing_certs: &none,
                sp_entity_id: SP,
                acs_url: ACS,
                now: now(),
            },
        )
        .unwrap_err();
        assert!(reason.0.contains("shape check"), "{reason}");
        // Two on the Assertion; one hidden deeper (in the Subject), or in the Status.
        refused(&with_after_assertion_signature(&signed, &sig), "at most one each");
        let in_subject = signed.replacen("<saml:Subject>", &format!("<saml:Subject>{sig}"), 1);
        refused(&in_subject, "outside the Response and the Assertion");
        let in_status = signed.replacen("<samlp:Status>", &format!("<samlp:Status>{sig}"), 1);
        refused(&in_status, "outside the Response and the Assertion");
        // One signature with many references.
        let start = sig.find("<ds:Reference").unwrap();
        let end = sig.find("</ds:Reference>").unwrap() + "</ds:Reference>".len();
        let many = signed.replacen(&sig[start..end], &sig[start..end].repeat(50), 1);
        refused(&many, "50 References");
        // The valid one still passes the shape check and everything after it.
        assert!(check(&signed).is_ok());
    }

    #[test]
    fn during_a_rollover_either_pinned_certificate_verifies() {
        let idp = TestIdp::new();
        let signed = idp.response(&spec(&idp));
        let both = [TestIdp::attacker().cert_b64(), idp.cert_b64()];
        let expected = Expected {
            idp_entity_id: &idp.entity_id,
            signing_certs: &both,
            sp_entity_id: SP,
            acs_url: ACS,
            now: now(),
        };
        assert!(validate(&signed, &expected).is_ok());
        let other = [TestIdp::attacker().cert_b64()];
        let expected = Expected {
            signing_certs: &other,
            ..expected
        };
        assert!(validate(&signed, &expected).unwrap_err().0.contains("does not verify"));
    }

    #[test]
    fn no_pinned_certificate_means_no_sign_in() {
        let idp = TestIdp::new();
        let signed = idp.response(&spec(&idp));
        let none: [String; 0] = [];
        let result = validate(
            &signed,
            &Expected {
                idp_entity_id: &idp.entity_id,
                signing_certs: &none,
                sp_entity_id: SP,
                acs_url: ACS,
                now: now(),
            },
        );
        assert!(result.unwrap_err().0.contains("no IdP signing certificate"));
    }
}
