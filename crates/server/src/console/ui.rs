//! The pieces every page is built from, as maud functions: the document and the signed-in
//! layout with its navigation, tables with sortable headings, pagers, forms and fields with
//! their errors, and flash messages. Text goes into markup only through maud's splices,
//! which escape it; nothing here (or anywhere in this crate) writes markup as a string.

use maud::{DOCTYPE, Markup, Render, html};
use rollcall_core::domain::Area;

use super::ConsoleUser;
use super::style;

/// A whole HTML document: the head every page shares and `body` as its main content, after
/// `header` when there is one.
pub(crate) fn document(title: &str, header: Option<Markup>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · rollcall" }
                link rel="stylesheet" href=(style::href());
            }
            body {
                @if let Some(header) = header { (header) }
                main { (body) }
            }
        }
    }
}

/// The console's sections, in the order the navigation shows them, each with the area that
/// opens it. The links a user sees are exactly those their areas allow.
const SECTIONS: &[(Area, &str, &str)] = &[
    (Area::ReportsAll, "/admin", "Dashboard"),
    (Area::UsersManage, "/admin/users", "Users"),
    (Area::UsersManage, "/admin/users/new", "Add user"),
    (Area::UserTypesManage, "/admin/types", "User types"),
    (Area::BranchesManage, "/admin/branches", "Branches"),
    (Area::GroupsManage, "/admin/groups", "Groups"),
    (Area::CoursesManageAll, "/admin/courses", "Courses"),
    (Area::PlanManage, "/admin/plan", "Plan"),
    (Area::IntegrationsManage, "/admin/tokens", "Tokens"),
    (Area::SettingsManage, "/admin/settings", "Settings"),
    (Area::SettingsManage, "/admin/idle-policy", "Idle policy"),
    (Area::SettingsManage, "/admin/jobs", "Daily jobs"),
    (Area::ImportRun, "/admin/import", "Import"),
    (Area::UsersManage, "/admin/users?status=trash", "Trash"),
    (Area::AuditView, "/admin/audit", "Audit log"),
    (Area::CoursesTake, "/learn", "My courses"),
    (Area::Grading, "/teach", "Teaching"),
];

/// A signed-in page: the header with the sections the user's areas open, their name (a
/// link to their account) and signing out, then `body`.
pub(crate) fn layout(user: &ConsoleUser, title: &str, body: Markup) -> Markup {
    let header = html! {
        header {
            strong { "rollcall" }
            nav aria-label="Main" {
                @for (area, href, label) in SECTIONS {
                    @if user.holds(*area) { a href=(href) { (label) } }
                }
            }
            form method="post" action="/logout" class="sign-out" {
                (csrf_field(user.csrf()))
                a href="/account" { (user.info.user.username) }
                " "
                button type="submit" { "Sign out" }
            }
        }
    };
    document(title, Some(header), body)
}

/// The hidden field carrying the session's CSRF token, first in every form that posts.
pub(crate) fn csrf_field(token: &str) -> Markup {
    hidden("csrf", token)
}

pub(crate) fn hidden(name: &str, value: &str) -> Markup {
    html! { input type="hidden" name=(name) value=(value); }
}

/// A form that posts to `action`: the CSRF token, `fields`, and one submit button.
pub(crate) fn post_form(action: &str, csrf: &str, fields: Markup, button: &str) -> Markup {
    html! {
        form method="post" action=(action) {
            (csrf_field(csrf))
            (fields)
            p { button type="submit" { (button) } }
        }
    }
}

/// A message that something was refused or needs attention (announced at once).
pub(crate) fn alert(message: impl Render) -> Markup {
    html! { p role="alert" { (message) } }
}

/// A message saying what was done (announced politely).
pub(crate) fn done(message: impl Render) -> Markup {
    html! { p role="status" { (message) } }
}

/// A table with column headings over `rows` (each a `tr`).
pub(crate) fn table(headings: &[&str], rows: Markup) -> Markup {
    table_with(html! { @for h in headings { th scope="col" { (h) } } }, rows)
}

/// A table whose heading cells the caller makes (sortable ones, say).
pub(crate) fn table_with(headings: Markup, rows: Markup) -> Markup {
    html! {
        table {
            thead { tr { (headings) } }
            tbody { (rows) }
        }
    }
}

/// A column heading that sorts by `column`: ascending first, then it toggles. The current
/// order (`current`: a column, `-` first for descending) is announced with `aria-sort` and
/// shown with an arrow; `href` makes the link for an order.
pub(crate) fn sort_heading(label: &str, column: &str, current: &str, href: impl Fn(&str) -> String) -> Markup {
    let descending = format!("-{column}");
    let (aria, arrow, next) = if current == column {
        ("ascending", " ▲", descending.as_str())
    } else if current == descending {
        ("descending", " ▼", column)
    } else {
        ("none", "", column)
    };
    html! {
        th scope="col" aria-sort=(aria) {
            a href=(href(next)) title={ "Sort by " (label) } {
                (label)
                span aria-hidden="true" { (arrow) }
            }
        }
    }
}

