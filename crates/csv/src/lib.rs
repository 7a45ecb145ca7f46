//! CSV for rollcall: reading import files row by row (never the whole file at once) and
//! writing exports that a spreadsheet can't mistake for formulas.
//!
//! Import files have a header row, matched ignoring case; UTF-8 with or without a byte-order
//! mark; comma- or semicolon-separated. rollcall's own columns and TalentLMS's import headers
//! are both understood.

use rollcall_core::domain::parse_time;
use rollcall_core::service::{ImportRow, Parsed, RowError, UserView};
use std::io::{BufRead, BufReader, Read, Write};

/// What a column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Username,
    Email,
    FirstName,
    LastName,
    Password,
    UserType,
    Branches,
    Groups,
    Courses,
    Status,
    Active,
    DeactivationDate,
    ReactivationDate,
    ExcludeFromEmails,
    IdleExempt,
    /// Read and not kept: rollcall stores no language or bio.
    Ignored,
}

fn column(name: &str) -> Option<Column> {
    let n = name.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    Some(match n.as_str() {
        "username" | "login" => Column::Username,
        "email" => Column::Email,
        "first_name" | "firstname" => Column::FirstName,
        "last_name" | "lastname" => Column::LastName,
        "password" => Column::Password,
        "user_type" | "usertype" => Column::UserType,
        "branches" | "branch" => Column::Branches,
        "groups" | "group" => Column::Groups,
        "courses" | "course" => Column::Courses,
        "status" => Column::Status,
        "active" => Column::Active,
        "deactivation_date" => Column::DeactivationDate,
        "reactivation_date" => Column::ReactivationDate,
        "exclude_from_emails" => Column::ExcludeFromEmails,
        "idle_exempt" => Column::IdleExempt,
        "language" | "bio" => Column::Ignored,
        _ => return None,
    })
}

const KNOWN: &str = "username (Login), email, first_name (Firstname), last_name (Lastname), password, user_type (User-type), \
    branches (Branch), groups (Group), courses (Course), status, active, deactivation_date, reactivation_date, exclude_from_emails, idle_exempt, language, bio";

/// A file the importer can't read at all (no header, a required column missing …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError(pub String);

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for FileError {}

/// How to read an import file.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// Skip the columns rollcall doesn't know (a full TalentLMS export's `Timezone`,
    /// `Last login`, custom fields …) instead of refusing the file; [`Rows::ignored`]
    /// names them.
    pub ignore_unknown_columns: bool,
}

/// The data rows of an import file, and the columns of its header that are read and not
/// kept.
pub struct Rows<I> {
    ignored: Vec<String>,
    rows: I,
}

impl<I> Rows<I> {
    /// The header's columns whose cells are skipped, as the file names them.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }
}

impl<I: Iterator<Item = Parsed>> Iterator for Rows<I> {
    type Item = Parsed;
    fn next(&mut self) -> Option<Parsed> {
        self.rows.next()
    }
}

/// Reads an import file: checks the header now, yields one [`Parsed`] per data row.
pub fn read<R: Read + Send>(input: R) -> Result<Rows<impl Iterator<Item = Parsed> + Send>, FileError> {
    read_with(input, ReadOptions::default())
}

