//! `provider-mock openai|anthropic|gemini|vertex|bedrock PORT [API_KEY]`: a mock LLM provider as a process, for
//! end-to-end tests that drive the real gateway binary with official SDKs.

// A test tool: failing loudly on a bad argument is what it should do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use test_support::provider_mock::{Flavor, ProviderMock};

const USAGE: &str = "usage: provider-mock openai|anthropic|gemini|vertex|bedrock PORT [API_KEY]";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let flavor = match args.next().expect(USAGE).as_str() {
        "openai" => Flavor::OpenAi,
        "anthropic" => Flavor::Anthropic,
        "gemini" => Flavor::Gemini,
        "vertex" => Flavor::Vertex,
        "bedrock" => Flavor::Bedrock,
        other => panic!("unknown provider '{other}'; {USAGE}"),
    };
    let port: u16 = args
        .next()
        .expect(USAGE)
        .parse()
        .expect("PORT must be a number");
    let key = args.next();
    let mock = ProviderMock::start_on(flavor, &format!("127.0.0.1:{port}"), key.as_deref()).await;
    println!("provider-mock listening on {}", mock.addr);
    std::future::pending::<()>().await;
}
