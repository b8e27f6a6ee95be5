mod cli;
mod http;
mod sql;
mod steward;
mod store;
mod support;
mod webhook;
