//! A CLI whose slow step is cached between runs, in a SQLite file (the `sqlite` handler).
//!
//! ```sh
//! cargo run --example cli_cache -- cement     # miss: computes for a second, stores the result
//! cargo run --example cli_cache -- cement     # hit: instant, read from the file
//! cargo run --example cli_cache -- --clear    # purge this app's entries
//! ```
//!
//! `--memory` runs the same program on the `memory` handler, which forgets everything at exit,
//! so every run computes: `cargo run --release --example cli_cache -- --memory cement`.
//! (A deployed binary switches handler without recompiling the same way through its config:
//! `cache_handler = "memory"` in the `[cli_cache]` section.) Each run prints how long the
//! setup and the lookup took: with `sqlite`, that is the handler's startup cost (opening the
//! file, the first read).
//!
//! The file is `<user cache dir>/cli_cache/cache.sqlite3` (`$XDG_CACHE_HOME` or `~/.cache` on
//! Linux); `CLI_CACHE_CACHE_SQLITE_PATH=/tmp/c.sqlite3` puts it elsewhere without recompiling,
//! like any key of `[cache.sqlite]` in `~/.config/cli_cache/cli_cache.toml`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cement::{App, Config};
use serde::{Deserialize, Serialize};

#[derive(App)]
#[app(label = "cli_cache", config_defaults = defaults, extensions = ["sqlite"], cache_handler = "sqlite")]
struct CliCache;

fn defaults() -> Config {
    let mut config = cement::init_defaults!("cli_cache", "cache.sqlite");
    config.set("cache.sqlite", "expire_time", 24 * 3600); // a day
    config.set("cache.sqlite", "max_size", 64 * 1024 * 1024); // 64 MiB is plenty here
    config
}

/// What the slow step finds out about a word.
#[derive(Debug, Serialize, Deserialize)]
struct Analysis {
    word: String,
    letters: usize,
    vowels: usize,
    reversed: String,
}

/// The expensive step: a deliberate second of work.
fn analyse(word: &str) -> Analysis {
    std::thread::sleep(Duration::from_secs(1));
    Analysis {
        word: word.to_string(),
        letters: word.chars().count(),
        vowels: word.chars().filter(|c| "aeiouAEIOU".contains(*c)).count(),
        reversed: word.chars().rev().collect(),
    }
}

/// Where the cache file is: `path` from the config, or the default for the app's label.
fn cache_file(app: &cement::Application) -> cement::Result<PathBuf> {
    match app.config().get::<String>("cache.sqlite", "path") {
        Ok(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => cement_ext::sqlite::default_path(app.label()),
    }
}

fn run(arg: &str, memory: bool) -> cement::Result<()> {
    let started = Instant::now();
    let app = if memory {
        CliCache::builder()
            .set("cli_cache", "cache_handler", "memory")
            .setup()?
    } else {
        CliCache::setup()?
    };
    if app.cache().handler_label() == "sqlite" {
        println!("cache file: {}", cache_file(&app)?.display());
    } else {
        println!("cache: {} (forgotten at exit)", app.cache().handler_label());
    }
    if arg == "--clear" {
        app.cache().purge()?;
        println!("cleared");
        return app.close();
    }
    let key = format!("analysis:{arg}");
    let cached = app.cache().get::<Analysis>(&key)?;
    println!(
        "setup + lookup: {:.3} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let analysis = match cached {
        Some(cached) => {
            println!("hit");
            cached
        }
        None => {
            println!("miss: computing (1 s)");
            let fresh = analyse(arg);
            app.cache().set(&key, &fresh)?;
            fresh
        }
    };
    println!("{analysis:?} in {:?}", started.elapsed());
    app.close()
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let memory = args.first().is_some_and(|a| a == "--memory");
    if memory {
        args.remove(0);
    }
    let [arg] = args.as_slice() else {
        eprintln!("usage: cli_cache [--memory] <word> | --clear");
        return ExitCode::from(2);
    };
    match run(arg, memory) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
