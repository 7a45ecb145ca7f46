//! The SCIM 2.0 filter grammar (RFC 7644 §3.4.2.2), as identity providers such as Okta and
//! Microsoft Entra ID send it in `?filter=` queries and PATCH paths.
//!
//! Parsing is two steps: a lexer splits the input into brackets, JSON strings and "words"
//! (attribute paths, keywords, operators, literals), and a recursive-descent parser builds the
//! [`Filter`]. Input length is capped at [`MAX_LEN`] and nesting at [`MAX_DEPTH`], so hostile
//! filters can neither exhaust the stack nor build huge trees.

use std::fmt;

/// Longest filter accepted, in bytes.
pub const MAX_LEN: usize = 4096;
/// Deepest nesting accepted (parentheses, `not`, value paths).
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attrPath op compValue`
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    /// `attrPath pr`
    Present(AttrPath),
    /// `attr[inner]`: some value of the multi-valued `attr` matches `inner`.
    /// `attr[inner].sub op value` / `attr[inner].sub pr` (sent by IdPs, e.g.
    /// `emails[type eq "work"].value eq "x"`): some value matches `inner` and its `sub`
    /// compares (`then = Some((sub, Some((op, value))))`) or is present (`Some((sub, None))`).
    ValuePath {
        attr: AttrPath,
        inner: Box<Filter>,
        then: Option<(String, Option<(CompareOp, CompValue)>)>,
    },
}

/// An attribute path: optional schema URN, attribute, optional sub-attribute.
/// `uri`, `attr` and `sub` are stored LOWERCASED (SCIM names are case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub uri: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

// ---------------------------------------------------------------------------------------------
// Printing: a filter written back in the grammar it was parsed from, with only the
// parentheses its shape needs, so `parse(&f.to_string()) == Ok(f)` (checked by the fuzz
// target `scim_filter`) and a printed filter nests no deeper than the one parsed.

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The parser builds `and`/`or` chains left-deep, `and` binding tighter than `or`: a
        // left operand of the same operator needs no parentheses, anything looser does, and so
        // does a right operand of the same operator.
        fn operand(f: &mut fmt::Formatter<'_>, x: &Filter, parenthesize: bool) -> fmt::Result {
            if parenthesize {
                write!(f, "({x})")
            } else {
                write!(f, "{x}")
            }
        }
        match self {
            Filter::Or(l, r) => {
                operand(f, l, false)?;
                f.write_str(" or ")?;
                operand(f, r, matches!(**r, Filter::Or(..)))
            }
            Filter::And(l, r) => {
                operand(f, l, matches!(**l, Filter::Or(..)))?;
                f.write_str(" and ")?;
                operand(f, r, matches!(**r, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::ValuePath { attr, inner, then } => {
                write!(f, "{attr}[{inner}]")?;
                match then {
                    None => Ok(()),
                    Some((sub, None)) => write!(f, ".{sub} pr"),
                    Some((sub, Some((op, value)))) => write!(f, ".{sub} {op} {value}"),
                }
            }
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(uri) = &self.uri {
            write!(f, "{uri}:")?;
        }
        f.write_str(&self.attr)?;
        match &self.sub {
            Some(sub) => write!(f, ".{sub}"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        })
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A JSON string literal: the escaping the lexer decodes.
            CompValue::Str(s) => f.write_str(&serde_json::Value::from(s.as_str()).to_string()),
            // `{:?}` prints the shortest form that reads back as the same number, in
            // exponent notation when that is shorter (`1e300`, not 301 digits).
            CompValue::Num(n) => write!(f, "{n:?}"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

/// Why a filter was refused; its Display is a sentence for the SCIM `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

/// Parses a SCIM filter such as `userName eq "ada@example.org" and active eq true`.
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    if input.len() > MAX_LEN {
        return Err(FilterError(format!(
            "The filter is {} bytes long; at most {MAX_LEN} bytes are accepted.",
            input.len()
        )));
    }
    parse_unlimited(input)
}

/// Everything [`parse`] does except the length check. Kept separate so the tests can show that
/// the depth limit alone protects the stack, whatever the length.
fn parse_unlimited(input: &str) -> Result<Filter, FilterError> {
    let tokens = lex(input)?;
    if tokens.is_empty() {
        return Err(FilterError("The filter is empty.".into()));
    }
    let mut parser = Parser {
        input,
        tokens,
        next: 0,
        depth: 0,
        value_attr: None,
    };
    let filter = parser.parse_or()?;
    if let Some(tok) = parser.peek() {
        let at = parser.position(tok.at);
        return Err(FilterError(match tok.tok {
            Tok::Close => format!("Unbalanced `)` at position {at}: no `(` is open."),
            Tok::CloseBracket => format!("Unbalanced `]` at position {at}: no `[` is open."),
            _ => format!(
                "Expected `and`, `or` or the end of the filter, found {}.",
                parser.found()
            ),
        }));
    }
    Ok(filter)
}

impl AttrPath {
    /// Parses a bare attribute path (also used for PATCH `path` values without a filter and for
    /// the `attributes`/`excludedAttributes` query parameters), e.g. `name.givenName`,
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, `members`,
    /// `urn:ietf:params:scim:schemas:core:2.0:User:name.familyName`.
    pub fn parse(s: &str) -> Result<AttrPath, FilterError> {
        let s = s.trim_matches(is_space);
        if s.is_empty() {
            return Err(FilterError("The attribute path is empty.".into()));
        }
        parse_path(s).map_err(|why| FilterError(format!("Invalid attribute path `{}`: {why}.", shorten(s))))
    }
}

