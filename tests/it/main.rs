mod cli;
mod store;
mod support;
