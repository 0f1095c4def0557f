//! The sqlite cache handler on real files in temporary directories, and real OS processes
//! sharing one file: the test binary starts copies of itself with `CEMENT_SQLITE_CHILD` naming
//! the role the copy plays ([`child`]), and reads what they print.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "../support/mod.rs"]
mod support;

mod conformance;
mod errors;
mod processes;
mod read_cache;

use support::sqlite::cache;

/// The variable that makes a copy of this binary a child process.
const ROLE: &str = "CEMENT_SQLITE_CHILD";

/// A copy of this test binary that runs only [`child`], with `role` and `env`, its stdout
/// piped.
fn child_command(role: &str, db: &Path, env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary's path"));
    cmd.args(["child", "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE, role)
        .env("CHILD_DB", db)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd
}

/// Starts a copy of this test binary that runs only [`child`], with `role` and `env`.
fn spawn(role: &str, db: &Path, env: &[(&str, String)]) -> Child {
    child_command(role, db, env)
        .spawn()
        .expect("start a child process")
}

/// [`spawn`], with a pipe to the child's stdin, for a child that takes commands.
fn spawn_interactive(role: &str, db: &Path, env: &[(&str, String)]) -> Child {
    child_command(role, db, env)
        .stdin(Stdio::piped())
        .spawn()
        .expect("start a child process")
}

/// Waits for `child` and returns the lines it printed that start with `"result "`, without
/// that word; panics if it failed.
fn results(child: Child) -> Vec<String> {
    let out = child.wait_with_output().expect("wait for the child");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed ({}):\n{text}",
        out.status
    );
    text.lines()
        .filter_map(|l| l.strip_prefix("result "))
        .map(str::to_string)
        .collect()
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn num(name: &str) -> u64 {
    var(name).parse().expect("a number")
}

/// The child side: does nothing in a normal test run; in a copy started by [`spawn`], plays
/// the role `CEMENT_SQLITE_CHILD` names on the file `CHILD_DB`, printing `result …` lines.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let db = std::path::PathBuf::from(var("CHILD_DB"));
    match role.as_str() {
        "write" => {
            let cache = cache(&db, "proc:");
            for i in 0..num("COUNT") {
                cache.set(&format!("k{i}"), &format!("value {i}")).unwrap();
            }
            cache
                .set_with_ttl("short", &"soon gone", Duration::from_secs(1))
                .unwrap();
            println!("result written");
        }
        "read" => {
            let cache = cache(&db, "proc:");
            let found = (0..num("COUNT"))
                .filter(|i| {
                    cache.get::<String>(&format!("k{i}")).unwrap() == Some(format!("value {i}"))
                })
                .count();
            println!("result {found}");
        }
        "incr" => {
            let cache = cache(&db, "proc:");
            for _ in 0..num("COUNT") {
                cache.incr("hits", 1).unwrap();
            }
            println!("result done");
        }
        "mixed" => {
            let id = var("ID");
            let cache = cache(&db, "proc:");
            let mut expected = std::collections::BTreeMap::new();
            for i in 0..num("COUNT") {
                let key = format!("p{id}:k{}", i % 50);
                match i % 7 {
                    0 | 3 => {
                        let deleted = cache.delete(&key).unwrap();
                        assert_eq!(deleted, expected.remove(&key).is_some(), "delete {key}");
                    }
                    1 | 4 => {
                        let got = cache.get::<u64>(&key).unwrap();
                        assert_eq!(got.as_ref(), expected.get(&key), "get {key}");
                    }
                    _ => {
                        cache.set(&key, &i).unwrap();
                        expected.insert(key, i);
                    }
                }
            }
            for (key, value) in expected {
                println!("result {key}={value}");
            }
        }
        "add" => {
            let id = var("ID");
            // Start together (open the file, which may not exist yet, and add): wait for the
            // parent's go file.
            let go = db.with_extension("go");
            while !go.exists() {
                std::thread::sleep(Duration::from_millis(1));
            }
            let cache = cache(&db, "proc:");
            let won = cache.add("winner", &id).unwrap();
            println!("result {id} {won}");
        }
        "writer" => {
            // Writes until killed; "ack i" once the write of i returned.
            let round = var("ROUND");
            let cache = cache(&db, "kill:");
            for i in 0.. {
                cache
                    .set(&format!("r{round}:{i}"), &vec![i; 1 + (i as usize % 200)])
                    .unwrap();
                println!("ack {i}");
            }
        }
        "verify" => {
            let cache = cache(&db, "kill:");
            let mut missing = 0;
            for spec in var("ACKED").split(',').filter(|s| !s.is_empty()) {
                let (round, acked) = spec.split_once(':').unwrap();
                for i in 0..=acked.parse::<u64>().unwrap() {
                    let got = cache.get::<Vec<u64>>(&format!("r{round}:{i}")).unwrap();
                    if got != Some(vec![i; 1 + (i as usize % 200)]) {
                        missing += 1;
                    }
                }
            }
            println!("result {missing}");
        }
        "default_path" => {
            // XDG_CACHE_HOME is set for this process only.
            let app = support::app("cli_tool", "sqlite").setup().unwrap();
            app.cache().set("x", &1).unwrap();
            println!(
                "result {}",
                cement_ext::sqlite::default_path("cli_tool")
                    .unwrap()
                    .display()
            );
            app.close().unwrap();
        }
        "mutator" => {
            // Runs the commands of `read_cache::apply` read from stdin, "ack" after each.
            let handler = support::sqlite::handler_with(cement_ext::sqlite::SqliteSettings {
                max_size: num("MAX_SIZE"),
                ..support::sqlite::settings(&db, "rc:")
            });
            for line in std::io::stdin().lines() {
                read_cache::apply(&handler, line.unwrap().trim_end());
                println!("ack");
            }
        }
        "setup_errors" => {
            // Started on a read-only file system: each path's setup error, on one line.
            for db in [db, std::path::PathBuf::from(var("CHILD_FRESH"))] {
                let msg = errors::setup_error(support::sqlite::settings(&db, "x:"));
                println!("result {}", msg.replace('\n', " "));
            }
        }
        other => panic!("unknown child role {other:?}"),
    }
}
