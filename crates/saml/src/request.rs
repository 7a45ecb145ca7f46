//! SP-initiated sign-in: the AuthnRequest sent over the HTTP-Redirect binding.

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use flate2::{Compression, write::DeflateEncoder};
use std::io::Write as _;

use crate::response::{ASSERTION_NS, PROTOCOL_NS};
use crate::{POST_BINDING, xml_escape};

/// The URL to send the browser to: the IdP's SSO URL with `SAMLRequest` (the AuthnRequest,
/// DEFLATE-compressed and base64-encoded, per the HTTP-Redirect binding) and `RelayState`.
pub fn authn_request_url(
    idp_sso_url: &str,
    request_id: &str,
    sp_entity_id: &str,
    acs_url: &str,
    issued_at: DateTime<Utc>,
    relay_state: Option<&str>,
) -> String {
    let xml = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ID="{id}" Version="2.0" IssueInstant="{at}" Destination="{dest}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="{POST_BINDING}"><saml:Issuer>{issuer}</saml:Issuer><samlp:NameIDPolicy AllowCreate="true"/></samlp:AuthnRequest>"#,
        id = xml_escape(request_id),
        at = issued_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        dest = xml_escape(idp_sso_url),
        acs = xml_escape(acs_url),
        issuer = xml_escape(sp_entity_id),
    );
    let mut deflate = DeflateEncoder::new(Vec::new(), Compression::default());
    deflate.write_all(xml.as_bytes()).expect("writing to memory");
    let compressed = deflate.finish().expect("writing to memory");
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair(
        "SAMLRequest",
        &base64::engine::general_purpose::STANDARD.encode(compressed),
    );
    if let Some(relay) = relay_state {
        query.append_pair("RelayState", relay);
    }
    let separator = if idp_sso_url.contains('?') { '&' } else { '?' };
    format!("{idp_sso_url}{separator}{}", query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::DeflateDecoder;
    use std::io::Read as _;

    #[test]
    fn the_request_inflates_to_an_authn_request_for_this_sp() {
        let at = DateTime::parse_from_rfc3339("2026-11-28T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let url = authn_request_url(
            "https://idp.example/sso?tenant=1",
            "_abc",
            "https://lms.example/saml/metadata",
            "https://lms.example/saml/acs",
            at,
            Some("/courses?x=1"),
        );
        assert!(url.starts_with("https://idp.example/sso?tenant=1&SAMLRequest="));
        let query = url.split_once('?').unwrap().1;
        let pairs: std::collections::HashMap<String, String> =
            form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        assert_eq!(pairs["RelayState"], "/courses?x=1");
        let compressed = base64::engine::general_purpose::STANDARD
            .decode(&pairs["SAMLRequest"])
            .unwrap();
        let mut xml = String::new();
        DeflateDecoder::new(&compressed[..]).read_to_string(&mut xml).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert!(root.has_tag_name((PROTOCOL_NS, "AuthnRequest")));
        assert_eq!(root.attribute("ID"), Some("_abc"));
        assert_eq!(
            root.attribute("AssertionConsumerServiceURL"),
            Some("https://lms.example/saml/acs")
        );
        assert_eq!(root.attribute("IssueInstant"), Some("2026-11-28T09:00:00Z"));
        let issuer = root
            .children()
            .find(|n| n.has_tag_name((ASSERTION_NS, "Issuer")))
            .unwrap();
        assert_eq!(issuer.text(), Some("https://lms.example/saml/metadata"));
    }
}
