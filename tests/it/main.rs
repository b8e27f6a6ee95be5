mod cli;
mod http;
mod segment;
mod sql;
mod store;
mod support;
mod webhook;
