//! A realistic directory of N users, for any benchmark mode that needs one: ~50 branches
//! of Zipf-like sizes, ~500 groups (most users in one, some in none, some in several), a
//! few instructors and branch administrators among the learners, some deactivated accounts,
//! course enrollments, and last sign-in dates skewed the way a live installation's are
//! (most within the last few days, a long tail, about a quarter never signed in).
//!
//! The users are written as a CSV file in rollcall's import format and loaded through
//! rollcall's own import ([`Service::import_users`], as `rollcall import` does), so the
//! rows, indexes, sort keys, seats and audit entries are the ones rollcall itself writes.

use rollcall_core::domain::DAY_MS;
use rollcall_core::service::{ImportOptions, NewBranch, NewCourse, NewGroup, NewUser, Parsed};
use rollcall_core::{Actor, Channel, Context, Service};
use sqlx::Connection;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

pub const BRANCHES: usize = 50;
pub const GROUPS: usize = 500;
pub const COURSES: usize = 40;
/// The instructor every generated course belongs to.
pub const COURSE_OWNER: &str = "bench.instructor";

const FIRST: &[&str] = &[
    "Ada",
    "Alan",
    "Grace",
    "Marie",
    "Lise",
    "Niels",
    "Erwin",
    "Rosalind",
    "Emmy",
    "Katherine",
    "Dorothy",
    "Edsger",
    "Barbara",
    "John",
    "Claude",
    "Hedy",
    "Tim",
    "Margaret",
    "Donald",
    "Frances",
    "Linus",
    "Radia",
    "Ken",
    "Dennis",
    "Bjarne",
    "Guido",
    "Yukihiro",
    "Anita",
    "Sophie",
    "Jean",
    "Chien-Shiung",
    "Mary",
    "Srinivasa",
    "Sofia",
    "Évariste",
    "Henri",
    "Karl",
    "Leonhard",
    "Carl",
    "Bernhard",
    "Joseph",
    "Pierre",
    "Jöns",
    "Ångström",
    "Ivar",
    "Søren",
    "Zoë",
    "Noël",
    "Chloé",
    "José",
    "Ana",
    "Luis",
    "Wei",
    "Mei",
    "Hiro",
    "Aiko",
    "Priya",
    "Ravi",
    "Fatima",
    "Omar",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Turing",
    "Hopper",
    "Curie",
    "Meitner",
    "Bohr",
    "Schrödinger",
    "Franklin",
    "Noether",
    "Johnson",
    "Vaughan",
    "Dijkstra",
    "Liskov",
    "McCarthy",
    "Shannon",
    "Lamarr",
    "Berners-Lee",
    "Hamilton",
    "Knuth",
    "Allen",
    "Torvalds",
    "Perlman",
    "Thompson",
    "Ritchie",
    "Stroustrup",
    "van Rossum",
    "Matsumoto",
    "Borg",
    "Wilson",
    "Müller",
    "Wu",
    "Jackson",
    "Ramanujan",
    "Kovalevskaya",
    "Galois",
    "Poincaré",
    "Weierstrass",
    "Euler",
    "Gauss",
    "Riemann",
    "Fourier",
    "Laplace",
    "Berzelius",
    "Nilsson",
    "Kierkegaard",
    "García",
    "Fernández",
    "Zhang",
    "Wang",
    "Li",
    "Chen",
    "Tanaka",
    "Suzuki",
    "Patel",
    "Sharma",
    "Khan",
    "Haddad",
    "O'Brien",
    "Smith",
    "Brown",
];
const PLACES: &[&str] = &[
    "Head Office",
    "North",
    "South",
    "East",
    "West",
    "Harbour",
    "Airport",
    "Riverside",
    "Hillside",
    "Old Town",
];
const TOPICS: &[&str] = &[
    "Safety",
    "Chemistry",
    "Computing",
    "Sales",
    "Support",
    "Logistics",
    "Finance",
    "Compliance",
    "Leadership",
    "Onboarding",
];

/// A small deterministic generator (splitmix64): the same directory on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Picks `0..n` with probability proportional to `1 / (k + 1)^s` (Zipf-like).
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut running = 0.0;
        let sums: Vec<f64> = (0..n)
            .map(|k| {
                running += 1.0 / ((k + 1) as f64).powf(s);
                running
            })
            .collect();
        let cumulative = sums.iter().map(|c| c / running).collect();
        Zipf { cumulative }
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cumulative
            .partition_point(|c| *c < u)
            .min(self.cumulative.len() - 1)
    }
}

