//! Writes seed inputs for the `saml_response` fuzz target (see `fuzz/run`): responses from
//! the test identity provider, as issued at the instant the target validates against —
//! accepted ones, and the near misses the validator must refuse.
//!
//! `cargo run -p rollcall-saml --features test-idp --example fuzz_seeds -- DIR`

use chrono::{DateTime, Duration, Utc};
use rollcall_saml::test_idp::{ResponseSpec, TestIdp};

const SP_ENTITY_ID: &str = "https://rollcall.test.example/saml/metadata";
const ACS_URL: &str = "https://rollcall.test.example/saml/acs";

fn main() -> std::io::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&dir)?;
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-12-04T09:00:00Z")
        .map_err(std::io::Error::other)?
        .with_timezone(&Utc);
    let idp = TestIdp::new();
    let spec = |name_id: &str| ResponseSpec::new(&idp, SP_ENTITY_ID, ACS_URL, name_id, now);

    let valid = spec("ada@example.org");
    let mut solicited = spec("bob@example.org");
    solicited.in_response_to = Some("_req1".into());
    solicited.attributes = vec![
        ("email".into(), "bob@example.org".into()),
        ("firstName".into(), "Bob".into()),
        ("lastName".into(), "Builder".into()),
        ("groups".into(), "crew".into()),
    ];
    let mut expired = spec("eve@example.org");
    expired.not_on_or_after = now - Duration::minutes(10);
    let mut elsewhere = spec("eve@example.org");
    elsewhere.audience = "https://other.example/sp".into();

    let seeds = [
        ("valid.xml", idp.response(&valid)),
        ("solicited-with-attributes.xml", idp.response(&solicited)),
        ("expired.xml", idp.response(&expired)),
        ("other-audience.xml", idp.response(&elsewhere)),
        ("attacker-signed.xml", TestIdp::attacker().response(&valid)),
        ("unsigned.xml", idp.wrap(&valid, &idp.assertion_xml(&valid, false))),
        ("valid.b64", idp.post_body(&idp.response(&valid))),
        ("metadata.xml", idp.metadata()),
    ];
    for (name, body) in seeds {
        std::fs::write(dir.join(name), body)?;
    }
    Ok(())
}
