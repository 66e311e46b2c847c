//! The routes, one module per feature, each with its own `router()`.

pub mod auth;
pub mod console;
pub mod health;
pub mod home;
pub mod invitations;
pub mod join;
pub mod keys;
pub mod login;
pub mod openapi;
pub mod public;
pub mod reset;
pub mod settings;
pub mod signup;
pub mod templates;
pub mod users;
pub mod webhooks;
