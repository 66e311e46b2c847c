//! The routes, one module per feature, each with its own `router()`.

pub mod health;
pub mod invitations;
pub mod join;
pub mod users;
