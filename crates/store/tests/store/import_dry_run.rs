//! An import's dry run tells the truth: over generated files — new accounts and updates,
//! bad rows, unknown names, a branch at its seat cap, a plan near its limit, the last
//! administrator deactivated, each import mode — the dry run's outcome, row by row and in
//! its summary, is the commit's on the same data; and a dry run writes nothing.

use super::*;
use rand::{RngExt, SeedableRng, rngs::StdRng};

const CASES: u64 = 40;

/// One generated file against what the database holds now.
fn generate(rng: &mut StdRng, case: u64, existing: &[String]) -> Vec<Parsed> {
    let rows = rng.random_range(1..12);
    (0..rows)
        .map(|i| {
            let line = i + 2;
            if rng.random_ratio(1, 15) {
                return Err(RowError {
                    line,
                    column: "active".into(),
                    reason: "'maybe' is not yes or no".into(),
                });
            }
            let username = match rng.random_range(0..10) {
                // An account that exists (updated, refused, or unchanged).
                0..=3 if !existing.is_empty() => existing[rng.random_range(0..existing.len())].clone(),
                // The same new name twice in a file.
                4 if i > 0 => format!("c{case}r{}", i - 1),
                _ => format!("c{case}r{i}"),
            };
            let email = if rng.random_ratio(1, 12) {
                "not an address".into()
            } else if rng.random_ratio(1, 6) {
                format!("{username}.moved@example.org")
            } else {
                format!("{username}@example.org")
            };
            let pick = |rng: &mut StdRng, names: &[&str]| {
                (0..rng.random_range(0..2))
                    .map(|_| names[rng.random_range(0..names.len())].to_owned())
                    .collect::<Vec<_>>()
            };
            Ok(ImportRow {
                line,
                username,
                email,
                first_name: "Gen".into(),
                last_name: if rng.random_ratio(1, 4) {
                    "Renamed".into()
                } else {
                    "Row".into()
                },
                user_type: match rng.random_range(0..8) {
                    0 => Some("administrator".into()),
                    1 => Some("instructor".into()),
                    2 => Some("no such type".into()),
                    _ => None,
                },
                branches: pick(rng, &["Capped", "Open", "Nowhere"]),
                groups: pick(rng, &["crew", "ghosts"]),
                active: match rng.random_range(0..6) {
                    0 => Some(false),
                    1 => Some(true),
                    _ => None,
                },
                ..ImportRow::default()
            })
        })
        .collect()
}

type Outcomes = Vec<(u64, Outcome, Option<String>, Vec<FieldChange>)>;

async fn run(s: &Service, rows: &[Parsed], opts: ImportOptions) -> (rollcall_core::Result<ImportSummary>, Outcomes) {
    let mut source =
        || -> rollcall_core::Result<Box<dyn Iterator<Item = Parsed> + Send>> { Ok(Box::new(rows.iter().cloned())) };
    let mut seen = vec![];
    let result = s
        .import_users(&cli(), &mut source, opts, &mut |r: RowReport| {
            seen.push((r.line, r.outcome, r.column, r.changes));
        })
        .await;
    (result, seen)
}

async fn state(db: &TestDb) -> Vec<Option<String>> {
    let mut out = vec![];
    for sql in [
        "SELECT CAST(COUNT(*) AS TEXT) FROM users",
        "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log",
        "SELECT CAST(COUNT(*) AS TEXT) FROM mail_outbox",
        "SELECT CAST(seats_used AS TEXT) FROM plan",
        "SELECT CAST(COUNT(*) AS TEXT) FROM seat_reservations",
        "SELECT CAST(COUNT(*) AS TEXT) FROM group_members",
        "SELECT CAST(SUM(active_users) AS TEXT) FROM branches",
        "SELECT group_concat(username || ':' || status || ':' || email || ':' || last_name, ',') FROM (SELECT * FROM users ORDER BY id) u",
    ] {
        let sql = if db.url.starts_with("postgres") {
            sql.replace("group_concat(", "string_agg(")
        } else {
            sql.to_owned()
        };
        out.push(db.fetch_text(&sql).await);
    }
    out
}

