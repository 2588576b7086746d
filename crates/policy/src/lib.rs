//! Traffic policies, one module each: the compiled form built from configuration, and the
//! decision it makes for a request. Pure: no sockets, no clocks read behind the caller's
//! back (time is passed in), so every decision is testable on its own.

pub mod apikey;
pub mod auth;
pub mod authorization;
pub mod basic;
pub mod cors;
pub mod jwt;
pub mod ratelimit;
