mod cli;
mod http;
mod presets;
mod sql;
mod store;
mod support;
mod webhook;
mod world;