both_backends!(a_dry_run_says_what_the_commit_does, |db: TestDb| async move {
    let s = service(&db).await;
    s.set_setting(&cli(), "welcome_email", "off").await.unwrap();
    branch(&s, "Capped", Some(3)).await;
    branch(&s, "Open", None).await;
    s.add_group(
        &cli(),
        NewGroup {
            name: "crew".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // The only administrator, whom a row may try to deactivate.
    add(&s, "boss", "administrator").await;
    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut existing = vec!["boss".to_owned()];
    let (mut written, mut refused_whole) = (0, 0);
    for case in 0..CASES {
        // A plan a few seats either side of what the file needs.
        let used = s.plan(&cli()).await.unwrap().seats_used;
        s.set_plan(&cli(), PlanTier::Enterprise, Some(used + rng.random_range(0..6)))
            .await
            .unwrap();
        let rows = generate(&mut rng, case, &existing);
        let opts = ImportOptions {
            partial: rng.random_ratio(1, 2),
            update_existing: rng.random_ratio(1, 2),
            update_only: rng.random_ratio(1, 6),
            ..ImportOptions::default()
        };
        let before = state(&db).await;
        let (dry, dry_rows) = run(
            &s,
            &rows,
            ImportOptions {
                dry_run: true,
                ..opts.clone()
            },
        )
        .await;
        assert_eq!(state(&db).await, before, "seed {seed} case {case}: the dry run wrote");
        let dry = dry.unwrap_or_else(|e| panic!("seed {seed} case {case}: the dry run failed: {e}"));
        let (commit, commit_rows) = run(&s, &rows, opts.clone()).await;
        let context = format!("seed {seed} case {case} {opts:?}\nrows {rows:#?}\ndry {dry:#?}\n{dry_rows:#?}");
        match commit {
            Ok(sum) => {
                let counts = |s: &ImportSummary| {
                    (
                        s.rows,
                        s.created,
                        s.updated,
                        s.unchanged,
                        s.refused,
                        s.skipped,
                        s.seats_needed,
                        s.seats_free,
                        s.refusal.clone(),
                    )
                };
                assert_eq!(counts(&dry), counts(&sum), "{context}\ncommit {sum:#?}");
                assert_eq!(dry_rows, commit_rows, "{context}\ncommit {commit_rows:#?}");
                assert_eq!(dry.can_commit(), sum.written, "{context}\ncommit {sum:#?}");
                written += usize::from(sum.written);
            }
            Err(e) => {
                let refusal = dry
                    .refusal
                    .as_ref()
                    .unwrap_or_else(|| panic!("{context}\ncommit refused: {e}"));
                assert_eq!(
                    (refusal.code.as_str(), refusal.message.clone()),
                    (e.code(), e.to_string()),
                    "{context}"
                );
                assert_eq!(dry.created + dry.updated, 0, "{context}");
                assert!(!dry.can_commit(), "{context}");
                refused_whole += 1;
            }
        }
        // What counts the rows agree with.
        let tally = |o: Outcome| dry_rows.iter().filter(|r| r.1 == o).count() as u64;
        assert_eq!(
            (
                tally(Outcome::Created),
                tally(Outcome::Updated),
                tally(Outcome::Unchanged),
                tally(Outcome::Skipped)
            ),
            (dry.created, dry.updated, dry.unchanged, dry.skipped),
            "{context}"
        );
        for r in &rows {
            if let Ok(r) = r
                && !existing.contains(&r.username)
                && s.get_user(&cli(), &key(&r.username)).await.is_ok()
            {
                existing.push(r.username.clone());
            }
        }
    }
    // The generator reached both sides: files written and files refused whole.
    assert!(
        written > 0 && refused_whole > 0,
        "seed {seed}: {written} written, {refused_whole} refused whole"
    );
});