/// One generated user, as the CSV row says it.
#[derive(Clone, Debug)]
pub struct DirUser {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// `learner`, `instructor` or `branch-administrator`.
    pub user_type: &'static str,
    pub branch: String,
    pub active: bool,
}

/// The generated directory and what loading it cost.
pub struct Directory {
    pub users: Vec<DirUser>,
    pub branches: Vec<String>,
    pub groups: Vec<String>,
    pub last_names: Vec<String>,
    pub enrollments: u64,
    pub import_time: Duration,
    pub sign_in_time: Duration,
}

impl Directory {
    pub fn rows_per_second(&self) -> f64 {
        self.users.len() as f64 / self.import_time.as_secs_f64()
    }
}

pub fn branch_name(i: usize) -> String {
    format!("{} {:02}", PLACES[i % PLACES.len()], i / PLACES.len() + 1)
}

pub fn group_name(i: usize) -> String {
    format!("{} cohort {:02}", TOPICS[i % TOPICS.len()], i / TOPICS.len() + 1)
}

pub fn course_code(i: usize) -> String {
    format!("C{:03}", i + 1)
}

/// Writes the CSV of `n` users to `path` and returns them (deterministic for a seed).
pub fn write_csv(path: &Path, n: usize, seed: u64) -> std::io::Result<(Vec<DirUser>, u64)> {
    let mut rng = Rng::new(seed);
    let branch_sizes = Zipf::new(BRANCHES, 1.0);
    let group_pick = Zipf::new(GROUPS, 0.8);
    let course_pick = Zipf::new(COURSES, 1.1);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(
        out,
        "username,email,first_name,last_name,user_type,branches,groups,courses,status"
    )?;
    let mut users = Vec::with_capacity(n);
    let mut enrollments = 0u64;
    for i in 0..n {
        let first = FIRST[rng.below(FIRST.len())];
        let last = LAST[rng.below(LAST.len())];
        // Usernames as many directories make them: ASCII, lower case, made unique by a number.
        let base: String = format!("{first}.{last}")
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let username = format!("{base}.{i}");
        let email = format!("{username}@example.org");
        let user_type = match rng.below(1000) {
            0..=9 => "branch-administrator",
            10..=79 => "instructor",
            _ => "learner",
        };
        let branch = branch_name(branch_sizes.sample(&mut rng));
        // 15% in no group, 70% in one, 15% in two to four.
        let group_count = match rng.below(100) {
            0..=14 => 0,
            15..=84 => 1,
            _ => 2 + rng.below(3),
        };
        let mut groups: Vec<String> = (0..group_count)
            .map(|_| group_name(group_pick.sample(&mut rng)))
            .collect();
        groups.sort();
        groups.dedup();
        // Learners: 40% in no course, the rest in one to three.
        let course_count = match (user_type, rng.below(10)) {
            ("learner", 0..=3) => 0,
            ("learner", _) => 1 + rng.below(3),
            _ => 0,
        };
        let mut courses: Vec<String> = (0..course_count)
            .map(|_| course_code(course_pick.sample(&mut rng)))
            .collect();
        courses.sort();
        courses.dedup();
        enrollments += courses.len() as u64;
        let active = rng.below(100) >= 8;
        writeln!(
            out,
            "{username},{email},{first},{},{user_type},{branch},{},{},{}",
            csv_cell(last),
            groups.join("|"),
            courses.join("|"),
            if active { "active" } else { "deactivated" }
        )?;
        users.push(DirUser {
            username,
            email,
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            user_type,
            branch,
            active,
        });
    }
    out.flush()?;
    Ok((users, enrollments))
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Builds the directory of `n` users on the (migrated, empty) database behind `service`
/// at `database_url`: the branches, groups, courses and their owner through the service,
/// the users through the CSV import, then the last sign-in dates by direct SQL. `dir`
/// holds the CSV file. The plan must already allow `n` seats and branches.
pub async fn generate(service: &Service, database_url: &str, dir: &Path, n: usize) -> Directory {
    let ctx = Context::cli();
    for i in 0..BRANCHES {
        let input = NewBranch {
            name: branch_name(i),
            ..NewBranch::default()
        };
        service.add_branch(&ctx, input).await.unwrap();
    }
    for i in 0..GROUPS {
        let input = NewGroup {
            name: group_name(i),
            ..NewGroup::default()
        };
        service.add_group(&ctx, input).await.unwrap();
    }
    let owner = NewUser {
        username: COURSE_OWNER.into(),
        email: format!("{COURSE_OWNER}@example.org"),
        first_name: "Bench".into(),
        last_name: "Instructor".into(),
        user_type: Some("instructor".into()),
        active: true,
        send_welcome: Some(false),
        ..NewUser::default()
    };
    service.create_user(&ctx, owner).await.unwrap();
    for i in 0..COURSES {
        let input = NewCourse {
            code: course_code(i),
            name: format!("{} {}", TOPICS[i % TOPICS.len()], i / TOPICS.len() + 1),
            owner: Some(COURSE_OWNER.into()),
            units: 10,
            ..NewCourse::default()
        };
        service.create_course(&ctx, input).await.unwrap();
    }

    let path = dir.join("directory.csv");
    let (users, enrollments) = write_csv(&path, n, 0x5EED).unwrap();

    // The import as `rollcall import FILE --no-welcome` runs it: an operator on the CSV channel.
    let import_ctx = Context::new(Actor::Operator, Channel::Csv);
    let mut source = || -> rollcall_core::Result<Box<dyn Iterator<Item = Parsed> + Send>> {
        let file = std::fs::File::open(&path).unwrap();
        Ok(Box::new(rollcall_csv::read(file).unwrap()))
    };
    let opts = ImportOptions {
        send_welcome: Some(false),
        ..ImportOptions::default()
    };
    let started = Instant::now();
    let summary = service
        .import_users(&import_ctx, &mut source, opts, &mut |_| {})
        .await
        .unwrap();
    let import_time = started.elapsed();
    assert_eq!(summary.created, n as u64, "every generated row imports: {summary:?}");

    let started = Instant::now();
    skew_sign_ins(service, database_url).await;
    let sign_in_time = started.elapsed();

    let mut last_names: Vec<String> = LAST.iter().map(|s| (*s).to_owned()).collect();
    last_names.sort();
    Directory {
        users,
        branches: (0..BRANCHES).map(branch_name).collect(),
        groups: (0..GROUPS).map(group_name).collect(),
        last_names,
        enrollments,
        import_time,
        sign_in_time,
    }
}

/// Last sign-in dates, by direct SQL on the bench database: no channel sets them (only a
/// sign-in does, one user at a time), and a benchmark can't sign a million users in. The
/// spread: a quarter never signed in; of the rest, 60% within the last 3 days, 25% within
/// a month, the tail up to two years back. The stored sort key (`login_key`, as
/// `rollcall_core::domain::login_key` makes it) and `activity_at` (what the idle policy
/// counts from) are kept consistent with the new date. A pseudo-random hash of the id
/// picks each user's bucket, in SQL the same on both backends.
async fn skew_sign_ins(service: &Service, database_url: &str) {
    let now = service.system().now();
    // h in 0..1000 from the id; d in 0..1000 a second, independent spread within the bucket.
    let h = "((id * 2654435761) % 1000)";
    let d = "((id * 40503 + 7) % 1000)";
    let login = format!(
        "CASE WHEN {h} < 250 THEN NULL \
              WHEN {h} < 700 THEN $1 - ({d} * 3 * $2) / 1000 \
              WHEN {h} < 890 THEN $1 - 3 * $2 - ({d} * 27 * $2) / 1000 \
              ELSE $1 - 30 * $2 - ({d} * {d} * 700 / 1000 * $2) / 1000 END"
    );
    let postgres = database_url.starts_with("postgres");
    let key = if postgres {
        "lpad(COALESCE(last_login_at, 0)::text, 20, '0') || lpad(id::text, 20, '0')"
    } else {
        "printf('%020d%020d', COALESCE(last_login_at, 0), id)"
    };
    let statements = [
        format!("UPDATE users SET last_login_at = {login} WHERE username_key <> 'admin'"),
        format!(
            "UPDATE users SET login_key = {key}, \
             activity_at = CASE WHEN last_login_at IS NULL THEN created_at ELSE last_login_at END"
        ),
    ];
    if postgres {
        let mut c = sqlx::PgConnection::connect(database_url).await.unwrap();
        for s in &statements {
            sqlx::query(sqlx::AssertSqlSafe(s.clone()))
                .bind(now)
                .bind(DAY_MS)
                .execute(&mut c)
                .await
                .unwrap();
        }
        sqlx::query("ANALYZE").execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        for s in &statements {
            sqlx::query(sqlx::AssertSqlSafe(s.clone()))
                .bind(now)
                .bind(DAY_MS)
                .execute(&mut c)
                .await
                .unwrap();
        }
        sqlx::query("ANALYZE").execute(&mut c).await.unwrap();
    }
}