/// Splits and validates a path; the error is a reason phrase to embed in a sentence.
fn parse_path(s: &str) -> Result<AttrPath, String> {
    // URNs contain dots (`...:2.0:User`), so the URN is split off at the last colon before any
    // dot is looked at.
    let (uri, rest) = match s.get(..4) {
        Some(prefix) if prefix.eq_ignore_ascii_case("urn:") => {
            let colon = s.rfind(':').expect("starts with `urn:`");
            let uri = &s[..colon];
            let mut parts = uri.split(':');
            parts.next(); // `urn`
            let nss: Vec<&str> = parts.collect();
            if nss.is_empty() || nss.iter().any(|p| p.is_empty()) {
                return Err(format!("the schema URN `{}` is incomplete", shorten(uri)));
            }
            if let Some(c) = uri.chars().find(|&c| !is_urn_char(c)) {
                return Err(format!("the schema URN contains {c:?}"));
            }
            (Some(uri.to_ascii_lowercase()), &s[colon + 1..])
        }
        _ => (None, s),
    };
    if rest.is_empty() {
        return Err("no attribute name follows the schema URN".into());
    }
    let (attr, sub) = match rest.split_once('.') {
        Some((attr, sub)) => (attr, Some(sub)),
        None => (rest, None),
    };
    check_attr_name(attr)?;
    if let Some(sub) = sub {
        if sub.contains('.') {
            return Err("only one `.` is allowed (sub-attributes have no sub-attributes)".into());
        }
        check_attr_name(sub)?;
    }
    Ok(AttrPath {
        uri,
        attr: attr.to_ascii_lowercase(),
        sub: sub.map(str::to_ascii_lowercase),
    })
}

/// ATTRNAME = ALPHA *(ALPHA / DIGIT / "-" / "_"), plus the `$ref` of RFC 7643 references.
fn check_attr_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an attribute name is empty".into());
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if name.eq_ignore_ascii_case("$ref")
        || (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not an attribute name (a letter, then letters, digits, `-` or `_`)",
            shorten(name)
        ))
    }
}

fn is_urn_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '(' | ')' | '[' | ']' | '"')
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Keeps error messages readable when someone sends a 4 KB attribute name.
fn shorten(s: &str) -> String {
    const KEEP: usize = 40;
    match s.char_indices().nth(KEEP) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug)]
enum Tok<'a> {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    /// A run of anything but whitespace, brackets and `"`: a path, keyword, operator or literal.
    Word(&'a str),
    /// A decoded JSON string.
    Str(String),
}

#[derive(Debug)]
struct Token<'a> {
    tok: Tok<'a>,
    /// Byte offset in the input.
    at: usize,
}

fn lex(input: &str) -> Result<Vec<Token<'_>>, FilterError> {
    // Every delimiter is ASCII, and UTF-8 continuation bytes are never ASCII, so scanning bytes
    // always cuts at char boundaries.
    let bytes = input.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let at = i;
        let tok = match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => Tok::Open,
            b')' => Tok::Close,
            b'[' => Tok::OpenBracket,
            b']' => Tok::CloseBracket,
            b'"' => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => {
                            return Err(FilterError(format!(
                                "Unterminated string starting at position {}.",
                                position(input, at)
                            )));
                        }
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                let literal = &input[at..=i];
                let decoded = serde_json::from_str::<String>(literal).map_err(|e| {
                    // serde_json appends " at line 1 column N"; the position we give is better.
                    let msg = e.to_string();
                    let why = msg.rsplit_once(" at line ").map_or(msg.as_str(), |(why, _)| why);
                    FilterError(format!(
                        "The string starting at position {} is not a valid JSON string: {why}.",
                        position(input, at)
                    ))
                })?;
                Tok::Str(decoded)
            }
            _ => {
                while i < bytes.len()
                    && !matches!(
                        bytes[i],
                        b' ' | b'\t' | b'\r' | b'\n' | b'(' | b')' | b'[' | b']' | b'"'
                    )
                {
                    i += 1;
                }
                tokens.push(Token {
                    tok: Tok::Word(&input[at..i]),
                    at,
                });
                continue;
            }
        };
        i += 1;
        tokens.push(Token { tok, at });
    }
    Ok(tokens)
}

/// 1-based character position of a byte offset, for error messages.
fn position(input: &str, at: usize) -> usize {
    input[..at].chars().count() + 1
}

