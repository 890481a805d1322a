//! Integration tests of the compose loader: the whole corpus, compose-go's
//! expected behaviours, and golden outputs.

mod corpus;
mod expected;
mod golden;
mod support;
