// Every form #[cement::cached] accepts, sync and async.
use cement::cache::{AsyncCache, Cache};
use cement::Application;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct User {
    name: String,
}

#[cement::cached(ttl = 60)]
fn exchange_rate(app: &Application, from: &str, to: &str) -> Result<f64, std::io::Error> {
    let _ = (from, to);
    Ok(1.0)
}

#[cement::cached(key = "user:{id}", version = 2)]
pub async fn user(cache: &AsyncCache, id: u64) -> Option<User> {
    Some(User { name: id.to_string() })
}

#[cement::cached(cache_none)]
pub(crate) fn maybe<'a>(cache: &Cache, name: &'a str, mut n: u8) -> Option<u8> {
    n += name.len() as u8;
    Some(n)
}

type Alias = Cache;

#[cement::cached(cache = store, key = "{{literal}}:{x}")]
fn named(store: &Alias, x: u32) -> Vec<u32> {
    vec![x]
}

/// Documented, with attributes carried to both fns.
#[cement::cached]
#[inline]
async fn on_app(app: &Application) {}

fn main() {
    let _ = (exchange_rate, exchange_rate_uncached, maybe, maybe_uncached, named, named_uncached);
    let _ = (user, user_uncached, on_app, on_app_uncached);
}
