//! HTTP API tests: the real server in-process on a random port, a fresh SQLite database per
//! test, mail read back from the file transport.

mod allowance;
mod connections;
mod console_sessions;
mod console_settings;
mod domains;
mod dry_run;
mod errors;
mod existing_account;
mod idempotency;
mod invite;
mod join;
mod keys;
mod limits;
mod locales;
mod login;
mod management;
mod matrix;
mod members;
mod openapi;
mod opens;
mod reminders;
mod reset;
mod row_keys;
mod sdk;
mod security;
mod settings;
mod signup;
mod smtp;
mod support;
mod webhooks;
