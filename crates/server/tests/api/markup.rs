//! Pages are maud markup, escaped by construction: no HTML is written as a string anywhere in
//! the server crate's sources — no `format!("<p>…")`, no `push_str("<a …")`, no markup in a
//! constant — and maud's `PreEscaped` (text put in unescaped) and axum's `Html` (a string sent
//! as a page) appear nowhere. Test modules (`#[cfg(test)]` to the end of a file) may compare
//! against markup and are not read.

/// A string literal in Rust source that contains an HTML tag, comment or doctype.
fn is_markup(literal: &str) -> bool {
    let bytes = literal.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        if b != b'<' {
            return false;
        }
        let rest = &bytes[i + 1..];
        let name = rest.strip_prefix(b"/").unwrap_or(rest);
        match name.first() {
            Some(b'!') => true,
            Some(c) if c.is_ascii_alphabetic() => {
                let end = name
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == b'-'))
                    .unwrap_or(name.len());
                // `<p>`, `<a href`, `<br/`, or a tag cut off at the end of a literal.
                matches!(name.get(end), None | Some(b'>' | b' ' | b'/' | b'\n' | b'\\'))
            }
            _ => false,
        }
    })
}

/// What a source file writes as markup: the offending literals and identifiers, by line.
fn markup_in(source: &str) -> Vec<(usize, String)> {
    let source = source
        .lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .collect::<Vec<_>>()
        .join("\n");
    let chars: Vec<char> = source.chars().collect();
    let n = chars.len();
    let at = |i: usize, s: &str| chars[i.min(n)..].iter().take(s.len()).copied().eq(s.chars());
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut found = vec![];
    let mut line = 1;
    let mut i = 0;
    while i < n {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if at(i, "//") {
            while i < n && chars[i] != '\n' {
                i += 1;
            }
        } else if at(i, "/*") {
            while i < n && !at(i, "*/") {
                line += usize::from(chars[i] == '\n');
                i += 1;
            }
            i += 2;
        } else if c == '\'' {
            // A char literal ('<', '\'', '\u{3c}'), or a lifetime ('a).
            if chars.get(i + 1) == Some(&'\\') {
                i += 3;
                while i < n && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if c == '"' {
            let start = line;
            let mut literal = String::new();
            i += 1;
            while i < n && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < n {
                    literal.push(chars[i]);
                    i += 1;
                }
                line += usize::from(chars[i] == '\n');
                literal.push(chars[i]);
                i += 1;
            }
            i += 1;
            if is_markup(&literal) {
                found.push((start, literal));
            }
        } else if ident(c) && (i == 0 || !ident(chars[i - 1])) {
            let word: String = chars[i..].iter().copied().take_while(|c| ident(*c)).collect();
            let len = word.chars().count();
            let mut hashes = 0;
            while chars.get(i + len + hashes) == Some(&'#') {
                hashes += 1;
            }
            if (word == "r" || word == "br") && chars.get(i + len + hashes) == Some(&'"') {
                // A raw string: r"…", r#"…"#, br"…".
                let close: String = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
                let mut k = i + len + hashes + 1;
                let begin = k;
                while k < n && !at(k, &close) {
                    k += 1;
                }
                let literal: String = chars[begin..k].iter().collect();
                if is_markup(&literal) {
                    found.push((line, literal.clone()));
                }
                line += literal.matches('\n').count();
                i = k + close.len();
                continue;
            }
            if word == "PreEscaped" || (word == "Html" && chars.get(i + len) == Some(&'(')) {
                found.push((line, word));
            }
            i += len;
        } else {
            i += 1;
        }
    }
    found
}

#[test]
fn the_check_finds_markup_written_as_strings() {
    let written = [
        r#"let s = format!("<p>{x}</p>");"#,
        r#"body.push_str("<a href=\"/admin\">Users</a>");"#,
        r#"const HEAD: &str = "<!doctype html>";"#,
        r##"let t = r#"<div class="x">"#;"##,
        r#"let u = "</main>";"#,
        r#"let v = format!("{}<br>", x);"#,
        "let w = \"<td>\\\n   </td>\";",
        "return PreEscaped(text);",
        "Html(body).into_response()",
    ];
    for source in written {
        assert!(!markup_in(source).is_empty(), "not caught: {source}");
    }
    let clean = [
        "let v: Vec<String> = vec![];",
        r#"let s = format!("{a} < {b}");"#,
        "let c = '<'; let d = '\\''; fn f<'a>(x: &'a str) {}",
        "// <p> in a comment\n/* <div> */ let x = 1;",
        r#"let e = "a <= b, x<3";"#,
        "html! { p { (text) } }",
        "let page_html = true; struct HtmlEscaped;",
        "#[cfg(test)]\nmod tests { const T: &str = \"<p>\"; }",
    ];
    for source in clean {
        assert_eq!(markup_in(source), vec![], "wrongly caught: {source}");
    }
}

#[test]
fn no_markup_is_written_as_a_string_in_the_server() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    let mut dirs = vec![src];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 10, "read the sources: {files:?}");
    let mut offences = vec![];
    for file in &files {
        for (line, what) in markup_in(&std::fs::read_to_string(file).unwrap()) {
            let shown: String = what.chars().take(80).collect();
            offences.push(format!("{}:{line}: {shown:?}", file.display()));
        }
    }
    assert!(
        offences.is_empty(),
        "markup written as strings (build it with maud's html! instead):\n{}",
        offences.join("\n")
    );
}
