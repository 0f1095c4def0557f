//! The atomic counter step behind `incr` and `decr`: one Lua script, run with `EVALSHA` (the
//! `redis` crate's [`Script`] sends `SCRIPT LOAD` and repeats the call when the server answers
//! `NOSCRIPT`, e.g. after a restart or a `SCRIPT FLUSH`).
//!
//! Counters are unsigned 64-bit integers stored as ASCII decimal digits, the form the facade
//! writes for `set(key, &42u64)` and the one memcached uses. Redis' own `INCRBY`/`DECRBY` will
//! not do: they work on signed 64-bit integers (so they refuse values above `i64::MAX`), go
//! below zero, and take no TTL for a key they create. Lua numbers are doubles, exact only up to
//! 2^53, so the script adds and subtracts on the decimal strings themselves, which is exact over
//! the whole `0..=u64::MAX` range.

use redis::Script;

/// `KEYS[1]`: the key. `ARGV[1]`: `+` or `-`. `ARGV[2]`: the delta, decimal digits without
/// leading zeros. `ARGV[3]`: the TTL in milliseconds for a key the step creates, empty for none.
///
/// Answers `{1, new value}`, `{0, ""}` when the value is not a counter (or the key holds
/// another type than a string), or `{2, current value}` when an increment would pass
/// `u64::MAX` (the value is then left as it was).
const SOURCE: &str = r"
local MAX = '18446744073709551615'

-- a > b, for digit strings without leading zeros (byte by byte: no locale).
local function greater(a, b)
  if #a ~= #b then return #a > #b end
  for i = 1, #a do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return false
end

-- The value as a counter without leading zeros, or nil when it is not one.
local function counter(s)
  if s == '' or string.find(s, '%D') then return nil end
  s = (string.gsub(s, '^0+(%d)', '%1'))
  if greater(s, MAX) then return nil end
  return s
end

local function add(a, b)
  local out, carry, i, j = {}, 0, #a, #b
  while i > 0 or j > 0 or carry > 0 do
    local d = carry
    if i > 0 then d = d + string.byte(a, i) - 48; i = i - 1 end
    if j > 0 then d = d + string.byte(b, j) - 48; j = j - 1 end
    if d >= 10 then d = d - 10; carry = 1 else carry = 0 end
    out[#out + 1] = string.char(48 + d)
  end
  return string.reverse(table.concat(out))
end

-- a - b, for a > b.
local function sub(a, b)
  local out, borrow, i, j = {}, 0, #a, #b
  while i > 0 do
    local d = string.byte(a, i) - 48 - borrow
    if j > 0 then d = d - (string.byte(b, j) - 48); j = j - 1 end
    if d < 0 then d = d + 10; borrow = 1 else borrow = 0 end
    out[#out + 1] = string.char(48 + d)
    i = i - 1
  end
  return (string.gsub(string.reverse(table.concat(out)), '^0+(%d)', '%1'))
end

local key, up, delta, ttl = KEYS[1], ARGV[1] == '+', ARGV[2], ARGV[3]
local current = redis.pcall('GET', key)
if type(current) == 'table' then
  if current.err and string.find(current.err, '^WRONGTYPE') then return {0, ''} end
  return current
end
if current == false then
  local value = '0'
  if up then value = delta end
  if ttl == '' then
    redis.call('SET', key, value)
  else
    redis.call('SET', key, value, 'PX', ttl)
  end
  return {1, value}
end
current = counter(current)
if not current then return {0, ''} end
local value = '0'
if up then
  value = add(current, delta)
  if greater(value, MAX) then return {2, current} end
elseif greater(current, delta) then
  value = sub(current, delta)
end
redis.call('SET', key, value, 'KEEPTTL')
return {1, value}
";

/// The script, hashed once per handler.
pub(crate) fn script() -> Script {
    Script::new(SOURCE)
}

/// Which way a step goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Up,
    Down,
}

impl Direction {
    /// The operation, as errors name it.
    pub(crate) fn operation(self) -> &'static str {
        match self {
            Direction::Up => "incr",
            Direction::Down => "decr",
        }
    }

    /// `ARGV[1]` of the script.
    pub(crate) fn sign(self) -> &'static str {
        match self {
            Direction::Up => "+",
            Direction::Down => "-",
        }
    }
}

/// What the script answered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// The new value.
    Value(u64),
    /// The value under the key is not a counter.
    NotCounter,
    /// The increment would pass `u64::MAX`; the counter holds `current`, unchanged.
    Overflow { current: String },
}

impl Reply {
    /// Reads the script's `{status, text}` answer; `None` for anything else.
    pub(crate) fn parse((status, text): &(i64, String)) -> Option<Reply> {
        match status {
            1 => text.parse().ok().map(Reply::Value),
            0 => Some(Reply::NotCounter),
            2 => Some(Reply::Overflow {
                current: text.clone(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read() {
        assert_eq!(Reply::parse(&(1, "42".into())), Some(Reply::Value(42)));
        assert_eq!(
            Reply::parse(&(1, u64::MAX.to_string())),
            Some(Reply::Value(u64::MAX))
        );
        assert_eq!(Reply::parse(&(0, String::new())), Some(Reply::NotCounter));
        assert_eq!(
            Reply::parse(&(2, "7".into())),
            Some(Reply::Overflow {
                current: "7".into()
            })
        );
        assert_eq!(Reply::parse(&(1, "x".into())), None);
        assert_eq!(Reply::parse(&(9, String::new())), None);
    }

    #[test]
    fn directions_name_their_operation() {
        assert_eq!(Direction::Up.operation(), "incr");
        assert_eq!(Direction::Down.sign(), "-");
    }
}
