//! The language model a team points Rekey at: any server that speaks OpenAI's chat-completions
//! wire format (llama.cpp's server, Ollama, vLLM, LM Studio, a hosted API). This module talks to
//! it and names what went wrong in words an admin can act on; drafting with it builds on it. The
//! built-in drafter stays the default: without an endpoint nothing here runs.
//!
//! Every call is audited by whoever makes it with `Detail::ModelCalled`: the model, SHA-256
//! digests of the prompt and the answer, token counts and duration, never the texts.

use serde::{Deserialize, Serialize};

#[cfg(feature = "server")]
mod client;
#[cfg(feature = "server")]
pub use client::*;
#[cfg(feature = "server")]
pub mod endpoint;
#[cfg(feature = "server")]
pub use endpoint::{configured, current};

/// What the *Test* button shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ModelTest {
    /// The model answered.
    Answered {
        /// Its answer (at most 500 characters of it).
        answer: String,
        /// From request to answer, in milliseconds.
        latency_ms: u64,
        /// Tokens it generated.
        completion_tokens: u32,
        /// Generated tokens per second.
        tokens_per_sec: f64,
    },
    /// It did not: why, in words.
    Failed {
        /// What went wrong.
        problem: String,
    },
}