// ---------------------------------------------------------------------------------------------
// Parser
//
//   filter    = and *("or" and)
//   and       = unary *("and" unary)
//   unary     = "not" "(" filter ")" / "(" filter ")" / attrExp
//   attrExp   = attrPath ("pr" / op value / "[" filter "]" ["." sub ("pr" / op value)])

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    next: usize,
    /// Open `(`, `not(` and `[` around the current token; never exceeds MAX_DEPTH.
    depth: usize,
    /// The outer attribute while parsing inside `attr[...]`.
    value_attr: Option<&'a str>,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.next)
    }

    /// The next token if it is a word equal to `keyword`, ignoring case.
    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(keyword))
    }

    fn position(&self, at: usize) -> usize {
        position(self.input, at)
    }

    /// Describes the next token for "…, found X." messages.
    fn found(&self) -> String {
        let Some(tok) = self.peek() else {
            return "the end of the filter".into();
        };
        let what = match &tok.tok {
            Tok::Open => "`(`".into(),
            Tok::Close => "`)`".into(),
            Tok::OpenBracket => "`[`".into(),
            Tok::CloseBracket => "`]`".into(),
            Tok::Word(w) => format!("`{}`", shorten(w)),
            Tok::Str(_) => "a string".into(),
        };
        format!("{what} at position {}", self.position(tok.at))
    }

    fn fail<T>(&self, msg: String) -> Result<T, FilterError> {
        Err(FilterError(msg))
    }

    /// Called before descending into a nested construct, so that deep input fails at level
    /// MAX_DEPTH + 1 instead of recursing through all of it.
    fn enter(&mut self, at: usize) -> Result<(), FilterError> {
        if self.depth >= MAX_DEPTH {
            return self.fail(format!(
                "The filter nests more than {MAX_DEPTH} levels deep (parentheses, `not` and `[...]`) at position {}.",
                self.position(at)
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // `and`/`or` chains loop rather than recurse, so their length costs no stack; the trees they
    // build are left-deep but bounded by MAX_LEN (a term plus ` or ` takes at least 8 bytes).
    fn parse_or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.parse_and()?;
        while self.peek_keyword("or") {
            self.next += 1;
            let right = self.parse_and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.parse_unary()?;
        while self.peek_keyword("and") {
            self.next += 1;
            let right = self.parse_unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_unary(&mut self) -> Result<Filter, FilterError> {
        let Some(tok) = self.peek() else {
            return self.fail(format!(
                "Expected an attribute path, `(` or `not`, found {}.",
                self.found()
            ));
        };
        let at = tok.at;
        match tok.tok {
            Tok::Open => {
                self.enter(at)?;
                self.next += 1;
                let inner = self.parse_or()?;
                self.expect_close(false, at)?;
                self.leave();
                Ok(inner)
            }
            // RFC 7644 only has `not (...)`. A bare `not` is always the keyword, never an
            // attribute called "not".
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                self.next += 1;
                let open = match self.peek() {
                    Some(Token { tok: Tok::Open, at }) => *at,
                    _ => {
                        return self.fail(format!(
                            "`not` at position {} must be followed by `(`, found {}.",
                            self.position(at),
                            self.found()
                        ));
                    }
                };
                // `not (` is one level: the parenthesis belongs to the `not`.
                self.enter(at)?;
                self.next += 1;
                let inner = self.parse_or()?;
                self.expect_close(false, open)?;
                self.leave();
                Ok(Filter::Not(Box::new(inner)))
            }
            Tok::Word(w) => {
                self.next += 1;
                self.parse_attr_exp(w, at)
            }
            _ => self.fail(format!(
                "Expected an attribute path, `(` or `not`, found {}.",
                self.found()
            )),
        }
    }

    /// Consumes the `)` or `]` that closes the bracket opened at byte `open`.
    fn expect_close(&mut self, bracket: bool, open: usize) -> Result<(), FilterError> {
        let (close, opener) = if bracket { ("]", "[") } else { (")", "(") };
        match self.peek().map(|t| &t.tok) {
            Some(Tok::CloseBracket) if bracket => {
                self.next += 1;
                Ok(())
            }
            Some(Tok::Close) if !bracket => {
                self.next += 1;
                Ok(())
            }
            None => self.fail(format!(
                "Missing `{close}` to close the `{opener}` at position {}.",
                self.position(open)
            )),
            Some(_) => self.fail(format!(
                "Expected `and`, `or` or `{close}` to close the `{opener}` at position {}, found {}.",
                self.position(open),
                self.found()
            )),
        }
    }

    /// Everything after an attribute path `word` (already consumed) at byte `at`.
    fn parse_attr_exp(&mut self, word: &'a str, at: usize) -> Result<Filter, FilterError> {
        let path = parse_path(word).map_err(|why| {
            FilterError(format!(
                "Invalid attribute path `{}` at position {}: {why}.",
                shorten(word),
                self.position(at)
            ))
        })?;

        if let Some(Token {
            tok: Tok::OpenBracket,
            at: open,
        }) = self.peek()
        {
            let open = *open;
            return self.parse_value_path(word, path, open);
        }

        if let Some(outer) = self.value_attr
            && (path.uri.is_some() || path.sub.is_some())
        {
            return self.fail(format!(
                "Inside `{}[...]`, `{}` at position {} must name a sub-attribute of `{}` (no URN, no `.`).",
                shorten(outer),
                shorten(word),
                self.position(at),
                shorten(outer)
            ));
        }

        match self.parse_predicate(word)? {
            None => Ok(Filter::Present(path)),
            Some((op, value)) => Ok(Filter::Compare { path, op, value }),
        }
    }

    /// `attr[inner]` and its optional `.sub pr` / `.sub op value`; `open` is the `[`.
    fn parse_value_path(&mut self, word: &'a str, attr: AttrPath, open: usize) -> Result<Filter, FilterError> {
        if let Some(outer) = self.value_attr {
            return self.fail(format!(
                "Value filters cannot be nested: the `[` at position {} is inside `{}[...]`.",
                self.position(open),
                shorten(outer)
            ));
        }
        if attr.sub.is_some() {
            return self.fail(format!(
                "`{}[` at position {}: a value filter must follow a multi-valued attribute, not a sub-attribute.",
                shorten(word),
                self.position(open)
            ));
        }
        self.enter(open)?;
        self.next += 1;
        self.value_attr = Some(word);
        let inner = self.parse_or()?;
        self.value_attr = None;
        self.expect_close(true, open)?;
        self.leave();

        let then = match self.peek() {
            Some(Token { tok: Tok::Word(w), at }) if w.starts_with('.') => {
                let (w, at) = (*w, *at);
                self.next += 1;
                let sub = &w[1..];
                check_attr_name(sub).map_err(|why| {
                    FilterError(format!(
                        "Invalid sub-attribute `{}` at position {}: {why}.",
                        shorten(w),
                        self.position(at)
                    ))
                })?;
                Some((sub.to_ascii_lowercase(), self.parse_predicate(w)?))
            }
            _ => None,
        };
        Ok(Filter::ValuePath {
            attr,
            inner: Box::new(inner),
            then,
        })
    }

    /// `pr` (→ `None`) or `op value`, after the path written as `path`.
    fn parse_predicate(&mut self, path: &str) -> Result<Option<(CompareOp, CompValue)>, FilterError> {
        let (word, at) = match self.peek() {
            Some(Token { tok: Tok::Word(w), at }) => (*w, *at),
            _ => {
                return self.fail(format!(
                    "Expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) after `{}`, found {}.",
                    shorten(path),
                    self.found()
                ));
            }
        };
        let op = match word.to_ascii_lowercase().as_str() {
            "pr" => {
                self.next += 1;
                return Ok(None);
            }
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => {
                return self.fail(format!(
                    "Unknown operator `{}` at position {}; expected eq, ne, co, sw, ew, gt, ge, lt, le or pr.",
                    shorten(word),
                    self.position(at)
                ));
            }
        };
        self.next += 1;

        let value = match self.peek().map(|t| &t.tok) {
            Some(Tok::Str(s)) => Some(CompValue::Str(s.clone())),
            Some(Tok::Word(w)) => literal(w),
            _ => None,
        };
        let Some(value) = value else {
            return self.fail(format!(
                "Expected a value after `{word}` (a string in double quotes, a number, true, false or null), found {}.",
                self.found()
            ));
        };
        self.next += 1;
        Ok(Some((op, value)))
    }
}

/// An unquoted compValue: `true`, `false`, `null` (any case) or a JSON number.
fn literal(w: &str) -> Option<CompValue> {
    if w.eq_ignore_ascii_case("true") {
        Some(CompValue::Bool(true))
    } else if w.eq_ignore_ascii_case("false") {
        Some(CompValue::Bool(false))
    } else if w.eq_ignore_ascii_case("null") {
        Some(CompValue::Null)
    } else if is_number(w) {
        // `1e400` is well-formed but not representable; refuse rather than compare with ∞.
        w.parse::<f64>().ok().filter(|n| n.is_finite()).map(CompValue::Num)
    } else {
        None
    }
}

/// JSON number syntax, tolerating a leading `+` and leading zeros (which `f64::from_str` takes).
/// Checked first because `f64::from_str` also accepts `inf`, `NaN`, `1.` and `.5`.
fn is_number(w: &str) -> bool {
    let b = w.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    if !digits(&mut i) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use CompareOp::*;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user";
    const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:user";

    #[test]
    fn printed_filters_parse_back_to_themselves() {
        for input in [
            r#"userName eq "ada@example.org""#,
            r#"a pr or b pr or c pr"#,
            r#"a pr or (b pr or c pr)"#,
            r#"(a pr or b pr) and c pr and (d pr and e pr)"#,
            r#"not (a pr) and not (b eq 1 or c lt -2.5e-7)"#,
            r#"emails[type eq "work" and value co "@x"].value eq "q\"uote\u0001""#,
            r#"members[value pr].display pr"#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department ne null"#,
            r#"meta.lastModified gt "2026-01-01T00:00:00Z" and active eq FALSE"#,
            r#"x ge 1e300 or y le 0.1 or z eq +5"#,
            r#"and pr and or pr"#,
        ] {
            let parsed = ok(input);
            let printed = parsed.to_string();
            assert_eq!(parse(&printed), Ok(parsed), "{input} printed as {printed}");
        }
        assert_eq!(ok("(a pr or b pr) and c pr").to_string(), "(a pr or b pr) and c pr");
        assert_eq!(ok("A.B EQ 1e300").to_string(), "a.b eq 1e300");
    }

    fn ok(input: &str) -> Filter {
        parse(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
    }

    fn err(input: &str) -> String {
        match parse(input) {
            Ok(f) => panic!("{input:?} should fail, parsed as {f:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn path(attr: &str) -> AttrPath {
        AttrPath {
            uri: None,
            attr: attr.into(),
            sub: None,
        }
    }

    fn sub_path(attr: &str, sub: &str) -> AttrPath {
        AttrPath {
            uri: None,
            attr: attr.into(),
            sub: Some(sub.into()),
        }
    }

    fn cmp(p: AttrPath, op: CompareOp, value: CompValue) -> Filter {
        Filter::Compare { path: p, op, value }
    }

    fn str_(s: &str) -> CompValue {
        CompValue::Str(s.into())
    }

    /// `attr eq n`, the shape most precedence tests use.
    fn eq_num(attr: &str, n: f64) -> Filter {
        cmp(path(attr), Eq, CompValue::Num(n))
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Filter) -> Filter {
        Filter::Not(Box::new(a))
    }

    fn pr(attr: &str) -> Filter {
        Filter::Present(path(attr))
    }

    // --- operators and logic -----------------------------------------------------------------

    #[test]
    fn every_operator() {
        for (word, op) in [
            ("eq", Eq),
            ("ne", Ne),
            ("co", Co),
            ("sw", Sw),
            ("ew", Ew),
            ("gt", Gt),
            ("ge", Ge),
            ("lt", Lt),
            ("le", Le),
        ] {
            assert_eq!(
                ok(&format!("title {word} \"x\"")),
                cmp(path("title"), op, str_("x")),
                "{word}"
            );
        }
    }

    #[test]
    fn present() {
        assert_eq!(ok("title pr"), pr("title"));
        assert_eq!(ok("name.givenName PR"), Filter::Present(sub_path("name", "givenname")));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            ok("a eq 1 or b eq 2 and c eq 3"),
            or(eq_num("a", 1.0), and(eq_num("b", 2.0), eq_num("c", 3.0)))
        );
        assert_eq!(
            ok("a eq 1 and b eq 2 or c eq 3"),
            or(and(eq_num("a", 1.0), eq_num("b", 2.0)), eq_num("c", 3.0))
        );
    }

    #[test]
    fn not_binds_tighter_than_and() {
        assert_eq!(ok("not (a pr) and b pr"), and(not(pr("a")), pr("b")));
        assert_eq!(ok("a pr or not(b pr)"), or(pr("a"), not(pr("b"))));
        assert_eq!(ok("not(a pr or b pr)"), not(or(pr("a"), pr("b"))));
    }

    #[test]
    fn parentheses_group() {
        assert_eq!(
            ok("(a eq 1 or b eq 2) and c eq 3"),
            and(or(eq_num("a", 1.0), eq_num("b", 2.0)), eq_num("c", 3.0))
        );
        assert_eq!(ok("((a pr))"), pr("a"));
        assert_eq!(
            ok("a pr and (b pr or (c pr and d pr))"),
            and(pr("a"), or(pr("b"), and(pr("c"), pr("d"))))
        );
    }

    #[test]
    fn chains_are_left_associative() {
        assert_eq!(ok("a pr and b pr and c pr"), and(and(pr("a"), pr("b")), pr("c")));
        assert_eq!(ok("a pr or b pr or c pr"), or(or(pr("a"), pr("b")), pr("c")));
    }

    #[test]
    fn keywords_and_operators_ignore_case() {
        assert_eq!(
            ok("UserName EQ \"X\" AND NOT (Title Pr) Or a Ge 1"),
            or(
                and(cmp(path("username"), Eq, str_("X")), not(pr("title"))),
                cmp(path("a"), Ge, CompValue::Num(1.0))
            )
        );
        assert_eq!(
            ok("a Eq 1 aNd b lE 2"),
            and(eq_num("a", 1.0), cmp(path("b"), Le, CompValue::Num(2.0)))
        );
    }

    #[test]
    fn whitespace_is_flexible() {
        let expected = and(cmp(path("username"), Eq, str_("a")), pr("title"));
        assert_eq!(ok("  userName \t eq   \"a\"\tand  title   pr  "), expected);
        assert_eq!(
            ok("\tuserName eq \"a\" and (title pr)\t"),
            and(cmp(path("username"), Eq, str_("a")), pr("title"))
        );
    }

    // --- attribute paths ---------------------------------------------------------------------

    #[test]
    fn names_are_lowercased_and_dotted_subs_split() {
        assert_eq!(
            ok("name.givenName sw \"Ad\""),
            cmp(sub_path("name", "givenname"), Sw, str_("Ad"))
        );
        assert_eq!(
            ok("META.LastModified pr"),
            Filter::Present(sub_path("meta", "lastmodified"))
        );
        assert_eq!(ok("x-y_z1 pr"), pr("x-y_z1"));
    }

    #[test]
    fn urn_prefixed_paths() {
        assert_eq!(
            ok("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"Safety\""),
            cmp(
                AttrPath {
                    uri: Some(ENTERPRISE.into()),
                    attr: "department".into(),
                    sub: None
                },
                Eq,
                str_("Safety")
            )
        );
        assert_eq!(
            ok("URN:ietf:params:scim:schemas:core:2.0:User:name.familyName eq \"Hopper\""),
            cmp(
                AttrPath {
                    uri: Some(CORE_USER.into()),
                    attr: "name".into(),
                    sub: Some("familyname".into())
                },
                Eq,
                str_("Hopper")
            )
        );
        assert_eq!(
            ok("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"26118915\""),
            cmp(
                AttrPath {
                    uri: Some(ENTERPRISE.into()),
                    attr: "manager".into(),
                    sub: Some("value".into())
                },
                Eq,
                str_("26118915")
            )
        );
    }

    #[test]
    fn dollar_ref() {
        assert_eq!(ok("members.$ref pr"), Filter::Present(sub_path("members", "$ref")));
        assert_eq!(ok("$Ref pr"), pr("$ref"));
        assert!(err("$foo pr").contains("not an attribute name"));
    }

    // --- value paths -------------------------------------------------------------------------

    #[test]
    fn value_path_alone() {
        assert_eq!(
            ok("emails[type eq \"work\"]"),
            Filter::ValuePath {
                attr: path("emails"),
                inner: Box::new(cmp(path("type"), Eq, str_("work"))),
                then: None
            }
        );
    }

    #[test]
    fn value_path_then_compare() {
        assert_eq!(
            ok("emails[type eq \"work\"].Value co \"@example.org\""),
            Filter::ValuePath {
                attr: path("emails"),
                inner: Box::new(cmp(path("type"), Eq, str_("work"))),
                then: Some(("value".into(), Some((Co, str_("@example.org"))))),
            }
        );
    }

    #[test]
    fn value_path_then_present() {
        assert_eq!(
            ok("emails[type eq \"work\"].display pr"),
            Filter::ValuePath {
                attr: path("emails"),
                inner: Box::new(cmp(path("type"), Eq, str_("work"))),
                then: Some(("display".into(), None)),
            }
        );
    }

    #[test]
    fn value_path_with_compound_inner_filter() {
        assert_eq!(
            ok("addresses[(type eq \"work\" or type eq \"home\") and not (primary eq false)] and userName pr"),
            and(
                Filter::ValuePath {
                    attr: path("addresses"),
                    inner: Box::new(and(
                        or(cmp(path("type"), Eq, str_("work")), cmp(path("type"), Eq, str_("home"))),
                        not(cmp(path("primary"), Eq, CompValue::Bool(false)))
                    )),
                    then: None,
                },
                pr("username")
            )
        );
    }

    #[test]
    fn value_path_with_urn() {
        assert_eq!(
            ok("urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq \"work\"]"),
            Filter::ValuePath {
                attr: AttrPath {
                    uri: Some(CORE_USER.into()),
                    attr: "emails".into(),
                    sub: None
                },
                inner: Box::new(cmp(path("type"), Eq, str_("work"))),
                then: None,
            }
        );
    }

    #[test]
    fn value_path_errors() {
        assert!(err("emails[type eq \"work\"").contains("Missing `]` to close the `[` at position 7"));
        assert!(err("emails[type eq \"work\"].value").contains("Expected an operator"));
        assert!(err("emails[type eq \"work\"].value xx 1").contains("Unknown operator `xx`"));
        assert!(err("emails[type eq \"work\"].a.b eq 1").contains("Invalid sub-attribute `.a.b`"));
        assert!(err("emails[type eq \"work\"]. eq 1").contains("Invalid sub-attribute"));
        assert!(err("emails[type eq \"work\")").contains("Expected `and`, `or` or `]`"));
        assert!(err("a[b[c eq 1]]").contains("cannot be nested"));
        assert!(err("name.givenName[value eq 1]").contains("multi-valued attribute"));
        assert!(err("emails[name.x eq 1]").contains("must name a sub-attribute of `emails`"));
        assert!(err("emails[urn:x:y:type eq 1]").contains("must name a sub-attribute"));
        assert!(err("emails[]").contains("Expected an attribute path"));
        assert!(err("emails[type eq \"work\"]]").contains("Unbalanced `]`"));
    }

    // --- values ------------------------------------------------------------------------------

    #[test]
    fn string_escapes_and_unicode() {
        assert_eq!(
            ok(r#"a eq "q\"b\\s\/n\b\f\n\r\t""#),
            cmp(path("a"), Eq, str_("q\"b\\s/n\u{8}\u{c}\n\r\t"))
        );
        assert_eq!(
            ok(r#"a eq "caf\u00e9 \uD83D\uDE00""#),
            cmp(path("a"), Eq, str_("café 😀"))
        );
        assert_eq!(
            ok("a eq \"Zoë 日本 ) ] and\""),
            cmp(path("a"), Eq, str_("Zoë 日本 ) ] and"))
        );
        assert_eq!(ok("a eq \"\""), cmp(path("a"), Eq, str_("")));
        assert!(err(r#"a eq "bad \x escape""#).contains("not a valid JSON string"));
        assert!(err(r#"a eq "\ud800""#).contains("not a valid JSON string"));
        assert!(err("a eq \"raw\ttab\"").contains("not a valid JSON string"));
    }

    #[test]
    fn numbers() {
        for (text, n) in [
            ("0", 0.0),
            ("42", 42.0),
            ("-7", -7.0),
            ("+7", 7.0),
            ("3.25", 3.25),
            ("-0.5", -0.5),
            ("1e3", 1000.0),
            ("2.5E-2", 0.025),
            ("-1.5e+2", -150.0),
        ] {
            assert_eq!(
                ok(&format!("a gt {text}")),
                cmp(path("a"), Gt, CompValue::Num(n)),
                "{text}"
            );
        }
        for bad in ["1.", ".5", "1e", "--1", "0x10", "inf", "NaN", "1e400", "1,5"] {
            assert!(
                err(&format!("a gt {bad}")).contains("Expected a value after `gt`"),
                "{bad}"
            );
        }
    }

    #[test]
    fn booleans_and_null() {
        assert_eq!(ok("active eq true"), cmp(path("active"), Eq, CompValue::Bool(true)));
        assert_eq!(ok("active eq FALSE"), cmp(path("active"), Eq, CompValue::Bool(false)));
        assert_eq!(ok("manager ne Null"), cmp(path("manager"), Ne, CompValue::Null));
        assert!(err("active eq yes").contains("found `yes` at position 11"));
    }

    // --- real identity-provider filters --------------------------------------------------------

    #[test]
    fn identity_provider_filters() {
        let lines = [
            r#"userName eq "ada.lovelace@example.org""#,
            r#"userName Eq "ADA.LOVELACE@EXAMPLE.ORG""#,
            r#"externalId eq "8c0a2f4e-5b1d-4d3a-9a7e-0f6b1c2d3e4f""#,
            r#"emails[type eq "work"].value eq "grace.hopper@example.org""#,
            r#"displayName eq "Safety Officers""#,
            r#"userName eq "ada.lovelace@example.org" and active eq true"#,
            r#"meta.lastModified gt "2026-01-01T00:00:00Z""#,
            r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
        ];
        for line in lines {
            ok(line);
        }

        assert_eq!(
            ok(lines[1]),
            cmp(path("username"), Eq, str_("ADA.LOVELACE@EXAMPLE.ORG"))
        );
        assert_eq!(
            ok(lines[3]),
            Filter::ValuePath {
                attr: path("emails"),
                inner: Box::new(cmp(path("type"), Eq, str_("work"))),
                then: Some(("value".into(), Some((Eq, str_("grace.hopper@example.org"))))),
            }
        );
        assert_eq!(
            ok(lines[5]),
            and(
                cmp(path("username"), Eq, str_("ada.lovelace@example.org")),
                cmp(path("active"), Eq, CompValue::Bool(true))
            )
        );
        assert_eq!(
            ok(lines[6]),
            cmp(sub_path("meta", "lastmodified"), Gt, str_("2026-01-01T00:00:00Z"))
        );
        assert_eq!(
            ok(lines[7]),
            Filter::ValuePath {
                attr: path("members"),
                inner: Box::new(cmp(path("value"), Eq, str_("2819c223-7f76-453a-919d-413861904646"))),
                then: None,
            }
        );
    }

    // --- errors ------------------------------------------------------------------------------

    #[test]
    fn empty_filters() {
        assert_eq!(err(""), "The filter is empty.");
        assert_eq!(err(" \t "), "The filter is empty.");
        assert!(err("()").contains("Expected an attribute path, `(` or `not`, found `)` at position 2"));
    }

    #[test]
    fn missing_value() {
        assert_eq!(
            err("userName eq"),
            "Expected a value after `eq` (a string in double quotes, a number, true, false or null), found the end of the filter."
        );
        assert!(err("userName eq (a pr)").contains("found `(` at position 13"));
        assert!(err("userName").contains("Expected an operator"));
    }

    #[test]
    fn unknown_operator() {
        assert_eq!(
            err(r#"userName xx "a""#),
            "Unknown operator `xx` at position 10; expected eq, ne, co, sw, ew, gt, ge, lt, le or pr."
        );
        assert!(err("userName \"a\"").contains("Expected an operator"));
    }

    #[test]
    fn unbalanced_parentheses() {
        assert_eq!(
            err(r#"(userName eq "a""#),
            "Missing `)` to close the `(` at position 1."
        );
        assert_eq!(
            err(r#"userName eq "a")"#),
            "Unbalanced `)` at position 16: no `(` is open."
        );
        assert!(err("(a pr b pr)").contains("Expected `and`, `or` or `)` to close the `(` at position 1, found `b`"));
    }

    #[test]
    fn unterminated_string() {
        assert_eq!(
            err(r#"userName eq "ada"#),
            "Unterminated string starting at position 13."
        );
        assert_eq!(
            err(r#"userName eq "ends in backslash\"#),
            "Unterminated string starting at position 13."
        );
        assert!(err(r#"a eq "x\""#).contains("Unterminated string"));
    }

    #[test]
    fn not_needs_parentheses() {
        assert_eq!(
            err(r#"not userName eq "a""#),
            "`not` at position 1 must be followed by `(`, found `userName` at position 5."
        );
        assert!(err("not").contains("found the end of the filter"));
    }

    #[test]
    fn trailing_garbage_and_dangling_keywords() {
        assert!(
            err(r#"a eq "x" b"#).contains("Expected `and`, `or` or the end of the filter, found `b` at position 10")
        );
        assert!(err(r#"a pr "x""#).contains("found a string at position 6"));
        assert!(err("a pr and").contains("Expected an attribute path"));
        assert!(err("or a pr").contains("Unknown operator `a` at position 4"));
        assert!(err("a pr ]").contains("Unbalanced `]`"));
    }

    #[test]
    fn invalid_paths_in_filters() {
        assert!(err("a.b.c eq 1").contains("Invalid attribute path `a.b.c` at position 1"));
        assert!(err("1abc eq 1").contains("not an attribute name"));
        assert!(err("foo:bar eq 1").contains("not an attribute name"));
        assert!(err("urn:x: eq 1").contains("no attribute name follows the schema URN"));
        assert!(err("a pr and .b eq 1").contains("at position 10"));
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert!(err("a eq \"é\" xx").contains("`xx` at position 10"));
    }

    #[test]
    fn too_long() {
        let input = format!("a eq \"{}\"", "x".repeat(MAX_LEN + 1 - 7));
        assert_eq!(input.len(), MAX_LEN + 1);
        assert_eq!(
            err(&input),
            format!(
                "The filter is {} bytes long; at most 4096 bytes are accepted.",
                MAX_LEN + 1
            )
        );

        let fits = format!("a eq \"{}\"", "x".repeat(MAX_LEN - 7));
        assert_eq!(fits.len(), MAX_LEN);
        ok(&fits);
    }

    #[test]
    fn error_display_is_the_sentence() {
        let e = parse("").unwrap_err();
        assert_eq!(e.to_string(), e.0);
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert_eq!(boxed.to_string(), "The filter is empty.");
    }

    // --- depth and length limits -------------------------------------------------------------

    fn nested(open: &str, core: &str, close: &str, levels: usize) -> String {
        format!("{}{core}{}", open.repeat(levels), close.repeat(levels))
    }

    #[test]
    fn depth_limit_parentheses() {
        let mut f = ok(&nested("(", "a pr", ")", MAX_DEPTH));
        assert_eq!(f, pr("a"));
        let msg = err(&nested("(", "a pr", ")", MAX_DEPTH + 1));
        assert!(
            msg.contains("more than 32 levels") && msg.contains("position 33"),
            "{msg}"
        );

        f = ok(&nested("not (", "a pr", ")", MAX_DEPTH));
        for _ in 0..MAX_DEPTH {
            f = match f {
                Filter::Not(inner) => *inner,
                other => panic!("expected Not, got {other:?}"),
            };
        }
        assert_eq!(f, pr("a"));
        assert!(err(&nested("not(", "a pr", ")", MAX_DEPTH + 1)).contains("more than 32 levels"));
    }

    #[test]
    fn depth_limit_counts_value_paths_and_mixtures() {
        ok(&nested("(", "emails[not(type pr)]", ")", MAX_DEPTH - 2));
        assert!(err(&nested("(", "emails[not(type pr)]", ")", MAX_DEPTH - 1)).contains("more than 32 levels"));
        ok(&nested("not((", "a pr", "))", MAX_DEPTH / 2));
        assert!(err(&nested("not((", "a pr", "))", MAX_DEPTH / 2 + 1)).contains("more than 32 levels"));
        // Depth is about nesting, not about how many groups there are in total.
        let many = vec![nested("(", "a pr", ")", MAX_DEPTH); 10].join(" or ");
        ok(&many);
    }

    #[test]
    fn ten_thousand_deep_parentheses() {
        let input = nested("(", "a pr", ")", 10_000);
        assert!(err(&input).contains("bytes long"));
        // Without the length check, the depth limit alone stops it.
        let msg = parse_unlimited(&input).unwrap_err().0;
        assert!(msg.contains("more than 32 levels"), "{msg}");
        // Unclosed is refused the same way.
        assert!(
            parse_unlimited(&"(".repeat(10_000))
                .unwrap_err()
                .0
                .contains("more than 32 levels")
        );
    }

    #[test]
    fn ten_thousand_deep_not() {
        let input = nested("not(", "a pr", ")", 10_000);
        assert!(err(&input).contains("bytes long"));
        let msg = parse_unlimited(&input).unwrap_err().0;
        assert!(msg.contains("more than 32 levels"), "{msg}");
    }

    #[test]
    fn ten_thousand_deep_value_paths() {
        let input = nested("a[", "b pr", "]", 10_000);
        assert!(err(&input).contains("bytes long"));
        let msg = parse_unlimited(&input).unwrap_err().0;
        assert!(msg.contains("cannot be nested"), "{msg}");
        // Interleaved with parentheses the depth limit applies too.
        let msg = parse_unlimited(&nested("a[(", "b pr", ")]", 10_000)).unwrap_err().0;
        assert!(msg.contains("cannot be nested"), "{msg}");
    }

    /// Counts the terms of a left-deep `And` chain without recursing, checking its shape.
    fn left_and_chain_len(mut f: &Filter) -> usize {
        let mut terms = 1;
        while let Filter::And(left, right) = f {
            assert_eq!(**right, eq_num("a", 1.0), "right operands are single terms");
            terms += 1;
            f = left;
        }
        assert_eq!(*f, eq_num("a", 1.0));
        terms
    }

    #[test]
    fn long_and_chains() {
        let chain = |n: usize| vec!["a eq 1"; n].join(" and ");

        let five_thousand = chain(5_000);
        assert!(five_thousand.len() > MAX_LEN);
        assert!(err(&five_thousand).contains("bytes long"));
        // The chain is parsed by a loop, so its length costs no stack.
        let f = parse_unlimited(&five_thousand).unwrap();
        assert_eq!(left_and_chain_len(&f), 5_000);

        let two_hundred = chain(200);
        assert!(two_hundred.len() <= MAX_LEN);
        assert_eq!(left_and_chain_len(&ok(&two_hundred)), 200);
    }

    // --- AttrPath::parse ---------------------------------------------------------------------

    #[test]
    fn attr_path_parse_examples() {
        assert_eq!(
            AttrPath::parse("name.givenName").unwrap(),
            sub_path("name", "givenname")
        );
        assert_eq!(
            AttrPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department").unwrap(),
            AttrPath {
                uri: Some(ENTERPRISE.into()),
                attr: "department".into(),
                sub: None
            }
        );
        assert_eq!(AttrPath::parse("members").unwrap(), path("members"));
        assert_eq!(
            AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName").unwrap(),
            AttrPath {
                uri: Some(CORE_USER.into()),
                attr: "name".into(),
                sub: Some("familyname".into())
            }
        );
        assert_eq!(AttrPath::parse(" userName ").unwrap(), path("username"));
        assert_eq!(AttrPath::parse("members.$ref").unwrap(), sub_path("members", "$ref"));
    }

    #[test]
    fn attr_path_parse_errors() {
        assert_eq!(
            AttrPath::parse("a.b.c").unwrap_err().0,
            "Invalid attribute path `a.b.c`: only one `.` is allowed (sub-attributes have no sub-attributes)."
        );
        assert_eq!(AttrPath::parse("").unwrap_err().0, "The attribute path is empty.");
        assert_eq!(
            AttrPath::parse("urn:x:").unwrap_err().0,
            "Invalid attribute path `urn:x:`: no attribute name follows the schema URN."
        );
        for bad in [
            "urn:",
            "urn:attr",
            "urn::x:attr",
            "a.",
            ".a",
            "a..b",
            "1a",
            "a b",
            "a:b",
            "na$me",
            "urn:x y:a",
        ] {
            assert!(AttrPath::parse(bad).is_err(), "{bad:?}");
        }
    }
}
