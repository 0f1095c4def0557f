//! A CLI whose slow step is cached between runs, in a SQLite file (the `sqlite` handler).
//!
//! ```sh
//! cargo run --example cli_cache -- cement     # miss: computes for a second, stores the result
//! cargo run --example cli_cache -- cement     # hit: instant, read from the file
//! cargo run --example cli_cache -- --clear    # purge this app's entries
//! ```
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

fn run(arg: &str) -> cement::Result<()> {
    let app = CliCache::setup()?;
    println!("cache file: {}", cache_file(&app)?.display());
    if arg == "--clear" {
        app.cache().purge()?;
        println!("cleared");
        return app.close();
    }
    let started = Instant::now();
    let key = format!("analysis:{arg}");
    let analysis = match app.cache().get::<Analysis>(&key)? {
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
    let Some(arg) = std::env::args().nth(1) else {
        eprintln!("usage: cli_cache <word> | --clear");
        return ExitCode::from(2);
    };
    match run(&arg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
