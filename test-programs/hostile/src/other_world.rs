//! `other-world`: a component of an unrelated world
//! (`hostile:unrelated/unrelated@0.1.0`, in `../wit-other-world`): it
//! exports `hostile:unrelated/greeter@0.1.0` and nothing of the connector
//! contract, and imports nothing.
//!
//! Exercises the host's contract check at load time: a component that is
//! not a connector at all must be refused with a clear error.

wit_bindgen::generate!({
    world: "hostile:unrelated/unrelated@0.1.0",
    path: "wit-other-world",
});

use exports::hostile::unrelated::greeter::Guest;

/// The behaviour's name.
pub const NAME: &str = "other-world";

// Natively the export is not linked (see component.rs), so nothing names it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Greeter;

impl Guest for Greeter {
    fn greet(name: String) -> String {
        format!("hello, {name}")
    }
}

#[cfg(target_arch = "wasm32")]
export!(Greeter);
