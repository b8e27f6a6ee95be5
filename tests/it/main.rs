mod cli;
mod http;
mod sql;
mod store;
mod support;
mod webhook;
mod world;
