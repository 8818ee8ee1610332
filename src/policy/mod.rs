//! Who may sign what. The server decides, never the client.
//!
//! - [`operation`]: the COS operation a request performs, as CAM names it,
//!   and the set of operations the server allows.
//! - [`signing`]: the one place that decides what an account may sign: the
//!   operation, the key, the size, and exactly the pairs that get signed.
//! - [`media`]: the content types a browser renders as active content.
//! - [`cam`]: the CAM policy that confines an account's STS credentials.
//!
//! Paths and keys arrive already parsed ([`crate::paths`]). No HTTP, no
//! crypto.

pub mod cam;
pub mod media;
pub mod operation;
pub mod signing;
