//! An identity provider for tests: it signs real SAML responses with an RSA key whose
//! certificate (generated once with openssl, in `testdata/`) rollcall pins. A second key,
//! the attacker's, signs with its own certificate in KeyInfo.

use bergshamra::core::algorithm;
use bergshamra::{DsigContext, KeysManager};
use chrono::{DateTime, Duration, SecondsFormat, Utc};

use crate::xml_escape;

const IDP_KEY: &str = include_str!("../testdata/idp.key.pem");
const IDP_CERT: &str = include_str!("../testdata/idp.cert.pem");
const ATTACKER_KEY: &str = include_str!("../testdata/attacker.key.pem");
const ATTACKER_CERT: &str = include_str!("../testdata/attacker.cert.pem");

pub struct TestIdp {
    key_pem: &'static str,
    cert_pem: &'static str,
    pub entity_id: String,
}

/// One response's contents; [`ResponseSpec::new`] gives a valid one.
#[derive(Clone, Debug)]
pub struct ResponseSpec {
    pub response_id: String,
    pub assertion_id: String,
    pub in_response_to: Option<String>,
    pub issuer: String,
    pub name_id: String,
    pub name_id_format: String,
    pub attributes: Vec<(String, String)>,
    pub audience: String,
    pub destination: String,
    pub recipient: String,
    pub not_before: DateTime<Utc>,
    pub not_on_or_after: DateTime<Utc>,
    pub status: String,
}

impl ResponseSpec {
    pub fn new(idp: &TestIdp, sp_entity_id: &str, acs_url: &str, name_id: &str, now: DateTime<Utc>) -> Self {
        ResponseSpec {
            response_id: format!("_r{}", unique()),
            assertion_id: format!("_a{}", unique()),
            in_response_to: None,
            issuer: idp.entity_id.clone(),
            name_id: name_id.into(),
            name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into(),
            attributes: Vec::new(),
            audience: sp_entity_id.into(),
            destination: acs_url.into(),
            recipient: acs_url.into(),
            not_before: now - Duration::seconds(30),
            not_on_or_after: now + Duration::minutes(5),
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
        }
    }
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:x}{:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed) + Utc::now().timestamp_micros() as u64
    )
}

fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl TestIdp {
    pub fn new() -> Self {
        TestIdp {
            key_pem: IDP_KEY,
            cert_pem: IDP_CERT,
            entity_id: "https://idp.test.example/metadata".into(),
        }
    }

    /// Another key with the same entity id: what someone without the IdP's key can sign.
    pub fn attacker() -> Self {
        TestIdp {
            key_pem: ATTACKER_KEY,
            cert_pem: ATTACKER_CERT,
            entity_id: "https://idp.test.example/metadata".into(),
        }
    }

    /// The certificate as base64 DER, as IdP metadata carries it.
    pub fn cert_b64(&self) -> String {
        self.cert_pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    /// IdP metadata publishing this key and an SSO URL.
    pub fn metadata(&self) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.test.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
            xml_escape(&self.entity_id),
            self.cert_b64()
        )
    }

    /// The assertion alone, unsigned, with a signature template after its Issuer when
    /// `signed`.
    pub fn assertion_xml(&self, spec: &ResponseSpec, signed: bool) -> String {
        let irt = spec
            .in_response_to
            .as_deref()
            .map(|v| format!(r#" InResponseTo="{}""#, xml_escape(v)))
            .unwrap_or_default();
        let attributes: String = spec
            .attributes
            .iter()
            .map(|(name, value)| {
                format!(
                    r#"<saml:Attribute Name="{}"><saml:AttributeValue>{}</saml:AttributeValue></saml:Attribute>"#,
                    xml_escape(name),
                    xml_escape(value)
                )
            })
            .collect();
        let signature = if signed {
            self.signature_template(&spec.assertion_id)
        } else {
            String::new()
        };
        format!(
            r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{aid}" Version="2.0" IssueInstant="{now}"><saml:Issuer>{issuer}</saml:Issuer>{signature}<saml:Subject><saml:NameID Format="{format}">{name_id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData{irt} NotOnOrAfter="{end}" Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{start}" NotOnOrAfter="{end}"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{now}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>{attributes}</saml:AttributeStatement></saml:Assertion>"#,
            aid = xml_escape(&spec.assertion_id),
            now = instant(spec.not_before),
            issuer = xml_escape(&spec.issuer),
            format = xml_escape(&spec.name_id_format),
            name_id = xml_escape(&spec.name_id),
            end = instant(spec.not_on_or_after),
            start = instant(spec.not_before),
            recipient = xml_escape(&spec.recipient),
            audience = xml_escape(&spec.audience),
        )
    }

    fn signature_template(&self, id: &str) -> String {
        format!(
            r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{c14n}"/><ds:SignatureMethod Algorithm="{method}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="{enveloped}"/><ds:Transform Algorithm="{c14n}"/></ds:Transforms><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##,
            c14n = algorithm::EXC_C14N,
            method = algorithm::RSA_SHA256,
            enveloped = algorithm::ENVELOPED_SIGNATURE,
            digest = algorithm::SHA256,
            id = xml_escape(id),
            cert = self.cert_b64(),
        )
    }

    /// A Response around `assertion` (already signed or not), unsigned itself.
    pub fn wrap(&self, spec: &ResponseSpec, assertion: &str) -> String {
        let irt = spec
            .in_response_to
            .as_deref()
            .map(|v| format!(r#" InResponseTo="{}""#, xml_escape(v)))
            .unwrap_or_default();
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{rid}" Version="2.0" IssueInstant="{now}" Destination="{destination}"{irt}><saml:Issuer>{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>{assertion}</samlp:Response>"#,
            rid = xml_escape(&spec.response_id),
            now = instant(spec.not_before),
            destination = xml_escape(&spec.destination),
            issuer = xml_escape(&spec.issuer),
            status = xml_escape(&spec.status),
        )
    }

    /// Signs the first signature template in `xml`.
    pub fn sign(&self, xml: &str) -> String {
        let mut keys = KeysManager::new();
        keys.add_key(bergshamra::keys::loader::load_rsa_private_pem(self.key_pem.as_bytes()).expect("test key"));
        let ctx = DsigContext::new_permissive(keys);
        let mut doc = uppsala::parse(xml).expect("well-formed template");
        bergshamra::dsig::sign::sign_document(&ctx, &mut doc).expect("signing");
        doc.to_xml()
    }

    /// A valid response: the assertion signed, as Okta and Entra send it.
    pub fn response(&self, spec: &ResponseSpec) -> String {
        self.sign(&self.wrap(spec, &self.assertion_xml(spec, true)))
    }

    /// The same, base64 as the browser posts it.
    pub fn post_body(&self, xml: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(xml)
    }
}

impl Default for TestIdp {
    fn default() -> Self {
        Self::new()
    }
}