/// [`read`], with options.
pub fn read_with<R: Read + Send>(
    input: R,
    options: ReadOptions,
) -> Result<Rows<impl Iterator<Item = Parsed> + Send>, FileError> {
    let mut buffered = BufReader::with_capacity(64 * 1024, input);
    // Skip a UTF-8 byte-order mark, and sniff the separator from the header line.
    let head = buffered
        .fill_buf()
        .map_err(|e| FileError(format!("can't read the file: {e}")))?;
    let bom = head.starts_with(&[0xEF, 0xBB, 0xBF]);
    let first_line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let first_line = &head[if bom { 3 } else { 0 }..first_line_end];
    let count = |c: u8| first_line.iter().filter(|b| **b == c).count();
    let delimiter = if count(b';') > count(b',') { b';' } else { b',' };
    if bom {
        buffered.consume(3);
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(buffered);
    let headers = reader
        .headers()
        .map_err(|e| FileError(format!("can't read the header row: {e}")))?
        .clone();
    let mut columns = Vec::with_capacity(headers.len());
    let mut ignored = vec![];
    for h in headers.iter() {
        match column(h) {
            Some(Column::Ignored) => {
                ignored.push(h.trim().to_owned());
                columns.push(Column::Ignored);
            }
            Some(c) => columns.push(c),
            None if h.trim().is_empty() => columns.push(Column::Ignored),
            None if options.ignore_unknown_columns => {
                ignored.push(h.trim().to_owned());
                columns.push(Column::Ignored);
            }
            None => {
                return Err(FileError(format!(
                    "unknown column '{h}'; columns are: {KNOWN} (or skip unknown columns: --ignore-unknown-columns, over HTTP ignore_unknown_columns=true)"
                )));
            }
        }
    }
    // A single-valued column named twice would have its second cells overwrite the first's
    // (TalentLMS repeats `Branch` and `Group` for several values, which add up).
    let repeatable = [Column::Ignored, Column::Branches, Column::Groups, Column::Courses];
    for (i, c) in columns.iter().enumerate() {
        if !repeatable.contains(c) && columns[..i].contains(c) {
            return Err(FileError(format!(
                "the column '{}' appears twice in the header",
                headers.get(i).unwrap_or_default().trim()
            )));
        }
    }
    for (required, name) in [
        (Column::Username, "username"),
        (Column::Email, "email"),
        (Column::FirstName, "first_name"),
        (Column::LastName, "last_name"),
    ] {
        if !columns.contains(&required) {
            return Err(FileError(format!(
                "the header has no {name} column (required: username, email, first_name, last_name)"
            )));
        }
    }
    let rows = reader.into_records().map(move |record| match record {
        Ok(r) => row(&columns, &r),
        Err(e) => {
            let line = e.position().map_or(0, |p| p.line());
            Err(RowError {
                line,
                column: String::new(),
                reason: format!("not a valid CSV row: {e}"),
            })
        }
    });
    Ok(Rows { ignored, rows })
}

/// TalentLMS's default user types, as its exports name them, read as the built-in types
/// they are.
fn talentlms_type(name: &str) -> Option<&'static str> {
    match name.trim().to_ascii_lowercase().as_str() {
        "superadmin" | "admin-type" => Some("administrator"),
        "trainer-type" => Some("instructor"),
        "learner-type" => Some("learner"),
        _ => None,
    }
}

/// Undoes export's formula escaping: `'=x` reads as `=x`.
fn unescape(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

fn yes_no(column: &str, v: &str, line: u64) -> Result<Option<bool>, RowError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "yes" | "y" | "true" | "1" => Ok(Some(true)),
        "no" | "n" | "false" | "0" => Ok(Some(false)),
        _ => Err(RowError {
            line,
            column: column.into(),
            reason: format!("'{v}' is not yes or no"),
        }),
    }
}

fn row(columns: &[Column], record: &csv::StringRecord) -> Parsed {
    let line = record.position().map_or(0, |p| p.line());
    let mut r = ImportRow {
        line,
        ..ImportRow::default()
    };
    for (col, raw) in columns.iter().zip(record.iter()) {
        let v = unescape(raw);
        let text = || v.trim().to_owned();
        let opt = || Some(v.trim().to_owned()).filter(|s| !s.is_empty());
        let many = || v.split('|').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        match col {
            Column::Username => r.username = text(),
            Column::Email => r.email = text(),
            Column::FirstName => r.first_name = text(),
            Column::LastName => r.last_name = text(),
            // A password is taken exactly as written: spaces are characters too.
            Column::Password => r.password = Some(raw.to_owned()).filter(|s| !s.is_empty()),
            Column::UserType => r.user_type = opt().map(|t| talentlms_type(&t).map_or(t, str::to_owned)),
            Column::Branches => r.branches.extend(many()),
            Column::Groups => r.groups.extend(many()),
            Column::Courses => r.courses.extend(many()),
            Column::Status => {
                r.active = match v.trim().to_ascii_lowercase().as_str() {
                    "" => None,
                    "active" => Some(true),
                    "deactivated" | "inactive" => Some(false),
                    _ => {
                        return Err(RowError {
                            line,
                            column: "status".into(),
                            reason: format!("'{v}' is not active or deactivated"),
                        });
                    }
                }
            }
            Column::Active => r.active = yes_no("active", v, line)?.or(r.active),
            Column::DeactivationDate => {
                if let Some(d) = opt() {
                    r.deactivation_date = Some(parse_time("deactivation_date", &d).map_err(|e| RowError {
                        line,
                        column: "deactivation_date".into(),
                        reason: e.to_string(),
                    })?);
                }
            }
            Column::ReactivationDate => {
                if let Some(d) = opt() {
                    r.reactivation_date = Some(parse_time("reactivation_date", &d).map_err(|e| RowError {
                        line,
                        column: "reactivation_date".into(),
                        reason: e.to_string(),
                    })?);
                }
            }
            Column::ExcludeFromEmails => r.exclude_from_emails = yes_no("exclude_from_emails", v, line)?,
            Column::IdleExempt => r.idle_exempt = yes_no("idle_exempt", v, line)?,
            Column::Ignored => {}
        }
    }
    Ok(r)
}

