//! `openai-mock PORT [API_KEY]`: the mock OpenAI provider as a process, for end-to-end tests
//! that drive the real gateway binary with official SDKs.

// A test tool: failing loudly on a bad argument is what it should do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use test_support::openai_mock::OpenAiMock;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .expect("usage: openai-mock PORT [API_KEY]")
        .parse()
        .expect("PORT must be a number");
    let key = args.next();
    let mock = OpenAiMock::start_on(&format!("127.0.0.1:{port}"), key.as_deref()).await;
    println!("openai-mock listening on {}", mock.addr);
    std::future::pending::<()>().await;
}
