//! Closed vocabularies: enums whose variants each have one wire string (a status, a code, an
//! audit action). Views carry the enum and serialise it as that string, so the wire stays
//! what CONTRACT.md says while the code matches on variants, not on text.

/// Serialises an enum with `ALL` and `as_str` (or the method named) as its string, shows it
/// (`Display`) and compares it (`== "active"`) as that string, and describes it in the
/// OpenAPI document as a string with those values.
macro_rules! wire_string {
    ($name:ident) => {
        wire_string!($name, as_str);
    };
    ($name:ident, $text:ident) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.$text())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.$text())
            }
        }

        /// Compares with the wire string, as callers that read the wire do.
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.$text() == *other
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some($name::ALL.iter().map(|v| v.$text())))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

/// Defines an enum, its `ALL`, `as_str`, `parse` (exact wire string) and `Display`, and
/// makes it a [`wire_string!`].
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vdoc])* $variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
            /// The variant whose wire string is exactly `s`.
            pub fn from_wire(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        wire_string!($name);

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<$name, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::from_wire(&s).ok_or_else(|| {
                    let known: Vec<_> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    serde::de::Error::custom(format!("unknown value '{s}'; expected one of {}", known.join(", ")))
                })
            }
        }
    };
}
