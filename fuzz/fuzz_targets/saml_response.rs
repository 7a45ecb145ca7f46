//! What reaches the assertion consumer service: a `SAMLResponse` form field (base64) and the
//! XML inside it, validated against a pinned certificate; and IdP metadata as an
//! administrator pastes it. Refused or accepted, never a panic; whatever is accepted was
//! signed by the pinned key for this service provider.
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use rollcall_saml::response::{self, Expected};
use rollcall_saml::test_idp::TestIdp;
use std::sync::LazyLock;

const SP_ENTITY_ID: &str = "https://rollcall.test.example/saml/metadata";
const ACS_URL: &str = "https://rollcall.test.example/saml/acs";

/// The moment the seed responses in `seeds/saml_response` were issued for.
static NOW: LazyLock<DateTime<Utc>> = LazyLock::new(|| {
    DateTime::parse_from_rfc3339("2026-12-04T09:00:00Z")
        .expect("a fixed instant")
        .with_timezone(&Utc)
});
static CERTS: LazyLock<Vec<String>> = LazyLock::new(|| vec![TestIdp::new().cert_b64()]);

fn check(xml: &str) {
    let idp = TestIdp::new();
    let expected = Expected {
        idp_entity_id: &idp.entity_id,
        signing_certs: &CERTS,
        sp_entity_id: SP_ENTITY_ID,
        acs_url: ACS_URL,
        now: *NOW,
    };
    if let Ok(assertion) = response::validate(xml, &expected) {
        assert!(!assertion.assertion_id.is_empty());
        assert!(assertion.expires_at > *NOW, "accepted an expired assertion");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    check(input);
    if let Ok(xml) = response::decode_post(input) {
        check(&xml);
    }
    let _ = rollcall_saml::parse_idp_metadata(input);
});
