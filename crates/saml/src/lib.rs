//! SAML 2.0 for rollcall, without HTTP: reading an identity provider's metadata (its entity
//! id, its HTTP-Redirect sign-in URL, its signing certificates) and writing rollcall's own
//! service-provider metadata.
//!
//! XML is parsed with roxmltree, which refuses DTDs, so no entity can be expanded.

use std::fmt;

pub mod request;
pub mod response;
/// A signing identity provider for tests, with private keys in `testdata/`: behind the
/// `test-idp` feature, so the production build carries neither.
#[cfg(any(test, feature = "test-idp"))]
pub mod test_idp;

pub const MD_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// Largest metadata document read.
pub const MAX_METADATA: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataError(pub String);

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for MetadataError {}

/// What rollcall needs from an identity provider's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    pub sso_url: String,
    /// Signing certificates, base64 DER as in the metadata (whitespace removed).
    pub signing_certs: Vec<String>,
}

/// Reads an IdP's `EntityDescriptor`. Refuses a document with a DTD, without an IdP role,
/// without an HTTP-Redirect SingleSignOnService, or without a signing certificate.
pub fn parse_idp_metadata(xml: &str) -> Result<IdpMetadata, MetadataError> {
    if xml.len() > MAX_METADATA {
        return Err(MetadataError("the metadata is larger than 1 MiB".into()));
    }
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| MetadataError(format!("the metadata is not well-formed XML: {e}")))?;
    let root = doc.root_element();
    let entity = if root.has_tag_name((MD_NS, "EntityDescriptor")) {
        root
    } else {
        root.descendants()
            .find(|n| {
                n.has_tag_name((MD_NS, "EntityDescriptor"))
                    && n.children().any(|c| c.has_tag_name((MD_NS, "IDPSSODescriptor")))
            })
            .ok_or_else(|| MetadataError("no EntityDescriptor with an IDPSSODescriptor".into()))?
    };
    let entity_id = entity
        .attribute("entityID")
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| MetadataError("the EntityDescriptor has no entityID".into()))?;
    let idp = entity
        .children()
        .find(|c| c.has_tag_name((MD_NS, "IDPSSODescriptor")))
        .ok_or_else(|| MetadataError("the metadata describes no identity provider (IDPSSODescriptor)".into()))?;
    let sso_url = idp
        .children()
        .filter(|c| c.has_tag_name((MD_NS, "SingleSignOnService")))
        .find(|c| c.attribute("Binding") == Some(REDIRECT_BINDING))
        .and_then(|c| c.attribute("Location"))
        .filter(|l| l.starts_with("https://") || l.starts_with("http://"))
        .ok_or_else(|| MetadataError("the identity provider has no HTTP-Redirect SingleSignOnService".into()))?;
    let signing_certs: Vec<String> = idp
        .children()
        .filter(|c| c.has_tag_name((MD_NS, "KeyDescriptor")) && c.attribute("use").is_none_or(|u| u == "signing"))
        .flat_map(|k| k.descendants().filter(|d| d.has_tag_name((DSIG_NS, "X509Certificate"))))
        .filter_map(|c| c.text())
        .map(|t| t.chars().filter(|c| !c.is_whitespace()).collect::<String>())
        .filter(|t| !t.is_empty())
        .collect();
    if signing_certs.is_empty() {
        return Err(MetadataError(
            "the identity provider publishes no signing certificate; rollcall won't accept unsigned sign-ins".into(),
        ));
    }
    Ok(IdpMetadata {
        entity_id: entity_id.to_owned(),
        sso_url: sso_url.to_owned(),
        signing_certs,
    })
}

/// rollcall's SP entity id under a base URL.
pub fn sp_entity_id(base_url: &str) -> String {
    format!("{}/saml/metadata", base_url.trim_end_matches('/'))
}

/// rollcall's assertion consumer service URL under a base URL.
pub fn acs_url(base_url: &str) -> String {
    format!("{}/saml/acs", base_url.trim_end_matches('/'))
}

pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// rollcall's service-provider metadata: entity id `<base>/saml/metadata`, assertion consumer
/// `<base>/saml/acs` (HTTP-POST), signed assertions wanted.
pub fn sp_metadata(base_url: &str) -> String {
    let base = xml_escape(base_url.trim_end_matches('/'));
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <md:EntityDescriptor xmlns:md=\"{MD_NS}\" entityID=\"{base}/saml/metadata\">\n\
         \x20 <md:SPSSODescriptor AuthnRequestsSigned=\"false\" WantAssertionsSigned=\"true\" protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\n\
         \x20   <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>\n\
         \x20   <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>\n\
         \x20   <md:AssertionConsumerService Binding=\"{POST_BINDING}\" Location=\"{base}/saml/acs\" index=\"0\" isDefault=\"true\"/>\n\
         \x20 </md:SPSSODescriptor>\n\
         </md:EntityDescriptor>\n"
    )
}

/// When a certificate (base64 DER, as IdP metadata carries it) stops being valid, in
/// seconds since the Unix epoch.
pub fn certificate_not_after(base64_der: &str) -> Result<i64, String> {
    use base64::Engine as _;
    use x509_cert::der::Decode as _;
    let compact: String = base64_der.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| "the certificate is not base64".to_owned())?;
    let cert = x509_cert::Certificate::from_der(&der).map_err(|e| format!("the certificate can't be read: {e}"))?;
    let after = cert.tbs_certificate.validity.not_after.to_unix_duration();
    i64::try_from(after.as_secs()).map_err(|_| "the certificate's end of validity is out of range".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDP: &str = r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.org/metadata">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
      MIIBsjCCAVigAwIBAgIUQk
      ZhY2U=
    </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>ENCRYPTIONONLY</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.org/sso/post"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.org/sso/redirect"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#;

    #[test]
    fn reads_what_an_idp_publishes() {
        let m = parse_idp_metadata(IDP).unwrap();
        assert_eq!(m.entity_id, "https://idp.example.org/metadata");
        assert_eq!(m.sso_url, "https://idp.example.org/sso/redirect");
        assert_eq!(
            m.signing_certs,
            vec!["MIIBsjCCAVigAwIBAgIUQkZhY2U=".to_owned()],
            "signing keys only, whitespace removed"
        );
    }

    #[test]
    fn refuses_metadata_it_cannot_trust() {
        let unsigned = IDP.replace("use=\"signing\"", "use=\"encryption\"");
        assert!(
            parse_idp_metadata(&unsigned)
                .unwrap_err()
                .0
                .contains("no signing certificate")
        );
        let dtd = format!(
            "<!DOCTYPE x [<!ENTITY e \"boom\">]>{}",
            IDP.trim_start_matches("<?xml version=\"1.0\"?>")
        );
        assert!(parse_idp_metadata(&dtd).is_err(), "no DTDs, no entities");
        assert!(
            parse_idp_metadata(
                "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"x\"/>"
            )
            .is_err()
        );
        assert!(parse_idp_metadata("not xml").is_err());
    }

    #[test]
    fn sp_metadata_names_the_entity_and_the_consumer() {
        let md = sp_metadata("https://lms.example.org/");
        assert!(md.contains("entityID=\"https://lms.example.org/saml/metadata\""));
        assert!(md.contains("Location=\"https://lms.example.org/saml/acs\""));
        roxmltree::Document::parse(&md).unwrap();
    }

    #[test]
    fn a_certificates_end_of_validity_is_read() {
        let pem = include_str!("../testdata/idp.cert.pem");
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        // openssl x509 -enddate: Nov  4 09:06:31 2126 GMT
        assert_eq!(certificate_not_after(&body), Ok(4_949_456_791));
        assert!(certificate_not_after("not base64!").is_err());
        assert!(certificate_not_after("MIIBsjCCAVigAwIBAgIU").is_err());
    }
}
