//! Who is asking, decided before a console handler runs: [`ConsoleUser`] (the session and
//! the areas the core says it holds now) and [`CsrfForm`] (that, plus a posted form whose
//! CSRF token is the session's).

use axum::body::Body;
use axum::extract::{Form, FromRequest, FromRequestParts, RawForm, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use rollcall_core::Context;
use rollcall_core::domain::{Area, UserId};
use rollcall_core::service::{SessionInfo, UserKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::collections::HashMap;

use super::PageError;
use crate::AppState;
use crate::web::{same, session_of};

/// The signed-in user of a console request and the feature areas they hold. Without a
/// session the request is sent to sign in, and back to this page after.
pub(crate) struct ConsoleUser {
    pub(crate) info: SessionInfo,
    areas: Vec<Area>,
}

impl ConsoleUser {
    pub(crate) fn ctx(&self) -> &Context {
        &self.info.context
    }

    /// The session's CSRF token, for the forms on the page.
    pub(crate) fn csrf(&self) -> &str {
        &self.info.csrf_token
    }

    /// Whether to offer what `area` opens (links and forms; the core decides the rest).
    pub(crate) fn holds(&self, area: Area) -> bool {
        self.areas.contains(&area)
    }

    /// The signed-in user, as the service names users.
    pub(crate) fn me(&self) -> UserKey {
        UserKey::Id(UserId(self.info.user.id))
    }

    /// Refuses a form whose token isn't the session's.
    pub(crate) fn check_token(&self, sent: &str) -> Result<(), PageError> {
        if same(&self.info.csrf_token, sent) {
            Ok(())
        } else {
            Err(PageError::BadToken)
        }
    }
}

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<ConsoleUser, PageError> {
        let Some((_, info)) = session_of(state, &parts.headers).await else {
            // Back to a page after signing in; a form posted without a session is lost.
            let next = (parts.method == Method::GET)
                .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
                .flatten();
            return Err(PageError::SignIn { next });
        };
        let areas = state.service.my_areas(&info.context).await?;
        Ok(ConsoleUser { info, areas })
    }
}

/// A posted form (`application/x-www-form-urlencoded`) and its signed-in sender, once its
/// `csrf` field has matched the session's token: a missing or wrong one is refused before
/// the body is even read as `T`.
pub(crate) struct CsrfForm<T> {
    pub(crate) user: ConsoleUser,
    pub(crate) form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<CsrfForm<T>, PageError> {
        let (mut parts, body) = req.into_parts();
        let user = ConsoleUser::from_request_parts(&mut parts, state).await?;
        let RawForm(bytes) = RawForm::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(PageError::malformed)?;
        let sent = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        user.check_token(&sent)?;
        // The body again, now as `T`, through axum's own form reader.
        let mut again = Request::new(Body::from(bytes));
        *again.method_mut() = Method::POST;
        again.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let Form(form) = Form::<T>::from_request(again, state)
            .await
            .map_err(PageError::malformed)?;
        Ok(CsrfForm { user, form })
    }
}

/// A form that carries nothing but its CSRF token.
#[derive(Deserialize)]
pub(crate) struct NoFields {}

/// A form whose keys may repeat (`ids=1&ids=2`, one checkbox per area), as lists by key.
#[derive(Default)]
pub(crate) struct FormPairs(HashMap<String, Vec<String>>);

impl FormPairs {
    /// Every value sent under `key`, in order.
    pub(crate) fn all(&self, key: &str) -> &[String] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }

    /// The first value sent under `key`, or "".
    pub(crate) fn first(&self, key: &str) -> &str {
        self.all(key).first().map_or("", String::as_str)
    }

    /// Every (key, value) sent, to carry a form on to a confirmation page.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), v.as_str())))
    }
}

impl<'de> Deserialize<'de> for FormPairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FormPairs, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = FormPairs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("form fields")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<FormPairs, A::Error> {
                let mut pairs: HashMap<String, Vec<String>> = HashMap::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    pairs.entry(k).or_default().push(v);
                }
                Ok(FormPairs(pairs))
            }
        }
        d.deserialize_map(Pairs)
    }
}
