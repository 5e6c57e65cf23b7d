//! Arbitrary bytes into the foreign-format readers of `holdfast convert`: a `mosquitto.db`
//! (after a valid header, so the chunk parser is reached) and an EMQX 4.x JSON export. Each
//! must accept or refuse, never panic or allocate beyond the input's size.
#![no_main]

use holdfast_convert::{emqx, mosquitto};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut db = mosquitto::db::MAGIC.to_vec();
    db.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 6]);
    db.extend_from_slice(data);
    let _ = mosquitto::db::parse("fuzz.db", &db);
    let _ = emqx::open(std::path::Path::new("fuzz.json"), data);
});
