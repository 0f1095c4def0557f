//! Application hooks, run at fixed points of the app's life in Cement's order:
//! `pre_setup` → (extensions, config, cache) → `post_setup` → `pre_run` → `post_run` →
//! `pre_close` → (cache closed) → `post_close`.
//!
//! Declare them in `#[app(hooks = [(post_setup, my_fn), ...])]` or with
//! [`Builder::hook`](crate::Builder::hook). A hook that fails stops what it was part of, and
//! the error ([`Error::Hook`](crate::Error::Hook)) names the hook.
//!
//! ```
//! use cement::{App, Application, Hook, Meta};
//!
//! fn tune(meta: &mut Meta) -> cement::Result<()> {
//!     *meta = meta.clone().cache_handler("memory");
//!     Ok(())
//! }
//! fn ready(app: &Application) -> cement::Result<()> {
//!     app.cache().set("started", &true)
//! }
//!
//! #[derive(App)]
//! #[app(label = "hooked", hooks = [(pre_setup, tune), (post_setup, ready)])]
//! struct Hooked;
//!
//! # fn main() -> cement::Result<()> {
//! let app = Hooked::setup()?;
//! assert_eq!(app.cache().get::<bool>("started")?, Some(true));
//! app.close()
//! # }
//! ```

mod names;

use crate::{Application, Meta, Result};

/// One hook: which point of the app's life, and the function to run there.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Hook {
    /// Before extensions, config and cache are set up; may change the Meta.
    PreSetup(fn(&mut Meta) -> Result<()>),
    /// After setup: config and cache are ready.
    PostSetup(fn(&Application) -> Result<()>),
    /// At the start of `run()`.
    PreRun(fn(&Application) -> Result<()>),
    /// At the end of `run()`.
    PostRun(fn(&Application) -> Result<()>),
    /// At the start of `close()`, before the cache handler is closed.
    PreClose(fn(&Application) -> Result<()>),
    /// At the end of `close()`.
    PostClose(fn(&Application) -> Result<()>),
}

impl Hook {
    /// The names of the hooks, in the order they run.
    pub const NAMES: [&'static str; 6] = names::HOOK_NAMES;

    /// A `pre_setup` hook.
    pub const fn pre_setup(f: fn(&mut Meta) -> Result<()>) -> Hook {
        Hook::PreSetup(f)
    }
    /// A `post_setup` hook.
    pub const fn post_setup(f: fn(&Application) -> Result<()>) -> Hook {
        Hook::PostSetup(f)
    }
    /// A `pre_run` hook.
    pub const fn pre_run(f: fn(&Application) -> Result<()>) -> Hook {
        Hook::PreRun(f)
    }
    /// A `post_run` hook.
    pub const fn post_run(f: fn(&Application) -> Result<()>) -> Hook {
        Hook::PostRun(f)
    }
    /// A `pre_close` hook.
    pub const fn pre_close(f: fn(&Application) -> Result<()>) -> Hook {
        Hook::PreClose(f)
    }
    /// A `post_close` hook.
    pub const fn post_close(f: fn(&Application) -> Result<()>) -> Hook {
        Hook::PostClose(f)
    }

    /// The hook's name, e.g. `"post_setup"`.
    pub fn name(&self) -> &'static str {
        Hook::NAMES[self.index()]
    }

    /// Where the hook runs in the app's life: its index in [`Hook::NAMES`].
    const fn index(&self) -> usize {
        match self {
            Hook::PreSetup(_) => 0,
            Hook::PostSetup(_) => 1,
            Hook::PreRun(_) => 2,
            Hook::PostRun(_) => 3,
            Hook::PreClose(_) => 4,
            Hook::PostClose(_) => 5,
        }
    }

    /// Runs the hook on a running app; `pre_setup` hooks do not run here.
    pub(crate) fn run_on(&self, app: &Application) -> Result<()> {
        let f = match self {
            Hook::PreSetup(_) => return Ok(()),
            Hook::PostSetup(f)
            | Hook::PreRun(f)
            | Hook::PostRun(f)
            | Hook::PreClose(f)
            | Hook::PostClose(f) => f,
        };
        f(app).map_err(|e| crate::Error::Hook {
            hook: self.name(),
            source: Box::new(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_hook(_: &mut Meta) -> Result<()> {
        Ok(())
    }
    fn app_hook(_: &Application) -> Result<()> {
        Ok(())
    }

    #[test]
    fn names_follow_the_order_hooks_run_in() {
        let hooks = [
            Hook::pre_setup(meta_hook),
            Hook::post_setup(app_hook),
            Hook::pre_run(app_hook),
            Hook::post_run(app_hook),
            Hook::pre_close(app_hook),
            Hook::post_close(app_hook),
        ];
        let names: Vec<&str> = hooks.iter().map(Hook::name).collect();
        assert_eq!(names, Hook::NAMES);
        assert_eq!(Hook::post_setup(app_hook).name(), "post_setup");
    }
}