/// Escapes a cell a spreadsheet would run as a formula (leading `= + - @`, tab or CR).
pub fn formula_safe(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

pub const EXPORT_HEADER: [&str; 12] = [
    "username",
    "email",
    "first_name",
    "last_name",
    "user_type",
    "branches",
    "groups",
    "status",
    "exclude_from_emails",
    "deactivation_date",
    "idle_exempt",
    "reactivation_date",
];

/// Writes users in rollcall's import columns, so an export imports back unchanged.
pub struct Exporter<W: Write> {
    writer: csv::Writer<W>,
}

impl<W: Write> Exporter<W> {
    pub fn new(out: W) -> csv::Result<Exporter<W>> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(EXPORT_HEADER)?;
        Ok(Exporter { writer })
    }

    pub fn user(&mut self, u: &UserView) -> csv::Result<()> {
        let cells = [
            u.username.clone(),
            u.email.clone(),
            u.first_name.clone(),
            u.last_name.clone(),
            u.user_type.clone(),
            u.branches.join("|"),
            u.groups.join("|"),
            u.status.as_str().to_owned(),
            if u.exclude_from_emails {
                "yes".into()
            } else {
                "no".into()
            },
            u.deactivate_at.clone().unwrap_or_default(),
            if u.idle_exempt { "yes".into() } else { "no".into() },
            u.reactivate_at.clone().unwrap_or_default(),
        ];
        self.writer.write_record(cells.iter().map(|c| formula_safe(c)))
    }

    /// An exporter that writes rows only: the pages after the first of a streamed export.
    pub fn rows_only(out: W) -> Exporter<W> {
        Exporter {
            writer: csv::Writer::from_writer(out),
        }
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.writer.flush()?;
        self.writer
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Parsed> {
        read(text.as_bytes()).unwrap().collect()
    }

    #[test]
    fn a_leave_of_absence_reads_from_its_column() {
        let r = rows(
            "username,email,first_name,last_name,status,reactivation_date\n\
                      ada,a@x.org,A,L,deactivated,2027-09-01\nbob,b@x.org,B,L,deactivated,someday\n",
        );
        let ada = r[0].as_ref().unwrap();
        assert_eq!(
            ada.reactivation_date,
            Some(rollcall_core::domain::parse_time("d", "2027-09-01").unwrap())
        );
        let bad = r[1].as_ref().unwrap_err();
        assert_eq!((bad.line, bad.column.as_str()), (3, "reactivation_date"));
        assert!(bad.reason.contains("'someday' is not a date"), "{}", bad.reason);
    }

    #[test]
    fn unknown_columns_refuse_the_file_unless_skipped_and_named() {
        let text =
            "Login,Email,Firstname,Lastname,User type,Timezone,Bio\nmc,m@x.org,M,C,Trainer-Type,(GMT+01:00) Paris,hi\n";
        let refused = read(text.as_bytes()).err().unwrap();
        assert!(refused.0.contains("unknown column 'Timezone'"), "{refused}");
        let rows = read_with(
            text.as_bytes(),
            ReadOptions {
                ignore_unknown_columns: true,
            },
        )
        .unwrap();
        assert_eq!(rows.ignored(), ["Timezone", "Bio"]);
        let all: Vec<Parsed> = rows.collect();
        let mc = all[0].as_ref().unwrap();
        assert_eq!(
            mc.user_type.as_deref(),
            Some("instructor"),
            "TalentLMS's type names read as the built-in types"
        );
        let twice = read("username,email,first_name,last_name,Login\n".as_bytes())
            .err()
            .unwrap();
        assert!(twice.0.contains("'Login' appears twice"), "{twice}");
    }

    #[test]
    fn talentlms_files_read_as_they_are() {
        let r = rows(include_str!("../tests/talentlms-import.csv"));
        assert_eq!(r.len(), 3);
        let curie = r[0].as_ref().unwrap();
        assert_eq!(
            (curie.line, curie.username.as_str(), curie.first_name.as_str()),
            (2, "mcurie", "Marie")
        );
        assert_eq!(curie.branches, vec!["North", "South"]);
        assert_eq!(curie.groups, vec!["Safety", "Chemistry"]);
        assert_eq!(curie.password.as_deref(), Some("Radium-1898-Polonium"));
        assert_eq!(curie.active, Some(true));
        let turing = r[1].as_ref().unwrap();
        assert_eq!(turing.password, None, "an empty password means a set-password link");
        assert!(turing.deactivation_date.is_some());
        assert_eq!(turing.groups, vec!["Computing"]);
        let franklin = r[2].as_ref().unwrap();
        assert_eq!(
            (franklin.active, franklin.exclude_from_emails),
            (Some(false), Some(true))
        );
    }

    #[test]
    fn rollcall_files_with_semicolons_and_pipes() {
        let r = rows(include_str!("../tests/rollcall-import.csv"));
        let meitner = r[0].as_ref().unwrap();
        assert_eq!(meitner.branches, vec!["North", "South"]);
        let schrodinger = r[1].as_ref().unwrap();
        assert_eq!(schrodinger.last_name, "Schrödinger");
        assert_eq!(schrodinger.user_type.as_deref(), Some("instructor"));
        let bohr = r[2].as_ref().unwrap();
        assert_eq!((bohr.active, bohr.exclude_from_emails), (Some(false), Some(true)));
        assert_eq!(bohr.groups, vec!["Safety", "Chemistry"]);
    }

    #[test]
    fn bad_headers_and_cells_are_named() {
        assert!(
            read("name,email\nx,y\n".as_bytes())
                .err()
                .unwrap()
                .0
                .contains("unknown column 'name'")
        );
        assert!(
            read("username,email,first_name\n".as_bytes())
                .err()
                .unwrap()
                .0
                .contains("no last_name")
        );
        let r = rows("username,email,first_name,last_name,active\nada,a@x.org,A,L,maybe\n");
        let e = r[0].as_ref().unwrap_err();
        assert_eq!((e.line, e.column.as_str()), (2, "active"));
        let r = rows("Username,EMAIL,First_Name,Last_Name,Course,Course\nada,a@x.org,A,L,CHEM-101,BIO\n");
        assert_eq!(r[0].as_ref().unwrap().courses, vec!["CHEM-101", "BIO"]);
    }

    #[test]
    fn exports_escape_formulas_and_import_back() {
        let u = UserView {
            id: 1,
            username: "eve".into(),
            email: "eve@example.org".into(),
            first_name: "=cmd()".into(),
            last_name: "+1".into(),
            user_type: "Learner".into(),
            branches: vec!["North".into(), "South".into()],
            groups: vec![],
            status: rollcall_core::domain::UserStatus::Deactivated,
            origin: rollcall_core::domain::Origin::Cli,
            external_id: None,
            exclude_from_emails: true,
            created_at: String::new(),
            last_login_at: None,
            deactivated_at: None,
            deleted_at: None,
            deactivate_at: None,
            idle_exempt: true,
            idle_deadline: None,
            reactivate_at: None,
        };
        let mut ex = Exporter::new(Vec::new()).unwrap();
        ex.user(&u).unwrap();
        let text = String::from_utf8(ex.finish().unwrap()).unwrap();
        assert!(text.contains("'=cmd()") && text.contains("'+1"), "{text}");
        let back = rows(&text);
        let r = back[0].as_ref().unwrap();
        assert_eq!((r.first_name.as_str(), r.last_name.as_str()), ("=cmd()", "+1"));
        assert_eq!(r.branches, vec!["North", "South"]);
        assert_eq!((r.active, r.exclude_from_emails), (Some(false), Some(true)));
        assert_eq!(r.idle_exempt, Some(true), "the idle exemption imports back");
        assert_eq!(formula_safe("@SUM"), "'@SUM");
        let pw = rows("username,email,first_name,last_name,password\nada,a@x.org,A,L,'-secret phrase\n");
        assert_eq!(
            pw[0].as_ref().unwrap().password.as_deref(),
            Some("'-secret phrase"),
            "passwords are taken as written"
        );
        assert_eq!(formula_safe("ada"), "ada");
    }
}
