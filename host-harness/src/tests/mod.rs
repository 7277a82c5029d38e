//! Tests of the host's outbound path that need its internals
//! (`PolicyHooks` driven directly): real sockets on
//! loopback, the real component where the connector can show the behaviour.

mod address_policy;
mod keep_alive;
