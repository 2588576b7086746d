//! The token bucket, as one Lua script that Redis runs atomically, and the EVALSHA / NOSCRIPT
//! dance that runs it.
//!
//! Redis runs a script without interleaving any other command, so read-refill-decide-write
//! is one step for every replica: the total admitted can never exceed what a single bucket
//! would admit. Time comes from `redis.call('TIME')`, the one clock all replicas share.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::conn::Connection;
use crate::error::RedisError;
use crate::resp::Value;

/// The bucket. State per key is a hash: `tokens` (the level at `ts`, fractional, negative
/// while in debt) and `ts` (Redis server time in milliseconds, fractional). Both are written
/// with 17 significant digits so that a float survives the round trip through a string.
///
/// A missing key is a full bucket, so a bucket that refills to capacity is deleted and every
/// other write sets the TTL to the time it takes to refill: idle keys disappear exactly when
/// they stop mattering.
///
/// A limited request writes nothing (the stored level and time still describe the bucket),
/// so a flood of rejected requests costs Redis reads only.
const SCRIPT: &str = r#"
-- KEYS[1]: bucket key
-- ARGV: per_unit, unit_ms, capacity, mode ("take" or "adjust"), amount (take) or delta (adjust)
-- Returns {allowed (0/1), remaining, reset_ms, retry_after_ms (-1: the amount never fits)}.
if redis.replicate_commands then pcall(redis.replicate_commands) end

local key = KEYS[1]
local per_unit = tonumber(ARGV[1])
local unit_ms = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local mode = ARGV[4]
local n = tonumber(ARGV[5])
local rate = per_unit / unit_ms
-- Waits are capped so that they stay exact integers in replies and PEXPIRE arguments.
local max_wait = 1e12

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000

local level = capacity
local stored = redis.call('HMGET', key, 'tokens', 'ts')
local s_tokens, s_ts = tonumber(stored[1]), tonumber(stored[2])
if s_tokens and s_ts then
  -- After a failover to a host whose clock is behind, time must not run backwards.
  local elapsed = math.max(0, now - s_ts)
  level = math.min(capacity, s_tokens + elapsed * rate)
end

local function wait_ms(target)
  local deficit = target - level
  if deficit <= 0 then return 0 end
  return math.min(max_wait, math.ceil(deficit / rate))
end

local function store()
  if level >= capacity then
    redis.call('DEL', key)
  else
    redis.call('HSET', key, 'tokens', string.format('%.17g', level), 'ts', string.format('%.17g', now))
    redis.call('PEXPIRE', key, string.format('%.0f', math.max(1, wait_ms(capacity))))
  end
end

local allowed, retry = 1, 0
if mode == 'adjust' then
  level = math.min(capacity, level + n)
  store()
elseif n <= level then
  if n > 0 then
    level = level - n
    store()
  end
else
  allowed = 0
  if n > capacity then retry = -1 else retry = wait_ms(n) end
end
return {allowed, math.max(0, math.floor(level)), wait_ms(capacity), retry}
"#;

/// What to do to the bucket.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    /// Take `amount` if the bucket holds it, otherwise take nothing.
    Take(u64),
    /// Add (refund) or remove (charge, possibly into debt) tokens unconditionally.
    Adjust(i64),
}

/// The bucket parameters as the script reads them.
pub(crate) struct Params {
    pub(crate) per_unit: u64,
    pub(crate) unit_ms: u64,
    pub(crate) capacity: u64,
}

/// The script's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) allowed: bool,
    pub(crate) remaining: u64,
    /// Milliseconds until the bucket is full again.
    pub(crate) reset_ms: u64,
    /// Milliseconds until the amount is there; `None` if it never fits (or was allowed).
    pub(crate) retry_after_ms: Option<u64>,
}

/// The script's SHA once Redis has told it: it never changes, but Redis may forget the
/// script itself (restart, `SCRIPT FLUSH`, failover), which NOSCRIPT reports.
#[derive(Default)]
pub(crate) struct Script {
    sha: OnceLock<String>,
    loads: AtomicU64,
}

