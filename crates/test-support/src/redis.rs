//! A throwaway `redis-server` per test, on a free loopback port, killed when dropped.
//!
//! Tests skip (with a message) when `redis-server` is not installed, unless
//! `REDIS_LIMIT_REQUIRE_SERVER=1` says the run must exercise Redis: then a missing server
//! fails the test instead of letting it pass unseen. `scripts/ensure-redis.sh` installs it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// A running server, or `None` (after saying why) if `redis-server` is not installed.
    pub fn start() -> Option<Self> {
        if let Err(err) = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .output()
        {
            assert!(
                std::env::var("REDIS_LIMIT_REQUIRE_SERVER").as_deref() != Ok("1"),
                "redis-server is required (REDIS_LIMIT_REQUIRE_SERVER=1) but cannot run: {err}; \
                 install it with scripts/ensure-redis.sh"
            );
            eprintln!(
                "SKIPPED: redis-server is not installed ({err}); install it with \
                 scripts/ensure-redis.sh to run the Redis rate limit tests"
            );
            return None;
        }
        // Another process may grab the free port between probing and binding: try again.
        for _ in 0..5 {
            let mut server = Self {
                port: crate::free_port(),
                child: None,
                dir: tempfile::tempdir().unwrap(),
            };
            if server.spawn() {
                return Some(server);
            }
        }
        panic!("redis-server did not start after 5 attempts");
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the server, as a crash would (SIGKILL, no shutdown).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a fresh, empty server on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.spawn() {
            assert!(Instant::now() < deadline, "redis-server did not restart");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs one command on a plain connection and returns the reply's first line (and, for
    /// a bulk string, its content): enough for the admin commands the tests need.
    pub fn cmd(&self, args: &[&str]) -> String {
        let mut stream = TcpStream::connect(self.address()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut command = format!("*{}\r\n", args.len());
        for arg in args {
            command.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(command.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end().to_owned();
        if line.starts_with('$') && line != "$-1" {
            let mut data = String::new();
            reader.read_line(&mut data).unwrap();
            return data.trim_end().to_owned();
        }
        line
    }

    /// Starts `redis-server` on `self.port` and waits until it answers PING; `false` if it
    /// exited (port taken) or never answered.
    fn spawn(&mut self) -> bool {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no"])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                return false;
            }
            if ping(self.port) {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("+PONG")
}
