//! AWS pieces Bedrock needs: SigV4 request signing and the binary event-stream framing.

pub mod eventstream;
pub mod sigv4;