/// Links to the first, previous and next pages of a list, those that exist.
pub(crate) fn pager(first: Option<String>, prev: Option<String>, next: Option<String>) -> Markup {
    let links = [
        (first, "first", "First page"),
        (prev, "prev", "Previous page"),
        (next, "next", "Next page"),
    ];
    let links: Vec<(String, &str, &str)> = links
        .into_iter()
        .filter_map(|(href, class, label)| href.map(|h| (h, class, label)))
        .collect();
    html! {
        @if !links.is_empty() {
            nav aria-label="Pages" class="pages" {
                @for (i, (href, class, label)) in links.iter().enumerate() {
                    @if i > 0 { " " }
                    a href=(href) class=(class) { (label) }
                }
            }
        }
    }
}

/// A labelled text input in its own paragraph; with an error, the error sits beside it and
/// the input points to it.
pub(crate) struct Input<'a> {
    name: &'a str,
    label: &'a str,
    id: Option<&'a str>,
    kind: Option<&'a str>,
    value: Option<&'a str>,
    placeholder: Option<&'a str>,
    autocomplete: Option<&'a str>,
    error: Option<&'a str>,
    required: bool,
}

impl<'a> Input<'a> {
    pub(crate) fn new(name: &'a str, label: &'a str) -> Input<'a> {
        Input {
            name,
            label,
            id: None,
            kind: None,
            value: None,
            placeholder: None,
            autocomplete: None,
            error: None,
            required: false,
        }
    }
    /// The element id, when it isn't the name (two forms on one page with the same field).
    pub(crate) fn id(self, id: &'a str) -> Self {
        Input { id: Some(id), ..self }
    }
    pub(crate) fn kind(self, kind: &'a str) -> Self {
        Input {
            kind: Some(kind),
            ..self
        }
    }
    pub(crate) fn value(self, value: &'a str) -> Self {
        Input {
            value: Some(value),
            ..self
        }
    }
    pub(crate) fn placeholder(self, placeholder: &'a str) -> Self {
        Input {
            placeholder: Some(placeholder),
            ..self
        }
    }
    pub(crate) fn autocomplete(self, autocomplete: &'a str) -> Self {
        Input {
            autocomplete: Some(autocomplete),
            ..self
        }
    }
    pub(crate) fn error(self, error: Option<&'a str>) -> Self {
        Input { error, ..self }
    }
    pub(crate) fn required(self) -> Self {
        Input { required: true, ..self }
    }

    pub(crate) fn render(&self) -> Markup {
        let id = self.id.unwrap_or(self.name);
        let error_id = format!("{id}-error");
        html! {
            p {
                label for=(id) { (self.label) }
                input id=(id) name=(self.name) type=[self.kind] value=[self.value]
                    placeholder=[self.placeholder] autocomplete=[self.autocomplete] required[self.required]
                    aria-invalid=[self.error.map(|_| "true")] aria-describedby=[self.error.map(|_| &error_id)];
                @if let Some(error) = self.error {
                    " "
                    span class="error" id=(error_id) role="alert" { (error) }
                }
            }
        }
    }
}

/// A labelled choice among `options` (value, text), `current` selected.
pub(crate) fn select(name: &str, label: &str, current: &str, options: &[(&str, &str)]) -> Markup {
    html! {
        p {
            label for=(name) { (label) }
            select id=(name) name=(name) {
                @for (value, text) in options {
                    option value=(value) selected[*value == current] { (text) }
                }
            }
        }
    }
}

/// A checkbox with its label around it, sending `1` when ticked.
pub(crate) fn checkbox(name: &str, label: &str, checked: bool) -> Markup {
    html! {
        p { label { input type="checkbox" name=(name) value="1" checked[checked]; " " (label) } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_wherever_it_goes() {
        let hostile = "\"><script>alert(1)</script>";
        let field = Input::new("q", hostile).value(hostile).error(Some(hostile)).render();
        let html = field.into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;"), "{html}");
        let heading = sort_heading(hostile, "name", "", |s| format!("/x?sort={s}&a=\"")).into_string();
        assert!(
            !heading.contains("<script>") && heading.contains("&amp;a=&quot;"),
            "{heading}"
        );
    }

    #[test]
    fn an_error_is_tied_to_its_field() {
        let html = Input::new("email", "Email")
            .kind("email")
            .value("x")
            .error(Some("not an email"))
            .render()
            .into_string();
        assert!(
            html.contains("aria-invalid=\"true\" aria-describedby=\"email-error\"")
                && html.contains("id=\"email-error\" role=\"alert\""),
            "{html}"
        );
        let plain = Input::new("email", "Email").render().into_string();
        assert!(!plain.contains("aria-invalid") && !plain.contains("role"), "{plain}");
    }

    #[test]
    fn the_pager_shows_only_pages_that_exist() {
        assert_eq!(pager(None, None, None).into_string(), "");
        let html = pager(None, None, Some("/n".into())).into_string();
        assert_eq!(
            html,
            "<nav aria-label=\"Pages\" class=\"pages\"><a href=\"/n\" class=\"next\">Next page</a></nav>"
        );
    }
}