impl Script {
    /// Times the script was loaded into Redis (`SCRIPT LOAD`).
    pub(crate) fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    pub(crate) async fn run(
        &self,
        conn: &mut Connection,
        key: &[u8],
        params: &Params,
        op: Op,
    ) -> Result<Reply, RedisError> {
        let (mode, n): (&[u8], String) = match op {
            Op::Take(amount) => (b"take", amount.to_string()),
            Op::Adjust(delta) => (b"adjust", delta.to_string()),
        };
        let per_unit = params.per_unit.to_string();
        let unit_ms = params.unit_ms.to_string();
        let capacity = params.capacity.to_string();
        let args: [&[u8]; 6] = [
            key,
            per_unit.as_bytes(),
            unit_ms.as_bytes(),
            capacity.as_bytes(),
            mode,
            n.as_bytes(),
        ];

        let sha = match self.sha.get() {
            Some(sha) => sha.clone(),
            None => self.load(conn).await?,
        };
        let reply = conn
            .request(&command(b"EVALSHA", sha.as_bytes(), &args))
            .await?;
        let reply = match reply {
            Value::Error(err) if err.starts_with("NOSCRIPT") => {
                // Redis did not run anything, so running the full text now charges once.
                let reply = conn
                    .request(&command(b"EVAL", SCRIPT.as_bytes(), &args))
                    .await?;
                // EVAL may cache the script too, but as an evictable one on recent Redis;
                // an explicit load keeps it for the EVALSHA calls that follow. An error
                // reply here only means the next call goes through NOSCRIPT again.
                if let Err(err) = self.load(conn).await {
                    if !err.keeps_connection() {
                        return Err(err);
                    }
                    tracing::debug!(error = %err, "reloading the rate limit script failed");
                }
                reply
            }
            other => other,
        };
        parse_reply(reply)
    }

    /// `SCRIPT LOAD`, remembering the SHA Redis computed.
    async fn load(&self, conn: &mut Connection) -> Result<String, RedisError> {
        let reply = conn
            .request(&[b"SCRIPT", b"LOAD", SCRIPT.as_bytes()])
            .await?;
        self.loads.fetch_add(1, Ordering::Relaxed);
        let sha = match reply {
            Value::Bulk(sha) => String::from_utf8(sha.to_vec())
                .map_err(|_| RedisError::Protocol("script SHA is not UTF-8".into()))?,
            Value::Error(err) => return Err(RedisError::Server(err)),
            other => {
                return Err(RedisError::Protocol(format!(
                    "SCRIPT LOAD answered {other:?}"
                )));
            }
        };
        // Every load of the same text yields the same SHA, so losing this race is harmless.
        let _ = self.sha.set(sha.clone());
        Ok(sha)
    }
}

/// `EVAL`/`EVALSHA <script> 1 <key> <args...>`.
fn command<'a>(verb: &'a [u8], script: &'a [u8], args: &[&'a [u8]; 6]) -> Vec<&'a [u8]> {
    let mut command: Vec<&[u8]> = Vec::with_capacity(3 + args.len());
    command.extend_from_slice(&[verb, script, b"1"]);
    command.extend_from_slice(args);
    command
}

fn parse_reply(reply: Value) -> Result<Reply, RedisError> {
    let items = match reply {
        Value::Array(items) => items,
        Value::Error(err) => return Err(RedisError::Server(err)),
        other => {
            return Err(RedisError::Protocol(format!(
                "rate limit script answered {other:?}"
            )));
        }
    };
    let numbers: Vec<i64> = items
        .iter()
        .map(|item| match item {
            Value::Integer(n) => Some(*n),
            _ => None,
        })
        .collect::<Option<_>>()
        .ok_or_else(|| RedisError::Protocol(format!("rate limit script answered {items:?}")))?;
    let [allowed, remaining, reset_ms, retry_after_ms] = numbers[..] else {
        return Err(RedisError::Protocol(format!(
            "rate limit script answered {} values instead of 4",
            numbers.len()
        )));
    };
    Ok(Reply {
        allowed: allowed == 1,
        remaining: u64::try_from(remaining).unwrap_or(0),
        reset_ms: u64::try_from(reset_ms).unwrap_or(0),
        // -1 (never fits) and 0 (allowed) both mean "no wait to report".
        retry_after_ms: u64::try_from(retry_after_ms).ok().filter(|_| allowed != 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(values: &[i64]) -> Value {
        Value::Array(values.iter().map(|&n| Value::Integer(n)).collect())
    }

    #[test]
    fn parses_script_replies() {
        let allowed = parse_reply(array(&[1, 4, 200, 0])).unwrap();
        assert_eq!(
            allowed,
            Reply {
                allowed: true,
                remaining: 4,
                reset_ms: 200,
                retry_after_ms: None
            }
        );
        let limited = parse_reply(array(&[0, 0, 900, 150])).unwrap();
        assert_eq!(limited.retry_after_ms, Some(150));
        assert!(!limited.allowed);
        let never = parse_reply(array(&[0, 3, 500, -1])).unwrap();
        assert_eq!(never.retry_after_ms, None);
    }

    #[test]
    fn rejects_unexpected_replies() {
        assert!(matches!(
            parse_reply(Value::Error("BUSY".into())),
            Err(RedisError::Server(_))
        ));
        for bad in [
            array(&[1, 2, 3]),
            Value::Nil,
            Value::Array(vec![Value::Nil; 4]),
        ] {
            assert!(matches!(parse_reply(bad), Err(RedisError::Protocol(_))));
        }
    }
}
